"""The directory `scopelab board` serves TensorBoard from: one directory per run, named by its run id (the
Scalars run name), holding links to the run's event files and one event file of board's own.

Board's file gives the run's HParams session a readable trial name: TensorBoard shows a session group by
its `group_name`, which the runner sets to the run id, and every id of a day starts with the same
`YYYYMMDD-HHMM`, so the narrow Trial ID column showed `20261206-1033...` on every row. Board's file is named
to sort before the run's own files, and TensorBoard keeps the first metadata a run gives a tag, so its
session start wins; the session end (the status) still comes from the run's own events. A run written
without the tensorboard package has no session: board's file gives it one, from config.yaml and, for a
finished run, its status, and for a run that has no events at all, its scalars from metrics.csv and the
test metrics of summary.json. Plain `tensorboard --logdir runs` reads the runs' own files and is unchanged.

Board's file is written once, when the run first shows in the view (TensorBoard would ignore a new
session start anyway); a run still training without the extra keeps an open session until the next board.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import yaml

from scopelab.hparams import EVENT_FILES, FINAL_STATUSES, read_written, scalar_hparams, test_tag, write_events
from scopelab.runs import RecordError, RunDir

BOARD_FILE = "events.out.tfevents.0000000000.scopelab-board"  # sorts before every file a run writes
RUN_ID = re.compile(r"\d{8}-(\d\d)(\d\d)(\d\d)-(.+)")


def trial_name(run_id: str) -> str:
    """`20261206-103305-tied_ae` -> `10:33:05 tied_ae`: the time tells repeats apart, the config the kind."""
    parts = RUN_ID.fullmatch(run_id)
    if parts is None:
        return run_id
    hour, minute, second, rest = parts.groups()
    return f"{hour}:{minute}:{second} {rest}"


class BoardView:
    """The view directory, kept in step with the runs shown."""

    def __init__(self, view: Path):
        self.view = view
        self._trials: dict[str, str] = {}  # run id -> trial name, unique in the view

    def run_view(self, run: RunDir) -> Path:
        return self.view / run.run_id

    def update(self, runs: list[RunDir]) -> None:
        """One directory per run: new runs get board's file, every run links its current event files
        (a resumed run adds one); directories of runs no longer shown go."""
        wanted = {run.run_id for run in runs}
        for entry in self.view.iterdir():
            if entry.is_dir() and entry.name not in wanted:
                shutil.rmtree(entry)  # links and board's file only: the run's own files stay
                self._trials.pop(entry.name, None)
        for run in runs:
            directory = self.run_view(run)
            try:
                if not directory.is_dir() and not self._add(run, directory):
                    continue
                for event_file in run.tb_dir.glob(EVENT_FILES):
                    link = directory / event_file.name
                    if not link.is_symlink():
                        os.symlink(event_file.resolve(), link)
            except (OSError, RecordError):  # a run removed or half-written: the next look sees it whole
                shutil.rmtree(directory, ignore_errors=True)
                self._trials.pop(run.run_id, None)

    def _add(self, run: RunDir, directory: Path) -> bool:
        """Board's file for a new run; False (try again at the next look) for a run that has only just started."""
        record = run.read_record(variables=False)
        if record.status == "running" and not any(run.tb_dir.glob(EVENT_FILES)):
            return False  # its own first events are on their way: a session made now would outlive them
        written = read_written(run.tb_dir) if run.tb_dir.is_dir() else None
        name = trial_name(run.run_id)
        if name in self._trials.values():  # the same time and config on another day
            name = run.run_id
        directory.mkdir()
        if written is not None and written.session:
            write_events(directory / BOARD_FILE, [session_start(name, written.hparams)])
        else:
            sessions = [session_start(name, to_values(scalar_hparams(settings_of(run))))]
            if record.status in FINAL_STATUSES:
                sessions.append(session_end(FINAL_STATUSES[record.status]))
            # No events at all (a run from before TensorBoard): its scalars from the run's own records.
            scalars = scalars_of(run, record.metrics) if written is None or not written.tags else []
            write_events(directory / BOARD_FILE, sessions, scalars)
        self._trials[run.run_id] = name
        return True


def settings_of(run: RunDir) -> dict:
    """The run's config.yaml; none when it is missing or broken (a row without hparams, not no row)."""
    try:
        settings = yaml.safe_load(run.config_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, yaml.YAMLError):
        return {}
    return settings if isinstance(settings, dict) else {}


def to_values(hparams: dict) -> dict:
    """Python settings as the google.protobuf.Value a session start holds."""
    from google.protobuf import struct_pb2

    values = {}
    for key, value in hparams.items():
        if isinstance(value, bool):
            values[key] = struct_pb2.Value(bool_value=value)
        elif isinstance(value, (int, float)):
            values[key] = struct_pb2.Value(number_value=value)
        else:
            values[key] = struct_pb2.Value(string_value=value)
    return values


def session_start(name: str, hparams: dict):
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo(group_name=name)
    for key, value in hparams.items():
        start.hparams[key].CopyFrom(value)
    return metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)


def session_end(status: str):
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value(status))
    return metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)


def scalars_of(run: RunDir, test_metrics: dict[str, float]) -> list:
    """metrics.csv's rows and the test metrics (at the last step), as the runner's events name them."""
    try:
        rows = run.read_metrics()
    except (OSError, ValueError):
        rows = []
    scalars = []
    for row in rows:
        scalars.append((row["step"], f"{row['network']}/loss", row["loss"]))
        if row["accuracy"] is not None:
            scalars.append((row["step"], f"{row['network']}/accuracy", row["accuracy"]))
    last = max((row["step"] for row in rows), default=0)
    scalars.extend((last, test_tag(name), value) for name, value in test_metrics.items())
    return scalars
