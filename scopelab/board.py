"""`scopelab board`: TensorBoard over chosen runs, each named by its run id.

TensorBoard names a run by its directory relative to the logdir, which would make every run
`<run-id>/tb`. So board serves a temporary view (scopelab.board_view): a directory `<run-id>` per run
linking to its event files (links, as TensorBoard's own help recommends over `--logdir_spec`, which
would also turn off its fast loader), with board's own file giving every run an HParams session under a
readable trial name. With no run named, the view follows the runs directory while board runs, so a run
started later appears too. The view's root holds the HParams experiment board declares over its runs
(the test metrics' words and directions, scopelab.hparams), listed as a run "." without data. TensorBoard
runs in this process: `launch` serves from a daemon thread, and its data server (a child process) exits
when this process does.
"""

from __future__ import annotations

import contextlib
import errno
import io
import socket
import sys
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scopelab.board_view import BoardView
from scopelab.errors import InputError
from scopelab.hparams import ViewColumns
from scopelab.runs import RunDir, read_runs, resolve_runs, run_dirs
from scopelab.signals import StopRequest

FOLLOW_SECONDS = 2.0  # how often the links catch up with new and removed runs (TensorBoard reloads every 5 s)


@dataclass(frozen=True)
class BoardRequest:
    references: tuple[str, ...] = ()  # run ids, unique prefixes or config names; none: every run
    runs_dir: Path = Path("runs")
    port: int = 6006
    host: str = "127.0.0.1"


def serve(request: BoardRequest, echo: Callable[[str], None]) -> None:
    """Serve TensorBoard until SIGINT or SIGTERM; every check comes before anything starts."""
    try:
        from tensorboard import program
    except ImportError:
        raise InputError(
            "scopelab board needs TensorBoard, which is not installed: pip install 'scopelab[tensorboard]'."
        ) from None
    runs = chosen_runs(request.runs_dir, request.references)
    _check_port(request.host, request.port)
    _without_tensorflow()
    with tempfile.TemporaryDirectory(prefix="scopelab-board-") as view, StopRequest() as stop:
        board_view = BoardView(Path(view))
        board_view.update(runs)
        columns = ViewColumns(Path(view))
        columns.update(runs)
        tensorboard = program.TensorBoard()
        tensorboard.configure(
            argv=[None, "--logdir", view, "--host", request.host, "--port", str(request.port)]
        )
        # TensorBoard announces its fast loader on stderr; scopelab prints its own line instead.
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                url = tensorboard.launch()
            except program.TensorBoardServerException as error:  # the port was taken since the check
                raise InputError(f"--port {request.port}: {error.msg}") from None
        count = f"{len(runs)} run{'' if len(runs) == 1 else 's'}"
        echo(f"TensorBoard on {count} at {url} (HParams: {url}#hparams); Ctrl-C stops it.")
        while not stop.event.wait(FOLLOW_SECONDS):
            if not request.references:
                runs = run_dirs(request.runs_dir)
            board_view.update(runs)  # new event files of resumed runs too
            columns.update(runs)  # runs still training add columns
    echo("TensorBoard stopped.")


def chosen_runs(runs_dir: Path, references: tuple[str, ...]) -> list[RunDir]:
    """The runs named (a run id or unique prefix, or a config name: all its runs), else every run."""
    if not references:
        runs = run_dirs(runs_dir)
        if not runs:
            raise InputError(f"no runs in {runs_dir}/ yet; make some with: scopelab run configs/tied_ae.yaml")
        return runs
    runs = read_runs(runs_dir)
    chosen: dict[str, RunDir] = {}
    for reference in references:
        for run in resolve_runs(runs_dir, reference, runs, lambda named: named):
            chosen.setdefault(run.run_id, run.directory)
    return list(chosen.values())


def _without_tensorflow() -> None:
    """Have TensorBoard use its own stand-in for TensorFlow (the switch its pip build without TensorFlow
    uses): the dashboards need only TensorBoard's protos, and the real import would cost seconds and
    print TensorFlow's C++ start-up lines into this terminal on the first page load."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


def _check_port(host: str, port: int) -> None:
    """Bind the address once before starting TensorBoard, so a busy port is one line and starts nothing."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise InputError(f"--host {host}: not an address of this machine ({error.strerror}).") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as TensorBoard's server does
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise InputError(f"--port {port}: the port is in use on {host}; pick another with --port.") from None
            raise InputError(f"--host {host} --port {port}: cannot listen there ({error.strerror}).") from None

