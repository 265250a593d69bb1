"""Peak memory and time of `scopelab list` over a runs directory (and configs directory) full of hostile files.

The files are the ones that once hung or bloated `list` (issue 14): YAML alias bombs and 1,000-deep
nesting in configs/, FIFOs and symlinks to /dev/zero as configs, summaries and metrics, a 500 MB
(sparse) metrics.csv, a summary with pid 99999999999, JSON nested 100,000 deep; beside them two honest
runs and a valid config. `list` runs in a fresh process that reports its own peak RSS (ru_maxrss).

    python benchmarks/bench_hostile_list.py            # prints peak MB and seconds (median of --repeats)
    python benchmarks/bench_hostile_list.py --json     # the numbers and each entry's status, as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Nine lists of nine aliases: 319 bytes of YAML that expand to 9^9 nodes.
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
# Runs the CLI in this process and reports its own peak memory: RUSAGE_CHILDREN would be the largest
# child the caller ever had (in pytest, a TensorFlow run).
MEASURE = (
    "import resource, sys, time\n"
    "from scopelab.cli import main\n"
    "started = time.perf_counter()\n"
    "try:\n"
    "    main(sys.argv[1:], standalone_mode=False)\n"
    "finally:\n"
    "    seconds = time.perf_counter() - started\n"
    "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
    "    print(f'MEASURED {peak:.1f} {seconds:.3f}', file=sys.stderr)\n"
)


def make_hostile(root: Path) -> tuple[Path, Path]:
    """A configs directory and a runs directory holding every hostile file; returns both."""
    configs, runs = root / "configs", root / "runs"
    configs.mkdir()
    (configs / "good.yaml").write_text("experiment: autoencoder\ndescription: the one honest config\n")
    (configs / "bomb.yaml").write_text(BOMB + "experiment: *i\n")
    (configs / "optimizer_bomb.yaml").write_text(BOMB + "experiment: autoencoder\ntrain: {optimizer: *i}\n")
    (configs / "deep.yaml").write_text("experiment: " + "[" * 1000 + "]" * 1000 + "\n")
    os.mkfifo(configs / "fifo.yaml")
    (configs / "zero.yaml").symlink_to("/dev/zero")
    (configs / "huge.yaml").write_text("# padding\n" * 200_000)
    honest = {"status": "completed", "config_name": "good", "experiment": "autoencoder", "metrics": {"test_loss": 0.1}}
    for name, files in {
        "20260101-000001-good": {},
        "20260101-000002-good": {},
        "20260101-000003-zero_summary": {"summary.json": "/dev/zero"},
        "20260101-000004-fifo_summary": {"summary.json": "fifo"},
        "20260101-000005-absurd_pid": {"summary.json": {**honest, "run_id": "20260101-000005-absurd_pid",
                                                         "status": "running", "pid": 99999999999}},
        "20260101-000006-zero_metrics": {"metrics.csv": "/dev/zero"},
        "20260101-000007-fifo_metrics": {"metrics.csv": "fifo"},
        "20260101-000008-huge_metrics": {"metrics.csv": 500 << 20},
        "20260101-000009-deep_json": {"summary.json": "[" * 100_000 + "]" * 100_000},
        "20260101-000010-bomb_config": {"config.yaml": BOMB + "experiment: *i\n"},
    }.items():
        run = runs / name
        run.mkdir(parents=True)
        contents = {"summary.json": {**honest, "run_id": name},
                    "metrics.csv": "network,step,loss,accuracy\nautoencoder,0,0.5,\n",
                    "config.yaml": "name: good\nexperiment: autoencoder\n", **files}
        for file, content in contents.items():
            path = run / file
            if content == "fifo":
                os.mkfifo(path)
            elif isinstance(content, str) and content.startswith("/dev/"):
                path.symlink_to(content)
            elif isinstance(content, int):
                with open(path, "wb") as handle:
                    handle.truncate(content)  # sparse: its size without the disk
            else:
                path.write_text(content if isinstance(content, str) else json.dumps(content))
    return configs, runs


def measure_list(configs: Path, runs: Path) -> tuple[float, float, dict]:
    """(peak MB, seconds, the JSON listing) of one `scopelab list` in a fresh process."""
    args = ["list", "--format", "json", "--runs-dir", str(runs), "--configs-dir", str(configs)]
    done = subprocess.run([sys.executable, "-c", MEASURE, *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"list failed ({done.returncode}): {done.stderr}")
    peak, seconds = (float(word) for word in done.stderr.split("MEASURED ")[1].split())
    return peak, seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the numbers and the listing as JSON")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        configs, runs = make_hostile(Path(root))
        started = time.perf_counter()
        results = [measure_list(configs, runs) for _ in range(options.repeats)]
        wall = (time.perf_counter() - started) / options.repeats
    peak = max(result[0] for result in results)
    seconds = statistics.median(result[1] for result in results)
    listing = results[-1][2]
    if options.json:
        print(json.dumps({"peak_mb": peak, "list_seconds": seconds, "process_seconds": wall, "listing": listing}))
        return
    print(f"list over {len(listing['runs'])} runs and {len(listing['configs'])} configs, all hostile but 3:")
    print(f"  peak RSS {peak:.1f} MB (max of {options.repeats}), listing {seconds:.3f} s (median),"
          f" whole process {wall:.2f} s (mean, with interpreter start)")
    for row in listing["configs"]:
        print(f"  config {row['name']:>16}: {row['experiment']:>11}  {row['description'][:90]}")
    for row in listing["runs"]:
        print(f"  run {row['run_id'][16:]:>16}: {row['status']:>9} steps={row['steps']}  {row['reason'][:80]}")


if __name__ == "__main__":
    main()
