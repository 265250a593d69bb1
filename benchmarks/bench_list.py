"""How fast `scopelab list` and `compare` answer over 1,000 run directories, and `scopelab --help`.

Makes 1,000 fake but complete run directories in a temporary directory (summary.json written through
scopelab.runs.RunRecord with a variables list and a provenance of the real size, an 11-row metrics.csv,
config.yaml, and tags and a note on every tenth run): 250 seeds of each of the article's four configs,
plus a few broken ones. Then times, each as the median of --repeats:

- `scopelab list` in a fresh process (what a user waits for: interpreter start, imports, listing),
- `scopelab list --sort test_loss --top 10` and `scopelab show` in a fresh process,
- the listing itself in this process (listing.list_report, no start-up),
- `scopelab compare` in a fresh process (pools the 250 seeds of each config: reads every config.yaml),
- `scopelab --help` in a fresh process.

    python benchmarks/bench_list.py               # about 20 seconds on 2 cores
    python benchmarks/bench_list.py --runs 5000   # more run directories
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from scopelab.config import config_to_dict, load_config
from scopelab.report.listing import ListRequest, list_report
from scopelab.runs import Annotations, Provenance, RunDir, RunRecord, Variable

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("untied_ae", "tied_ae", "mlp_shared", "mlp_averaged")
SCOPELAB = [sys.executable, "-m", "scopelab"]


def make_runs(runs_dir: Path, count: int) -> None:
    """count run directories, round-robin over the four configs, one second apart, seeds counting up."""
    rng = random.Random(0)
    resolved = {name: config_to_dict(load_config(ROOT / "configs" / f"{name}.yaml")) for name in CONFIGS}
    for index in range(count):
        name = CONFIGS[index % len(CONFIGS)]
        seed = index // len(CONFIGS)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(1_790_000_000 + index))
        run = runs_dir / f"{stamp}-{name}"
        run.mkdir(parents=True)
        config = {**resolved[name], "train": {**resolved[name]["train"], "seed": seed}}
        (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (run / "metrics.csv").write_text(_metrics(name, rng))
        RunDir(run).write_record(_record(run.name, name, seed, rng))
        if index % 10 == 0:
            RunDir(run).write_annotations(Annotations(["bench", f"group{index % 7}"], "a note of a few words"))
    for index in range(3):  # a few that list must survive
        (runs_dir / f"20300101-00000{index}-broken").mkdir()
    (runs_dir / "20300101-000009-junk").mkdir()
    (runs_dir / "20300101-000009-junk" / "summary.json").write_text("{not json")


def _metrics(name: str, rng: random.Random) -> str:
    networks = ("autoencoder",) if name.endswith("_ae") else ("net1", "net2")
    rows = ["network,step,loss,accuracy"]
    for network in networks:
        for step in range(0, 10_001 if len(networks) == 1 else 5_001, 1000):
            accuracy = "" if len(networks) == 1 else f"{rng.uniform(0.9, 1.0)}"
            rows.append(f"{network},{step},{rng.uniform(0.1, 0.8)},{accuracy}")
    return "\n".join(rows) + "\n"


def _record(run_id: str, name: str, seed: int, rng: random.Random) -> RunRecord:
    autoencoder = name.endswith("_ae")
    metrics = (
        {"test_loss": rng.uniform(0.14, 0.19)}
        if autoencoder
        else {"acc_net1": rng.uniform(0.97, 0.98), "acc_net2": rng.uniform(0.97, 0.98)}
    )
    if name == "mlp_averaged":
        metrics["acc_averaged"] = rng.uniform(0.978, 0.983)
    variables = [Variable(f"scope/var{i}", [784, 625], 490_000, "scope", ["net1"], False) for i in range(6)]
    provenance = Provenance(
        command=f"scopelab run configs/{name}.yaml --set train.seed={seed}",
        git={"commit": "0" * 40, "branch": "main", "dirty": False},
        python="3.11.7",
        scopelab="0.2.0",
        packages={"tensorflow": "2.21.0", "numpy": "2.1.3", "click": "8.1.8", "PyYAML": "6.0.2", "tqdm": "4.67.1"},
        tensorflow_build={"is_cuda_build": False, "is_rocm_build": False, "cpu_compiler": "clang 18"},
        machine={"system": "Linux-6.8-x86_64", "cpu": "Some CPU @ 2.0GHz", "cores": 2, "memory_bytes": 8 << 30,
                 "gpus": []},
        env={"TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    return RunRecord(
        run_id=run_id,
        config_name=name,
        config_file=f"configs/{name}.yaml",
        experiment="autoencoder" if autoencoder else "mlp_pair",
        status="completed",
        overrides={"train.seed": seed},
        seed=seed,
        metrics=metrics,
        steps_total={"autoencoder": 10_000} if autoencoder else {"net1": 5000, "net2": 5000},
        variables=variables,
        param_count=2_000_000,
        device="cpu",
        pid=1,
        host="bench",
        wall_seconds=rng.uniform(60, 200),
        steps_per_second=120.0,
        started_at="2026-11-27T10:15:00+00:00",
        ended_at="2026-11-27T10:17:00+00:00",
        provenance=provenance,
    )


def time_process(args: list[str], repeats: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of a fresh `scopelab ...` process, and the size of its output. The CPU
    time (user + system, from the kernel's accounting of children) barely moves when other processes
    load a shared machine; the wall time does."""
    walls, cpus, size = [], [], 0
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(SCOPELAB + args, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        size = len(done.stdout)
    return statistics.median(walls), statistics.median(cpus), size


def time_in_process(request: ListRequest, repeats: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        list_report(request)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    return statistics.median(walls), statistics.median(cpus)


def show(what: str, wall: float, cpu: float, note: str = "") -> None:
    print(f"{what:<36} {wall * 1000:6.0f} ms wall {cpu * 1000:6.0f} ms cpu  {note}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="how many run directories to make")
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure (the median is printed)")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="scopelab-bench-list-"))
    try:
        runs_dir = workdir / "runs"
        started = time.perf_counter()
        make_runs(runs_dir, options.runs)
        print(f"made {options.runs} run directories (+4 broken) in {time.perf_counter() - started:.1f} s")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; medians of {options.repeats}")
        where = ["--runs-dir", str(runs_dir)]
        wall, cpu, size = time_process(["list", "--runs", *where], options.repeats)
        show("scopelab list (fresh process)", wall, cpu, f"({size / 1024:.0f} KiB of table)")
        wall, cpu, _ = time_process(["list", "--runs", "--format", "json", *where], options.repeats)
        show("scopelab list --format json", wall, cpu)
        wall, cpu, _ = time_process(["list", "--sort", "test_loss", "--top", "10", *where], options.repeats)
        show("scopelab list --sort test_loss --top 10", wall, cpu)
        wall, cpu, _ = time_process(["show", "tied_ae", *where], options.repeats)
        show("scopelab show tied_ae (its latest run)", wall, cpu)
        wall, cpu = time_in_process(ListRequest(runs_dir, sections=("runs",)), options.repeats)
        show("listing in process (no start-up)", wall, cpu, f"({cpu / options.runs * 1e6:.0f} µs cpu per run)")
        wall, cpu, _ = time_process(["compare", *where], options.repeats)
        show("scopelab compare (fresh process)", wall, cpu, f"({options.runs // len(CONFIGS)} seeds pooled per config)")
        wall, cpu, _ = time_process(["--help"], options.repeats)
        show("scopelab --help (fresh process)", wall, cpu)
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
