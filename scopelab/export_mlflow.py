"""`scopelab export mlflow`: runs written into an MLflow tracking store, one MLflow run per scopelab run.

An MLflow run is found again by its tag `scopelab.run_id`, so exporting twice updates it: parameters it
already holds are not logged again, metric points repeat exactly (MLflow's database store keeps them once),
tags and artifacts are overwritten. While a run is being written its MLflow status is RUNNING; only when
everything is written does it get the status that scopelab's run has (FINISHED for a completed one). A write
that fails midway marks it FAILED, so a half-written run never shows as FINISHED.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scopelab.errors import InputError, RunFailed
from scopelab.failures import one_line
from scopelab.report import yaml_scalar
from scopelab.runs import Run, read_run, read_runs, resolve_runs
from scopelab.runs.directory import CONFIG_FILE, LOG_FILE, SUMMARY_FILE

RUN_ID_TAG = "scopelab.run_id"
DEFAULT_EXPERIMENT = "scopelab"
ARTIFACTS = (CONFIG_FILE, LOG_FILE, SUMMARY_FILE)
# scopelab's status -> MLflow's. A stale run (its process is gone) ended without saying how: KILLED.
MLFLOW_STATUS = {"completed": "FINISHED", "failed": "FAILED", "diverged": "FAILED", "interrupted": "KILLED",
                 "stale": "KILLED", "running": "RUNNING"}
# MLflow's own defaults retry an unreachable server 7 times with growing waits (minutes); a user who set
# these variables keeps theirs.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
# What a failed connection says, deep inside MLflow's message about retries.
UNREACHABLE = ("Connection refused", "Name or service not known", "Temporary failure in name resolution",
               "timed out", "No route to host")
BATCH = 500  # metrics per log_batch call (MLflow takes at most 1000)
PARAM_BATCH = 100  # MLflow's limit of parameters per call
MAX_PARAM_LENGTH = 6000  # MLflow refuses longer parameter values


@dataclass(frozen=True)
class ExportRequest:
    references: tuple[str, ...]  # run ids, prefixes or config names (all their runs); none: every run
    runs_dir: Path
    tracking_uri: str | None  # None: MLflow's default, or MLFLOW_TRACKING_URI
    experiment: str = DEFAULT_EXPERIMENT


class ExportFailed(RunFailed):
    """The tracking store could not be reached or refused a write: exit 1, one line (the CLI's RunFailed)."""


def export_runs(request: ExportRequest, echo: Callable[[str], None]) -> int:
    """Write the chosen runs into MLflow; echo a line per run; return how many were exported."""
    runs = _chosen_runs(request)
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InputError("export mlflow needs MLflow: pip install 'scopelab[mlflow]'.") from None
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    where = f"MLflow at {request.tracking_uri or 'its default tracking URI'}"
    try:
        client = MlflowClient(tracking_uri=request.tracking_uri)  # refuses some stores (MLflow 3: ./mlruns)
        where = f"MLflow at {client.tracking_uri}"
        experiment_id = _experiment_id(client, request.experiment)
    except (MlflowException, OSError) as error:
        raise ExportFailed(f"{where}: cannot use experiment '{request.experiment}' ({_cause(error)}).") from None
    for done, run in enumerate(runs):
        try:
            mlflow_id, created = _export_run(client, experiment_id, run)
        except (MlflowException, OSError) as error:
            raise ExportFailed(
                f"{where}: export of run {run.run_id} failed ({_cause(error)}); {done} of {len(runs)} runs were "
                "exported before it, and this one is marked FAILED in MLflow if the server could still be told."
            ) from None
        echo(f"{'exported' if created else 'updated'} {run.run_id} -> MLflow run {mlflow_id}")
    return len(runs)


def _chosen_runs(request: ExportRequest) -> list[Run]:
    """The runs named (a config name: all its runs), or every run; runs without a readable record are refused."""
    everything = read_runs(request.runs_dir) if request.runs_dir.is_dir() else []
    if not request.references:
        chosen = everything
    else:
        chosen = [run for reference in request.references
                  for run in resolve_runs(request.runs_dir, reference, everything, lambda named: named)]
    if not chosen:
        raise InputError(f"no runs in {request.runs_dir}/ to export; make some with: scopelab run tied_ae")
    unique = list({run.run_id: run for run in chosen}.values())
    broken = [run for run in unique if run.record is None]
    if broken:
        raise InputError(f"run {broken[0].run_id} cannot be exported: {broken[0].reason}.")
    return [read_run(run.directory) for run in unique]  # whole records: the provenance is wanted


def _experiment_id(client: Any, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


def _export_run(client: Any, experiment_id: str, run: Run) -> tuple[str, bool]:
    """Write one run; return its MLflow run id and whether it was created (not found by its tag)."""
    from mlflow.entities import RunStatus

    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{run.run_id}'",
                               max_results=2)
    if found:
        mlflow_run = found[0]
        client.update_run(mlflow_run.info.run_id, status="RUNNING")
    else:
        mlflow_run = client.create_run(experiment_id, start_time=_millis(run.record.started_at),
                                       tags={RUN_ID_TAG: run.run_id}, run_name=run.run_id)
    mlflow_id = mlflow_run.info.run_id
    try:
        _write(client, mlflow_id, run, mlflow_run.data.params)
    except BaseException:
        try:
            client.set_terminated(mlflow_id, status="FAILED")
        except Exception:  # the server is gone: the run stays RUNNING, which is not FINISHED either
            pass
        raise
    status = MLFLOW_STATUS[run.status]
    if RunStatus.is_terminated(RunStatus.from_string(status)):
        client.set_terminated(mlflow_id, status=status, end_time=_millis(run.record.ended_at))
    return mlflow_id, not found


def _write(client: Any, mlflow_id: str, run: Run, existing_params: dict[str, str]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    params = {key: yaml_scalar(value)[:MAX_PARAM_LENGTH] for key, value in run.config().items()}
    changed = [key for key, value in params.items() if key in existing_params and existing_params[key] != value]
    if changed:  # MLflow never changes a logged parameter
        raise InputError(f"run {run.run_id}: its config key {changed[0]} differs from the one MLflow holds "
                         f"for MLflow run {mlflow_id}; MLflow cannot change a parameter.")
    new = [Param(key, value) for key, value in params.items() if key not in existing_params]
    for start in range(0, len(new), PARAM_BATCH):
        client.log_batch(mlflow_id, params=new[start:start + PARAM_BATCH])
    client.log_batch(mlflow_id, tags=[RunTag(key, value) for key, value in _tags(run).items()])
    # Every point carries the run's start as its time, so a step exported again is the identical point, which
    # MLflow's database store keeps once (a resumed run adds only its new steps).
    timestamp = _millis(run.record.started_at) or 0
    metrics = [Metric(key, value, timestamp, step) for key, value, step in _metrics(run)]
    for start in range(0, len(metrics), BATCH):
        client.log_batch(mlflow_id, metrics=metrics[start:start + BATCH])
    for name in ARTIFACTS:
        if (run.directory.path / name).is_file():
            client.log_artifact(mlflow_id, str(run.directory.path / name))


def _tags(run: Run) -> dict[str, str]:
    record = run.record
    git = record.provenance.git or {}
    tags = {
        RUN_ID_TAG: run.run_id,
        "scopelab.config": record.config_name,
        "scopelab.experiment": record.experiment,
        "scopelab.status": run.status,
        "scopelab.seed": _text(record.seed),
        "scopelab.sweep": record.sweep or "",
        "scopelab.tags": ",".join(run.annotations.tags),
        "scopelab.note": run.annotations.note or "",
        "scopelab.git_dirty": _text(git.get("dirty", "")),
        "scopelab.tensorflow": record.provenance.packages.get("tensorflow", ""),
        "mlflow.note.content": run.annotations.note or "",  # the run's description in MLflow's UI
    }
    if record.sweep_member is not None:
        tags["scopelab.sweep_member"] = str(record.sweep_member)
    if git.get("commit"):
        tags["mlflow.source.git.commit"] = str(git["commit"])
    return tags


def _metrics(run: Run) -> Iterator[tuple[str, float, int]]:
    """Every logged step as `loss/<network>`, `accuracy/<network>`; the test metrics as `test/<name>` at the
    last step of the last network."""
    try:
        rows = run.directory.read_metrics()
    except FileNotFoundError:
        rows = []
    except (OSError, ValueError) as error:
        raise InputError(f"run {run.run_id}: its metrics.csv is unreadable ({one_line(error)}).") from None
    for row in rows:
        yield f"loss/{row['network']}", row["loss"], row["step"]
        if row["accuracy"] is not None:
            yield f"accuracy/{row['network']}", row["accuracy"], row["step"]
    last_step = max(run.record.steps_total.values(), default=0)
    for name, value in run.metrics.items():
        yield f"test/{name}", value, last_step


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _millis(timestamp: str | None) -> int | None:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000) if timestamp else None


def _cause(error: BaseException) -> str:
    """MLflow wraps a failed connection in a long message naming every retry: say just that it was not reached."""
    text = str(error)
    reason = next((phrase for phrase in UNREACHABLE if phrase in text), None)
    return f"the server cannot be reached: {reason.lower()}" if reason else one_line(error)
