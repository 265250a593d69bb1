"""The one check of every record scopelab reads back, from the record types' declarations.

A record type is a dataclass. Each field's type says which JSON value it takes (text, an integer, a number,
true/false, a list, a mapping, another record type, `X | None`, `Any`), and `limits(...)` in its metadata
says the range: lowest and highest number (infinite bounds let infinities in), whether NaN is allowed, the
longest text, a pattern the text must match, the values allowed, the most items. Fields without limits still
get the defaults: an integer from 0 to 2**63 - 1, a finite number of at least 0.

`parse` builds a record from JSON data and raises RecordError naming the file and the field; `check_writable`
runs the same rules before a write, so scopelab never writes a record it would refuse to read. metrics.csv
rows, which are text, are converted to the declared types first (`parse_text_row`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

LARGEST_INT = 2**63 - 1  # what every other tool reading the JSON (and numpy) can hold


class RecordError(ValueError):
    """A record file that is not one this version can read; the message names the file and says why."""


@dataclass(frozen=True)
class Limits:
    low: float = 0
    high: float = LARGEST_INT
    nan: bool = False  # a diverged run's metrics and losses are NaN
    length: int | None = None  # text: the most characters
    pattern: re.Pattern | None = None  # text: must match it whole
    meaning: str | None = None  # what the pattern means, for a reason ("an ISO 8601 time")
    choices: tuple | None = None  # the values allowed
    count: int | None = None  # a list or mapping: the most items
    required: bool = False  # must be present even though the field has a default


def limits(**declared: Any) -> dict:
    """A field's metadata: `field(default=..., metadata=limits(low=1))`."""
    return {"limits": Limits(**declared)}


class _Bad(Exception):
    """One value that does not fit: what it is, what was expected, and where, its path filled in on the way
    out (so that checking good data never builds a path)."""

    def __init__(self, value: Any, expected: str):
        super().__init__(value, expected)
        self.value, self.expected, self.keys = value, expected, []

    def inside(self, key: Any) -> _Bad:
        self.keys.insert(0, str(key))
        return self

    @property
    def path(self) -> str:
        return ".".join(self.keys) or "the top level"


Checker = Callable[[Any], Any]  # returns the value (a record type's: built), or raises _Bad


def parse(cls: type, data: Any, file: str, skip: frozenset[str] = frozenset()) -> Any:
    """The record `cls` from JSON data, every field checked; keys it does not declare go to its `extra` field
    (when it has one). Fields in `skip` are not read (their defaults stand)."""
    try:
        return _build(cls, data, skip)
    except _Bad as bad:
        raise RecordError(_reason(file, bad)) from None


def check_writable(cls: type, data: Any, file: str) -> None:
    """Refuse (RecordError) to write data that `parse` would refuse to read."""
    parse(cls, data, file)


def parse_text_row(cls: type, row: dict[str, str], where: str) -> dict[str, Any]:
    """A row of text cells (csv) as the declared types: an int field from its digits, a float from its
    decimal text (an empty cell is None), then checked as `parse` checks JSON."""
    converted: dict[str, Any] = {}
    for name, (hint, _) in _hints(cls).items():
        text = row.get(name)
        if text is None:
            raise RecordError(f"{where}: column '{name}' is missing")
        kind = _without_none(hint)
        try:
            converted[name] = None if text == "" else kind(text) if kind in (int, float) else text
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise RecordError(f"{where}: field '{name}' is {_show(text)}; expected {expected}") from None
    for name, checker in _checkers(cls).items():
        try:
            checker(converted[name])
        except _Bad as bad:
            raise RecordError(_reason(where, bad.inside(name))) from None
    return converted


def _reason(file: str, bad: _Bad) -> str:
    if bad.expected == "present":
        return f"{file}: field '{bad.path}' is missing"
    return f"{file}: field '{bad.path}' is {_show(bad.value)}; expected {bad.expected}"


def _build(cls: type, data: Any, skip: frozenset[str] = frozenset()) -> Any:
    if type(data) is not dict:
        raise _Bad(data, "a mapping")
    checkers, required, names = _plan(cls)
    values, extra = {}, {}
    for name, value in data.items():
        checker = checkers.get(name)
        if checker is None:
            if name not in names:  # format_version is declared, but checked before and never kept
                extra[name] = value
        elif not skip or name not in skip:
            try:
                values[name] = checker(value)
            except _Bad as bad:
                raise bad.inside(name) from None
    missing = required - values.keys() - skip
    if missing:
        raise _Bad(None, "present").inside(min(missing))
    if "extra" in names:
        values["extra"] = extra
    return cls(**values)


@cache
def _plan(cls: type) -> tuple[dict[str, Checker], frozenset[str], frozenset[str]]:
    """Each field's check, the fields that must be present, and every field's name: built once per record
    type, since `list` checks a thousand records."""
    return _checkers(cls), frozenset(_required(cls)), frozenset(item.name for item in dataclasses.fields(cls))


@cache
def _hints(cls: type) -> dict[str, tuple[Any, Limits]]:
    """Each field's resolved type and limits (the types are strings under postponed annotations)."""
    resolved = get_type_hints(cls)
    return {
        item.name: (resolved[item.name], item.metadata.get("limits", Limits()))
        for item in dataclasses.fields(cls)
        if item.name not in ("extra", "format_version")  # format_version: checked before, written as current
    }


def _required(cls: type) -> tuple[str, ...]:
    missing = dataclasses.MISSING
    return tuple(
        item.name
        for item in dataclasses.fields(cls)
        if (item.default is missing and item.default_factory is missing)
        or item.metadata.get("limits", Limits()).required
    )


@cache
def _checkers(cls: type) -> dict[str, Checker]:
    return {name: _checker(hint, declared) for name, (hint, declared) in _hints(cls).items()}


def _checker(hint: Any, declared: Limits) -> Checker:
    if _without_none(hint) is not hint:
        inner = _checker(_without_none(hint), declared)
        return lambda value: None if value is None else inner(value)
    origin = get_origin(hint)
    if hint is Any:
        return _anything
    if dataclasses.is_dataclass(hint):
        return lambda value: _build(hint, value)
    if hint is str:
        return _text_checker(declared)
    if hint is bool:
        return _exact_checker(bool, "true or false")
    if hint in (int, float):
        return _number_checker(hint, declared)
    if list in (hint, origin) or dict in (hint, origin):
        return _container_checker(list if list in (hint, origin) else dict, hint, declared)
    raise TypeError(f"no check for a field of type {hint}")  # a record type declared something unknown


def _anything(value: Any) -> Any:
    return value


def _exact_checker(kind: type, expected: str) -> Checker:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _Bad(value, expected)
        return value

    return check


def _text_checker(declared: Limits) -> Checker:
    if not (declared.length or declared.pattern or declared.choices):
        return _exact_checker(str, "text")
    expected = "text" + (f" of at most {declared.length:,} characters" if declared.length else "")
    if declared.pattern:
        expected = declared.meaning or f"{expected} matching {declared.pattern.pattern}"
    if declared.choices:
        expected = "one of " + ", ".join(declared.choices)

    def check(value: Any) -> Any:
        if (
            type(value) is not str
            or (declared.length is not None and len(value) > declared.length)
            or (declared.pattern is not None and not declared.pattern.fullmatch(value))
            or (declared.choices is not None and value not in declared.choices)
        ):
            raise _Bad(value, expected)
        return value

    return check


def _number_checker(hint: type, declared: Limits) -> Checker:
    kinds = (int,) if hint is int else (int, float)
    low, high = declared.low, declared.high
    finite = math.isfinite(low) and math.isfinite(high)
    expected = "an integer" if hint is int else "a finite number" if finite else "a number"
    if math.isfinite(high) and high != LARGEST_INT:
        expected += f" from {_bound(low)} to {_bound(high)}"
    elif math.isfinite(low):
        expected += f" of at least {_bound(low)}"

    def check(value: Any) -> Any:
        if type(value) not in kinds:  # type(), not isinstance: JSON's true is no number
            raise _Bad(value, expected)
        if not low <= value <= high and not (declared.nan and math.isnan(value)):  # NaN fails every comparison
            raise _Bad(value, expected)
        return value

    return check


def _bound(value: float) -> str:
    return f"{value:,}" if abs(value) >= 10_000 else str(value)


def _container_checker(kind: type, hint: Any, declared: Limits) -> Checker:
    """A list or a mapping (JSON's keys are always text), each item checked as its declared type."""
    args = get_args(hint)
    item_hint = args[-1] if args else Any  # list[X] and dict[str, X]: the last is the item's
    item = _checker(item_hint, declared)
    builds = dataclasses.is_dataclass(item_hint)  # else the items come back as they are: keep the container
    expected = ("a list" if kind is list else "a mapping") + (
        f" of at most {declared.count:,} items" if declared.count else "")

    def check(value: Any) -> Any:
        if type(value) is not kind or (declared.count is not None and len(value) > declared.count):
            raise _Bad(value, expected)
        if item is _anything:
            return value
        built = []
        for key, element in enumerate(value) if kind is list else value.items():
            try:
                checked = item(element)
            except _Bad as bad:
                raise bad.inside(key) from None
            if builds:
                built.append(checked)
        if not builds:
            return value
        return built if kind is list else dict(zip(value, built))

    return check


def _without_none(hint: Any) -> Any:
    """X for `X | None`; any other type as it is."""
    if get_origin(hint) in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return inner
    return hint


def _show(value: Any) -> str:
    """A value in a reason: short, on one line (repr escapes control characters), and never a huge number's
    digits (Python refuses to print more than 4,300 of them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 64 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, (float, str)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else type(value).__name__
