"""The one table model of every report (`list`, `show`, `compare`, `reproduce`, `inspect`, `scopes`) and its
renderers: aligned text, markdown, csv and json.

On a terminal, text tables fit its width (`fit_to_terminal`): long cells end in an ellipsis, number columns
wrap their headers, titles and free lines wrap. Written to a pipe or a file, nothing is cut.

Cells may hold text from records anyone can edit, so every renderer makes it harmless: text and markdown
escape control characters (a note cannot forge a line, an ESC never reaches the terminal); csv does too, and
neutralises a cell a spreadsheet would evaluate as a formula; json is strict (`strict_json`: NaN and the
infinities are null, and a `non_finite` key beside them says what they were).

Plain Python (csv, json, textwrap): `list`, `show` and `compare` import it and must stay free of TensorFlow.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import sys
import textwrap
from collections.abc import Sequence
from contextvars import ContextVar
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
    # Fitting a terminal: the columns that may be shortened, the first named giving way first (None: every
    # column not of numbers, the widest a character at a time). A column not named keeps its cells whole.
    give: tuple[int, ...] | None = None
    # The columns left out, in this order, rather than shorten a column not among them.
    drop: tuple[int, ...] = ()
    fold: set[int] = field(default_factory=set)  # shortened, these wrap at words instead (a row's label)

    @classmethod
    def of_records(cls, records: list[dict], columns: Sequence[str], title: str = "") -> Table:
        """One row per record, its values under the given columns (a key not there is left empty)."""
        return cls(title, list(columns), [[record.get(column) for column in columns] for record in records])


def to_text(table: Table) -> str:
    """Columns padded to their widest cell and two spaces apart, the title above; trailing spaces cut. On a
    terminal (fit_to_terminal), fitted to its width first."""
    table = _escaped(table)  # before fitting, so that an escape counts in a cell's width
    width = _FIT_WIDTH.get()
    if width is not None:
        table = fit(table, width)
    # Only a fitted table has cells and headers of several lines (fit puts a std under its mean, wraps a
    # header); otherwise a cell prints as it always has.
    fitted = width is not None
    rows = [[_lines(cell, table.wrap[index] if table.wrap else None, fitted) for index, cell in enumerate(row)]
            for row in table.rows]
    header = [[_lines(cell, None, fitted) for cell in table.header]] if table.header else []
    widths = [max(len(line) for cell in column for line in cell) for column in zip(*header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in table.right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ).rstrip()

    def stacked(row: list[list[str]]) -> list[str]:
        """A row of cells of several lines as that many lines."""
        return [line([cell[depth] if depth < len(cell) else "" for cell in row])
                for depth in range(max(len(cell) for cell in row))]

    lines = [table.title] if table.title else []
    if table.header:
        lines += stacked(header[0])
        if table.rule:
            lines.append(line(["-" * width for width in widths]))
    spaced = table.wrap or any(len(cell) > 1 for row in rows for cell in row)
    for number, row in enumerate(rows):
        if number and spaced:
            lines.append("")  # wrapped rows stay readable apart
        lines += stacked(row)
    return "\n".join(lines)


def _lines(cell: str, width: int | None, split: bool = True) -> list[str]:
    if width is None:
        return cell.split("\n") if split else [cell]
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


def _escaped(table: Table) -> Table:
    return dataclasses.replace(
        table,
        title=escaped(table.title) if table.title else table.title,
        header=[escaped(cell) for cell in table.header],
        rows=[[escaped(cell) if isinstance(cell, str) else cell for cell in row] for row in table.rows],
    )


# Fitting text to a terminal. One setting for the whole command: cli.py's --wide option sets it before the
# command runs, and every text table and free line printed afterwards follows it.
_FIT_WIDTH: ContextVar[int | None] = ContextVar("fit_width", default=None)
NARROWEST = 40  # below this, fitting gives unreadable cells: the terminal wraps instead
FLOOR = 10  # a column shortened first goes down to this before the next one gives way
ELLIPSIS = "…"


def fit_to_terminal(wide: bool) -> None:
    """From now on, fit text to the terminal's width when stdout is a terminal and not `wide`; otherwise (a
    pipe, a file, --wide) print everything whole, so scripts read the same bytes as always."""
    import shutil  # here: only commands that print tables pay for it

    fits = not wide and sys.stdout.isatty()
    _FIT_WIDTH.set(max(shutil.get_terminal_size().columns, NARROWEST) if fits else None)


def fit_width() -> int | None:
    """The terminal's width while fitting to it, else None."""
    return _FIT_WIDTH.get()


def fit_text(text: str, indent: str = "") -> str:
    """A free line (a verdict, a heading) wrapped to the terminal, the lines after the first indented; whole
    when not fitting."""
    width = _FIT_WIDTH.get()
    if width is None or len(text) <= width:
        return text
    return textwrap.fill(text, width, subsequent_indent=indent, break_on_hyphens=False)


def fit(table: Table, width: int) -> Table:
    """The table cut to `width` columns, in steps, each only while it is still too wide: number columns
    wrap a long header; the columns that may be left out are (named under the title); the columns of an
    explicit `give` order are shortened in it down to FLOOR; a number cell's ± std goes under its mean;
    then the widest column that may give way loses a character at a time. A shortened cell ends in an
    ellipsis (in a wrapping table, or a column to `fold`, it wraps narrower instead). The title is wrapped."""
    header, rows = list(table.header), [[str(cell) for cell in row] for row in table.rows]
    numbers = table.right & set(range(len(header)))
    widths = _natural_widths(table.wrap, header, rows)
    if _excess(widths, width) > 0:
        for index in numbers:
            header[index] = _wrap_to(header[index], max(len(row[index]) for row in rows) if rows else 1)
        widths = _natural_widths(table.wrap, header, rows)
    give = table.give if table.give is not None else sorted(
        (index for index in range(len(widths)) if index not in numbers), key=lambda index: -widths[index])
    dropped = _to_leave_out(table.drop, give, widths, width)
    kept = [index for index in range(len(widths)) if index not in dropped]
    excess = _excess([widths[index] for index in kept], width)
    caps = {index: widths[index] for index in give if index in kept}
    for index in caps if table.give is not None else ():
        cut = min(max(excess, 0), max(widths[index] - FLOOR, 0))
        caps[index] -= cut
        excess -= cut
    if excess > 0 and numbers:
        for index in numbers:
            for row in rows:
                row[index] = row[index].replace(" ± ", "\n± ")  # the std under its mean
            header[index] = _wrap_to(header[index], max(len(line) for row in rows for line in row[index].split("\n")))
        narrower = _natural_widths(table.wrap, header, rows)
        excess -= sum(widths[index] - narrower[index] for index in numbers if index in kept)
    while excess > 0 and caps and max(caps.values()) > 2:
        widest = max(caps, key=caps.__getitem__)
        caps[widest] -= 1
        excess -= 1
    title = table.title
    if dropped:
        names = ", ".join(table.header[index] for index in dropped)
        title = f"{title}\n({names} left out to fit the terminal: --wide shows them)".lstrip("\n")
    renumber = {index: new for new, index in enumerate(kept)}
    return dataclasses.replace(
        table,
        title="\n".join(fit_text(line) for line in title.split("\n")) if title else title,
        header=[_shorten(header[index], caps.get(index)) for index in kept] if header else header,
        rows=[[row[index] if table.wrap else _fold(row[index], caps.get(index)) if index in table.fold
               else _shorten(row[index], caps.get(index)) for index in kept] for row in rows],
        right={renumber[index] for index in table.right if index in renumber},
        code={renumber[index] for index in table.code if index in renumber},
        fold={renumber[index] for index in table.fold if index in renumber},
        wrap=tuple(min(table.wrap[index], caps.get(index, table.wrap[index])) for index in kept)
        if table.wrap else None,
    )


def _to_leave_out(drop: tuple[int, ...], give: Sequence[int], widths: list[int], width: int) -> list[int]:
    """The columns of `drop`, in order, that must go for the rest to fit with only the others of `drop`
    shortened: a column that may be left out is, before any other column is shortened."""
    dropped: list[int] = []
    for index in drop:
        shortest = [min(size, FLOOR) if column in give and column in drop else size
                    for column, size in enumerate(widths) if column not in dropped]
        if _excess(shortest, width) <= 0:
            break
        dropped.append(index)
    return dropped


def _excess(widths: list[int], width: int) -> int:
    return sum(widths) + 2 * (len(widths) - 1) - width


def _natural_widths(wrap: tuple[int, ...] | None, header: list[str], rows: list[list[str]]) -> list[int]:
    columns: list[list[str]] = [cell.split("\n") for cell in header]
    for row in rows:
        for index, cell in enumerate(row):
            lines = _lines(cell, wrap[index] if wrap else None)
            if index < len(columns):
                columns[index] += lines
            else:
                columns.append(lines)
    return [max(map(len, lines), default=0) for lines in columns]


def _wrap_to(text: str, width: int) -> str:
    """Lines of at most width where the words allow (a word is never broken)."""
    return "\n".join(textwrap.wrap(text, max(width, 1), break_long_words=False, break_on_hyphens=False)) or text


def _fold(cell: str, cap: int | None) -> str:
    """A cell longer than cap on as many lines as its words need."""
    return cell if cap is None or len(cell) <= cap else "\n".join(textwrap.wrap(cell, cap, break_on_hyphens=False))


def _shorten(cell: Any, cap: int | None) -> Any:
    """Each line of a text cell longer than cap cut to end in an ellipsis."""
    if cap is None or not isinstance(cell, str):
        return cell
    return "\n".join(line if len(line) <= cap else line[: cap - 1] + ELLIPSIS for line in cell.split("\n"))
