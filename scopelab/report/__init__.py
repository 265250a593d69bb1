"""Reporting: what `list`, `show`, `compare` and `reproduce` print, and how (tables.py: the one table model).

This file keeps only the output formats each command offers and how a value is written: cli.py
imports the format choices from here, and `scopelab --help` should not have to load more.
"""

from __future__ import annotations

from typing import Any

LIST_FORMATS = ("table", "json", "csv")
COMPARE_FORMATS = ("table", "markdown", "csv", "json")
REPRODUCE_FORMATS = ("table", "markdown", "json")
MISSING = "—"


def fixed(value: float | None, decimals: int) -> str:
    """A value to the places its metric declares (scopelab.metrics.Metric.decimals)."""
    return MISSING if value is None else f"{value:.{decimals}f}"


def yaml_scalar(value: Any) -> str:
    """A config value as YAML writes it (true, null, 0.1), as --set would take it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)
