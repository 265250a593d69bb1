"""TensorBoard's HParams beyond a run's own session (scopelab.tensorboard): a test metric's scalar tag, and
the experiment `scopelab board` declares over its view: every column TensorBoard would infer from the runs'
own events, with each test metric named and directed by its experiment's declaration.

Why one experiment, at the view root, written by board (and not one per run, written by the runner):
TensorBoard's hparams plugin (backend_context.Context.experiment_from_metadata) takes the first
`_hparams_/experiment` summary of any run *instead of* inferring the columns from the runs' sessions and
scalars, and ignores every other one. Per-run experiments would each declare one run's family, so a view
of autoencoder and mlp_pair runs together would lose the other family's hparam and metric columns. Only
board knows every run it shows; it declares their union: each hparam the runs' sessions hold, with the
type, domain and `differs` the plugin's own inference would give (the dashboard shows the first five
hparams that differ), and each scalar tag of a run with a session, the declared test metrics first (it
shows the first five metrics). Without board (`tensorboard --logdir runs`) nothing declares an experiment
and TensorBoard infers the columns as before: raw tags, no labels.

TensorFlow-free: the events are read and written with the tensorboard package's own record reader and
writer, as board serves TensorBoard without TensorFlow.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from scopelab.dotted import flatten
from scopelab.experiments import metrics_of
from scopelab.metrics import Metric
from scopelab.runs import RunDir

EVENT_FILES = "events.out.tfevents.*"
TEST_PREFIX = "test/"  # a test metric's scalar tag: test/<name> (written by scopelab.tensorboard.Board)
# Only the statuses a run keeps for good end its HParams session. TensorBoard keeps the first summary
# metadata of a tag (where the session's status lives), so an interrupted or failed run that is
# resumed later could never replace a status written now: those stay open ("unknown" in HParams).
FINAL_STATUSES = {"completed": "STATUS_SUCCESS", "diverged": "STATUS_FAILURE"}
# Prose, not a setting: it would only widen the HParams table.
NOT_HPARAMS = {"description"}


@dataclass
class Written:
    """What one run's tb/ holds that HParams reads: its session's hparams (none: no HParams row) and its
    scalar tags."""

    hparams: dict = field(default_factory=dict)  # name -> google.protobuf.Value
    session: bool = False
    tags: set[str] = field(default_factory=set)


def test_tag(name: str) -> str:
    return TEST_PREFIX + name


def scalar_hparams(settings: dict) -> dict:
    """A resolved config's scalar settings under dotted names (`model.tied`, `networks.1.optimizer`)."""
    return {
        key: value
        for key, value in flatten(settings).items()
        if isinstance(value, (bool, int, float, str)) and key not in NOT_HPARAMS
    }


def read_written(tb_dir: Path) -> Written:
    """The session start and the scalar tags in a run's event files (TensorBoard reads them the same way)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import metadata

    written = Written()
    for file in sorted(tb_dir.glob(EVENT_FILES)):
        for record in RawEventFileLoader(str(file)).Load():
            for value in event_pb2.Event.FromString(record).summary.value:
                if value.tag == metadata.SESSION_START_INFO_TAG:
                    written.session = True
                    start = metadata.parse_session_start_info_plugin_data(value.metadata.plugin_data.content)
                    written.hparams.update(start.hparams)
                elif value.HasField("simple_value"):
                    written.tags.add(value.tag)
    return written


def declared_metrics(run: RunDir) -> tuple[Metric, ...]:
    """The test metrics the run's experiment declares (none for an unknown experiment or a broken record)."""
    try:
        experiment = run.read_record(variables=False).experiment
    except (OSError, ValueError):  # RecordError, and JSON that does not parse
        return ()
    return metrics_of(experiment)


def read_run(run: RunDir, events: Path) -> tuple[Written, tuple[Metric, ...]]:
    """What the view's columns need of one run: its events (in its tb/, or its directory in board's view),
    and its experiment's declared test metrics."""
    return read_written(events), declared_metrics(run)


def experiment_of(runs: list[RunDir]):
    """The api_pb2.Experiment over runs' own events: the hparams and metrics of every run with an HParams session."""
    return experiment_from([read_run(run, run.tb_dir) for run in runs])


def experiment_from(readings: list[tuple[Written, tuple[Metric, ...]]]):
    """experiment_of, from runs already read (read_run)."""
    from tensorboard.plugins.hparams import api_pb2

    values = defaultdict(list)
    tags: set[str] = set()
    declared: dict[str, Metric] = {}
    for written, metrics in readings:
        if not written.session:  # no HParams row, so none of its columns, as TensorBoard infers
            continue
        for name, value in written.hparams.items():
            values[name].append(value)
        tags |= written.tags
        for metric in metrics:
            declared[test_tag(metric.name)] = metric
            tags.add(test_tag(metric.name))  # a run still training shows its test columns before it ends
    ordered = sorted(tags, key=lambda tag: (tag not in declared, tag))
    return api_pb2.Experiment(
        hparam_infos=[info for name, found in values.items() if (info := hparam_info(name, found))],
        metric_infos=[metric_info(tag, declared.get(tag)) for tag in ordered],
    )


def hparam_info(name: str, values: list):
    """Type, domain and `differs` of one hparam over the values the sessions hold: a number range, else the
    distinct values; mixed kinds become strings, as the plugin infers them. None when no value has a kind
    HParams shows."""
    from google.protobuf import json_format
    from tensorboard.plugins.hparams import api_pb2

    kinds = {value.WhichOneof("kind") for value in values} & {"number_value", "string_value", "bool_value"}
    if not kinds:
        return None
    info = api_pb2.HParamInfo(name=name)
    if kinds == {"number_value"}:
        numbers = [value.number_value for value in values]
        info.type = api_pb2.DATA_TYPE_FLOAT64
        info.domain_interval.min_value, info.domain_interval.max_value = min(numbers), max(numbers)
        info.differs = len(set(numbers)) > 1
    elif kinds == {"bool_value"}:
        distinct = {value.bool_value for value in values}
        info.type = api_pb2.DATA_TYPE_BOOL
        info.domain_discrete.extend(sorted(distinct))
        info.differs = len(distinct) > 1
    else:
        distinct = {
            value.string_value if kind == "string_value" else json_format.MessageToJson(value)
            for value in values
            if (kind := value.WhichOneof("kind")) in kinds
        }
        info.type = api_pb2.DATA_TYPE_STRING
        info.domain_discrete.extend(sorted(distinct))
        info.differs = len(distinct) > 1
    return info


def metric_info(tag: str, metric: Metric | None):
    """A metric column: a declared test metric by its words and direction, any other scalar by its tag."""
    from tensorboard.plugins.hparams import api_pb2

    info = api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag))
    if metric is not None:
        direction = "higher" if metric.higher_is_better else "lower"
        info.display_name = metric.phrase
        info.description = f"{metric.phrase} ({direction} is better)"
    return info


class ViewColumns:
    """The experiment summary at the root of a board view (TensorBoard's run "."), kept in step with the runs:
    a run started, removed, or writing its first rows of a new tag changes the columns. Each run is read in
    its directory of the view (scopelab.board_view), where board gave every run a session."""

    def __init__(self, view: Path):
        self._view = view
        # Per run: its event files' sizes when last read, and what was read. Only a run whose files
        # changed (one still training) is read again; finished runs are read once.
        self._read: dict[str, tuple[dict[str, int], tuple]] = {}
        self._declared = None

    def update(self, runs: list[RunDir]) -> None:
        """Declare the runs' columns again if their event files changed and so did the columns."""
        try:
            sizes = {run.run_id: {str(file): file.stat().st_size for file in self._events(run).glob(EVENT_FILES)}
                     for run in runs}
            changed = sizes.keys() != self._read.keys() or any(
                self._read[run_id][0] != files for run_id, files in sizes.items())
            if not changed:
                return
            self._read = {run.run_id: (sizes[run.run_id], self._reading(run, sizes[run.run_id])) for run in runs}
        except OSError:  # a run removed while being read: its files are gone at the next look
            return
        experiment = experiment_from([reading for _, reading in self._read.values()])
        if experiment == self._declared:
            return
        self._declared = experiment
        # TensorBoard keeps a tag's first metadata within a file: a new declaration needs a new file. With
        # none for a moment (or none at all: no run has a session), the plugin infers the columns itself.
        for old in self._view.glob(EVENT_FILES):
            old.unlink()
        if experiment.hparam_infos:
            from tensorboard.plugins.hparams import metadata, plugin_data_pb2

            write_events(self._view / f"events.out.tfevents.{time.time():.6f}.scopelab-experiment",
                         [(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment))])

    def _events(self, run: RunDir) -> Path:
        return self._view / run.run_id

    def _reading(self, run: RunDir, sizes: dict[str, int]) -> tuple:
        known = self._read.get(run.run_id)
        return known[1] if known and known[0] == sizes else read_run(run, self._events(run))


def write_events(file: Path, hparams: list[tuple], scalars: list[tuple] = ()) -> None:
    """An event file of HParams records (tag, HParamsPluginData) and scalars (step, tag, value)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.hparams import metadata
    from tensorboard.summary.writer.record_writer import RecordWriter

    now = time.time()
    events = [event_pb2.Event(wall_time=now, file_version="brain.Event:2")]
    for tag, data in hparams:
        summary = summary_pb2.Summary()
        summary.value.add(tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR)
        events.append(event_pb2.Event(wall_time=now, summary=summary))
    for step, tag, value in scalars:
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        events.append(event_pb2.Event(wall_time=now, step=step, summary=summary))
    with open(file, "wb") as handle:
        writer = RecordWriter(handle)
        for event in events:
            writer.write(event.SerializeToString())
