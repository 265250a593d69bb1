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
from unittest import mock

import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import api_pb2, backend_context, metadata

from scopelab import tensorboard as board_events
from scopelab.board import chosen_runs
from scopelab.board_view import BoardView, trial_name
from scopelab.config import load_config
from scopelab.hparams import ViewColumns, experiment_of
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


def test_the_note_about_the_extra_comes_once_per_runs_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard.plugins.hparams", None)  # as without the extra
    for runs_dir in (tmp_path / "a", tmp_path / "a", tmp_path / "b"):  # each run of a directory asks again
        runs_dir.mkdir(exist_ok=True)
        assert board_events._hparams_plugin(runs_dir) is None
    notes = [line for line in capsys.readouterr().err.splitlines() if "scopelab[tensorboard]" in line]
    assert len(notes) == 2 and f"{tmp_path / 'a'}/" in notes[0] and f"{tmp_path / 'b'}/" in notes[1]


def _fake_run(runs_dir: Path, run_id: str, config_name: str) -> None:
    run = RunDir(runs_dir / run_id)
    run.tb_dir.mkdir(parents=True)
    run.write_record(RunRecord(run_id, config_name, "autoencoder", "completed"))


def _written_run(runs_dir: Path, run_id: str, experiment: str, hparams: dict | None, test: dict) -> RunDir:
    """A run's record and tb/ as the runner writes them (hparams None: a run from before HParams)."""
    run = RunDir(runs_dir / run_id)
    run.tb_dir.mkdir(parents=True)
    run.write_record(RunRecord(run_id, run_id, experiment, "completed"))
    # hparams None: as a run written without the tensorboard package, graph and scalars only.
    plugin = board_events._hparams_plugin if hparams is not None else lambda runs_dir: None
    with mock.patch.object(board_events, "_hparams_plugin", plugin):
        board = board_events.Board(run.tb_dir, _tiny_graph(), run_id, hparams or {})
    network = "autoencoder" if experiment == "autoencoder" else "net1"
    board.add_row({"network": network, "step": 0, "loss": 0.5, "accuracy": 0.25 if network == "net1" else None})
    board.add_test(test, 10)
    board.close("completed")
    return run


def _mixed_runs(runs_dir: Path) -> list[RunDir]:
    return [
        _written_run(runs_dir, "a-tied", "autoencoder", {"experiment": "autoencoder", "model.tied": True,
                                                         "train.batch_size": 32}, {"test_loss": 0.5}),
        _written_run(runs_dir, "b-untied", "autoencoder", {"experiment": "autoencoder", "model.tied": False,
                                                           "train.batch_size": 32}, {"test_loss": 0.6}),
        _written_run(runs_dir, "c-mlp", "mlp_pair", {"experiment": "mlp_pair", "sharing": "shared",
                                                     "train.batch_size": 20}, {"acc_net1": 0.9, "acc_net2": 0.8}),
        _written_run(runs_dir, "d-old", "autoencoder", None, {"test_loss": 0.7, "old_metric": 1.0}),
        _written_run(runs_dir, "e-future", "gan", {"experiment": "gan"}, {"fid": 30.0}),
    ]


def _hparams_shown(infos) -> dict:
    """What the dashboard takes from each HParamInfo; the plugin's inference lists a domain in set order."""
    return {
        info.name: (info.type, info.domain_interval.SerializeToString(), info.differs,
                    sorted(str(value) for value in info.domain_discrete.values))
        for info in infos
    }


def test_board_declares_the_columns_tensorboard_infers_with_the_test_metrics_declared(runs_dir):
    runs = _mixed_runs(runs_dir)
    experiment = experiment_of(runs)
    # The hparams are those TensorBoard's own inference finds in the same sessions: names, types, domains, differs.
    sessions = {run.run_id: _tb_events(run.tb_dir)[0] for run in runs}
    inferred = backend_context.Context(None)._compute_hparam_infos(sessions)
    assert _hparams_shown(experiment.hparam_infos) == _hparams_shown(inferred)
    shown = _hparams_shown(inferred)
    assert shown["model.tied"][2] and not shown["sharing"][2]  # differs
    # Every scalar of a run with a session, as TensorBoard infers them; the declared test metrics first, with
    # the declaration's words, including acc_averaged that the mlp run did not write; the unknown family's
    # metric by its tag only, and nothing of the run without a session (old_metric).
    metrics = [(info.name.tag, info.display_name, info.description) for info in experiment.metric_infos]
    assert metrics == [
        ("test/acc_averaged", "averaged test accuracy", "averaged test accuracy (higher is better)"),
        ("test/acc_net1", "test accuracy of net 1", "test accuracy of net 1 (higher is better)"),
        ("test/acc_net2", "test accuracy of net 2", "test accuracy of net 2 (higher is better)"),
        ("test/test_loss", "test loss", "test loss (lower is better)"),
        ("autoencoder/loss", "", ""), ("net1/accuracy", "", ""), ("net1/loss", "", ""), ("test/fid", "", ""),
    ]


def _view_experiment(view: Path) -> tuple[list[Path], object]:
    files = sorted(view.glob("events.out.tfevents.*"))
    (content,) = [content for file in files for content in _tb_events_file(file)]
    return files, metadata.parse_experiment_plugin_data(content)


def _tb_events_file(file: Path) -> list[bytes]:
    return [
        value.metadata.plugin_data.content
        for event in tf1.train.summary_iterator(str(file))
        for value in event.summary.value
        if value.tag == metadata.EXPERIMENT_TAG
    ]


def _view(tmp_path: Path) -> tuple[Path, BoardView, ViewColumns]:
    view = tmp_path / "view"
    view.mkdir()
    return view, BoardView(view), ViewColumns(view)


def test_the_view_declares_again_only_when_its_columns_change(tmp_path, runs_dir):
    view, board_view, columns = _view(tmp_path)
    tied = _written_run(runs_dir, "b-tied", "autoencoder", {"model.tied": True}, {"test_loss": 0.5})
    board_view.update([tied])
    columns.update([tied])
    first, experiment = _view_experiment(view)
    assert [info.name.tag for info in experiment.metric_infos] == ["test/test_loss", "autoencoder/loss"]
    untied = _written_run(runs_dir, "c-untied", "autoencoder", {"model.tied": False}, {"test_loss": 0.6})
    board_view.update([tied, untied])
    columns.update([tied, untied])  # new hparam values: model.tied differs now
    second, experiment = _view_experiment(view)
    assert second != first and [info.differs for info in experiment.hparam_infos] == [True]
    with tf.Graph().as_default():  # a resumed run's new event file: more rows of the same tags
        writer = tf1.summary.FileWriter(str(untied.tb_dir), filename_suffix=".resumed")
        writer.add_summary(tf1.Summary(value=[tf1.Summary.Value(tag="autoencoder/loss", simple_value=0.4)]), 20)
        writer.close()
    board_view.update([tied, untied])
    columns.update([tied, untied])
    assert _view_experiment(view)[0] == second
    mlp = _written_run(runs_dir, "d-mlp", "mlp_pair", {"model.tied": False}, {"acc_net1": 0.9})
    board_view.update([tied, mlp])
    columns.update([tied, mlp])
    assert "test/acc_averaged" in [info.name.tag for info in _view_experiment(view)[1].metric_infos]
    assert sorted(entry.name for entry in view.iterdir() if entry.is_dir()) == ["b-tied", "d-mlp"]


def test_the_view_reads_again_only_the_runs_whose_events_changed(tmp_path, runs_dir, monkeypatch):
    import scopelab.hparams

    read = []
    real_read_run = scopelab.hparams.read_run
    monkeypatch.setattr(scopelab.hparams, "read_run",
                        lambda run, events: read.append(run.run_id) or real_read_run(run, events))
    _, board_view, columns = _view(tmp_path)
    tied = _written_run(runs_dir, "a-tied", "autoencoder", {"model.tied": True}, {"test_loss": 0.5})
    untied = _written_run(runs_dir, "b-untied", "autoencoder", {"model.tied": False}, {"test_loss": 0.6})
    board_view.update([tied, untied])
    columns.update([tied, untied])
    columns.update([tied, untied])  # nothing changed: nothing read
    with tf.Graph().as_default():  # untied trains on: its events grow
        writer = tf1.summary.FileWriter(str(untied.tb_dir), filename_suffix=".more")
        writer.add_summary(tf1.Summary(value=[tf1.Summary.Value(tag="autoencoder/loss", simple_value=0.4)]), 20)
        writer.close()
    board_view.update([tied, untied])
    columns.update([tied, untied])
    assert read == ["a-tied", "b-untied", "b-untied"]


def test_the_view_waits_for_a_starting_runs_own_events_and_gives_a_broken_config_an_empty_session(tmp_path, runs_dir):
    from scopelab.hparams import read_written

    view, board_view, _ = _view(tmp_path)
    starting = RunDir(runs_dir / "20261206-103305-tied_ae")
    starting.tb_dir.mkdir(parents=True)
    starting.write_record(RunRecord(starting.run_id, "tied_ae", "autoencoder", "running"))
    (starting.config_file).write_text("model: [unclosed\n")
    board_view.update([starting])
    assert not (view / starting.run_id).exists()  # no session from board that its own would arrive after
    with mock.patch.object(board_events, "_hparams_plugin", lambda runs_dir: None):  # events without a session
        board_events.Board(starting.tb_dir, _tiny_graph(), starting.run_id, {}).close("running")
    board_view.update([starting])
    written = read_written(view / starting.run_id)  # board's file and the link to the run's own
    assert written.session and written.hparams == {}


def test_trial_names_put_the_time_and_config_first():
    assert trial_name("20261206-103305-tied_ae") == "10:33:05 tied_ae"
    assert trial_name("20261206-103305-tied_ae-3f2a") == "10:33:05 tied_ae-3f2a"
    assert trial_name("my-run") == "my-run"  # not an id scopelab made: whole


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


def _experiment(url: str) -> dict:
    """The HParams experiment as the dashboard asks for it."""
    request = urllib.request.Request(
        url + "data/plugin/hparams/experiment", data=json.dumps({"experimentName": ""}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


def _session_groups(url: str) -> list[dict]:
    """The HParams table's rows as the dashboard asks for them."""
    request = urllib.request.Request(
        url + "data/plugin/hparams/session_groups",
        data=json.dumps({"experimentName": "", "allowedStatuses": list(STATUS.values()), "colParams": [],
                         "startIndex": 0, "sliceSize": 100}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return json.loads(urllib.request.urlopen(request, timeout=30).read()).get("sessionGroups", [])


def _start_board(runs_dir: Path) -> tuple[subprocess.Popen, str]:
    board = subprocess.Popen(
        [sys.executable, "-m", "scopelab", "board", "--runs-dir", str(runs_dir), "--port", str(_free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    return board, _read_url(board, timeout=120)


def _stop_board(board: subprocess.Popen) -> None:
    if board.poll() is None or _group_alive(board.pid):
        os.killpg(board.pid, signal.SIGKILL)
        board.wait()


def test_board_lists_every_run_in_hparams_by_a_readable_trial_name(runs_dir):
    _written_run(runs_dir, "20261206-103305-tied_ae", "autoencoder", {"model.tied": True}, {"test_loss": 0.5})
    # Written without the tensorboard package: graph and scalars, no session.
    _written_run(runs_dir, "20261206-103410-untied_ae", "autoencoder", None, {"test_loss": 0.7})
    # From before TensorBoard: no tb/ at all, only its records.
    bare = RunDir(runs_dir / "20261205-103305-tied_ae")  # the first run's time and config, a day earlier
    bare.path.mkdir()
    bare.write_record(RunRecord(bare.run_id, "tied_ae", "autoencoder", "completed", metrics={"test_loss": 0.9}))
    bare.write_metrics([{"network": "autoencoder", "step": 0, "loss": 1.5}, {"network": "autoencoder", "step": 20,
                                                                              "loss": 1.25}])
    for run, tied in ((runs_dir / "20261206-103410-untied_ae", False), (bare.path, True)):
        (run / "config.yaml").write_text(f"experiment: autoencoder\nmodel:\n  tied: {str(tied).lower()}\n")
    board, url = _start_board(runs_dir)
    try:
        deadline = time.monotonic() + 60
        while len(groups := _session_groups(url)) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)  # TensorBoard loads the view in the background; we wait for the rows, not a time
        shown = {group["name"]: group for group in groups}
        # Readable, and still apart: the day-earlier run of the same time and config keeps its whole id.
        assert set(shown) == {"10:33:05 tied_ae", "10:34:10 untied_ae", "20261205-103305-tied_ae"}
        for name, tied, loss in (("10:33:05 tied_ae", True, 0.5), ("10:34:10 untied_ae", False, 0.7),
                                 ("20261205-103305-tied_ae", True, 0.9)):
            group = shown[name]
            assert group["hparams"]["model.tied"] is tied
            (session,) = group["sessions"]
            assert session["status"] == "STATUS_SUCCESS"
            metrics = {value["name"]["tag"]: value["value"] for value in session["metricValues"]}
            assert metrics["test/test_loss"] == pytest.approx(loss)
        # The run without events shows its metrics.csv in Scalars, under its run id.
        scalars = json.loads(urllib.request.urlopen(
            url + "data/plugin/scalars/scalars?run=20261205-103305-tied_ae&tag=autoencoder/loss", timeout=30).read())
        assert [(step, value) for _, step, value in scalars] == [(0, 1.5), (20, 1.25)]
    finally:
        _stop_board(board)


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


def test_board_shows_tied_untied_and_mlp_in_hparams_by_their_declared_metrics_and_in_scalars(
    tmp_path, mnist_dir, runs_dir, monkeypatch
):
    sync_playwright, executable, BrowserError = _chromium()

    def run(name: str, config: dict) -> Path:
        result = cli("run", write_config(tmp_path / f"{name}.yaml", config), "--runs-dir", runs_dir, "--quiet")
        return Path(result.stdout.splitlines()[-1].removeprefix("run directory: "))

    runs = {
        "tied_ae": run("tied_ae", tiny_autoencoder(mnist_dir, model={"tied": True})),
        "untied_ae": run("untied_ae", tiny_autoencoder(mnist_dir, model={"tied": False})),
        "mlp_ind": run("mlp_ind", tiny_mlp_pair(mnist_dir)),
    }
    monkeypatch.setattr(board_events, "_hparams_plugin", lambda runs_dir: None)
    # As a run written before HParams existed: graph and scalars only.
    runs["old_ae"] = run("old_ae", tiny_autoencoder(mnist_dir, model={"tied": False}))
    ids = {name: run.name for name, run in runs.items()}

    trials = {name: trial_name(run_id) for name, run_id in ids.items()}
    board, url = _start_board(runs_dir)
    try:
        graphs = json.loads(urllib.request.urlopen(url + "data/plugin/graphs/info", timeout=30).read())
        assert all(graphs[run_id]["run_graph"] for run_id in ids.values())  # the old run's graph too
        descriptions = {info["name"]["tag"]: info["description"] for info in _experiment(url)["metricInfos"]}
        assert descriptions["test/test_loss"] == "test loss (lower is better)"
        assert descriptions["test/acc_averaged"] == "averaged test accuracy (higher is better)"
        with sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            except BrowserError as error:
                pytest.skip(f"Chromium at {executable} does not start: {str(error).splitlines()[0]}")
            page = browser.new_page(viewport={"width": 1800, "height": 600})
            page.goto(url + "#hparams")
            table = page.locator("tf-hparams-table-view vaadin-grid")
            for trial in trials.values():
                table.locator("vaadin-grid-cell-content", has_text=trial).wait_for(timeout=90_000)
            shown = table.evaluate(ROWS_JS)
            page.screenshot(path=str(tmp_path / "hparams.png"))
            rows = {cells[0]: dict(zip(shown["header"], cells)) for cells in shown["rows"]}
            assert set(rows) == set(trials.values())  # the old run too, by board's session
            # The dashboard shows five hparams, those that differ first, as when TensorBoard infers the columns itself
            # (that board declares the very hparams TensorBoard would infer is checked without a browser).
            assert shown["header"][2:6] == ["experiment", "model.tied", "name", "train.batch_size"]
            # The declared test metrics come first, by their words; the training scalars follow by their tags.
            assert shown["header"][7:] == [
                "averaged test accuracy", "test accuracy of net 1", "test accuracy of net 2", "test loss",
                "autoencoder/loss",
            ]
            for name, tied in (("tied_ae", "true"), ("untied_ae", "false"), ("old_ae", "false")):
                row = rows[trials[name]]
                assert row["model.tied"] == tied and row["experiment"] == "autoencoder"
                expected = summary_of(runs[name])["metrics"]["test_loss"]
                assert float(row["test loss"]) == pytest.approx(expected, abs=1e-4)
                assert row["averaged test accuracy"] == ""
            mlp = rows[trials["mlp_ind"]]
            expected = summary_of(runs["mlp_ind"])["metrics"]["acc_net2"]
            assert mlp["experiment"] == "mlp_pair" and float(mlp["test accuracy of net 2"]) == pytest.approx(expected)
            page.goto(url + "#scalars")
            selector = page.locator("tf-scalar-dashboard tf-runs-selector")
            for run_id in ids.values():
                selector.get_by_text(run_id, exact=True).wait_for(timeout=60_000)
            browser.close()
        assert (tmp_path / "hparams.png").stat().st_size > 10_000
        board.send_signal(signal.SIGINT)
        out, err = board.communicate(timeout=60)
        assert board.returncode == 0 and "stopped" in out, err
        deadline = time.monotonic() + 120  # a bound for a hung server, not a wait: the loop ends when it goes
        while _group_alive(board.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(board.pid)  # TensorBoard's data server went with it
    finally:
        _stop_board(board)
