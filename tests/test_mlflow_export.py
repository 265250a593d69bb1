"""`scopelab export mlflow` against a real `mlflow server` (SQLite backend, local artifact root), read back
with MlflowClient: parameters, metric histories, tags, artifacts; exporting again; a server that is gone."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from scopelab.dotted import flatten

from conftest import cli, tiny_autoencoder, write_config

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'scopelab[mlflow]')")
from mlflow.tracking import MlflowClient  # noqa: E402 (only once mlflow is known to be there)

SERVER_START_LIMIT = 180  # seconds: the bound on waiting for the server to answer, not a pause


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    """A real MLflow server on loopback, in its own process group so its workers go with it."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_LIMIT
        while not answers(f"{uri}/health"):
            assert server.poll() is None, f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "mlflow server did not answer in time"
            time.sleep(0.2)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_dir) -> Path:
    """A tied run, an untied run and a two-seed sweep of the tied config: four runs."""
    tmp = tmp_path_factory.mktemp("export")
    runs_dir = tmp / "runs"
    tied = write_config(tmp / "tied.yaml", tiny_autoencoder(mnist_dir))
    untied = write_config(tmp / "untied.yaml", tiny_autoencoder(mnist_dir, model={"tied": False}))
    for args in ([tied], [untied], [tied, "--seeds", "2", "--jobs", "1"]):  # --jobs 1: in this process, no imports
        result = cli("run", *args, "--runs-dir", runs_dir, "--quiet")
        assert result.exit_code == 0, result.output
    return runs_dir


def run_ids(runs_dir: Path) -> list[str]:
    return sorted(path.name for path in runs_dir.iterdir() if (path / "summary.json").is_file())


def exported(client: MlflowClient, experiment: str) -> dict[str, mlflow.entities.Run]:
    """The MLflow runs of an experiment by their scopelab run id (every one of them: duplicates would show)."""
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    by_id = {run.data.tags["scopelab.run_id"]: run for run in found}
    assert len(by_id) == len(found), "a scopelab run was exported twice"
    return by_id


def test_runs_are_exported_read_back_and_updated_in_place(tracking_uri, runs, tmp_path):
    result = cli("export", "mlflow", "--runs-dir", runs, "--tracking-uri", tracking_uri, "--experiment", "scopes")
    assert result.exit_code == 0, result.output
    assert "4 runs in MLflow experiment 'scopes'" in result.stdout
    client = MlflowClient(tracking_uri)
    first = exported(client, "scopes")
    assert sorted(first) == run_ids(runs)

    for run_id, mlflow_run in first.items():
        run_dir = runs / run_id
        summary = json.loads((run_dir / "summary.json").read_text())
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert mlflow_run.info.status == "FINISHED" and mlflow_run.info.run_name == run_id
        # As config.yaml spells them: true, null, 0.1.
        expected_params = {key: json.dumps(value) if value is None or isinstance(value, bool) else str(value)
                           for key, value in flatten(config).items()}
        assert mlflow_run.data.params == expected_params
        assert mlflow_run.data.params["model.tied"] == str(config["model"]["tied"]).lower()

        rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
        history = client.get_metric_history(mlflow_run.info.run_id, "loss/autoencoder")
        assert [(m.step, m.value) for m in history] == [(int(r["step"]), float(r["loss"])) for r in rows]
        (test_loss,) = client.get_metric_history(mlflow_run.info.run_id, "test/test_loss")
        assert test_loss.value == summary["metrics"]["test_loss"] and test_loss.step == 30

        tags = mlflow_run.data.tags
        assert tags["scopelab.status"] == "completed" and tags["scopelab.seed"] == str(summary["seed"])
        assert tags["scopelab.sweep"] == (summary["sweep"] or "")
        assert tags["scopelab.tensorflow"] == summary["provenance"]["packages"]["tensorflow"]
        assert tags["scopelab.config"] == summary["config_name"]

        artifacts = {item.path for item in client.list_artifacts(mlflow_run.info.run_id)}
        assert artifacts == {"config.yaml", "log.txt", "summary.json"}
        copy = client.download_artifacts(mlflow_run.info.run_id, "summary.json", str(tmp_path))
        assert Path(copy).read_bytes() == (run_dir / "summary.json").read_bytes()

    sweep_members = [run for run in first.values() if run.data.tags["scopelab.sweep"]]
    assert sorted(run.data.tags["scopelab.seed"] for run in sweep_members) == ["0", "1"]
    assert len({run.data.tags["scopelab.sweep"] for run in sweep_members}) == 1

    # Tag and annotate one run, export everything again: the same MLflow runs, updated, nothing repeated.
    chosen = run_ids(runs)[0]
    assert cli("tag", chosen, "baseline", "--runs-dir", runs).exit_code == 0
    assert cli("note", chosen, "the first one", "--runs-dir", runs).exit_code == 0
    again = cli("export", "mlflow", "--runs-dir", runs, "--tracking-uri", tracking_uri, "--experiment", "scopes")
    assert again.exit_code == 0, again.output
    assert again.stdout.count("updated ") == 4 and "exported " not in again.stdout
    second = exported(client, "scopes")
    assert {key: run.info.run_id for key, run in second.items()} == {key: run.info.run_id for key, run in first.items()}
    for run_id, mlflow_run in second.items():
        history = client.get_metric_history(mlflow_run.info.run_id, "loss/autoencoder")
        assert len(history) == len(list(csv.DictReader((runs / run_id / "metrics.csv").open())))
        assert len(client.get_metric_history(mlflow_run.info.run_id, "test/test_loss")) == 1
        assert mlflow_run.info.status == "FINISHED"
    assert second[chosen].data.tags["scopelab.tags"] == "baseline"
    assert second[chosen].data.tags["mlflow.note.content"] == "the first one"


def test_a_run_whose_export_fails_midway_is_failed_in_mlflow_not_finished(tracking_uri, runs):
    victim = runs / run_ids(runs)[1]
    metrics = victim / "metrics.csv"
    good = metrics.read_text()
    metrics.write_text(good + "autoencoder,0,1.0,\n")  # a step that goes back: unreadable after params and tags
    try:
        result = cli("export", "mlflow", victim.name, "--runs-dir", runs, "--tracking-uri", tracking_uri,
                     "--experiment", "midway")
        assert result.exit_code == 2
        assert result.stderr.startswith(f"Error: run {victim.name}: its metrics.csv is unreadable")
        assert result.stderr.count("\n") == 1
        (mlflow_run,) = exported(MlflowClient(tracking_uri), "midway").values()
        assert mlflow_run.info.status == "FAILED"
    finally:
        metrics.write_text(good)
    result = cli("export", "mlflow", victim.name, "--runs-dir", runs, "--tracking-uri", tracking_uri,
                 "--experiment", "midway")
    assert result.exit_code == 0, result.output
    (mlflow_run,) = exported(MlflowClient(tracking_uri), "midway").values()
    assert mlflow_run.info.status == "FINISHED"


def test_an_unreachable_server_is_one_line_and_exit_1(runs):
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = cli("export", "mlflow", "--runs-dir", runs, "--tracking-uri", gone)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: MLflow at {gone}: cannot use experiment 'scopelab' "
                             "(the server cannot be reached: connection refused).\n")


def test_without_tracking_uri_mlflow_tracking_uri_applies(runs, tmp_path, monkeypatch):
    store = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.chdir(tmp_path)  # a store without a server puts its artifacts in ./mlruns
    result = cli("export", "mlflow", run_ids(runs)[0], "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    assert list(exported(MlflowClient(store), "scopelab")) == [run_ids(runs)[0]]
