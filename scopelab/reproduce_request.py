"""What `scopelab reproduce` is asked for and what it plans: the request, and one target per article config
and seed. A module of its own so that the planner (scopelab.reproduce) and the renderer (scopelab.report.article)
share these types without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scopelab.config import Config
from scopelab.runs import RunDir


@dataclass(frozen=True)
class ReproduceRequest:
    runs_dir: Path = Path("runs")
    seeds: int = 1  # seeds 0..seeds-1 of every config
    rerun: bool = False  # train again even where an identical completed run exists
    quick: bool = False
    jobs: int | str = 1  # "auto": scopelab.sweep.jobs chooses
    executor: str = "local"
    address: str | None = None
    threads: int = 0
    last_round_threads: int = 0  # set with jobs (scopelab.sweep.jobs): the threads of a last, partial round
    device: str = "auto"
    progress: bool = True
    fmt: str = "table"


@dataclass
class Target:
    """One article config at one seed, and the completed run that holds its result (once there is one)."""

    name: str
    seed: int
    overrides: tuple[str, ...]  # all but the seed: what --quick changes
    config: Config
    run: RunDir | None = None
    reused: bool = False
