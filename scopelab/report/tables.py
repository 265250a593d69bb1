"""The one table model of every report (`list`, `show`, `compare`, `reproduce`, `inspect`, `scopes`) and its
renderers: aligned text, markdown, csv and json.

Cells may hold text from records anyone can edit, so every renderer makes it harmless: text and markdown
escape control characters (a note cannot forge a line, an ESC never reaches the terminal); csv does too, and
neutralises a cell a spreadsheet would evaluate as a formula; json is strict (`strict_json`: NaN and the
infinities are null, and a `non_finite` key beside them says what they were).

Plain Python (csv, json, textwrap): `list`, `show` and `compare` import it and must stay free of TensorFlow.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scopelab.errors import escaped

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet evaluate a cell


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
    rows = [[_lines(escaped(cell), table.wrap[index] if table.wrap else None) for index, cell in enumerate(row)]
            for row in table.rows]
    titles = [escaped(cell) for cell in table.header]
    header = [[[cell] for cell in titles]] if titles else []
    widths = [max(len(line) for cell in column for line in cell) for column in zip(*header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in table.right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ).rstrip()

    lines = [escaped(table.title)] if table.title else []
    if table.header:
        lines.append(line(titles))
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
        return "| " + " | ".join(escaped(cell).replace("|", "\\|") for cell in cells) + " |"

    rule = ["---:" if index in table.right else "---" for index in range(len(table.header))]
    title = [f"**{escaped(table.title)}**", ""] if table.title else []
    body = [line([f"`{cell}`" if index in table.code else cell for index, cell in enumerate(row)])
            for row in table.rows]
    return "\n".join(title + [line(table.header), "|" + "|".join(rule) + "|"] + body)


def to_csv(table: Table) -> str:
    """The header, then a line per row; no title."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(map(csv_cell, table.header))
    writer.writerows([csv_cell(value) for value in row] for row in table.rows)
    return buffer.getvalue().rstrip("\n")


def csv_cell(value: Any) -> Any:
    """None as empty; text escaped, and a leading ' where a spreadsheet would take it for a formula (the
    OWASP advice); numbers as they are."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    return "'" + escaped(value) if value.startswith(FORMULA_STARTS) else escaped(value)


def to_json(table: Table) -> str:
    """The rows as objects keyed by the header; no title."""
    return strict_json([dict(zip(table.header, row)) for row in table.rows])


def strict_json(data: Any) -> str:
    """JSON that every parser reads: json.dumps writes NaN and Infinity, which are not JSON. Each becomes
    null, and the mapping that held it gets `non_finite`, naming the key and what the value was."""
    return json.dumps(_finite(data), indent=2, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        finite = {key: _finite(item) for key, item in value.items()}
        lost = {key: str(item) for key, item in value.items() if isinstance(item, float) and not math.isfinite(item)}
        return {**finite, "non_finite": lost} if lost else finite
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
