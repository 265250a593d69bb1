"""`scopelab list` and `scopelab compare` through the CLI: on tiny real runs (made once for the module) and
on run directories written by hand (broken, stale, repeats with known numbers for the statistics)."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scopelab.ownership import Ownership
from scopelab.report.stats import t_quantile

from conftest import cli, summary_of, tiny_autoencoder, tiny_mlp_pair, write_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, mnist_dir) -> dict[str, Path]:
    """One tiny run each of the article's four variants, in the order the article lists them."""
    base = tmp_path_factory.mktemp("real")
    runs_dir = base / "runs"
    configs = {
        "untied": tiny_autoencoder(mnist_dir, model={"tied": False}),
        "tied": tiny_autoencoder(mnist_dir),
        "shared": tiny_mlp_pair(mnist_dir, "shared"),
        "independent": tiny_mlp_pair(mnist_dir, "independent"),
    }
    made = {}
    for name, config in configs.items():
        result = cli("run", write_config(base / f"{name}.yaml", config), "--runs-dir", runs_dir, "--quiet")
        assert result.exit_code == 0, result.output
        made[name] = Path(result.stdout.splitlines()[-1].removeprefix("run directory: "))
        assert result.stderr.endswith(f" {made[name].name} --runs-dir {runs_dir}\n")  # the next command's hint
    return made


@pytest.fixture
def runs_copy(real_runs, tmp_path) -> Path:
    """The module's runs in a directory this test may add to."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(next(iter(real_runs.values())).parent, runs_dir)
    return runs_dir


def runs_dir_of(real_runs: dict[str, Path]) -> Path:
    return real_runs["tied"].parent


def metrics_of(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def fake_run(
    runs_dir: Path,
    run_id: str,
    config_name: str = "cfg",
    status: str = "completed",
    seed: int = 0,
    test_loss: float | None = 0.5,
    losses: tuple[float, ...] = (),
    config: dict | None = None,
    **summary,
) -> Path:
    """A run directory written by hand: an autoencoder config, a summary, and the given logged losses."""
    run = runs_dir / run_id
    run.mkdir(parents=True)
    resolved = {"name": config_name, "experiment": "autoencoder", "model": {"tied": False}, "train": {"seed": seed}}
    for key, value in (config or {}).items():
        resolved[key] = {**resolved.get(key, {}), **value}
    (run / "config.yaml").write_text(yaml.safe_dump(resolved))
    (run / "metrics.csv").write_text(
        "network,step,loss,accuracy\n"
        + "".join(f"autoencoder,{step * 10},{loss},\n" for step, loss in enumerate(losses))
    )
    record = {
        "run_id": run_id,
        "config_name": config_name,
        "experiment": "autoencoder",
        "status": status,
        "metrics": {} if test_loss is None else {"test_loss": test_loss},
        "seed": seed,
        "versions": {"python": "3.12", "tensorflow": "2.20", "scopelab": "0.1.0"},
        "device": "cpu",
        "started_at": f"2026-11-27T{run_id[9:11]}:{run_id[11:13]}:{run_id[13:15]}+0000",
    }
    (run / "summary.json").write_text(json.dumps({**record, **summary}))
    return run


def table_lines(output: str, first_cell: str) -> list[list[str]]:
    """The rows of a text table whose header starts with first_cell, split on runs of 2+ spaces."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split("  ")[0].strip() == first_cell)
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append([cell.strip() for cell in line.split("  ") if cell.strip()])
    return rows


# --- list ------------------------------------------------------------------------------------------------


def test_list_shows_configs_and_runs_newest_first(real_runs):
    runs_dir = runs_dir_of(real_runs)
    result = cli("list", "--runs-dir", runs_dir, "--configs-dir", CONFIGS)
    assert result.exit_code == 0, result.output
    configs = table_lines(result.stdout, "name")
    assert [row[:2] for row in configs] == [
        ["mlp_averaged", "mlp_pair"],
        ["mlp_shared", "mlp_pair"],
        ["smoke", "autoencoder"],
        ["tied_ae", "autoencoder"],
        ["untied_ae", "autoencoder"],
    ]
    assert configs[3][2] == "built-in" and configs[3][3].startswith("Autoencoder 784-625-784, decoder weight tied")
    runs = table_lines(result.stdout, "run")
    ids = sorted((path.name for path in real_runs.values()), reverse=True)
    assert [row[0] for row in runs] == [run_id[: len(row[0])] for run_id, row in zip(ids, runs)]
    by_config = {row[1]: row for row in runs}
    assert set(by_config) == set(real_runs)
    assert all(row[2] == "completed" for row in runs)
    # Updates done at the last checkpoint, of the total: steps 0..30, and 0..20 for each of two networks.
    assert by_config["tied"][3] == "31/31" and by_config["shared"][3] == "42/42"
    test_loss = summary_of(real_runs["tied"])["metrics"]["test_loss"]
    assert by_config["tied"][4] == f"test loss {test_loss:.6f}"
    independent = summary_of(real_runs["independent"])["metrics"]
    assert by_config["independent"][4] == f"acc averaged {independent['acc_averaged']:.4f}"
    assert by_config["shared"][4].startswith("acc net 2 ")


def test_list_sections_and_filters(real_runs, tmp_path):
    runs_dir = runs_dir_of(real_runs)
    only_configs = cli("list", "--configs", "--runs-dir", runs_dir, "--configs-dir", CONFIGS).stdout
    assert "tied_ae" in only_configs and "runs in" not in only_configs
    only_runs = cli("list", "--runs", "--runs-dir", runs_dir, "--configs-dir", CONFIGS).stdout
    assert "configs in" not in only_runs and "tied_ae" not in only_runs
    tied = table_lines(cli("list", "--runs", "--config", "tied", "--runs-dir", runs_dir).stdout, "run")
    assert [row[1] for row in tied] == ["tied"]
    newest = table_lines(cli("list", "--runs", "--last", "2", "--runs-dir", runs_dir).stdout, "run")
    names = {path.name: name for name, path in real_runs.items()}
    assert [row[1] for row in newest] == [names[run_id] for run_id in sorted(names, reverse=True)[:2]]
    assert "runs: none match" in cli("list", "--runs", "--status", "failed", "--runs-dir", runs_dir).stdout
    assert "runs: none yet" in cli("list", "--runs", "--runs-dir", tmp_path / "empty").stdout
    built_in = json.loads(cli("list", "--configs", "--format", "json", "--configs-dir", tmp_path / "nothing").stdout)
    assert {config["source"] for config in built_in["configs"]} - {"plugin scopelab-siamese"} == {"built-in"}
    bad = cli("list", "--status", "finished", "--runs-dir", runs_dir)
    assert bad.exit_code == 2 and "finished" in bad.stderr


def test_list_json_and_csv_carry_the_numbers(real_runs):
    runs_dir = runs_dir_of(real_runs)
    listing = json.loads(cli("list", "--format", "json", "--runs-dir", runs_dir, "--configs-dir", CONFIGS).stdout)
    names = [config["name"] for config in listing["configs"]]
    assert names == ["mlp_averaged", "mlp_shared", "smoke", "tied_ae", "untied_ae"]
    runs = {run["config"]: run for run in listing["runs"]}
    assert runs["tied"]["run_id"] == real_runs["tied"].name
    assert (runs["tied"]["steps"], runs["tied"]["total_steps"]) == (31, 31)
    assert (runs["shared"]["steps"], runs["shared"]["total_steps"]) == (42, 42)
    assert runs["tied"]["value"] == summary_of(real_runs["tied"])["metrics"]["test_loss"]
    rows = list(csv.DictReader(io.StringIO(cli("list", "--format", "csv", "--runs-dir", runs_dir).stdout)))
    by_config = {row["config"]: row for row in rows}
    assert len(rows) == 4 and by_config["untied"]["run_id"] == real_runs["untied"].name
    assert float(by_config["untied"]["value"]) == summary_of(real_runs["untied"])["metrics"]["test_loss"]
    assert by_config["independent"]["steps"] == "42" and by_config["independent"]["total_steps"] == "42"
    assert by_config["independent"]["metric"] == "acc_averaged"
    configs_csv = cli("list", "--configs", "--format", "csv", "--configs-dir", CONFIGS).stdout
    assert [row["name"] for row in csv.DictReader(io.StringIO(configs_csv))][:2] == ["mlp_averaged", "mlp_shared"]


def test_list_shows_broken_and_stale_runs_without_crashing(runs_copy):
    host = socket.gethostname()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # its pid now names no process
    # A run is what scopelab made: config.yaml is its first file, so a run without a summary still has one.
    (runs_copy / "20261127-000001-nosummary").mkdir()
    (runs_copy / "20261127-000001-nosummary" / "config.yaml").write_text("name: nosummary\n")
    (runs_copy / "20261127-000002-halfwritten").mkdir()
    (runs_copy / "20261127-000002-halfwritten" / "summary.json").write_text('{"status": "compl')
    (runs_copy / "20261127-000003-killedwrite").mkdir()
    (runs_copy / "20261127-000003-killedwrite" / "config.yaml").write_text("name: killedwrite\n")
    temporary = ".summary.json.scopelab-4242-0a1b2c3d.tmp"
    (runs_copy / "20261127-000003-killedwrite" / temporary).write_text('{"status": "compl')
    (runs_copy / "20261127-000003-nostatus").mkdir()
    (runs_copy / "20261127-000003-nostatus" / "summary.json").write_text("[1, 2]")
    fake_run(runs_copy, "20261127-000004-stale", status="running", pid=finished.pid, host=host, test_loss=None)
    alive = fake_run(runs_copy, "20261127-000005-alive", status="running", pid=finished.pid, host=host, test_loss=None)
    fake_run(runs_copy, "20261127-000006-absurd", status="running", pid=99999999999, host=host, test_loss=None)
    fake_run(runs_copy, "20261127-000007-failed", status="failed", error="RuntimeError: out of memory")
    with Ownership(alive, "test"):  # liveness is the lock, whatever the recorded pid says
        result = cli("list", "--runs", "--format", "json", "--runs-dir", runs_copy)
    assert result.exit_code == 0, result.output
    runs = {run["run_id"][16:]: run for run in json.loads(result.stdout)["runs"]}
    assert runs["nosummary"]["status"] == "broken" and runs["nosummary"]["reason"] == "no summary.json"
    assert runs["nosummary"]["config"] == "nosummary"
    assert runs["halfwritten"]["status"] == "broken" and "not valid JSON" in runs["halfwritten"]["reason"]
    assert runs["nostatus"]["status"] == "broken" and "not a mapping" in runs["nostatus"]["reason"]
    assert runs["killedwrite"]["status"] == "broken" and "write was interrupted" in runs["killedwrite"]["reason"]
    assert runs["stale"]["status"] == "stale" and str(finished.pid) in runs["stale"]["reason"]
    assert runs["alive"]["status"] == "running"
    assert runs["absurd"]["status"] == "stale"  # once crashed list, compare and --resume (OverflowError)
    assert runs["failed"]["status"] == "failed" and runs["failed"]["reason"] == "RuntimeError: out of memory"
    table = cli("list", "--runs", "--status", "broken", "--runs-dir", runs_copy).stdout
    assert [row[2] for row in table_lines(table, "run")] == ["broken"] * 4
    stale = table_lines(cli("list", "--runs", "--status", "stale", "--runs-dir", runs_copy).stdout, "run")
    assert [row[2] for row in stale] == ["stale"] * 3  # nobody holds the "alive" run's lock any more


def test_list_and_compare_do_not_import_tensorflow(real_runs, tmp_path):
    script = (
        "import sys\n"
        "from scopelab.cli import main\n"
        "for args in (['list', '--runs-dir', sys.argv[1]], ['compare', '--runs-dir', sys.argv[1]],\n"
        "             ['compare', '--runs-dir', sys.argv[1], '--plot', sys.argv[2]]):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, stop.code\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(runs_dir_of(real_runs)), str(tmp_path / "plot.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False"
    assert (tmp_path / "plot.png").stat().st_size > 0


# --- compare: the article's tables -----------------------------------------------------------------------


def test_compare_two_autoencoders_prints_the_article_table(real_runs):
    result = cli("compare", "untied", "tied", "--runs-dir", runs_dir_of(real_runs))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0] == "autoencoder: untied vs tied"
    assert table_lines(out, "key") == [["model.tied", "false", "true"]]  # only what differs
    rows = table_lines(out, "step")
    untied, tied = metrics_of(real_runs["untied"]), metrics_of(real_runs["tied"])
    assert [row[0] for row in rows] == ["0", "10", "20", "30", "test"]
    for row, first, second in zip(rows, untied, tied):
        delta = float(second["loss"]) - float(first["loss"])
        assert row[1:] == [f"{float(first['loss']):.4f}", f"{float(second['loss']):.4f}", f"{delta:+.4f}"]
    test = [summary_of(real_runs[name])["metrics"]["test_loss"] for name in ("untied", "tied")]
    assert rows[-1] == ["test", f"{test[0]:.6f}", f"{test[1]:.6f}", f"{test[1] - test[0]:+.6f}"]
    assert (f"tied - untied on test loss: {test[1] - test[0]:+.6f}; with n=1 each no test of the difference is "
            "possible") in out
    assert "ahead" not in out


def test_compare_by_id_prefix_and_config_name_agree(real_runs):
    runs_dir = runs_dir_of(real_runs)
    untied, tied = real_runs["untied"].name, real_runs["tied"].name
    by_name = cli("compare", "untied", "tied", "--runs-dir", runs_dir).stdout
    by_id = cli("compare", untied, tied, "--runs-dir", runs_dir).stdout
    by_prefix = cli("compare", untied[:-2], tied[:-1], "--runs-dir", runs_dir).stdout
    assert by_name == by_id == by_prefix


def test_compare_without_arguments_sets_each_experiment_side_by_side(real_runs):
    result = cli("compare", "--runs-dir", runs_dir_of(real_runs))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "autoencoder: untied vs tied" in out and "mlp_pair: shared vs independent" in out
    mlp = out[out.index("mlp_pair:") :]
    assert table_lines(mlp, "key") == [["sharing", "shared", "independent"], ["networks.1.scope", "mlp1", "mlp2"]]
    assert "Network 1" in mlp and "Network 2" in mlp
    network_2 = mlp[mlp.index("Network 2") :]
    header = network_2.splitlines()[1].split()
    assert header == [
        "step",
        "shared",
        "loss",
        "shared",
        "accuracy",
        "independent",
        "loss",
        "independent",
        "accuracy",
        "delta",
        "loss",
        "delta",
        "accuracy",
    ]
    shared_rows = [row for row in metrics_of(real_runs["shared"]) if row["network"] == "net2"]
    first = table_lines(network_2, "step")[0]
    assert first[:3] == ["0", f"{float(shared_rows[0]['loss']):.4f}", f"{float(shared_rows[0]['accuracy']):.4f}"]
    tests = {row[0]: row[1:] for row in table_lines(mlp, "metric")}
    shared, independent = (summary_of(real_runs[name])["metrics"] for name in ("shared", "independent"))
    assert list(tests) == ["net 1", "net 2", "averaged"]
    assert tests["net 2"][:2] == [f"{shared['acc_net2']:.4f}", f"{independent['acc_net2']:.4f}"]
    assert tests["averaged"] == ["—", f"{independent['acc_averaged']:.4f}", "—"]


def test_compare_formats_parse_back_to_the_same_numbers(real_runs):
    runs_dir = runs_dir_of(real_runs)
    untied, tied = (metrics_of(real_runs[name]) for name in ("untied", "tied"))
    test = {name: summary_of(real_runs[name])["metrics"]["test_loss"] for name in ("untied", "tied")}
    rows = list(
        csv.DictReader(io.StringIO(cli("compare", "untied", "tied", "--format", "csv", "--runs-dir", runs_dir).stdout))
    )
    step_10 = {row["group"]: row for row in rows if row["step"] == "10" and row["metric"] == "loss"}
    assert float(step_10["untied"]["mean"]) == float(untied[1]["loss"]) and step_10["untied"]["n"] == "1"
    assert float(step_10["tied"]["mean"]) == float(tied[1]["loss"])
    assert math.isclose(float(step_10["tied - untied"]["mean"]), float(tied[1]["loss"]) - float(untied[1]["loss"]))
    final = {row["group"]: row for row in rows if row["metric"] == "test_loss"}
    assert float(final["tied"]["mean"]) == test["tied"] and final["tied"]["kind"] == "test"
    report = json.loads(cli("compare", "untied", "tied", "--format", "json", "--runs-dir", runs_dir).stdout)
    (comparison,) = report["comparisons"]
    assert [group["runs"] for group in comparison["groups"]] == [[real_runs["untied"].name], [real_runs["tied"].name]]
    assert comparison["settings_that_differ"] == {"model.tied": {"untied": "false", "tied": "true"}}
    last = comparison["rows"][-1]
    assert last["metric"] == "test_loss" and last["values"]["untied"]["mean"] == test["untied"]
    assert math.isclose(last["difference"]["delta"], test["tied"] - test["untied"])
    assert last["difference"]["low"] is None  # one run each: no interval
    markdown = cli("compare", "untied", "tied", "--format", "markdown", "--runs-dir", runs_dir).stdout
    assert "| step | untied | tied | delta |" in markdown and "|---|---:|---:|---:|" in markdown
    assert f"| test | {test['untied']:.6f} | {test['tied']:.6f} |" in markdown


def test_compare_plot_writes_a_png(real_runs, tmp_path):
    image = tmp_path / "losses.png"
    result = cli("compare", "--runs-dir", runs_dir_of(real_runs), "--plot", image)
    assert result.exit_code == 0, result.output
    from matplotlib.image import imread

    pixels = imread(image)
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pixels.shape[1] > pixels.shape[0] > 100  # three panels side by side: autoencoder, net1, net2
    assert "wrote" in result.stderr and str(image) in result.stderr


def test_compare_plot_without_matplotlib_says_how_to_install_it(real_runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails as if not installed
    result = cli("compare", "--runs-dir", runs_dir_of(real_runs), "--plot", tmp_path / "x.png")
    assert result.exit_code == 2
    assert "pip install 'scopelab[plot]'" in result.stderr and not (tmp_path / "x.png").exists()


def test_compare_errors_exit_2_with_one_line(real_runs, runs_copy, tmp_path):
    runs_dir = runs_dir_of(real_runs)
    cases = [
        (("nope",), runs_dir, "no run or config 'nope'"),
        (("tide",), runs_dir, "did you mean 'tied'"),
        (("2026",), runs_dir, "run '2026' is ambiguous in"),
        (("2026",), runs_dir, f"4 runs match: {sorted((p.name for p in real_runs.values()), reverse=True)[0]}, "),
        (
            ("tied", "shared"),
            runs_dir,
            "different experiments cannot share a table: tied is autoencoder; shared is mlp_pair",
        ),
        (("../tied",), runs_dir, "is not a run id"),
        ((), tmp_path / "none", "no runs in"),
    ]
    (runs_copy / "20261127-000001-broken").mkdir()
    (runs_copy / "20261127-000001-broken" / "config.yaml").write_text("name: broken\n")
    fake_run(runs_copy, "20261127-000002-failing", config_name="failing", status="failed")
    cases += [
        (("20261127-000001-broken",), runs_copy, "is broken (no summary.json)"),
        (("failing",), runs_copy, "config 'failing' has no completed run"),
    ]
    for references, where, message in cases:
        result = cli("compare", *references, "--runs-dir", where)
        assert result.exit_code == 2, (references, result.output)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    only_failed = tmp_path / "failed_only"
    fake_run(only_failed, "20261127-000002-failing", status="failed")
    assert "no completed runs" in cli("compare", "--runs-dir", only_failed).stderr


# --- compare: statistics over repeats ----------------------------------------------------------------------


def test_statistics_match_a_hand_computation(tmp_path):
    runs_dir = tmp_path / "runs"
    untied = {"losses": [(0.70, 0.30), (0.71, 0.31), (0.72, 0.32)], "test": [0.20, 0.21, 0.22]}
    tied = {"losses": [(0.69, 0.25), (0.70, 0.27), (0.71, 0.29)], "test": [0.15, 0.16, 0.17]}
    for seed in range(3):
        fake_run(
            runs_dir,
            f"20261127-10000{seed}-untied",
            "untied",
            seed=seed,
            test_loss=untied["test"][seed],
            losses=untied["losses"][seed],
        )
        fake_run(
            runs_dir,
            f"20261127-10001{seed}-tied",
            "tied",
            seed=seed,
            test_loss=tied["test"][seed],
            losses=tied["losses"][seed],
            config={"model": {"tied": True}},
        )
    report = json.loads(cli("compare", "--format", "json", "--runs-dir", runs_dir).stdout)
    (comparison,) = report["comparisons"]
    assert [(group["label"], group["n"]) for group in comparison["groups"]] == [("untied", 3), ("tied", 3)]
    rows = {(row["step"], row["metric"]): row for row in comparison["rows"]}
    step_10 = rows[10, "loss"]["values"]["tied"]
    assert math.isclose(step_10["mean"], 0.27) and math.isclose(step_10["std"], 0.02)
    final = rows[None, "test_loss"]
    assert math.isclose(final["values"]["untied"]["mean"], 0.21)
    assert math.isclose(final["values"]["untied"]["std"], 0.01)
    # Welch by hand: equal n (3) and equal variances give df = 2 (n - 1) = 4, t(0.975, 4) = 2.776445 from a table.
    standard_error = math.sqrt(0.01**2 / 3 + 0.01**2 / 3)
    difference = final["difference"]
    assert math.isclose(difference["delta"], -0.05)
    assert math.isclose(difference["df"], 4)
    assert math.isclose(difference["low"], -0.05 - 2.776445 * standard_error, abs_tol=1e-6)
    assert math.isclose(difference["high"], -0.05 + 2.776445 * standard_error, abs_tol=1e-6)
    text = cli("compare", "--runs-dir", runs_dir).stdout
    assert "tied beats untied on test loss by 0.050 (95% CI 0.027 to 0.073, n=3 each)" in text
    assert table_lines(text, "step")[-1] == ["test", "0.210000 ± 0.010000", "0.160000 ± 0.010000", "-0.050000"]
    assert "untied (n=3)" in text


def test_welch_degrees_of_freedom_with_unequal_groups(tmp_path):
    runs_dir = tmp_path / "runs"
    first, second = [1.0, 1.2, 1.1, 1.3, 0.9], [1.5, 2.1]
    for index, value in enumerate(first):
        fake_run(runs_dir, f"20261127-11000{index}-a", "a", seed=index, test_loss=value)
    for index, value in enumerate(second):
        fake_run(
            runs_dir, f"20261127-11100{index}-b", "b", seed=index, test_loss=value, config={"model": {"tied": True}}
        )
    report = json.loads(cli("compare", "a", "b", "--format", "json", "--runs-dir", runs_dir).stdout)
    difference = report["comparisons"][0]["rows"][-1]["difference"]
    first_var = (sum((v - 1.1) ** 2 for v in first) / 4) / 5
    second_var = (sum((v - 1.8) ** 2 for v in second) / 1) / 2
    df = (first_var + second_var) ** 2 / (first_var**2 / 4 + second_var**2 / 1)
    assert math.isclose(difference["df"], df)
    half = t_quantile(0.975, df) * math.sqrt(first_var + second_var)
    assert math.isclose(difference["high"] - difference["low"], 2 * half)
    assert difference["low"] < 0 < difference["high"]  # two runs of b: too few to call it
    text = cli("compare", "a", "b", "--runs-dir", runs_dir).stdout
    assert "no clear difference between a and b on test loss: a ahead by" in text and "n=5 and 2)" in text


@pytest.mark.parametrize(
    ("df", "table"), [(1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423), (1000, 1.9623)]
)
def test_t_quantile_matches_the_table(df, table):
    assert round(t_quantile(0.975, df), 4) == table


def test_repeats_pool_by_config_and_seed_and_sweeps_by_grid_point(tmp_path):
    runs_dir = tmp_path / "runs"
    # An old run with other settings, then two seeds, then a re-run of seed 1: n counts seeds 0 and 1 once.
    fake_run(runs_dir, "20261127-090000-cfg", seed=0, test_loss=0.9, config={"train": {"steps": 5}})
    fake_run(runs_dir, "20261127-100000-cfg", seed=0, test_loss=0.5)
    fake_run(runs_dir, "20261127-100001-cfg", seed=1, test_loss=0.7)
    fake_run(runs_dir, "20261127-100002-cfg", seed=1, test_loss=0.6)
    for index, (rate, seed) in enumerate([(0.1, 0), (0.1, 1), (0.3, 0), (0.3, 1)]):
        fake_run(
            runs_dir,
            f"20261127-12000{index}-grid",
            "grid",
            seed=seed,
            test_loss=rate + seed / 10,
            config={"train": {"seed": seed, "learning_rate": rate}},
            sweep="20261127-120000-grid",
            grid_point={"train.learning_rate": rate},
        )
    fake_run(runs_dir, "20261127-110000-grid", "grid", test_loss=0.0)  # not in the sweep: left out
    report = json.loads(cli("compare", "cfg", "--format", "json", "--runs-dir", runs_dir).stdout)
    (comparison,) = report["comparisons"]
    assert [group["runs"] for group in comparison["groups"]] == [["20261127-100000-cfg"], ["20261127-100002-cfg"]]
    sweep = json.loads(cli("compare", "grid", "--format", "json", "--runs-dir", runs_dir).stdout)["comparisons"][0]
    assert [(group["label"], group["n"]) for group in sweep["groups"]] == [
        ("grid[train.learning_rate=0.1]", 2),
        ("grid[train.learning_rate=0.3]", 2),
    ]
    final = sweep["rows"][-1]
    assert math.isclose(final["values"]["grid[train.learning_rate=0.3]"]["mean"], 0.35)
    assert math.isclose(final["difference"]["delta"], 0.2)
    everything = json.loads(cli("compare", "--format", "json", "--runs-dir", runs_dir).stdout)["comparisons"][0]
    assert [group["label"] for group in everything["groups"]] == [
        "cfg",
        "grid[train.learning_rate=0.1]",
        "grid[train.learning_rate=0.3]",
    ]
    assert [group["n"] for group in everything["groups"]] == [2, 2, 2]


def test_only_completed_runs_are_pooled(tmp_path):
    runs_dir = tmp_path / "runs"
    member = {
        "config": {"train": {"learning_rate": 0.1}},
        "sweep": "20261127-120000-grid",
        "grid_point": {"train.learning_rate": 0.1},
    }
    # A sweep member that diverged, then its re-run: same sweep, grid point and seed, in a new run directory.
    diverged = "20261127-120000-grid"
    fake_run(runs_dir, diverged, "grid", "diverged", test_loss=None, losses=(0.7, 90.0), **member)
    pooled = ["20261127-120100-grid", "20261127-120101-grid"]
    for seed, run_id in enumerate(pooled):
        fake_run(runs_dir, run_id, "grid", seed=seed, test_loss=0.1 + seed / 10, losses=(0.7, 0.3), **member)
    result = cli("compare", diverged, "grid", "--format", "json", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    (comparison,) = json.loads(result.stdout)["comparisons"]
    # Both groups would be labelled grid[train.learning_rate=0.1], so each is named by its latest run's short id.
    assert [(group["label"], group["runs"]) for group in comparison["groups"]] == [
        ("20261127-120000", [diverged]),
        ("20261127-120101", pooled),
    ]
    step_10 = next(row for row in comparison["rows"] if row["step"] == 10)
    assert step_10["values"] == {
        "20261127-120000": {"n": 1, "mean": 90.0, "std": None},
        "20261127-120101": {"n": 2, "mean": 0.3, "std": 0.0},
    }


def test_each_keeps_runs_apart_and_versions_that_differ_are_shown(tmp_path):
    runs_dir = tmp_path / "runs"
    fake_run(runs_dir, "20261127-100000-cfg", seed=0, test_loss=0.5)
    fake_run(
        runs_dir,
        "20261127-100001-cfg",
        seed=1,
        test_loss=0.6,
        versions={"python": "3.12", "tensorflow": "2.21", "scopelab": "0.1.0"},
    )
    fake_run(runs_dir, "20261127-100002-other", "other", seed=0, test_loss=0.4)
    pooled = json.loads(cli("compare", "cfg", "other", "--format", "json", "--runs-dir", runs_dir).stdout)
    assert [group["n"] for group in pooled["comparisons"][0]["groups"]] == [2, 1]
    each = cli("compare", "cfg", "other", "--each", "--runs-dir", runs_dir).stdout
    settings = {row[0]: row[1:] for row in table_lines(each, "key")}
    assert settings["train.seed"] == ["0", "1", "0"]
    assert settings["versions.tensorflow"] == ["2.20", "2.21", "2.20"]
    assert "versions.python" not in settings
    assert table_lines(each, "metric") == [["test", "0.500000", "0.600000", "0.400000"]]  # no steps logged
    assert each.splitlines()[0] == "autoencoder: 20261127-100000 vs 20261127-100001 vs 20261127-100002"


def test_the_same_seeds_on_both_sides_are_not_a_setting_that_differs(tmp_path):
    runs_dir = tmp_path / "runs"
    for seed in range(2):
        fake_run(runs_dir, f"20261127-10000{seed}-a", "a", seed=seed, test_loss=0.5 + seed / 100,
                 config={"train": {"learning_rate": 0.1}})
        fake_run(runs_dir, f"20261127-10001{seed}-b", "b", seed=seed, test_loss=0.4 + seed / 100,
                 config={"train": {"learning_rate": 0.2}})
    text = cli("compare", "a", "b", "--runs-dir", runs_dir).stdout
    assert table_lines(text, "key") == [["train.learning_rate", "0.1", "0.2"]]


# Accuracies (net 1, net 2, averaged) per run, chosen to land on each branch of the ensemble verdict.
# By hand, for three runs: the gains over the better network have sd 0.001 (0.0017321 for the first case)
# and t(0.975, 2) = 4.302653, so the half-width is 4.302653 * sd / sqrt(3): 0.0024841 (0.0043027).
ENSEMBLE_CASES = {
    "no clear gain": (
        [(0.970, 0.975, 0.980), (0.972, 0.968, 0.977), (0.969, 0.974, 0.976)],  # gains 0.005, 0.005, 0.002
        "avg: the averaged prediction: no clear gain over the better single network, +0.0040 "
        "(95% CI -0.0003 to 0.0083, paired over n=3 runs)",
    ),
    "beats": (
        [(0.970, 0.975, 0.980), (0.972, 0.968, 0.978), (0.969, 0.974, 0.978)],  # gains 0.005, 0.006, 0.004
        "avg: the averaged prediction beats the better single network by 0.0050 "
        "(95% CI 0.0025 to 0.0075, paired over n=3 runs)",
    ),
    "trails": (
        [(0.970, 0.975, 0.970), (0.972, 0.968, 0.966), (0.969, 0.974, 0.970)],  # gains -0.005, -0.006, -0.004
        "avg: the averaged prediction trails the better single network by 0.0050 "
        "(95% CI -0.0075 to -0.0025, paired over n=3 runs)",
    ),
    "one run ahead": (
        [(0.970, 0.975, 0.978)],
        "avg: the averaged prediction is ahead of the better single network by 0.0030 (n=1: no confidence interval)",
    ),
    "one run behind": (
        [(0.970, 0.975, 0.972)],
        "avg: the averaged prediction is behind the better single network by 0.0030 (n=1: no confidence interval)",
    ),
    "no averaged prediction": ([(0.970, 0.975, None), (0.972, 0.968, None)], None),
}


@pytest.mark.parametrize("case", ENSEMBLE_CASES)
def test_averaging_gain_is_paired_within_each_run(tmp_path, case):
    accuracies, expected = ENSEMBLE_CASES[case]
    runs_dir = tmp_path / "runs"
    for seed, (net1, net2, averaged) in enumerate(accuracies):
        metrics = {"acc_net1": net1, "acc_net2": net2}
        if averaged is not None:
            metrics["acc_averaged"] = averaged
        fake_run(
            runs_dir, f"20261127-10000{seed}-avg", "avg", seed=seed, test_loss=None, experiment="mlp_pair",
            metrics=metrics,
        )
    fake_run(
        runs_dir,
        "20261127-100009-one",
        "one",
        test_loss=None,
        experiment="mlp_pair",
        metrics={"acc_net1": 0.97, "acc_net2": 0.971},
    )  # a second group, so the avg runs pool
    result = cli("compare", "one", "avg", "--runs-dir", runs_dir, "--format", "json")
    assert result.exit_code == 0, result.output
    verdicts = json.loads(result.stdout)["comparisons"][0]["verdicts"]
    assert [line for line in verdicts if "averaged prediction" in line] == ([expected] if expected else [])


def test_compare_plot_to_a_directory_that_does_not_exist_is_one_line(real_runs, tmp_path):
    image = tmp_path / "missing" / "losses.png"
    result = cli("compare", "--runs-dir", runs_dir_of(real_runs), "--plot", image)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"{image}: cannot write the plot (" in result.stderr and not image.parent.exists()


def test_compare_plot_of_repeats_draws_bands_and_refuses_runs_without_losses(tmp_path):
    runs_dir = tmp_path / "runs"
    repeats = [("a", (0.9, 0.5)), ("a", (0.8, 0.4)), ("b", (0.7, 0.3)), ("b", (0.6, 0.2))]
    for index, (name, losses) in enumerate(repeats):
        fake_run(runs_dir, f"20261127-00000{index}-{name}", config_name=name, seed=index, losses=losses)
    image = tmp_path / "bands.png"
    result = cli("compare", "a", "b", "--runs-dir", runs_dir, "--plot", image)
    assert result.exit_code == 0, result.stderr
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bare = tmp_path / "bare"
    for index, name in enumerate("ab"):
        fake_run(bare, f"20261127-00000{index}-{name}", config_name=name, seed=index)
    result = cli("compare", "a", "b", "--runs-dir", bare, "--plot", tmp_path / "none.png")
    assert result.exit_code == 2 and "the compared runs logged no losses to draw" in result.stderr
    assert not (tmp_path / "none.png").exists()
