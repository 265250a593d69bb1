"""Built-in configs, `base:` chains, `config show` / `config copy`, and a newcomer's first commands, all
through the CLI and from a directory that is not the clone."""

from __future__ import annotations

import json
import platform
from importlib import metadata

import pytest
import yaml

from scopelab import __version__
from scopelab.config import dump_config, load_config
from scopelab.config_source import BUILTIN_DIR, builtin_names

from conftest import cli, only_run, summary_of, tiny_autoencoder, write_config

ARTICLE_NAMES = ["mlp_averaged", "mlp_shared", "smoke", "tied_ae", "untied_ae"]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory with an empty ./configs/ and no ./runs/."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    return tmp_path


def test_the_five_configs_are_built_in():
    assert builtin_names() == ARTICLE_NAMES


def test_list_in_an_empty_directory_shows_the_built_in_configs(elsewhere):
    result = cli("list", "--configs", "--format", "json")
    rows = json.loads(result.stdout)["configs"]
    own = [row for row in rows if not row["source"].startswith("plugin")]  # installed plugins' configs follow
    assert [(row["name"], row["source"], row["file"]) for row in own] == [
        (name, "built-in", f"builtin:{name}") for name in ARTICLE_NAMES
    ]
    text = cli("list").stdout
    assert "tied_ae       autoencoder  built-in" in text and "runs: none yet in runs/" in text


def test_a_local_config_comes_before_the_built_in_one_and_is_marked(elsewhere, mnist_dir):
    write_config(elsewhere / "configs" / "tied_ae.yaml", tiny_autoencoder(mnist_dir))
    rows = json.loads(cli("list", "--configs", "--format", "json").stdout)["configs"]
    sources = {(row["name"], row["source"]) for row in rows}
    assert ("tied_ae", "local") in sources and ("tied_ae", "built-in, shadowed") in sources
    result = cli("run", "tied_ae", "--runs-dir", "runs")
    assert result.exit_code == 0, result.stderr
    # No --quiet, but stderr is not a terminal: the progress bar turned itself off; only the hint is there.
    assert result.stderr.startswith("next: scopelab ") and result.stderr.count("\n") == 1
    assert summary_of(only_run(elsewhere / "runs"))["config_file"] == "configs/tied_ae.yaml"


def test_run_a_built_in_by_name_records_it(elsewhere, mnist_dir):
    result = cli("run", "smoke", "--quiet", "--set", f"data.path={mnist_dir}", "--set", "data.train_start=0",
                 "--set", "model.hidden_size=16", "--set", "train.steps=20", "--set", "train.batch_size=32")
    assert result.exit_code == 0, result.stderr
    run = only_run(elsewhere / "runs")
    assert summary_of(run)["config_file"] == "builtin:smoke"
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert "base" not in resolved and resolved["model"]["tied"] is True  # the base's keys, resolved
    assert result.stderr == f"next: scopelab show {run.name}\n"


def test_an_unknown_name_suggests_the_nearest(elsewhere):
    result = cli("run", "tied_aee")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "did you mean 'tied_ae'?" in result.stderr
    assert not (elsewhere / "runs").exists()


def test_config_show_fills_in_every_default(elsewhere):
    result = cli("config", "show", "smoke")
    assert result.exit_code == 0
    header, body = result.stdout.split("\n", 1)
    assert header == "# builtin:smoke, resolved"
    assert body == dump_config(load_config(BUILTIN_DIR / "smoke.yaml"))
    shown = yaml.safe_load(body)
    assert shown["train"]["steps"] == 200 and shown["train"]["optimizer"] == "adagrad"


def test_config_copy_writes_the_file_and_refuses_to_overwrite(elsewhere):
    result = cli("config", "copy", "tied_ae")
    assert result.exit_code == 0 and result.stdout == "wrote configs/tied_ae.yaml\n"
    copy = elsewhere / "configs" / "tied_ae.yaml"
    assert copy.read_text() == (BUILTIN_DIR / "tied_ae.yaml").read_text()
    copy.write_text(copy.read_text() + "# mine\n")
    again = cli("config", "copy", "tied_ae")
    assert again.exit_code == 2
    assert again.stderr == "Error: configs/tied_ae.yaml exists; pass --force to overwrite it.\n"
    assert copy.read_text().endswith("# mine\n")  # nothing written
    assert cli("config", "copy", "tied_ae", "--force").exit_code == 0
    assert not copy.read_text().endswith("# mine\n")
    (elsewhere / "mine").mkdir()
    assert cli("config", "copy", "mlp_shared", "mine").stdout == "wrote mine/mlp_shared.yaml\n"
    unknown = cli("config", "copy", "mlp_shard")
    assert unknown.exit_code == 2 and "did you mean 'mlp_shared'?" in unknown.stderr


def test_base_chains_merge_mappings_and_replace_lists(elsewhere):
    configs = elsewhere / "configs"
    write_config(configs / "middle.yaml", {"base": "mlp_shared", "train": {"batch_size": 50}})
    write_config(configs / "top.yaml", {"base": "middle.yaml", "model": {"hidden_size": 64},
                                        "networks": [{"scope": "a", "steps": 7}, {"scope": "a", "steps": 8}]})
    config = load_config(configs / "top.yaml")
    assert config.name == "top" and config.sharing == "shared"  # the name is the file's, never inherited
    assert config.train.batch_size == 50 and config.train.log_every == 1000  # middle's, then mlp_shared's
    assert config.model.hidden_size == 64 and config.model.weight_decay == 0.01
    assert [(net.scope, net.steps, net.optimizer) for net in config.networks] == [("a", 7, "adam"), ("a", 8, "adam")]
    shown = cli("config", "show", "top")  # ./configs/top.yaml
    assert shown.exit_code == 0 and "hidden_size: 64" in shown.stdout and "base" not in shown.stdout


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a": {"base": "b.yaml"}, "b": {"base": "a.yaml"}},
         "configs/a.yaml: the base chain is a cycle: configs/a.yaml -> configs/b.yaml -> configs/a.yaml."),
        ({"a": {"base": "a.yaml"}}, "configs/a.yaml: the base chain is a cycle: configs/a.yaml -> configs/a.yaml."),
        ({"a": {"base": "gone.yaml"}}, "configs/a.yaml: base 'gone.yaml' not found (looked for configs/gone.yaml)."),
        ({"a": {"base": "b.yaml"}, "b": {"base": "tied_aa"}},
         "configs/b.yaml: base 'tied_aa' is not a built-in config (did you mean 'tied_ae'?)."),
        ({"a": {"base": "tied_ae", "experiment": "mlp_pair"}},
         "configs/a.yaml: experiment 'mlp_pair', but its base 'tied_ae' is of experiment 'autoencoder'; "
         "a base must be of the same experiment kind."),
        ({"a": {"base": 3}}, "configs/a.yaml: key 'base' is 3; expected a built-in name or a file path."),
    ],
)
def test_base_errors_are_one_line_naming_the_file(elsewhere, files, message):
    for name, content in files.items():
        write_config(elsewhere / "configs" / f"{name}.yaml", content)
    for command in (("run", "a"), ("config", "show", "a"), ("run", "a", "--dry-run")):
        result = cli(*command)
        assert (result.exit_code, result.stderr, result.stdout) == (2, f"Error: {message}\n", ""), command
    assert not (elsewhere / "runs").exists()


def test_help_everywhere_and_bare_scopelab(elsewhere):
    bare = cli()
    assert bare.exit_code == 0 and bare.stdout.startswith("Usage:") and "reproduce" in bare.stdout
    for command in ([], ["run"], ["list"], ["compare"], ["reproduce"], ["config"], ["config", "copy"], ["sweep"]):
        short, long = cli(*command, "-h"), cli(*command, "--help")
        assert short.exit_code == 0 and short.stdout == long.stdout and "Example:" in short.stdout, command


def test_version_names_tensorflow_and_python():
    result = cli("--version")
    assert result.stdout == (f"scopelab {__version__} (TensorFlow {metadata.version('tensorflow')}, "
                             f"Python {platform.python_version()})\n")
