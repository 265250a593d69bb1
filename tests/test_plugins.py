"""Experiment families as plugins (docs/PLUGINS.md): the example family examples/siamese through every
command, scopelab's own families through the same entry-point contract, and a broken plugin for each fault
the loader names in one line.

The Siamese tests need `pip install -e examples/siamese` (.ci/run does it); without it they skip and say so.
The broken plugins are written at test time as a directory holding their modules and a *.dist-info (METADATA
and entry_points.txt), put on sys.path: installed as far as importlib.metadata can tell, without pip.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from scopelab import experiments, plugins
from scopelab.config_source import builtin_path

from conftest import cli, interrupt_after, only_run, summary_of, tiny_autoencoder, write_config
from conftest import start_scopelab as scopelab

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def siamese_installed() -> bool:
    from importlib.metadata import entry_points

    return any(point.name == "siamese" for point in entry_points(group=plugins.GROUP))


needs_siamese = pytest.mark.skipif(
    not siamese_installed(), reason="the example plugin is not installed: pip install -e examples/siamese"
)


@pytest.fixture
def fresh_registry(monkeypatch):
    """The registry as a new process has it: nothing loaded, nothing scanned."""
    monkeypatch.setattr(plugins, "_loaded", {})
    monkeypatch.setattr(plugins, "_scanned", None)
    monkeypatch.setattr(experiments, "_warned", set())


def tiny_siamese(tmp_path: Path, mnist_dir: Path, sharing: str, **train) -> Path:
    """A config over the plugin's own config (`base:` finds it like a built-in), cut to a few dozen steps."""
    config = {
        "base": f"siamese_{sharing}",
        "model": {"hidden_size": 16, "embedding_size": 8},
        "train": {"steps": 30, "batch_size": 32, "log_every": 10, "checkpoint_every": 10, **train},
        "data": {"path": str(mnist_dir)},
    }
    (tmp_path / "configs").mkdir(exist_ok=True)
    return write_config(tmp_path / "configs" / f"tiny_{sharing}.yaml", config)


# scopelab's own families ----------------------------------------------------------------------------------------


def test_the_builtin_fast_path_is_scopelabs_declared_entry_points():
    """BUILTIN (read without scanning packages) is exactly what pyproject.toml declares."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][plugins.GROUP]
    assert declared == plugins.BUILTIN
    for name in declared:
        family = plugins.load(plugins.EntryPoint(name, declared[name], plugins.OWN_PACKAGE))
        assert family.name == name and family.build_tf2 is not None and family.validate is not None
        assert family.schema().experiment == name


def test_builtin_families_are_resolved_and_reported_without_scanning_or_tensorflow(tmp_path, mnist_dir):
    """A new process: run a built-in config's dry run, then list and show; no entry point scan, and list and
    show do not import TensorFlow."""
    path = write_config(tmp_path / "ae.yaml", tiny_autoencoder(mnist_dir, train={"steps": 3, "log_every": 1}))
    assert cli("run", path, "--runs-dir", tmp_path / "runs", "--quiet").exit_code == 0
    probe = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from scopelab import experiments, plugins
        from scopelab.cli import main
        for args in (["list", "--runs-dir", "{tmp_path / 'runs'}"], ["show", "ae", "--runs-dir", "{tmp_path / 'runs'}"],
                     ["compare", "ae", "--runs-dir", "{tmp_path / 'runs'}"]):
            result = CliRunner().invoke(main, args, catch_exceptions=False)
            assert result.exit_code == 0, result.output
        print(plugins._scanned is None, "tensorflow" in sys.modules, sorted(plugins._loaded))
    """)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(maxsplit=2) == ["True", "False", "['autoencoder', 'mlp_pair']\n"]


def test_an_unknown_experiment_lists_every_installed_family(tmp_path, fresh_registry):
    path = write_config(tmp_path / "x.yaml", {"experiment": "autoencodr"})
    result = cli("run", path, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: key 'experiment' is 'autoencodr'; expected one of 'autoencoder', "
                                    "'mlp_pair'") and "(did you mean 'autoencoder'?)" in result.stderr
    assert plugins._scanned is not None  # only now, for the message


# The example plugin through every command ---------------------------------------------------------------------


@needs_siamese
def test_siamese_runs_lists_shows_and_compares_over_two_seeds(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    for sharing in ("shared", "independent"):
        result = cli("run", tiny_siamese(tmp_path, mnist_dir, sharing), "--seeds", "0,1", "--runs-dir", runs, "--quiet")
        assert result.exit_code == 0, result.output
    made = [path for path in sorted(runs.iterdir()) if path.is_dir() and path.name != "sweeps"]
    assert all("pair accuracy (test) = " in (path / "log.txt").read_text() for path in made)  # as declared
    summaries = [summary_of(path) for path in made]
    assert sorted((s["config_name"], s["seed"], s["status"]) for s in summaries) == [
        (f"tiny_{sharing}", seed, "completed") for sharing in ("independent", "shared") for seed in (0, 1)
    ]
    assert all(set(s["metrics"]) == {"pair_accuracy", "test_loss"} for s in summaries)
    shared = next(s for s in summaries if s["config_name"] == "tiny_shared")
    assert shared["experiment"] == "siamese"

    listing = cli("list", "--runs", "--runs-dir", runs).stdout
    assert len(re.findall(r"pair acc [01]\.\d{4} ", listing)) == 4  # the declared headline, label and places
    best = cli("list", "--runs", "--sort", "pair_accuracy", "--format", "json", "--runs-dir", runs).stdout
    values = [row["metrics"]["pair_accuracy"] for row in json.loads(best)["runs"]]
    assert values == sorted(values, reverse=True)  # higher is better, as declared

    shown = cli("show", "tiny_shared", "--runs-dir", runs).stdout
    assert "test pair acc" in shown and "tower/W_hid" in shown and "left/tower, right/tower" in shown

    compared = cli("compare", "tiny_independent", "tiny_shared", "--runs-dir", runs)
    assert compared.exit_code == 0, compared.output
    assert "test pair accuracy" in compared.stdout and "n=2" in compared.stdout
    as_json = cli("compare", "tiny_independent", "tiny_shared", "--format", "json", "--runs-dir", runs).stdout
    report = json.loads(as_json)
    (comparison,) = report["comparisons"]
    assert comparison["experiment"] == "siamese" and len(comparison["verdicts"]) == 2
    accuracy, loss = comparison["verdicts"]  # each metric in its declared words and direction
    assert "on test pair accuracy" in accuracy and "on test pair loss" in loss
    mean = {name: sum(s["metrics"]["pair_accuracy"] for s in summaries if s["config_name"] == name) / 2
            for name in ("tiny_independent", "tiny_shared")}
    if "beats" in accuracy:  # the higher pair accuracy wins
        assert accuracy.startswith(f"{max(mean, key=mean.get)} beats")

    from scopelab.hparams import declared_metrics
    from scopelab.runs import RunDir

    family = plugins.family("siamese")
    assert declared_metrics(RunDir(runs / shared["run_id"])) == family.metrics  # board's HParams columns


@needs_siamese
def test_siamese_inspect_shows_each_shared_tower_weight_read_by_both_towers(tmp_path, mnist_dir):
    shared = cli("inspect", tiny_siamese(tmp_path, mnist_dir, "shared"), "--format", "json")
    assert shared.exit_code == 0, shared.output
    variables = {row["name"]: row for row in json.loads(shared.stdout)["variables"]}
    assert set(variables) == {"tower/W_hid", "tower/b_hid", "tower/W_emb", "tower/b_emb", "head/threshold"}
    for name in ("tower/W_hid", "tower/b_hid", "tower/W_emb", "tower/b_emb"):
        assert variables[name]["used_by"] == ["left/tower", "right/tower"] and variables[name]["shared"]

    independent = cli("inspect", tiny_siamese(tmp_path, mnist_dir, "independent"), "--format", "json")
    variables = {row["name"]: row for row in json.loads(independent.stdout)["variables"]}
    assert variables["tower_left/W_hid"]["used_by"] == ["left/tower_left"]
    assert variables["tower_right/W_hid"]["used_by"] == ["right/tower_right"]
    assert not any(row["shared"] for row in variables.values())

    dry = cli("run", tiny_siamese(tmp_path, mnist_dir, "shared"), "--dry-run", "--runs-dir", tmp_path / "runs")
    assert dry.exit_code == 0 and "tower/" in dry.stdout and "right/tower/" in dry.stdout
    assert not (tmp_path / "runs").exists()


@needs_siamese
@pytest.mark.parametrize("sharing", ["shared", "independent"])
def test_siamese_with_tf2_modules_gives_the_numbers_of_its_tf1_graph(sharing, tmp_path, mnist_dir):
    runs = {}
    for api in ("tf1", "tf2"):
        runs[api] = tmp_path / api
        result = cli("run", tiny_siamese(tmp_path, mnist_dir, sharing), "--set", f"model.api={api}", "--runs-dir",
                     runs[api], "--quiet")
        assert result.exit_code == 0, result.output
    tf1, tf2 = (summary_of(only_run(runs[api])) for api in ("tf1", "tf2"))
    assert tf2["metrics"] == tf1["metrics"]
    assert tf2["variables"] == tf1["variables"]  # names, shapes, and the scopes that read each
    shared = [variable["shared"] for variable in tf2["variables"] if variable["name"].startswith("tower")]
    assert shared == [sharing == "shared"] * (4 if sharing == "shared" else 8)


@needs_siamese
def test_siamese_configs_are_shown_copied_and_listed_like_builtin_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shown = cli("config", "show", "siamese_independent", "--set", "train.steps=7")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("# builtin:siamese_independent, resolved\n")
    assert yaml.safe_load(shown.stdout)["train"]["steps"] == 7
    assert cli("config", "copy", "siamese_shared").exit_code == 0
    assert (tmp_path / "configs" / "siamese_shared.yaml").read_text() == builtin_path("siamese_shared").read_text()
    listing = cli("list", "--configs").stdout
    assert "siamese_independent  siamese      plugin scopelab-siamese " in listing
    assert "siamese_shared       siamese      local" in listing  # the copy comes first


@needs_siamese
def test_siamese_sweeps_with_two_jobs(tmp_path, mnist_dir):
    runs = tmp_path / "runs"
    result = cli("sweep", tiny_siamese(tmp_path, mnist_dir, "shared"), "--grid", "model.embedding_size=4,8",
                 "--jobs", "2", "--runs-dir", runs, "--quiet")
    assert result.exit_code == 0, result.output
    (sweep,) = (runs / "sweeps").iterdir()
    members = json.loads((sweep / "sweep.json").read_text())["members"]
    assert [member["status"] for member in members] == ["completed", "completed"]
    assert {summary_of(runs / member["run_id"])["pid"] for member in members}.isdisjoint({os.getpid()})


# Opt-in: a Ray worker finds the plugin by the same entry-point lookup as the --jobs 2 workers of the test
# above, and the Ray executor itself runs for real in tests/test_ray_cluster.py (this one cost 17 s).
@pytest.mark.full
@needs_siamese
def test_siamese_sweeps_on_ray(tmp_path, mnist_dir):
    """Each member in a Ray worker process, which finds the plugin as any process of this environment does."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'scopelab[ray]')")
    runs = tmp_path / "runs"
    env = {**ENV, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    driver = subprocess.run([sys.executable, "-m", "scopelab", "sweep", tiny_siamese(tmp_path, mnist_dir, "shared"),
                             "--seeds", "2", "--executor", "ray", "--runs-dir", runs, "--quiet"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert driver.returncode == 0, driver.stderr
    (sweep,) = (runs / "sweeps").iterdir()
    members = json.loads((sweep / "sweep.json").read_text())["members"]
    summaries = [summary_of(runs / member["run_id"]) for member in members]
    assert [summary["status"] for summary in summaries] == ["completed", "completed"]
    assert all(set(summary["metrics"]) == {"pair_accuracy", "test_loss"} for summary in summaries)


@needs_siamese
def test_siamese_interrupted_then_resumed_equals_an_uninterrupted_run(tmp_path, mnist_dir):
    path = tiny_siamese(tmp_path, mnist_dir, "shared", steps=200, log_every=20, checkpoint_every=30)
    straight = subprocess.run([sys.executable, "-m", "scopelab", "run", path, "--runs-dir", tmp_path / "straight",
                               "--quiet"], capture_output=True, text=True, env=ENV, timeout=300)
    assert straight.returncode == 0, straight.stderr
    runs = tmp_path / "stopped"
    process = scopelab("run", path, "--runs-dir", runs, "--quiet")
    interrupt_after(process, "step, loss, accuracy = 60:", signal.SIGINT)  # a logged row, past the 1st checkpoint
    assert process.returncode == 130
    run = only_run(runs)
    assert summary_of(run)["status"] == "interrupted"
    resumed = subprocess.run([sys.executable, "-m", "scopelab", "run", "--resume", run.name, "--runs-dir", runs,
                              "--quiet"], capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    expected = only_run(tmp_path / "straight")
    summary = summary_of(run)
    assert summary["metrics"] == summary_of(expected)["metrics"] and summary["resumed"] == 1
    assert 0 < summary["started_from"]["step"] <= 200
    assert (run / "metrics.csv").read_text() == (expected / "metrics.csv").read_text()


# Broken plugins ---------------------------------------------------------------------------------------------------

# A plugin family that works: the autoencoder under another name, through the plugin contract. Each fault
# below is one change to it.
GOOD = """
    from dataclasses import dataclass
    from typing import Literal

    from scopelab.api import Metric
    from scopelab.config import AutoencoderConfig

    SCOPELAB_API = 1


    @dataclass(frozen=True)
    class Schema(AutoencoderConfig):
        experiment: Literal["{name}"] = "{name}"


    SCHEMA = Schema
    METRICS = (Metric("test_loss", False, 4, "loss", "test loss", "test loss", "loss (test)"),)


    def build(config, mnist):
        from scopelab.experiments import autoencoder_family

        experiment = autoencoder_family.build(config, mnist)
        return experiment
"""

# fault -> (what is replaced in GOOD and by what, the cause its one line gives)
FAULTS = {
    "unimportable": (("SCOPELAB_API = 1", "import scopelab_no_such_module"),
                     "the module cannot be imported (ModuleNotFoundError: No module named 'scopelab_no_such_module')."),
    "no_build": (("def build(config, mnist):", "def built(config, mnist):"), "the module has no build(config, mnist)."),
    "twice": (("METRICS = (", 'METRICS = (Metric("test_loss", True, 1, "s", "s", "s", "s"), '),
              "METRICS declares 'test_loss' twice."),
    "not_frozen": (("SCHEMA = Schema", "SCHEMA = dataclass(type('Loose', (), {'__annotations__': {'name': str}}))"),
                   "SCHEMA is Loose, a dataclass that is not frozen; expected a frozen dataclass"),
    "future_api": (("SCOPELAB_API = 1", "SCOPELAB_API = 2"),
                   "the module declares SCOPELAB_API = 2; this scopelab supports API version 1."),
    "leaky": (("    return experiment", '    experiment.phases[0].test["surprise"] = experiment.phases[0].test'
                                          '["test_loss"]\n    return experiment'),
              "phase 'autoencoder' records test metric 'surprise', which METRICS does not declare (it declares "
              "test_loss)."),
}


def plugin_dir(root: Path, package: str, families: dict[str, str]) -> Path:
    """A directory that importlib.metadata reads as the installed distribution `package`, declaring each
    family (entry point name -> module source) in the group scopelab.experiments."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{package.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    lines = [f"{name} = {package.replace('-', '_')}_{name}" for name in families]
    (info / "entry_points.txt").write_text(f"[{plugins.GROUP}]\n" + "\n".join(lines) + "\n")
    for name, source in families.items():
        (root / f"{package.replace('-', '_')}_{name}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return root


def no_run_directory(runs: Path) -> bool:
    """Nothing made in the runs directory (the directory itself may be: it is checked before the build)."""
    return not runs.exists() or not any(runs.iterdir())


def family_source(name: str, change: tuple[str, str] | None = None) -> str:
    source = textwrap.dedent(GOOD).replace("{name}", name)
    if change is None:
        return source
    old, new = change
    assert source.count(old) == 1, old  # the fault is really made, in one place
    return source.replace(old, new)


def test_the_plugin_the_faults_break_runs_when_unbroken(tmp_path, mnist_dir, monkeypatch, fresh_registry):
    """So that each fault below is the one change that breaks it."""
    monkeypatch.syspath_prepend(str(plugin_dir(tmp_path / "site", "good-plugin", {"fine": family_source("fine")})))
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, experiment="fine", train={"steps": 3}))
    result = cli("run", config, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    assert "loss (test) = " in result.stdout and plugins.family("fine").entry.package == "good-plugin"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_plugin_fault_is_one_line_naming_package_and_entry_point(fault, tmp_path, mnist_dir, monkeypatch,
                                                                      fresh_registry):
    source = family_source(fault, FAULTS[fault][0])
    monkeypatch.syspath_prepend(str(plugin_dir(tmp_path / "site", "broken-plugin", {fault: source})))
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, experiment=fault))
    result = cli("run", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    where = f"package 'broken-plugin', entry point '{fault} = broken_plugin_{fault}'"
    assert result.stderr.startswith(f"Error: {where}: {FAULTS[fault][1]}")
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert no_run_directory(tmp_path / "runs")


def test_every_fault_at_once_leaves_the_other_families_working(tmp_path, mnist_dir, fresh_registry):
    """All the broken plugins installed together, in a new process: a built-in family still runs, and
    `list --configs` names each broken plugin in a row of its own."""
    sources = {fault: family_source(fault, change) for fault, (change, _) in FAULTS.items()}
    site = plugin_dir(tmp_path / "site", "broken-plugin", sources)
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    path = write_config(tmp_path / "ae.yaml", tiny_autoencoder(mnist_dir, train={"steps": 3, "log_every": 1}))
    run = subprocess.run([sys.executable, "-m", "scopelab", "run", path, "--runs-dir", tmp_path / "runs", "--quiet"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    listing = subprocess.run([sys.executable, "-m", "scopelab", "list", "--configs", "--format", "json"],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert listing.returncode == 0, listing.stderr
    broken = [row["description"] for row in json.loads(listing.stdout)["configs"] if row["experiment"] == "invalid"]
    # Each but `leaky`, whose fault (a metric it records but does not declare) shows only when it builds.
    assert len(broken) == len(FAULTS) - 1 and all(text.startswith("package 'broken-plugin'") for text in broken)


def test_a_name_two_packages_or_scopelab_itself_declare_is_a_fault(tmp_path, mnist_dir, monkeypatch, fresh_registry):
    for package, name in (("first-plugin", "twin"), ("second-plugin", "twin"), ("proud-plugin", "autoencoder")):
        monkeypatch.syspath_prepend(str(plugin_dir(tmp_path / package, package, {name: family_source(name)})))
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, experiment="twin"))
    result = cli("run", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert result.stderr in [f"Error: experiment 'twin' is declared by two packages ('{a}' and '{b}', entry point "
                             "group scopelab.experiments); uninstall one of them.\n"
                             for a, b in (("first-plugin", "second-plugin"), ("second-plugin", "first-plugin"))]
    listing = json.loads(cli("list", "--configs", "--format", "json").stdout)["configs"]
    faults = sorted(row["description"] for row in listing if row["experiment"] == "invalid")
    assert faults[0].startswith("experiment 'twin' is declared by two packages")
    assert faults[1] == ("package 'proud-plugin', entry point 'autoencoder = proud_plugin_autoencoder': 'autoencoder' "
                         "is one of scopelab's own experiments; choose another name.")
    ae = write_config(tmp_path / "ae.yaml", tiny_autoencoder(mnist_dir, train={"steps": 2}))
    assert cli("run", ae, "--runs-dir", tmp_path / "runs", "--quiet").exit_code == 0  # scopelab's own, as ever


def test_reports_over_a_broken_plugins_runs_warn_once_and_read_its_metrics_as_undeclared(tmp_path, monkeypatch,
                                                                                         fresh_registry):
    from scopelab.runs import RunRecord, create_run_dir

    source = family_source("future_api", FAULTS["future_api"][0])
    monkeypatch.syspath_prepend(str(plugin_dir(tmp_path / "site", "broken-plugin", {"future_api": source})))
    runs = tmp_path / "runs"
    for seed in (0, 1):
        run = create_run_dir(runs, "old")
        run.write_record(RunRecord(run.run_id, "old", "future_api", "completed", metrics={"test_loss": 0.5 + seed},
                                   wall_seconds=1.0))
    result = cli("list", "--runs", "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    assert result.stderr == (f"Warning: package 'broken-plugin', entry point 'future_api = broken_plugin_future_api': "
                             f"{FAULTS['future_api'][1]}\n")
    assert result.stdout.count(" completed ") == 2
    shown = cli("show", "old", "--runs-dir", runs)  # the latest: its metric, labelled by its name
    assert shown.exit_code == 0 and re.search(r"\ntest_loss +1\.5000\n", shown.stdout), shown.stdout


# The working plugin, with a build that raises for seed 1 and a step that raises.
RAISES = ("    return experiment", """    import tensorflow as tf

    if config.train.seed == 1:
        raise ValueError("the plugin's own bug")

    def boom():
        raise RuntimeError("a plugin's step went wrong")

    phase = experiment.phases[0]
    with experiment.graph.as_default():
        phase.train_op = tf.group(phase.train_op, tf.compat.v1.py_func(boom, [], []))
    return experiment""")


def test_a_plugin_raising_in_build_or_a_step_fails_like_any_run(tmp_path, mnist_dir, monkeypatch, fresh_registry):
    monkeypatch.syspath_prepend(str(plugin_dir(tmp_path / "site", "raising-plugin",
                                               {"raiser": family_source("raiser", RAISES)})))
    config = tiny_autoencoder(mnist_dir, experiment="raiser", train={"steps": 5, "log_every": 1})
    runs = tmp_path / "runs"
    built = cli("run", write_config(tmp_path / "b.yaml", {**config, "train": {**config["train"], "seed": 1}}),
                "--runs-dir", runs)
    assert built.exit_code == 1
    assert built.stderr == ("Error: package 'raising-plugin', entry point 'raiser = raising_plugin_raiser': build "
                            "failed (ValueError: the plugin's own bug); nothing was run.\n")
    assert no_run_directory(runs)
    stepped = cli("run", write_config(tmp_path / "s.yaml", config), "--runs-dir", runs, "--quiet")
    assert stepped.exit_code == 1 and stepped.stderr.count("\n") == 1
    run = only_run(runs)
    assert summary_of(run)["status"] == "failed" and summary_of(run)["error"] in stepped.stderr
    assert "RuntimeError: a plugin's step went wrong" in (run / "log.txt").read_text()  # the whole error
    resumed = cli("run", "--resume", run.name, "--runs-dir", runs, "--quiet")  # resumable, and fails again
    assert resumed.exit_code == 1 and summary_of(run)["resumed"] == 1
    restarted = cli("run", "--resume", run.name, "--restart", "--runs-dir", runs, "--quiet")  # over, in place
    assert restarted.exit_code == 1 and summary_of(run)["restarted"] == 1 and summary_of(run)["status"] == "failed"
