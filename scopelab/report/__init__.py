"""Reporting: what `list`, `show`, `compare` and `reproduce` print, and how (tables.py: the one table model).

This file keeps only the output formats each command offers and how a metric's value is written: cli.py
imports the format choices from here, and `scopelab --help` should not have to load more.
"""

from __future__ import annotations

LIST_FORMATS = ("table", "json", "csv")
COMPARE_FORMATS = ("table", "markdown", "csv", "json")
REPRODUCE_FORMATS = ("table", "markdown", "json")
MISSING = "—"


def fixed(value: float | None, decimals: int) -> str:
    """A value to the places its metric declares (scopelab.metrics.Metric.decimals)."""
    return MISSING if value is None else f"{value:.{decimals}f}"
