"""The one table model of every report (`list`, `show`, `compare`, `reproduce`, `inspect`, `scopes`) and its
renderers: aligned text, markdown, csv and json.

Plain Python (csv, json, textwrap): `list`, `show` and `compare` import it and must stay free of TensorFlow.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """A titled grid of cells. Text and markdown take the cells as strings; csv and json as they are (None as
    an empty csv cell), so a table of records keeps its numbers as numbers there."""

    title: str
    header: list[str]  # empty: no header line (a table of label and value)
    rows: list[list[Any]]
    right: set[int] = field(default_factory=set)  # columns of numbers: right-aligned in text and markdown
    code: set[int] = field(default_factory=set)  # columns of code: in backticks in markdown
    wrap: tuple[int, ...] | None = None  # text: wrap each column at this width, a blank line between rows
    rule: bool = True  # text: a line of dashes under the header

    @classmethod
    def of_records(cls, records: list[dict], columns: Sequence[str], title: str = "") -> Table:
        """One row per record, its values under the given columns (a key not there is left empty)."""
        return cls(title, list(columns), [[record.get(column) for column in columns] for record in records])


def to_text(table: Table) -> str:
    """Columns padded to their widest cell and two spaces apart, the title above; trailing spaces cut."""
    rows = [[_lines(cell, table.wrap[index] if table.wrap else None) for index, cell in enumerate(row)]
            for row in table.rows]
    header = [[[cell] for cell in table.header]] if table.header else []
    widths = [max(len(line) for cell in column for line in cell) for column in zip(*header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in table.right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ).rstrip()

    lines = [table.title] if table.title else []
    if table.header:
        lines.append(line(table.header))
        if table.rule:
            lines.append(line(["-" * width for width in widths]))
    for number, row in enumerate(rows):
        if number and table.wrap:
            lines.append("")  # wrapped rows stay readable apart
        for depth in range(max(len(cell) for cell in row)):
            lines.append(line([cell[depth] if depth < len(cell) else "" for cell in row]))
    return "\n".join(lines)


def _lines(cell: str, width: int | None) -> list[str]:
    if width is None:
        return [cell]
    return textwrap.wrap(cell, width, break_on_hyphens=False) or [""]


def to_markdown(table: Table) -> str:
    """A GitHub table under the title in bold; '|' in a cell escaped."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rule = ["---:" if index in table.right else "---" for index in range(len(table.header))]
    title = [f"**{table.title}**", ""] if table.title else []
    body = [line([f"`{cell}`" if index in table.code else cell for index, cell in enumerate(row)])
            for row in table.rows]
    return "\n".join(title + [line(table.header), "|" + "|".join(rule) + "|"] + body)


def to_csv(table: Table) -> str:
    """The header, then a line per row; no title."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows(["" if value is None else value for value in row] for row in table.rows)
    return buffer.getvalue().rstrip("\n")


def to_json(table: Table) -> str:
    """The rows as objects keyed by the header; no title."""
    return json.dumps([dict(zip(table.header, row)) for row in table.rows], indent=2)
