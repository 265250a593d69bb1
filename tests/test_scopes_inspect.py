"""Seeing the scopes: `scopelab scopes`, `scopelab inspect`, `run --dry-run`, and the tb/ event files."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import tensorflow as tf

from conftest import cli, only_run, summary_of, tiny_autoencoder, tiny_mlp_pair, write_config

tf1 = tf.compat.v1
MLP_NAMES = ["W_hid_1", "b_hid_1", "W_hid_2", "b_hid_2", "W_RO", "b_RO"]
SMALL_HALVES = ["networks.0.train_stop=300", "networks.1.train_start=300", "networks.1.train_stop=600"]


def _article_sequence() -> tuple[list[str], str]:
    """The article's section 1 run here, independently of scopelab: the names, and the reuse error."""
    names = []
    with tf.Graph().as_default():
        with tf.name_scope("my_scope"):
            v1 = tf1.get_variable("var1", [1])
            v2 = tf.Variable(1.0, name="var2")
            names += [v1.name, v2.name, tf.add(v1, v2).name]
        with tf1.variable_scope("my_scope"):
            v1 = tf1.get_variable("var1", [1])
            v2 = tf.Variable(1.0, name="var2")
            names += [v1.name, v2.name, tf.add(v1, v2).name]
        with tf1.variable_scope("my_scope2"):
            names.append(tf1.get_variable("var4", [1], initializer=tf1.constant_initializer(4.0)).name)
        with pytest.raises(ValueError) as refused, tf1.variable_scope("my_scope2"):
            tf1.get_variable("var4")
        with tf1.variable_scope("my_scope2", reuse=True):
            names.append(tf1.get_variable("var4", [1]).name)
        with tf1.variable_scope("my_scope2"):
            tf1.get_variable_scope().reuse_variables()
            names.append(tf1.get_variable("var4", [1]).name)
    return names, str(refused.value)


def test_scopes_prints_the_names_tensorflow_gives():
    result = cli("scopes", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    names, error = _article_sequence()
    assert [row["name"] for row in rows if not row["name"].startswith("ValueError")] == names
    (refusal,) = [row for row in rows if row["name"].startswith("ValueError")]
    assert refusal["name"] == f"ValueError: {error}" and "already exists" in error
    assert rows.index(refusal) == 7  # after creating my_scope2/var4, before asking for reuse
    assert all(row["code"] and row["rule"] for row in rows)
    assert [row["rule"].endswith("(same object: True)") for row in rows[-2:]] == [True, True]


def test_scopes_markdown_and_table_hold_the_same_rows():
    rows = json.loads(cli("scopes", "--format", "json").stdout)
    markdown = cli("scopes", "--format", "markdown").stdout.splitlines()
    assert markdown[:2] == ["| code | name | rule |", "|---|---|---|"]
    assert [line.split(" | ")[1] for line in markdown[2:]] == [f"`{row['name']}`" for row in rows]
    table = cli("scopes").stdout
    assert table.startswith("code") and "my_scope_1/var2:0" in table and "ValueError: Variable" in table


def _inspect(mnist_dir: Path, config: str, *extra: str, fmt: str = "json"):
    overrides = ["data.train_start=0"] if config.endswith("_ae") else SMALL_HALVES
    sets = [arg for override in [f"data.path={mnist_dir}", *overrides] for arg in ("--set", override)]
    result = cli("inspect", f"configs/{config}.yaml", *sets, *extra, "--format", fmt)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if fmt == "json" else result.stdout


def test_inspect_tied_autoencoder_finds_both_uses_of_encoder_w(mnist_dir):
    report = _inspect(mnist_dir, "tied_ae")
    variables = {v["name"]: v for v in report["variables"]}
    assert list(variables) == ["encoder/W", "encoder/b", "decoder/b"]
    assert report["total"] == {"variables": 3, "parameters": 784 * 625 + 625 + 784}
    w = variables["encoder/W"]
    uses = [(use["name_scope"], use["op"]) for use in w["uses"]]
    assert uses == [("encoder", "MatMul"), ("decoder", "MatMul(transposed)")]
    assert w["used_by"] == ["encoder", "decoder"] and w["shared"] is True
    assert [name for name, v in variables.items() if v["shared"]] == ["encoder/W"]
    assert {s["scope"]: s["parameters"] for s in report["scopes"]} == {"encoder": 784 * 625 + 625, "decoder": 784}
    table = _inspect(mnist_dir, "tied_ae", fmt="table")
    (w_line,) = [line for line in table.splitlines() if line.lstrip().startswith("W ")]
    assert "encoder/ MatMul, decoder/ MatMul(transposed)" in w_line and w_line.endswith("shared")
    assert "491,409" in table


def test_inspect_untied_autoencoder_shares_nothing(mnist_dir):
    report = _inspect(mnist_dir, "untied_ae")
    assert [v["name"] for v in report["variables"]] == ["encoder/W", "encoder/b", "decoder/W", "decoder/b"]
    assert report["total"]["parameters"] == 2 * 784 * 625 + 625 + 784
    assert all(v["used_by"] == [v["scope"]] and not v["shared"] for v in report["variables"])


def test_inspect_shared_pair_every_variable_is_used_by_both_networks(mnist_dir):
    report = _inspect(mnist_dir, "mlp_shared")
    assert [v["name"] for v in report["variables"]] == [f"mlp1/{name}" for name in MLP_NAMES]
    for variable in report["variables"]:
        assert variable["networks"] == ["net1", "net2"] and variable["shared"] is True
        assert variable["used_by"] == ["mlp1", "mlp1_1"]  # the reopened scope gets a name scope of its own
    scopes = {s["name_scope"]: s for s in report["name_scopes"]}
    assert scopes["mlp1"]["networks"] == ["net1"] and scopes["mlp1_1"]["networks"] == ["net2"]
    assert "reopened" in scopes["mlp1_1"]["note"]
    # Weight decay reads the hidden weights in the loss scopes, and only those (not the read-out).
    assert scopes["net1"]["roles"] == ["loss term"]
    decayed = [v["name"] for v in report["variables"] if any(u["name_scope"] == "net2" for u in v["uses"])]
    assert decayed == ["mlp1/W_hid_1", "mlp1/W_hid_2"]


def test_inspect_independent_pair_shares_nothing(mnist_dir):
    report = _inspect(mnist_dir, "mlp_averaged")
    variables = report["variables"]
    assert len(variables) == 12 and not any(v["shared"] for v in variables)
    for variable in variables:
        assert variable["networks"] == [{"mlp1": "net1", "mlp2": "net2"}[variable["scope"]]]
        assert variable["used_by"] == [variable["scope"]]
    assert report["total"]["parameters"] == 2 * (784 * 625 + 625 + 625 * 625 + 625 + 625 * 10 + 10)


def test_inspect_rejects_what_is_neither_config_nor_run(tmp_path):
    result = cli("inspect", "no-such-run", "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "no-such-run" in result.stderr
    result = cli("inspect", tmp_path / "missing.yaml")
    assert result.exit_code == 2 and "no such config file" in result.stderr


def test_dry_run_prints_config_and_tree_and_writes_nothing(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "dry.yaml", tiny_mlp_pair(mnist_dir, "shared"))
    result = cli("run", config, "--dry-run", "--set", "train.seed=7", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert "seed: 7" in result.stdout and "sharing: shared" in result.stdout
    assert "mlp1_1/" in result.stdout and re.search(r"^total +6 variables", result.stdout, re.MULTILINE)
    assert not runs_dir.exists()


def _events(run: Path) -> tuple[set[str], dict[str, list[tuple[int, float]]]]:
    """The graph's node names and every scalar series, read back from the run's tb/ event files."""
    nodes, series = set(), {}
    files = sorted((run / "tb").glob("events.out.tfevents.*"))
    assert files
    for file in files:
        for event in tf1.train.summary_iterator(str(file)):
            if event.graph_def:
                nodes |= {node.name for node in tf1.GraphDef.FromString(event.graph_def).node}
            for value in event.summary.value:
                series.setdefault(value.tag, []).append((event.step, value.simple_value))
    return nodes, series


def test_tensorboard_events_of_an_autoencoder_run(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "tb_ae.yaml", tiny_autoencoder(mnist_dir))
    assert cli("run", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    run = only_run(runs_dir)
    nodes, series = _events(run)
    assert any(name.startswith("encoder/") for name in nodes) and any(name.startswith("decoder/") for name in nodes)
    with open(run / "metrics.csv") as handle:
        logged = [(int(row["step"]), float(row["loss"])) for row in csv.DictReader(handle)]
    assert [step for step, _ in series["autoencoder/loss"]] == [step for step, _ in logged] == [0, 10, 20, 30]
    assert [loss for _, loss in series["autoencoder/loss"]] == pytest.approx([loss for _, loss in logged])
    summary = summary_of(run)
    assert series["test/test_loss"] == [(30, pytest.approx(summary["metrics"]["test_loss"]))]
    assert {v["name"]: v["used_by"] for v in summary["variables"]}["encoder/W"] == ["encoder", "decoder"]
    inspected = json.loads(cli("inspect", run.name, "--runs-dir", runs_dir, "--format", "json").stdout)
    assert [v["name"] for v in inspected["variables"]] == [v["name"] for v in summary["variables"]]


def test_tensorboard_events_of_an_mlp_pair_run(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "tb_pair.yaml", tiny_mlp_pair(mnist_dir))
    assert cli("run", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    nodes, series = _events(only_run(runs_dir))
    assert {name.split("/")[0] for name in nodes} >= {"mlp1", "mlp2", "net1", "net2"}
    for network in ("net1", "net2"):
        for metric in ("loss", "accuracy"):
            assert [step for step, _ in series[f"{network}/{metric}"]] == [0, 10, 20]
    assert {"test/acc_net1", "test/acc_net2", "test/acc_averaged"} <= set(series)
    assert all(0 <= value <= 1 for _, value in series["net2/accuracy"])
