"""The output formats `list` and `compare` offer, and the table layout both share: a titled block of cells
as aligned text, markdown or csv.

Kept small and free of the reporting logic (scopelab.listing, scopelab.compare): cli.py imports the format
choices from here, and `scopelab --help` should not have to load more.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

LIST_FORMATS = ("table", "json", "csv")
COMPARE_FORMATS = ("table", "markdown", "csv", "json")
REPRODUCE_FORMATS = ("table", "markdown", "json")
MISSING = "—"


@dataclass
class Block:
    title: str
    header: list[str]
    rows: list[list[str]]
    right: set[int] = field(default_factory=set)  # columns of numbers, right-aligned in text


def fixed(value: float | None, decimals: int) -> str:
    """A value to the places its metric declares (scopelab.metrics.Metric.decimals)."""
    return MISSING if value is None else f"{value:.{decimals}f}"


def text_block(block: Block) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(block.header, *block.rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in block.right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ).rstrip()

    title = [block.title] if block.title else []
    return title + [line(block.header), line(["-" * width for width in widths])] + [line(row) for row in block.rows]


def markdown_block(block: Block) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rule = ["---:" if index in block.right else "---" for index in range(len(block.header))]
    title = [f"**{block.title}**", ""] if block.title else []
    return title + [line(block.header), "|" + "|".join(rule) + "|"] + [line(row) for row in block.rows]


def csv_text(rows: list[dict], columns: tuple[str, ...] | None = None) -> str:
    """The rows under a header of the given columns (else the first row's keys); None as an empty cell."""
    buffer = io.StringIO()
    fieldnames = list(columns or (rows[0] if rows else []))
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
    return buffer.getvalue().rstrip("\n")
