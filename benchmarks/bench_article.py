"""The article's four runs through the real CLI: four `scopelab run` commands, then one `scopelab reproduce`.

First each config runs in its own `scopelab run` subprocess, one after the other: wall time of each and
in total, the peak memory (maximum resident set) of each process, and the result it reached. Then the
same four in one `scopelab reproduce --rerun` process (TensorFlow imported once): its wall time against
the sum of its four runs' training time (each run's own wall_seconds), the overhead the issue's target
keeps within 4%, set beside the same overhead of the four separate commands. Last, the start-up of
`scopelab --help`, which must not import TensorFlow (bench_list.py times `list` and `compare`).

    python benchmarks/bench_article.py           # full size: about 8 minutes on 2 quiet cores
    python benchmarks/bench_article.py --quick   # 1/20 of the steps, as reproduce --quick: about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scopelab.config import load_config
from scopelab.config_source import builtin_path
from scopelab.reproduce import ARTICLE_CONFIGS, quick_overrides
from scopelab.runs import RunDir

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = list(ARTICLE_CONFIGS)


def scopelab_command() -> list[str]:
    """The installed console script beside this Python, else the module."""
    script = Path(sys.executable).with_name("scopelab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scopelab"]


def scaled_overrides(path: Path, quick: bool) -> tuple[list[str], int]:
    """`--set` options for what `reproduce --quick` runs (or none), and the updates that makes."""
    overrides = list(quick_overrides(load_config(path))) if quick else []
    config = load_config(path, overrides)
    networks = [config.train] if config.experiment == "autoencoder" else config.networks
    return overrides, sum(network.steps + 1 for network in networks)


def run_config(name: str, args: argparse.Namespace, runs_dir: Path) -> dict:
    path = builtin_path(name)
    overrides, updates = scaled_overrides(path, args.quick)
    command = scopelab_command() + ["run", str(path), "--runs-dir", str(runs_dir), "--quiet", "--device", args.device,
                                    "--threads", str(args.threads)]
    for override in overrides:
        command += ["--set", override]
    print(f"{name}: {updates} updates...", flush=True)
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        output = process.stdout.read()
        # wait4 gives this child's own peak memory; getrusage(RUSAGE_CHILDREN) only the largest so far.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    row = {"config": name, "updates": updates, "overrides": overrides, "exit_code": process.returncode,
           "wall_seconds": round(wall, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
           "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}  # Linux reports kilobytes
    run_line = [line for line in output.splitlines() if line.startswith("run directory: ")]
    if process.returncode != 0 or not run_line:
        row["error"] = output.strip().splitlines()[-5:]
        return row
    record = RunDir(Path(run_line[-1].removeprefix("run directory: "))).read_record()
    row.update(run_id=record.run_id, status=record.status, train_steps_per_second=record.steps_per_second,
               run_wall_seconds=record.wall_seconds, device=record.device, metrics=record.metrics)
    return row


def run_reproduce(args: argparse.Namespace, runs_dir: Path) -> dict:
    """The four in one `scopelab reproduce` process: its wall time against the sum of its runs' training time."""
    command = scopelab_command() + ["reproduce", "--rerun", "--runs-dir", str(runs_dir), "--quiet", "--format", "json",
                                    "--device", args.device, "--threads", str(args.threads)]
    command += ["--quick"] if args.quick else []
    print("reproduce: the four in one process...", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        return {"exit_code": result.returncode, "error": result.stderr.strip().splitlines()[-5:]}
    runs = json.loads(result.stdout)["runs"]
    training = {name: RunDir(runs_dir / ids[0]).read_record().wall_seconds
                for name, ids in runs.items()}
    total = sum(training.values())
    return {"wall_seconds": round(wall, 2), "training_seconds": training, "training_total": round(total, 2),
            "overhead_percent": round(100 * (wall / total - 1), 1)}


def time_command(command: list[str], repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if result.returncode != 0:
            return {"command": " ".join(command[-4:]), "error": result.stderr.strip()[-300:]}
    return {"median_seconds": round(statistics.median(seconds), 3), "min_seconds": round(min(seconds), 3),
            "repeats": repeats}


def startup(repeats: int) -> dict:
    """`scopelab --help` in a fresh process, and whether it imported TensorFlow (it must not)."""
    timing = time_command(scopelab_command() + ["--help"], repeats)
    trace = subprocess.run([sys.executable, "-X", "importtime", "-m", "scopelab", "--help"], capture_output=True,
                           text=True)
    timing["imports_tensorflow"] = any(line.rsplit("|", 1)[-1].strip().startswith("tensorflow")
                                       for line in trace.stderr.splitlines())
    return timing


def print_report(rows: list[dict], together: dict, start: dict) -> None:
    print(f"\n{'config':<14} {'updates':>7} {'wall s':>8} {'steps/s':>8} {'cpu s':>7} {'peak MB':>8}  result")
    for row in rows:
        if "error" in row:
            last = row["error"][-1] if row["error"] else ""
            print(f"{row['config']:<14} {row['updates']:>7} failed (exit {row['exit_code']}): {last}")
            continue
        result = ", ".join(f"{key} {value:.4f}" for key, value in row["metrics"].items())
        print(f"{row['config']:<14} {row['updates']:>7} {row['wall_seconds']:>8.1f} "
              f"{row['train_steps_per_second']:>8.1f} {row['cpu_seconds']:>7.1f} {row['peak_rss_mb']:>8.0f}  {result}")
    print(f"{'total':<14} {sum(r['updates'] for r in rows):>7} {sum(r['wall_seconds'] for r in rows):>8.1f}")
    for label, timing in (("four commands", separate_overhead(rows)), ("one reproduce", together)):
        if timing is None and not rows:
            continue  # --reproduce-only
        if timing is None or "error" in timing:
            print(f"{label}: failed {timing['error'][-1:] if timing else ''}")
        else:
            print(f"{label}: {timing['wall_seconds']:.1f} s wall for {timing['training_total']:.1f} s of training "
                  f"({timing['overhead_percent']:+.1f}%)")
    if "error" in start:
        print(f"scopelab --help failed: {start['error']}")
    else:
        print(f"scopelab --help: {start['median_seconds']:.3f} s median of {start['repeats']} "
              f"(TensorFlow imported: {'yes' if start['imports_tensorflow'] else 'no'})")


def separate_overhead(rows: list[dict]) -> dict | None:
    """The four separate commands' wall time against the sum of their runs' training time."""
    if not rows or any("error" in row for row in rows):
        return None
    wall, training = sum(row["wall_seconds"] for row in rows), sum(row["run_wall_seconds"] for row in rows)
    return {"wall_seconds": round(wall, 2), "training_total": round(training, 2),
            "overhead_percent": round(100 * (wall / training - 1), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1/20 of the steps, as `scopelab reproduce --quick`")
    parser.add_argument("--reproduce-only", action="store_true", help="skip the four separate `scopelab run` commands")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    parser.add_argument("--threads", type=int, default=0, help="passed to scopelab run; 0: every core")
    parser.add_argument("--repeats", type=int, default=5, help="timings of `scopelab --help`")
    parser.add_argument("--runs-dir", type=Path, help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_article.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="scopelab-article-") as scratch:
        runs_dir = args.runs_dir or Path(scratch)
        load = os.getloadavg()
        rows = [] if args.reproduce_only else [run_config(name, args, runs_dir) for name in CONFIGS]
        together = run_reproduce(args, runs_dir)
    start = startup(args.repeats)
    print_report(rows, together, start)
    report = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_before": load, "load_average_after": os.getloadavg()},
        "settings": {"quick": args.quick, "device": args.device, "threads": args.threads},
        "runs": rows,
        "total_wall_seconds": round(sum(row["wall_seconds"] for row in rows), 2),
        "separate_commands": separate_overhead(rows),
        "reproduce": together,
        "peak_rss_mb_of_all": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "help_startup": start,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
