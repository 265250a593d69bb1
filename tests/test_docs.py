"""The docs cannot go stale: every console block of the README and docs/ prints what it says (tools/docs.py),
docs/cli.md holds every command's --help, every relative link leads somewhere, and the README's quick start
is what CI runs and works as pasted."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from scopelab.cli import main

from conftest import tiny_autoencoder, write_config

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_tool", ROOT / "tools" / "docs.py")
docs_tool = sys.modules["docs_tool"] = importlib.util.module_from_spec(_spec)  # tools/ is not a package
_spec.loader.exec_module(docs_tool)

PAGES = docs_tool.pages(ROOT)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The directory every page's commands start from, and the fixed clock its runs took their ids from."""
    directory = tmp_path_factory.mktemp(docs_tool.SCRATCH) / "workspace"
    directory.mkdir()
    return directory, docs_tool.make_workspace(directory)


@pytest.mark.parametrize("page", [page for page in PAGES if "```console" in page.read_text()],
                         ids=lambda page: str(page.relative_to(ROOT)))
def test_every_console_block_prints_what_the_page_says(page, workspace):
    _, differences = docs_tool.run_page(page, ROOT, *workspace)
    assert not differences, (
        "\n\n".join(map(str, differences)) + "\n\nIf the new output is right: python tools/docs.py --update")


def test_a_changed_output_is_caught_and_only_volatile_parts_are_forgiven(tmp_path, workspace):
    real = next(page for page in PAGES if page.name == "runs.md").read_text()
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "runs.md"
    # Times, durations and the widths of columns are not what the page is about; a metric is.
    volatile = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "2027-01-01 09:15", re.sub(r" \d\.\ds ", " 123.4s ", real))
    assert volatile.count("123.4s") >= 5 and volatile.count("2027-01-01 09:15") >= 5
    page.write_text(volatile)
    assert docs_tool.run_page(page, tmp_path, *workspace)[1] == []
    page.write_text(real.replace("tags best", "tags worst"))
    lines, differences = docs_tool.run_page(page, tmp_path, *workspace)
    assert [(d.command, d.expected, d.actual) for d in differences] == [
        ("scopelab tag 20261127-100800 best", "20261127-100800-smoke: tags worst", "20261127-100800-smoke: tags best")]
    assert "\n".join(lines) == real  # --update puts the real output back, and nothing else changes


def test_the_command_reference_has_every_commands_help():
    def paths(command: click.Command, path: list[str]):
        yield " ".join(path)
        for name, sub in getattr(command, "commands", {}).items():
            yield from paths(sub, [*path, name])

    page = (ROOT / docs_tool.CLI_PAGE).read_text()
    documented = {line[2:].removesuffix(" --help") for line in page.splitlines() if line.startswith("$ ")}
    assert documented == set(paths(main, ["scopelab"])), "regenerate it: python tools/docs.py --update"


def _links(page: Path) -> list[str]:
    """The targets of a page's markdown links and images, outside code blocks and code spans."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for link in _links(page):
        if re.match(r"[a-z]+:", link):
            continue  # http(s), mailto: not checked here, no network in tests
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link}: no heading #{anchor} in {target.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nSee [it](other.md#nowhere), [me](#title), [code](`x`)\n```\n[skip](gone.md)\n```\n")
    (tmp_path / "other.md").write_text("## Somewhere else\n")
    assert _links(page) == ["other.md#nowhere", "#title"]
    assert _anchors(tmp_path / "other.md") == {"somewhere-else"} and _anchors(page) == {"title"}


def _bash_blocks(section: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.S)


def test_the_readme_test_command_is_what_ci_runs():
    install, look, tests = _bash_blocks("Quick start")
    ci = [line.replace(" --quiet", "").strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    steps = [step.strip() for step in tests.strip().split("&&")]
    assert steps[-1] == ".venv/bin/python -m pytest -q" and "python3 -m venv .venv" in steps
    missing = [step for step in steps if step not in ci]
    assert not missing, f"the README's test command has steps .ci/run does not run: {missing}"
    # Both quick-start commands make the same .venv; what follows them uses it, activated.
    assert install.startswith("python3 -m venv .venv && .venv/bin/python -m pip install . && .venv/bin/scopelab run ")
    assert look.startswith("source .venv/bin/activate\n")


def _tiny_run(prefix: list[str], tmp_path: Path, mnist_dir: Path) -> subprocess.CompletedProcess:
    """A tiny run through a real process, with `scopelab` not on PATH, as in a shell where the venv is not active."""
    write_config(tmp_path / "tiny.yaml", tiny_autoencoder(mnist_dir, train={"steps": 2}))
    env = {**{k: v for k, v in os.environ.items() if k != "SCOPELAB_RUNS_DIR"}, "PATH": "/usr/bin:/bin"}
    return subprocess.run([*prefix, "run", "tiny.yaml", "--quiet"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)


def _hint_works(done: subprocess.CompletedProcess, tmp_path: Path, starts: str) -> None:
    assert done.returncode == 0, done.stderr
    hint = done.stderr.splitlines()[-1].removeprefix("next: ")
    assert hint.startswith(starts), hint
    again = subprocess.run(["bash", "-c", hint], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PATH": "/usr/bin:/bin"})
    assert again.returncode == 0 and again.stdout.startswith("run  "), again.stderr  # `show` of the run


def test_the_next_hint_works_in_a_shell_where_scopelab_is_not_on_path(tmp_path, mnist_dir):
    script = tmp_path / "venv" / "bin" / "scopelab"  # what pip installs: a script, here outside PATH
    script.parent.mkdir(parents=True)
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom scopelab.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    _hint_works(_tiny_run(["venv/bin/scopelab"], tmp_path, mnist_dir), tmp_path, "venv/bin/scopelab show ")


def test_the_next_hint_after_python_dash_m_repeats_it(tmp_path, mnist_dir):
    done = _tiny_run([sys.executable, "-m", "scopelab"], tmp_path, mnist_dir)
    _hint_works(done, tmp_path, f"{shlex.quote(sys.executable)} -m scopelab show ")
