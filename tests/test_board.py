"""TensorBoard as the web view: the HParams records a run writes, and `scopelab board` — its bad input
through the CLI, and the real thing in a headless Chromium."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import api_pb2, metadata

from scopelab import tensorboard as board_events
from scopelab.board import chosen_runs
from scopelab.config import load_config
from scopelab.runs import RunDir, RunRecord

from conftest import cli, only_run, summary_of, tiny_autoencoder, tiny_mlp_pair, write_config

tf1 = tf.compat.v1
STATUS = {value: name for name, value in api_pb2.Status.items()}
START, END = metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG


def _tb_events(tb_dir: Path) -> tuple[dict, dict[str, list[float]], bool]:
    """The HParams records ({tag: plugin data}), the scalar series, and whether a graph is there."""
    hparams, scalars, graph = {}, {}, False
    for file in sorted(tb_dir.glob("events.out.tfevents.*")):
        for event in tf1.train.summary_iterator(str(file)):
            graph = graph or bool(event.graph_def)
            for value in event.summary.value:
                if value.tag.startswith("_hparams_/"):
                    hparams[value.tag] = value.metadata.plugin_data.content
                else:
                    scalars.setdefault(value.tag, []).append(value.simple_value)
    return hparams, scalars, graph


def _status(hparams: dict) -> str:
    return STATUS[metadata.parse_session_end_info_plugin_data(hparams[END]).status]


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_a_run_writes_its_hparams_session(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "tied_ae.yaml", tiny_autoencoder(mnist_dir))
    assert cli("run", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    run = only_run(runs_dir)
    hparams, scalars, graph = _tb_events(run / "tb")
    start = metadata.parse_session_start_info_plugin_data(hparams[START])
    assert start.group_name == run.name  # one HParams row per run, named by its id
    values = {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}
    assert values["model.tied"] is True and values["train.learning_rate"] == pytest.approx(0.1)
    assert values["train.seed"] == 0 and values["experiment"] == "autoencoder" and values["name"] == "tied_ae"
    assert "description" not in values and "data.train_stop" not in values  # prose, and a null
    assert _status(hparams) == "STATUS_SUCCESS"
    # The metric HParams shows is the last value of the test scalar: the run's own test loss.
    assert scalars["test/test_loss"] == [pytest.approx(summary_of(run)["metrics"]["test_loss"])]
    assert graph


def test_hparams_of_a_config_are_its_scalar_keys_dotted(tmp_path, mnist_dir):
    config = load_config(write_config(tmp_path / "pair.yaml", tiny_mlp_pair(mnist_dir, "shared")))
    hparams = board_events.config_hparams(config)
    assert hparams["sharing"] == "shared" and hparams["networks.1.optimizer"] == "adam"
    assert hparams["networks.0.train_stop"] == 300 and hparams["model.weight_decay"] == pytest.approx(0.01)
    assert all(isinstance(value, (bool, int, float, str)) for value in hparams.values())


def _tiny_graph() -> tf.Graph:
    graph = tf.Graph()
    with graph.as_default():
        tf1.placeholder(tf.float32, [None, 2], name="images")
    return graph


def test_events_reach_the_disk_at_each_row_and_only_final_statuses_end_the_session(tmp_path):
    live = tmp_path / "live"
    board = board_events.Board(live, _tiny_graph(), "live-run", {"model.tied": True})
    hparams, scalars, graph = _tb_events(live)
    assert START in hparams and graph and not scalars  # a training run shows in HParams from the start
    for step, loss in ((0, 0.7), (10, 0.5)):
        board.add_row({"network": "autoencoder", "step": step, "loss": loss, "accuracy": None})
        assert _tb_events(live)[1]["autoencoder/loss"][-1] == pytest.approx(loss)  # on disk, writer still open
    board.close("interrupted")
    # A resumable status is not written: TensorBoard would keep showing it after the resumed run completes.
    assert END not in _tb_events(live)[0]
    diverged = board_events.Board(tmp_path / "nan", _tiny_graph(), "nan-run", {})
    diverged.close("diverged")
    assert _status(_tb_events(tmp_path / "nan")[0]) == "STATUS_FAILURE"


def test_without_tensorboard_a_run_trains_and_says_once_that_hparams_need_the_extra(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "tied_ae.yaml", tiny_autoencoder(mnist_dir))
    hide = "import sys; sys.modules['tensorboard'] = None; from scopelab.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", hide, "run", str(config), "--runs-dir", str(runs_dir), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "scopelab[tensorboard]" in line]
    assert len(notes) == 1 and "HParams" in notes[0], done.stderr
    hparams, scalars, graph = _tb_events(only_run(runs_dir) / "tb")
    assert graph and "autoencoder/loss" in scalars and "test/test_loss" in scalars and not hparams


def _fake_run(runs_dir: Path, run_id: str, config_name: str) -> None:
    run = RunDir(runs_dir / run_id)
    run.tb_dir.mkdir(parents=True)
    run.write_record(RunRecord(run_id, config_name, "autoencoder", "completed"))


def test_board_picks_runs_by_id_prefix_or_config_name(runs_dir):
    _fake_run(runs_dir, "20261127-100000-tied_ae", "tied_ae")
    _fake_run(runs_dir, "20261127-110000-tied_ae", "tied_ae")
    _fake_run(runs_dir, "20261127-120000-untied_ae", "untied_ae")
    ids = lambda *references: [run.run_id for run in chosen_runs(runs_dir, references)]  # noqa: E731
    assert ids() == ["20261127-120000-untied_ae", "20261127-110000-tied_ae", "20261127-100000-tied_ae"]
    assert ids("tied_ae") == ["20261127-110000-tied_ae", "20261127-100000-tied_ae"]
    assert ids("20261127-12", "20261127-100000-tied_ae", "tied_ae") == [
        "20261127-120000-untied_ae", "20261127-100000-tied_ae", "20261127-110000-tied_ae"
    ]


def test_board_bad_input_is_one_line_and_exit_2(tmp_path, runs_dir, monkeypatch):
    (tmp_path / "a_file").write_text("not a directory")
    _one_line_error(cli("board", "--runs-dir", tmp_path / "a_file"), "is a file")
    _one_line_error(cli("board", "--runs-dir", runs_dir), "no runs in")
    _fake_run(runs_dir, "20261127-100000-tied_ae", "tied_ae")
    _one_line_error(cli("board", "tied_aee", "--runs-dir", runs_dir), "no run or config 'tied_aee' in")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _one_line_error(cli("board", "--runs-dir", runs_dir, "--port", port), f"--port {port}", "in use")
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    _one_line_error(cli("board", "--runs-dir", runs_dir), "pip install 'scopelab[tensorboard]'")


# --- the real thing: scopelab board in a subprocess, looked at in a headless Chromium ---

# vaadin-grid renders each cell's text in light DOM, slotted into the <td> of its row in the shadow DOM.
ROWS_JS = """grid => {
  const text = cell => { const slot = cell.querySelector('slot');
    const nodes = slot ? slot.assignedNodes({flatten: true}) : [];
    return nodes.map(n => n.textContent).join(' ').replace(/\\s+/g, ' ').trim(); };
  const root = grid.shadowRoot;
  return {header: [...root.querySelectorAll('thead tr th')].map(text),
          rows: [...root.querySelectorAll('tbody tr')].filter(tr => !tr.hidden)
                  .map(tr => [...tr.querySelectorAll('td')].map(text)).filter(cells => cells[0])};
}"""


def _chromium():
    """Playwright driving the system Chromium, or a skip that says what is missing."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("the browser test needs Playwright: pip install -e '.[test]'")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; .ci/run does it)")
    return sync_playwright, executable, Error


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_url(board: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([board.stdout], [], [], 1)[0]:
            line = board.stdout.readline()
            if not line:
                break
            found = re.search(r"http://\S+?/", line)
            if found:
                return found.group(0)
    board.kill()
    pytest.fail(f"scopelab board printed no URL: {board.stderr.read()}")


def _group_alive(group: int) -> list[str]:
    """The processes of a process group that are still running (zombies, awaiting their reaper, excepted)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(stat.parent.name)
    return alive


def test_board_shows_tied_and_untied_in_hparams_and_scalars(tmp_path, mnist_dir, runs_dir, monkeypatch):
    sync_playwright, executable, BrowserError = _chromium()

    def run(name: str, tied: bool) -> Path:
        config = write_config(tmp_path / f"{name}.yaml", tiny_autoencoder(mnist_dir, model={"tied": tied}))
        result = cli("run", config, "--runs-dir", runs_dir, "--quiet")
        return Path(result.stdout.splitlines()[-1].removeprefix("run directory: "))

    runs = {"tied_ae": run("tied_ae", True), "untied_ae": run("untied_ae", False)}
    monkeypatch.setattr(board_events, "_hparams_plugin", lambda: None)
    runs["old_ae"] = run("old_ae", False)  # as a run written before HParams existed: graph and scalars only
    ids = {name: run.name for name, run in runs.items()}

    board = subprocess.Popen(
        [sys.executable, "-m", "scopelab", "board", "--runs-dir", str(runs_dir), "--port", str(_free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        url = _read_url(board, timeout=120)
        graphs = json.loads(urllib.request.urlopen(url + "data/plugin/graphs/info", timeout=30).read())
        assert all(graphs[run_id]["run_graph"] for run_id in ids.values())  # the old run's graph too
        with sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            except BrowserError as error:
                pytest.skip(f"Chromium at {executable} does not start: {str(error).splitlines()[0]}")
            page = browser.new_page(viewport={"width": 1800, "height": 600})
            page.goto(url + "#hparams")
            table = page.locator("tf-hparams-table-view vaadin-grid")
            for run_id in (ids["tied_ae"], ids["untied_ae"]):
                table.locator("vaadin-grid-cell-content", has_text=run_id).wait_for(timeout=90_000)
            shown = table.evaluate(ROWS_JS)
            page.screenshot(path=str(tmp_path / "hparams.png"))
            rows = {cells[0]: dict(zip(shown["header"], cells)) for cells in shown["rows"]}
            assert set(rows) == {ids["tied_ae"], ids["untied_ae"]}  # the old run has no HParams row
            for name, tied in (("tied_ae", "true"), ("untied_ae", "false")):
                row = rows[ids[name]]
                assert row["model.tied"] == tied
                expected = summary_of(runs[name])["metrics"]["test_loss"]
                assert float(row["test/test_loss"]) == pytest.approx(expected, abs=1e-4)
            page.goto(url + "#scalars")
            selector = page.locator("tf-scalar-dashboard tf-runs-selector")
            for run_id in ids.values():
                selector.get_by_text(run_id, exact=True).wait_for(timeout=60_000)
            browser.close()
        assert (tmp_path / "hparams.png").stat().st_size > 10_000
        board.send_signal(signal.SIGINT)
        out, err = board.communicate(timeout=60)
        assert board.returncode == 0 and "stopped" in out, err
        deadline = time.monotonic() + 10
        while _group_alive(board.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(board.pid)  # TensorBoard's data server went with it
    finally:
        if board.poll() is None or _group_alive(board.pid):
            os.killpg(board.pid, signal.SIGKILL)
            board.wait()
