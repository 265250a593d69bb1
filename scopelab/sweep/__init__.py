"""Sweeps: one config run for every point of a grid of overrides times seeds; each member is an ordinary run.

runs/sweeps/<sweep-id>/
    sweep.json    the command, the grid and seeds, and each member: overrides, grid point, seed, run id, status
    config.yaml   the base config (file plus --set), which every member and every resume starts from

Members run one after another in this process (`--jobs 1`), in N local worker processes (`--jobs N`, or
`auto`: as many as the cores, memory and GPUs allow; scopelab.sweep.jobs) or as Ray tasks
(`--executor ray`). A member that fails is recorded and the others go on; `--resume` runs again only
the members that did not complete (continuing a member's run from its checkpoint where it can).

The parts: `grid` parses --grid and --seeds; `plan` creates, reopens and reconciles a sweep and its
record; `member` is what one member's worker gets and does; `local` and `ray` are the executors;
`drive` runs a sweep's members through one of them; `__main__` is the worker process of the local
executor (`python -m scopelab.sweep PARENT_PID`), which runs member after member.
"""

from scopelab.sweep.drive import run_sweep
from scopelab.sweep.plan import SweepRequest

__all__ = ["SweepRequest", "run_sweep"]
