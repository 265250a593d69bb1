"""Keep the docs true to the CLI: every ```console block of README.md and docs/*.md is run, and its text
must be what the commands print; docs/cli.md is every command's --help, made the same way.

    python tools/docs.py            # check: exit 1 with a diff of each block that differs from the real output
    python tools/docs.py --update   # rewrite those blocks, and docs/cli.md, from the real output

A block holds `$ scopelab ...` lines, each followed by what it prints (stdout and stderr as a terminal shows
them, and `(exit code N)` when it fails). The commands of one page run in order, in a fresh copy of a small
workspace made here (WORKSPACE: a few short runs on synthetic MNIST-format data), so a page may tag or remove
runs without touching another page. Run and sweep ids come from a fixed clock (the Nth made is
20261127-10NN00), so the docs do not change with the time or the machine's speed; what still varies from one
machine or minute to the next (times, durations, versions, the machine, column widths) is normalised before
text and output are compared, and a block is rewritten only when the rest differs.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = "docs/cli.md"

# The workspace every page starts from: configs/ and runs/ beside synthetic data (SCOPELAB_DATA=mnist).
WORKSPACE_CONFIGS = {
    "tied_small.yaml": "# tied_ae, 100 steps\nbase: tied_ae\ntrain: {steps: 100, log_every: 25}\n",
    "untied_small.yaml": "# untied_ae, 100 steps\nbase: untied_ae\ntrain: {steps: 100, log_every: 25}\n",
}
# One run at a time (--jobs 1): every run is then made in this process, where its id comes from FixedClock.
WORKSPACE = [
    "scopelab run tied_small --seeds 2 --jobs 1 --quiet",
    "scopelab run untied_small --seeds 2 --jobs 1 --quiet",
    "scopelab sweep smoke --grid train.learning_rate=0.03,0.3 --jobs 1 --quiet",
]
FIRST_STAMP = (2026, 11, 27, 10)  # the fixed stamps: 20261127-100000, 20261127-100100, ...
SCRATCH = "scopelab-docs-"  # the temporary directories the workspace and its copies live in
WORKSPACE_PATH = re.compile(f"(?:/[^/\\s]+)*/{SCRATCH}[^/\\s]*/workspace/?")  # wherever the temporary directory is

# What may differ between a page's text and a fresh run without the page being wrong.
VOLATILE = [
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\+00:00)?"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)? ?(s|ms)\b(?!/)"), "<duration>"),
    (re.compile(r"\b\d+(\.\d+)? steps/s\b"), "<rate>"),
    # show's provenance: this machine, its packages, its environment, the repository scopelab sits in
    (re.compile(r"^(host|git|python|packages|tf build|machine|env)\s{2}.*$", re.M), r"\1 <varies>"),
    (re.compile(r"\bpid \d+"), "pid <n>"),
    (re.compile(r"^(scopelab \S+) \(TensorFlow .*\)$", re.M), r"\1 <versions>"),
    (re.compile(r"-{2,}"), "--"),  # table rules and column widths follow the volatile cells' widths
    (re.compile(r"[ \t]{2,}"), "  "),
    (re.compile(r"[ \t]+$", re.M), ""),
]


def normalise(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text.strip("\n")


@dataclass
class Command:
    index: int  # of its `$ ` line in the page
    line: str  # what follows "$ "
    output: list[str] = field(default_factory=list)  # the lines below it in the page


@dataclass
class Block:
    start: int  # index of the first line inside the fence
    end: int  # index of the closing fence
    commands: list[Command] = field(default_factory=list)


def console_blocks(lines: list[str]) -> list[Block]:
    """The ```console blocks of a page's lines, each split into its commands and their output."""
    blocks, block = [], None
    for index, line in enumerate(lines):
        if block is None and line.strip() == "```console":
            block = Block(index + 1, index + 1)
        elif block is not None and line.strip() == "```":
            block.end = index
            blocks.append(block)
            block = None
        elif block is not None and line.startswith("$ "):
            block.commands.append(Command(index, line[2:]))
        elif block is not None:
            if not block.commands:
                raise ValueError(f"line {index + 1}: a console block must start with a `$ scopelab ...` line")
            block.commands[-1].output.append(line)
    return blocks


def render(block: Block) -> list[str]:
    return [text for command in block.commands for text in [f"$ {command.line}", *command.output]]


class FixedClock:
    """The stamps new ids start with while the docs' commands run: the Nth id made is 20261127-10NN00 whatever
    the real time, so every build shows the same ids and a page can name a run it made."""

    def __init__(self, made: int = 0) -> None:
        self.made = made

    def __call__(self) -> str:
        year, month, day, hour = FIRST_STAMP
        count, self.made = self.made, self.made + 1
        return f"{year}{month:02d}{day:02d}-{hour + count // 60:02d}{count % 60:02d}00"


@contextmanager
def inside(directory: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def run_scopelab(line: str, workspace: Path, clock: FixedClock | None = None) -> str:
    """One `scopelab ...` line run by the real CLI in `workspace`: what a terminal would show. The runs it
    makes in this process take their ids from `clock` (a member run by a worker process would not: the
    docs' commands run one at a time, --jobs 1)."""
    from unittest import mock

    from click.testing import CliRunner

    import scopelab
    from scopelab.cli import main

    words = shlex.split(line)
    if not words or words[0] != "scopelab":
        raise ValueError(f"only scopelab commands can run in a console block (use ```bash for others): {line!r}")
    # The same environment on every machine: none of the user's settings that a run records or obeys.
    env = {name: None for name in os.environ if name.startswith(("SCOPELAB_", "TF_", "CUDA_", "OMP_"))}
    env.update(SCOPELAB_DATA="mnist", COLUMNS="80", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")  # CPU, as here
    with inside(workspace), mock.patch("scopelab.runs.directory.utc_stamp", clock or FixedClock()):
        result = CliRunner(env=env).invoke(main, words[1:], prog_name="scopelab", terminal_width=80)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise RuntimeError(f"`{line}` raised {result.exception!r}") from result.exception
    # Paths as a user in the workspace would read them (runs/..., not /tmp/.../runs/...), and the package's
    # own files wherever it is installed.
    package = str(Path(scopelab.__file__).parent)
    output = WORKSPACE_PATH.sub("", result.output).replace(package, ".../scopelab").rstrip("\n")
    if result.exit_code:
        output += f"\n(exit code {result.exit_code})"
    return "\n".join(text.rstrip() for text in output.split("\n"))


def make_workspace(directory: Path) -> FixedClock:
    """Synthetic data, two local configs and the runs of WORKSPACE: the state every page starts from."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import write_idx_dir  # the test suite's synthetic MNIST: learnable, seconds to train on

    # As many training images as MNIST, since the MLP configs split them 0-29,999 and 30,000-59,999; raw, not
    # gzipped: written in seconds and read fast by every run. Each page's copy of the workspace links to it.
    write_idx_dir(directory / "mnist", train=60_000, test=300, gz=False)
    (directory / "configs").mkdir()
    for name, text in WORKSPACE_CONFIGS.items():
        (directory / "configs" / name).write_text(text)
    clock = FixedClock()
    for line in WORKSPACE:
        output = run_scopelab(line, directory, clock)
        if "(exit code" in output:
            raise RuntimeError(f"making the docs' workspace: `{line}` failed:\n{output}")
    return clock


@dataclass
class Difference:
    page: str
    line: int  # 1-based, of the command
    command: str
    expected: str
    actual: str

    def __str__(self) -> str:
        diff = difflib.unified_diff(self.expected.split("\n"), self.actual.split("\n"), "in the page", "printed",
                                    lineterm="")
        return f"{self.page}:{self.line}: $ {self.command}\n" + "\n".join(diff)


def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def run_page(page: Path, root: Path, workspace: Path,
             workspace_clock: FixedClock) -> tuple[list[str], list[Difference]]:
    """Run a page's console blocks in a copy of the workspace; its lines as the real output would have them,
    and every command whose text differs from its output (beyond what is volatile)."""
    lines = page.read_text(encoding="utf-8").split("\n")
    blocks = console_blocks(lines)
    if not blocks:
        return lines, []
    differences = []
    with tempfile.TemporaryDirectory(prefix=SCRATCH) as scratch:
        copy = Path(scratch) / "workspace"
        shutil.copytree(workspace, copy, symlinks=True, ignore=lambda where, _: ["mnist"] * (where == str(workspace)))
        (copy / "mnist").symlink_to(workspace / "mnist")
        clock = FixedClock(workspace_clock.made)  # the page's first new run comes after the workspace's
        for command in (command for block in blocks for command in block.commands):
            try:
                actual = run_scopelab(command.line, copy, clock)
            except (ValueError, RuntimeError) as error:
                raise ValueError(f"{page.relative_to(root)}:{command.index + 1}: {error}") from error
            expected = "\n".join(command.output)
            if normalise(actual) != normalise(expected):
                differences.append(Difference(str(page.relative_to(root)), command.index + 1, command.line,
                                              expected, actual))
                command.output = actual.split("\n") if actual else []
    for block in reversed(blocks):
        lines[block.start:block.end] = render(block)
    return lines, differences


def cli_reference() -> str:
    """docs/cli.md: every command's --help, as console blocks the check then runs like any other."""
    import click

    from scopelab.cli import main

    def walk(command: click.Command, path: list[str]) -> Iterator[list[str]]:
        yield path
        if isinstance(command, click.Group):
            for name in sorted(command.commands):
                yield from walk(command.commands[name], [*path, name])

    parts = ["# Command reference", "",
             "Every command's `--help`, as it prints. Generated by `python tools/docs.py --update` and checked by",
             "`tests/test_docs.py`: do not edit by hand.", ""]
    for path in walk(main, ["scopelab"]):
        line = " ".join([*path, "--help"])
        parts += [f"## {' '.join(path)}", "", "```console", f"$ {line}", run_scopelab(line, ROOT), "```", ""]
    return "\n".join(parts)


def check(root: Path = ROOT, update: bool = False) -> list[Difference]:
    """Every difference between the docs under `root` and the real output; with `update`, rewrite them."""
    if update:
        (root / CLI_PAGE).write_text(cli_reference(), encoding="utf-8")
    differences = []
    with tempfile.TemporaryDirectory(prefix=SCRATCH) as scratch:
        workspace = Path(scratch) / "workspace"
        workspace.mkdir()
        clock = make_workspace(workspace)
        for page in pages(root):
            lines, found = run_page(page, root, workspace, clock)
            differences += found
            if update and found:
                page.write_text("\n".join(lines), encoding="utf-8")
    return differences


def main() -> int:
    update = sys.argv[1:] == ["--update"]
    if sys.argv[1:] not in ([], ["--update"]):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    differences = check(update=update)
    for difference in differences:
        print(difference, end="\n\n")
    if update:
        print(f"rewrote {len(differences)} command output(s), and {CLI_PAGE}")
        return 0
    print(f"{len(differences)} command output(s) differ from the docs" if differences else "the docs are true")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
