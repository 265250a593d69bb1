"""`scopelab reproduce`: the article's figures file against the article's tables, the tables and verdicts over runs it
finds already made (written here with known numbers), its bad input, and a real (tiny) reproduction."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
import yaml

from scopelab import reproduce
from scopelab.config import dump_config, load_config
from scopelab.config_source import builtin_path
from scopelab.data import data_checksum
from scopelab.report.article import FIGURES_FILE
from scopelab.runs import RunDir, RunRecord

from conftest import cli

# The article's tables, extracted into the repository so that the figures are checked in every clone.
ARTICLE_TABLES = Path(__file__).parent / "fixtures" / "article_tables.md"
# The restatement they were copied from: the team's shared/ folder beside the clone (SCOPELAB_ARTICLE elsewhere).
ARTICLE = Path(os.environ.get("SCOPELAB_ARTICLE", Path(__file__).resolve().parents[2] / "shared" / "ARTICLE.md"))


def _article_tables(source: Path = ARTICLE_TABLES) -> list[list[list[str]]]:
    """Every markdown table of a page as rows of cells (header and rule dropped)."""
    tables, current = [], []
    for line in source.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current[2:])
            current = []
    return tables


def test_figures_file_holds_the_articles_tables():
    figures = yaml.safe_load(FIGURES_FILE.read_text())
    assert figures["source"] and figures["checked_against"]
    autoencoder = next(table for table in _article_tables() if table[0][0] == "0" and len(table[0]) == 3)
    for step, untied, tied in autoencoder:
        if step == "test":
            assert figures["autoencoder"]["untied_ae"]["test_loss"] == float(untied)
            assert figures["autoencoder"]["tied_ae"]["test_loss"] == float(tied)
        else:
            assert figures["autoencoder"]["untied_ae"]["loss"][int(step)] == float(untied)
            assert figures["autoencoder"]["tied_ae"]["loss"][int(step)] == float(tied)
    mlp = next(table for table in _article_tables() if table[0][0].startswith("net 1 step 0"))
    checked = 0
    for label, *cells in mlp:
        for config, cell in zip(("mlp_shared", "mlp_averaged"), cells):
            numbers = [float(number) for number in re.findall(r"\d+\.\d+", cell)]
            step = re.match(r"net (\d) step (\d+) loss, acc", label)
            test = re.match(r"test accuracy(?: net (\d)|, averaged)", label)
            if step:
                row = figures["mlp_pair"][config]["steps"][f"net{step[1]}"][int(step[2])]
                assert [row["loss"], row["accuracy"]] == numbers
            else:
                metric = f"acc_net{test[1]}" if test[1] else "acc_averaged"
                assert figures["mlp_pair"][config]["test"].get(metric) == (numbers[0] if numbers else None)
            checked += 1
    assert checked == 14  # 7 rows of the article's MLP table, 2 cases each


@pytest.mark.skipif(not ARTICLE.is_file(), reason=f"{ARTICLE} is not on this machine (set SCOPELAB_ARTICLE)")
def test_the_extract_holds_the_tables_of_the_article_cell_for_cell():
    tables = _article_tables(ARTICLE)
    assert _article_tables() == [tables[1], tables[2]]  # the article's first table is the naming one


# --- runs written with known numbers -----------------------------------------------------------------------

FIGURES = yaml.safe_load(FIGURES_FILE.read_text())


def write_run(runs_dir: Path, name: str, seed: int, shift: float = 0.0, quick: bool = True,
              status: str = "completed", hour: str = "10") -> RunDir:
    """A completed run of an article config at a seed, with the article's own figures plus `shift`, at the
    steps a --quick run logs. Written as the runner writes it: the resolved config, metrics.csv, summary (with
    the bundled MNIST's checksum)."""
    path = builtin_path(name)
    overrides = reproduce.quick_overrides(load_config(path)) if quick else ()
    config = load_config(path, (*overrides, f"train.seed={seed}"))
    divisor = reproduce.QUICK_DIVISOR if quick else 1
    run = RunDir(runs_dir / f"20261127-{hour}00{seed:02d}-{name}")
    run.path.mkdir(parents=True)
    run.write_text("config.yaml", dump_config(config))
    rows = []
    if name in FIGURES["autoencoder"]:
        figures = FIGURES["autoencoder"][name]
        for step, loss in figures["loss"].items():
            rows.append({"network": "autoencoder", "step": step // divisor, "loss": loss + shift, "accuracy": None})
        metrics = {"test_loss": figures["test_loss"] + shift}
    else:
        figures = FIGURES["mlp_pair"][name]
        for network, steps in figures["steps"].items():
            for step, row in steps.items():
                rows.append({"network": network, "step": step // divisor, "loss": row["loss"] + shift,
                             "accuracy": row["accuracy"]})
        metrics = {key: value + shift for key, value in figures["test"].items()}
    run.write_metrics(rows)
    run.write_record(RunRecord(run.run_id, name, config.experiment, status, metrics=metrics, wall_seconds=1.0,
                               data_checksum=data_checksum()))
    return run


def write_all(runs_dir: Path, seeds: int = 1, shifts: tuple[float, ...] = (0.0,)) -> None:
    for name in reproduce.ARTICLE_CONFIGS:
        for seed in range(seeds):
            write_run(runs_dir, name, seed, shifts[seed])


def test_reproduce_sets_found_runs_beside_the_article(runs_dir):
    write_all(runs_dir)
    before = sorted(path.name for path in runs_dir.iterdir())
    result = cli("reproduce", "--quick", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.stderr
    assert "4 of 4 runs found done" in result.stderr
    assert sorted(path.name for path in runs_dir.iterdir()) == before  # nothing trained, nothing written
    lines = result.stdout.splitlines()
    assert "steps cut to 1/20" in lines[0]
    assert re.search(r"^1000 \(ran 50\)\s+0\.2710\s+0\.2710\s+0\.2330\s+0\.2330$", result.stdout, re.M)
    assert re.search(r"^test\s+0\.183986\s+0\.183986\s+0\.147831\s+0\.147831$", result.stdout, re.M)
    assert re.search(r"^net 2 step 0 \(ran 0\) loss\s+14\.552\s+14\.552\s+192\.382\s+192\.382$", result.stdout, re.M)
    verdicts = [line.strip() for line in lines[lines.index("verdicts") + 1 :]]
    assert [line.split(":")[0] for line in verdicts] == [
        "tied weights end below untied (test loss)",
        "shared network 2 starts from network 1's low loss",
        "averaging beats the better single network (test accuracy)",
    ]
    assert all(": reproduced;" in line and line.endswith("not the article's setting)") for line in verdicts)
    assert "gain +0.0054 (article: +0.0054); one run, so no test of the gain" in verdicts[2]


def test_reproduce_with_seeds_gives_mean_std_and_the_95_interval(runs_dir):
    write_all(runs_dir, seeds=3, shifts=(-0.01, 0.0, 0.01))
    result = cli("reproduce", "--quick", "--seeds", "3", "--runs-dir", runs_dir, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["quick"] and report["seeds"] == [0, 1, 2] and len(report["reused"]) == 12
    test = report["tables"]["autoencoder"][-1][1]  # tied_ae's test loss
    assert test["n"] == 3 and math.isclose(test["mean"], 0.147831) and math.isclose(test["std"], 0.01)
    assert test["inside_95"] is True  # the article's figure is the mean itself
    # The averaged gain is the same in each run (shifts cancel): exact, so its interval has no width.
    holds = [verdict["holds"] for verdict in report["verdicts"]]
    assert holds == [True, True, True]


def test_article_figure_outside_the_interval_says_no():
    # Measured 0.20 ± 0.001 over 3 runs; the article's 0.147831 is far outside mean ± t(0.975, 2)·sd·sqrt(4/3).
    from scopelab.report.article import Cell
    from scopelab.report.stats import describe

    far = Cell("test", "tied_ae", 0.147831, describe([0.199, 0.2, 0.201]), 6)
    near = Cell("test", "tied_ae", 0.2035, describe([0.199, 0.2, 0.201]), 6)  # half-width 4.303·0.001·1.155 = 0.00497
    assert (far.inside(), near.inside(), far.measured()) == (False, True, "0.200000 ± 0.001000")
    assert Cell("test", "tied_ae", 0.2, describe([0.2]), 6).inside() is None  # one run: no interval


def test_verdict_not_reproduced_when_the_numbers_say_so(runs_dir):
    write_all(runs_dir)
    tied = next(runs_dir.glob("*-tied_ae"))
    summary = json.loads((tied / "summary.json").read_text())
    summary["metrics"]["test_loss"] = 0.5  # tied now ends above untied
    (tied / "summary.json").write_text(json.dumps(summary))
    result = cli("reproduce", "--quick", "--runs-dir", runs_dir, "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert "- tied weights end below untied (test loss): NOT reproduced; tied 0.500000" in result.stdout
    assert "| step | untied_ae article |" in result.stdout


def test_only_a_run_of_the_identical_resolved_config_is_reused(runs_dir):
    write_all(runs_dir)
    other = next(runs_dir.glob("*-untied_ae"))
    text = (other / "config.yaml").read_text()
    (other / "config.yaml").write_text(text.replace("learning_rate: 0.1", "learning_rate: 0.2"))
    quick = reproduce.plan(reproduce.ReproduceRequest(runs_dir, quick=True))
    assert [target.name for target in quick if not target.reused] == ["untied_ae"]
    full = reproduce.plan(reproduce.ReproduceRequest(runs_dir))  # the written runs are --quick ones
    assert not any(target.reused for target in full)
    rerun = reproduce.plan(reproduce.ReproduceRequest(runs_dir, quick=True, rerun=True))
    assert not any(target.reused for target in rerun)


def test_a_broken_run_of_an_article_config_is_an_error(runs_dir):
    write_all(runs_dir)
    broken = runs_dir / "20261127-110000-mlp_shared"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    before = sorted(path.name for path in runs_dir.iterdir())
    result = cli("reproduce", "--quick", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "run 20261127-110000-mlp_shared" in result.stderr
    assert "--rerun" in result.stderr
    assert sorted(path.name for path in runs_dir.iterdir()) == before


def quick_steps(name: str, divisor: int) -> dict[str, int]:
    """Each network's full-size steps // divisor, worked out here from the full config, not from reproduce's
    own quick plan, so that a plan cutting only some networks is caught."""
    full = load_config(builtin_path(name))
    if full.experiment == "autoencoder":
        return {"autoencoder": full.train.steps // divisor}
    return {f"net{index}": network.steps // divisor for index, network in enumerate(full.networks, 1)}


def test_quick_cuts_every_network_of_every_config():
    for target in reproduce.plan(reproduce.ReproduceRequest(Path("no-runs"), quick=True, rerun=True)):
        config = target.config
        planned = [config.train.steps] if config.experiment == "autoencoder" else [n.steps for n in config.networks]
        wanted = list(quick_steps(target.name, reproduce.QUICK_DIVISOR).values())
        assert planned == wanted, f"--quick plans {planned} steps for {target.name}, not 1/20 of each network's"


def assert_trained_the_quick_plan(runs_dir: Path, runs: dict[str, list[str]], divisor: int) -> None:
    """Every network of every run trained (and logged up to) its full-size steps // divisor."""
    for name, run_ids in runs.items():
        wanted = quick_steps(name, divisor)
        for run_id in run_ids:
            run = RunDir(runs_dir / run_id)
            last = {row["network"]: row["step"] for row in run.read_metrics()}
            assert last == wanted, f"--quick: {name} run {run_id} trained {last} steps, not 1/{divisor} of each network"
            assert run.read_record().steps_total == wanted, f"--quick: {name} run {run_id} planned other steps"


def test_reproduce_trains_in_one_process_and_then_reuses(runs_dir, monkeypatch):
    """For real on the bundled MNIST, at 1/1000 of the steps (10 and 5): trains the four, then finds them."""
    monkeypatch.setattr(reproduce, "QUICK_DIVISOR", 1000)
    first = cli("reproduce", "--quick", "--jobs", "1", "--runs-dir", runs_dir, "--quiet", "--format", "json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["reused"] == [] and sorted(report["runs"]) == sorted(reproduce.ARTICLE_CONFIGS)
    summaries = [json.loads((runs_dir / ids[0] / "summary.json").read_text()) for ids in report["runs"].values()]
    assert {summary["status"] for summary in summaries} == {"completed"}
    assert {summary["pid"] for summary in summaries} == {os.getpid()}  # all in this one process
    assert {summary["config_file"] for summary in summaries} == {f"builtin:{n}" for n in reproduce.ARTICLE_CONFIGS}
    assert_trained_the_quick_plan(runs_dir, report["runs"], 1000)
    second = cli("reproduce", "--quick", "--runs-dir", runs_dir, "--quiet", "--format", "json")
    assert json.loads(second.stdout)["runs"] == report["runs"] and "4 of 4 runs found done" in second.stderr
    again = cli("reproduce", "--quick", "--rerun", "--runs-dir", runs_dir, "--quiet", "--format", "json")
    assert set(json.loads(again.stdout)["reused"]) == set() and len([p for p in runs_dir.iterdir() if p.is_dir()]) == 8


@pytest.mark.parametrize("status", ["interrupted", "diverged", "running", "failed"])
def test_only_a_completed_run_is_reused(runs_dir, status):
    """A run of the identical config that did not complete holds no result: reproduce trains that one again,
    and it still reuses an older completed run of the same config when there is one."""
    for name in ("untied_ae", "tied_ae", "mlp_averaged"):
        write_run(runs_dir, name, 0)
    newer = write_run(runs_dir, "tied_ae", 0, status=status, hour="12")
    write_run(runs_dir, "mlp_shared", 0, status=status)
    found = {target.name: target.run for target in reproduce.plan(reproduce.ReproduceRequest(runs_dir, quick=True))}
    assert found["mlp_shared"] is None, f"reproduce reused a {status} run of mlp_shared as if it were completed"
    assert found["tied_ae"] is not None and found["tied_ae"].run_id != newer.run_id, (
        f"reproduce took the newer {status} tied_ae run, not the completed one beside it"
    )
    assert found["untied_ae"] is not None and found["mlp_averaged"] is not None


def test_reproduce_with_two_jobs_runs_each_seed_as_its_own_run(runs_dir, monkeypatch):
    """The pool path: mlp_averaged's two seeds in one pool of two worker processes (the other three
    configs are found done). Every seed must get a run of its own: a seed mapped to another seed's run would
    report n=2 with a zero-width interval."""
    monkeypatch.setattr(reproduce, "QUICK_DIVISOR", 1000)  # the overrides reach the members as --set options
    for name in ("untied_ae", "tied_ae", "mlp_shared"):
        for seed in (0, 1):
            write_run(runs_dir, name, seed, shift=0.01 * seed)
    result = cli("reproduce", "--quick", "--jobs", "2", "--seeds", "2", "--runs-dir", runs_dir, "--quiet",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["reused"]) == 6
    assert len(set(report["runs"]["mlp_averaged"])) == 2, "mlp_averaged's two seeds were mapped to one run"
    summaries = [json.loads((runs_dir / run_id / "summary.json").read_text())
                 for run_id in report["runs"]["mlp_averaged"]]
    assert [summary["seed"] for summary in summaries] == [0, 1], "the pool's runs are not seeds 0 and 1, in order"
    assert {summary["status"] for summary in summaries} == {"completed"}
    assert len({summaries[0]["pid"], summaries[1]["pid"], os.getpid()}) == 3  # two workers, neither this process
    assert_trained_the_quick_plan(runs_dir, {"mlp_averaged": report["runs"]["mlp_averaged"]}, 1000)
    test_cells = [cell for row in report["tables"]["mlp_pair"][-3:] for cell in row if cell["config"] == "mlp_averaged"]
    assert len(test_cells) == 3
    for cell in test_cells:
        assert cell["n"] == 2 and cell["std"] > 0, f"mlp_averaged {cell['label']}: its two seeds gave one value"


def test_a_completed_run_whose_config_cannot_be_read_back_is_an_error(runs_dir):
    write_all(runs_dir)
    write_run(runs_dir, "tied_ae", 0, hour="11")
    (runs_dir / "20261127-110000-tied_ae" / "config.yaml").write_text("model: [unclosed\n")
    other = RunDir(runs_dir / "20261127-120000-smoke")  # not an article config: never looked at
    other.path.mkdir()
    (other.path / "summary.json").write_text("{not json")
    result = cli("reproduce", "--quick", "--runs-dir", runs_dir)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: run 20261127-110000-tied_ae: its config.yaml cannot be read back (")
    assert result.stderr.rstrip().endswith("remove it, or pass --rerun.")
