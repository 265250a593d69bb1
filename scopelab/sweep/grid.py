"""What a sweep's members vary: `--grid KEY=V1,V2,...` and `--seeds N | S1,S2,...`, and how many members
that makes: counted from the sizes, never by building them, and refused beyond MAX_MEMBERS."""

from __future__ import annotations

import math

from scopelab.errors import InputError

# Every member is checked, recorded in sweep.json and trained: 10,000 is already days of training, and a
# typo (--seeds 1000000, a grid of 1000 x 1000) must be refused at once, not planned for minutes first.
MAX_MEMBERS = 10_000


def parse_seeds(text: str) -> list[int]:
    """`5` -> seeds 0..4; `0,1,2` -> exactly those seeds."""
    expected = f"--seeds {text}: expected a count N (seeds 0..N-1) or a comma-separated list, e.g. 5 or 0,1,2."
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # "7," is the one seed 7
    if not parts or not all(part.isascii() and part.isdigit() for part in parts):
        raise InputError(expected)
    if "," not in text:
        count = _number(parts[0])
        if count < 1:
            raise InputError(expected)
        check_members(count, f"--seeds {text}: {count:,} seeds")
        return list(range(count))
    check_members(len(parts), f"--seeds: {len(parts):,} seeds")
    seeds = [_number(part) for part in parts]
    if len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds {text}: a seed is repeated.")
    return seeds


def parse_grid(items: tuple[str, ...]) -> dict[str, list[str]]:
    """Each `KEY=V1,V2,...` -> {KEY: [V1, V2, ...]}, in the order given."""
    grid: dict[str, list[str]] = {}
    for text in items:
        key, sep, values = text.partition("=")
        key = key.strip()
        choices = [value.strip() for value in values.split(",")]
        if not sep or not key or "" in choices:
            raise InputError(f"--grid {text}: expected KEY=V1,V2,..., e.g. --grid train.learning_rate=0.03,0.1.")
        if key in grid:
            raise InputError(f"--grid {key} is given twice; list all its values in one --grid.")
        if len(set(choices)) != len(choices):
            raise InputError(f"--grid {text}: a value is repeated.")
        grid[key] = choices
    return grid


def check_sweep_size(grid: dict[str, list[str]], seeds: list[int] | None) -> None:
    """Refuse a sweep of more than MAX_MEMBERS members: the product of the grid's sizes and the seeds."""
    sizes = [len(values) for values in grid.values()] + ([len(seeds)] if seeds is not None else [])
    count = math.prod(sizes)
    parts = [f"--grid {key}: {len(values):,} values" for key, values in grid.items()]
    parts += [f"{len(seeds):,} seeds"] if seeds is not None else []
    check_members(count, f"a sweep of {count:,} members ({' x '.join(parts)})")


def check_members(count: int, what: str) -> None:
    """Refuse `what` (e.g. "--seeds 100000: 100,000 seeds") when it makes more than MAX_MEMBERS runs."""
    if count > MAX_MEMBERS:
        raise InputError(f"{what}, over the limit of {MAX_MEMBERS:,} runs one command plans; split it up.")


def _number(digits: str) -> int:
    """A decimal number, refused when too long to be a count or a seed (int() itself refuses over 4,300 digits)."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > 18:
        raise InputError(f"--seeds: {digits[:12]}... is too large for a seed or a count of seeds.")
    return int(digits)
