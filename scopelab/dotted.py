"""Dotted keys (`networks.0.scope`) over plain nested data, the mappings and lists that YAML and JSON hold:
every value under its dotted key, or the value at one key."""

from __future__ import annotations

from typing import Any


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as dotted keys: {"networks": [{"scope": "mlp1"}]} -> {"networks.0.scope": "mlp1"}."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def lookup(value: Any, dotted: str) -> Any:
    """The value at a dotted key: {"networks": [{"scope": "mlp1"}]}, "networks.0.scope" -> "mlp1"."""
    for key in dotted.split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value
