"""`--jobs auto` (the default) against `--jobs 1`, through the real CLI, in one session: the wall time of
each, their ratio, whether every run's metrics.csv is byte-identical, and how far the test metrics differ.
`bound` is the ratio if only training took time (no process start-up, perfect packing): what TensorFlow's
speed at one thread beside another run, against all threads alone, allows at best.

First the machine's own scaling, which bounds every ratio below: one run of smoke at 1,000 steps with
2 threads alone, against two 1-thread runs side by side (the issue measured 1.81x the throughput).
Then four workloads, each made twice in fresh runs directories, the two orders alternating between
rounds so that load that comes and goes falls on both:
    reproduce              the article's four runs at full size (about 3 minutes at --jobs 1 on 2 cores)
    reproduce --quick      the same at 1/20 of the steps
    run smoke --seeds 8
    run tied_ae --seeds 5  the article's tied autoencoder, five seeds (about 2 minutes at --jobs 1)

    python benchmarks/bench_jobs.py                 # all four: about 17 minutes on 2 quiet cores
    python benchmarks/bench_jobs.py --skip-full     # the two short ones: about 2 minutes
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = {
    "reproduce": ["reproduce", "--quiet"],
    "reproduce --quick": ["reproduce", "--quick", "--quiet"],
    "run smoke --seeds 8": ["run", "smoke", "--seeds", "8", "--quiet"],
    "run tied_ae --seeds 5": ["run", "tied_ae", "--seeds", "5", "--quiet"],
}
LONG = ("reproduce", "run tied_ae --seeds 5")  # left out by --skip-full


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def scopelab_command() -> list[str]:
    script = Path(sys.executable).with_name("scopelab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scopelab"]


def timed(arguments: list[str], jobs: str, runs_dir: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([*scopelab_command(), *arguments, "--jobs", jobs, "--runs-dir", str(runs_dir)],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} --jobs {jobs} failed: {done.stderr.strip()[-500:]}")
    chosen = next((line for line in (done.stdout + done.stderr).splitlines() if line.startswith("jobs: ")), "")
    return seconds, chosen


def training_seconds(runs_dir: Path, per_thread: bool = False) -> float:
    """The seconds the runs spent training (steps run over steps per second, from each summary); with
    `per_thread`, each run's seconds times the threads it trained on (the cores it kept busy)."""
    total = 0.0
    for summary in runs_dir.glob("*/summary.json"):
        record = json.loads(summary.read_text())
        if record.get("steps_per_second"):
            total += record["steps_run"] / record["steps_per_second"] * ((record["threads"] or 1) if per_thread else 1)
    return total


def scaling() -> tuple[float, float, float]:
    """Steps per second of one 2-thread run alone, and of two 1-thread runs side by side (their sum)."""
    arguments = ["run", "smoke", "--set", "train.steps=1000", "--quiet", "--threads"]
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([*scopelab_command(), *arguments, "2", "--runs-dir", f"{scratch}/alone"], check=True,
                       capture_output=True)
        pair = [subprocess.Popen([*scopelab_command(), *arguments, "1", "--runs-dir", f"{scratch}/pair"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        if any(process.wait() for process in pair):
            raise SystemExit("the side-by-side smoke runs failed")
        speeds = {kind: [json.loads(summary.read_text())["steps_per_second"]
                         for summary in Path(scratch, kind).glob("*/summary.json")] for kind in ("alone", "pair")}
    return speeds["alone"][0], sum(speeds["pair"]), sum(speeds["pair"]) / speeds["alone"][0]


def bound(one: Path, auto: Path, cores: int) -> float:
    """The ratio auto / 1 would have if nothing but training took time and the runs packed perfectly onto
    the cores (a run on 2 threads takes two): the limit that TensorFlow's speed at 1 thread beside another
    run, against its speed at every thread alone, sets whatever the start-up costs."""
    return training_seconds(auto, per_thread=True) / cores / training_seconds(one)


def results(runs_dir: Path) -> dict[tuple[str, int], tuple[str, dict]]:
    """(config, seed) -> the run's metrics.csv and its test metrics."""
    found = {}
    for summary in runs_dir.glob("*/summary.json"):
        record = json.loads(summary.read_text())
        found[(record["config_name"], record["seed"])] = ((summary.parent / "metrics.csv").read_text(),
                                                          record["metrics"])
    return found


def agreement(one: dict, auto: dict) -> tuple[bool, float]:
    """Whether every metrics.csv is byte-identical, and the largest relative difference of a test metric
    (TensorFlow's float32 reductions over the test set split by thread count: docs/sweeps.md)."""
    if one.keys() != auto.keys() or not one:
        return False, math.inf
    rows = all(one[key][0] == auto[key][0] for key in one)
    largest = max((abs(auto[key][1][name] - value) / abs(value) if value else abs(auto[key][1][name])
                   for key in one for name, value in one[key][1].items()), default=0.0)
    return rows, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-full", action="store_true", help="leave out the two long workloads")
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), metavar="WORKLOAD",
                        help="these workloads alone, e.g. --only 'run tied_ae --seeds 5'")
    parser.add_argument("--rounds", type=int, default=1, help="times each workload is made with each setting")
    options = parser.parse_args()
    names = options.only or [name for name in WORKLOADS if not (options.skip_full and name in LONG)]
    print(f"{cores()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    alone, pair, gain = scaling()
    print(f"smoke, 1,000 steps: 2 threads alone {alone:.0f} steps/s; two 1-thread runs side by side "
          f"{pair:.0f} steps/s together: {gain:.2f}x the throughput (so at best {1 / gain:.2f} of the time)")
    print(f"{'workload':<22} {'--jobs 1':>9} {'auto':>9} {'auto / 1':>9} {'bound':>6}  rows same  test rel. diff  "
          "auto chose")
    for name in names:
        times: dict[str, list[float]] = {"1": [], "auto": []}
        same_rows, difference, chosen, bounds = True, 0.0, "", []
        for round_ in range(options.rounds):
            order = ("1", "auto") if round_ % 2 == 0 else ("auto", "1")
            with tempfile.TemporaryDirectory() as scratch:
                metrics = {}
                for jobs in order:
                    runs_dir = Path(scratch) / jobs
                    seconds, said = timed(WORKLOADS[name], jobs, runs_dir)
                    times[jobs].append(seconds)
                    chosen = said or chosen
                    metrics[jobs] = results(runs_dir)
                bounds.append(bound(Path(scratch) / "1", Path(scratch) / "auto", cores()))
                rows, largest = agreement(metrics["1"], metrics["auto"])
                same_rows, difference = same_rows and rows, max(difference, largest)
        one, auto = statistics.median(times["1"]), statistics.median(times["auto"])
        print(f"{name:<22} {one:>8.1f}s {auto:>8.1f}s {auto / one:>9.2f} {statistics.median(bounds):>6.2f}  "
              f"{'yes' if same_rows else 'NO':<9}  "
              f"{difference:>13.1e}  {chosen.removeprefix('jobs: ')}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
