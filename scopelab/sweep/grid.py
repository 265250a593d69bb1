"""What a sweep's members vary: `--grid KEY=V1,V2,...` and `--seeds N | S1,S2,...`."""

from __future__ import annotations

from scopelab.errors import InputError


def parse_seeds(text: str) -> list[int]:
    """`5` -> seeds 0..4; `0,1,2` -> exactly those seeds."""
    expected = f"--seeds {text}: expected a count N (seeds 0..N-1) or a comma-separated list, e.g. 5 or 0,1,2."
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # "7," is the one seed 7
    if not parts or not all(part.isdigit() for part in parts):
        raise InputError(expected)
    if "," not in text:
        count = int(parts[0])
        if count < 1:
            raise InputError(expected)
        return list(range(count))
    seeds = [int(part) for part in parts]
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
