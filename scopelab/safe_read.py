"""Bounded reading of the files scopelab trusts least: configs, run records and metrics, which anyone (or
a crash) may have replaced by a FIFO, a symlink to /dev/zero, a huge file or a YAML alias bomb.

Only regular files are read, never more than a limit, and YAML is checked on its event stream (which
costs memory in proportion to the text) before any object is built: the nodes it would expand to and
how deeply they nest are both bounded, so no later walk over the data can blow up or recurse too deep.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_LIMIT = 1 << 20  # a config is a page of YAML; 1 MB is far beyond any real one
RECORD_LIMIT = 4 << 20  # summary.json, sweep.json, a checkpoint's state: a few KB to a few hundred KB
METRICS_LIMIT = 32 << 20  # metrics.csv: ~40 bytes a row, so 800,000 logged steps
YAML_NODES = 100_000  # nodes after aliases are expanded
YAML_DEPTH = 50  # a config nests 3 levels deep


class UnsafeFile(ValueError):
    """A file that is not a regular file, is too big, or holds data that would expand or nest too far.
    The message completes a sentence that starts with the file's name."""


def read_bytes(path: Path, limit: int) -> bytes:
    """The whole file, if it is a regular file of at most `limit` bytes (FileNotFoundError and other
    OSErrors pass through for the caller to word)."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"is not a regular file (a {_kind(info.st_mode)})")
        if info.st_size > limit:
            raise UnsafeFile(f"is {info.st_size:,} bytes, over the limit of {limit:,}")
        chunks, size = [], 0
        while size <= limit:  # the size can change after fstat: stop reading at the limit regardless
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnsafeFile(f"grew past the limit of {limit:,} bytes while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path, limit: int) -> str:
    """As read_bytes, decoded as UTF-8 (UnicodeDecodeError is a ValueError)."""
    return read_bytes(path, limit).decode("utf-8")


def read_json(path: Path, limit: int = RECORD_LIMIT) -> Any:
    try:
        return json.loads(read_bytes(path, limit))
    except RecursionError:
        raise UnsafeFile("nests deeper than Python's JSON reader allows") from None


@dataclass
class NodeBudget:
    """YAML nodes that several documents share (a config's base: chain: parsing costs ~20 us a node, so the
    chain as a whole is bounded, not each file); each document loaded adds what it used."""

    used: int = 0


def load_yaml(text: str, budget: NodeBudget | None = None) -> Any:
    """yaml.safe_load, after checking that the document (with those the budget counted before it) expands
    to at most YAML_NODES nodes nested at most YAML_DEPTH deep (raises UnsafeFile; yaml.YAMLError for a
    syntax error)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    check_yaml_events(yaml.parse(text, Loader=loader), budget or NodeBudget())
    return yaml.load(text, Loader=loader)


def check_yaml_events(events: Any, budget: NodeBudget) -> None:
    """Count the nodes and nesting of a YAML event stream as if every alias were expanded, without
    expanding any: each anchor's expanded size and height is noted when its node ends, and an alias adds
    those. An alias inside the node it names would expand forever, so it is refused too."""
    import yaml

    total = budget.used
    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height) once its node is complete
    open_nodes: list[list] = []  # [anchor, total when it started, tallest child]

    def add(nodes: int, height: int) -> None:
        nonlocal total
        total += nodes
        if total > YAML_NODES:
            shared = " with the documents read before it" if budget.used else ""
            raise UnsafeFile(f"expands to more than {YAML_NODES:,} YAML nodes{shared} (through its aliases)")
        if len(open_nodes) + height > YAML_DEPTH:
            raise UnsafeFile(f"nests deeper than {YAML_DEPTH} levels")
        if open_nodes:
            open_nodes[-1][2] = max(open_nodes[-1][2], height)

    for event in events:
        if isinstance(event, yaml.AliasEvent):
            if any(node[0] == event.anchor for node in open_nodes):
                raise UnsafeFile(f"has an alias *{event.anchor} inside the node it names")
            add(*anchored.get(event.anchor, (1, 1)))  # an unknown anchor: the loader's own error follows
        elif isinstance(event, yaml.ScalarEvent):
            add(1, 1)
            if event.anchor:
                anchored[event.anchor] = (1, 1)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            add(1, 1)
            open_nodes.append([event.anchor, total, 0])
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, started, tallest = open_nodes.pop()
            nodes, height = total - started + 1, tallest + 1
            if open_nodes:
                open_nodes[-1][2] = max(open_nodes[-1][2], height)
            if anchor:
                anchored[anchor] = (nodes, height)
    budget.used = total


def _kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "directory", stat.S_ISFIFO: "FIFO", stat.S_ISCHR: "character device",
             stat.S_ISBLK: "block device", stat.S_ISSOCK: "socket"}
    return next((name for test, name in kinds.items() if test(mode)), "special file")
