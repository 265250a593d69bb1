"""The four article configs at full steps with `model.api: tf1` and with `tf2`, through the real
`scopelab run` (one subprocess each, the same seed): the test metrics of both, how many
metrics.csv rows are identical, and the largest relative difference where they are not.

    python benchmarks/tf1_vs_tf2.py                    # eight full runs: ~8 min on 2 quiet cores
    python benchmarks/tf1_vs_tf2.py --steps-scale 0.02 # a check in about a minute
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["tied_ae", "untied_ae", "mlp_shared", "mlp_averaged"]


def run(config: str, api: str, runs_dir: Path, scale: float) -> Path:
    overrides = ["--set", f"model.api={api}"]
    if scale != 1:
        if config.endswith("_ae"):
            overrides += ["--set", f"train.steps={max(1, int(10000 * scale))}"]
        else:
            steps = max(1, int(5000 * scale))
            overrides += ["--set", f"networks.0.steps={steps}", "--set", f"networks.1.steps={steps}"]
    target = runs_dir / f"{config}-{api}"
    command = [sys.executable, "-m", "scopelab", "run", str(ROOT / "configs" / f"{config}.yaml"),
               "--runs-dir", str(target), "--quiet", *overrides]
    subprocess.run(command, check=True, capture_output=True, text=True)
    (run_dir,) = [path for path in target.iterdir() if path.is_dir()]
    return run_dir


def rows(run_dir: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((run_dir / "metrics.csv").read_text())))


def relative(a: str, b: str) -> float:
    x, y = float(a), float(b)
    return 0.0 if x == y else abs(x - y) / max(abs(x), abs(y))


def compare(config: str, runs_dir: Path, scale: float) -> dict:
    started = time.perf_counter()
    first, second = run(config, "tf1", runs_dir, scale), run(config, "tf2", runs_dir, scale)
    tf1_rows, tf2_rows = rows(first), rows(second)
    same = sum(a == b for a, b in zip(tf1_rows, tf2_rows))
    worst = max((relative(a[key], b[key]) for a, b in zip(tf1_rows, tf2_rows) for key in ("loss", "accuracy")
                 if a[key] and b[key]), default=0.0)
    metrics = [json.loads((path / "summary.json").read_text())["metrics"] for path in (first, second)]
    return {"config": config, "rows": len(tf1_rows), "identical_rows": same,
            "same_row_count": len(tf1_rows) == len(tf2_rows),
            "max_relative_difference": worst, "tf1": metrics[0], "tf2": metrics[1],
            "test_metrics_identical": metrics[0] == metrics[1], "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps-scale", type=float, default=1.0, help="fraction of the article's steps")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=CONFIGS)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="scopelab-tf1-tf2-") as runs_dir:
        for config in args.configs:
            results.append(compare(config, Path(runs_dir), args.steps_scale))
            print(json.dumps(results[-1]), flush=True)
    print()
    print(f"{'config':<13} {'identical rows':>15} {'max rel. diff':>13}  test metrics (tf1 | tf2)")
    for result in results:
        shown = " | ".join(", ".join(f"{k} {v:.6f}" for k, v in result[api].items()) for api in ("tf1", "tf2"))
        print(f"{result['config']:<13} {result['identical_rows']:>7} of {result['rows']:<5} "
              f"{result['max_relative_difference']:>13.3g}  {shown}")
    if args.out:
        args.out.write_text(json.dumps({"steps_scale": args.steps_scale, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
