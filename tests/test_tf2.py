"""`model.api: tf2`: the four experiments as tf.Modules shared by object give the tf1 graphs' numbers
bit for bit, resume and diverge like them, and inspect to the same variables."""

from __future__ import annotations

import json
import signal

import pytest

from conftest import (
    cli,
    interrupt_after,
    only_run,
    start_scopelab,
    summary_of,
    tiny_autoencoder,
    tiny_mlp_pair,
    write_config,
)

CONFIGS = {
    "tied": lambda data: tiny_autoencoder(data),
    "untied": lambda data: tiny_autoencoder(data, model={"tied": False}),
    "shared": lambda data: tiny_mlp_pair(data, "shared"),
    "independent": lambda data: tiny_mlp_pair(data, "independent"),
}


def _run(config_path, runs_dir, *args: str):
    result = cli("run", config_path, "--runs-dir", runs_dir, "--quiet", *args)
    assert result.exit_code == 0, result.output + result.stderr
    return only_run(runs_dir)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_tf2_gives_the_tf1_numbers_bit_for_bit(name, tmp_path, mnist_dir):
    path = write_config(tmp_path / f"{name}.yaml", CONFIGS[name](mnist_dir))
    tf1 = _run(path, tmp_path / "tf1")
    tf2 = _run(path, tmp_path / "tf2", "--set", "model.api=tf2")
    rows = (tf1 / "metrics.csv").read_text()
    assert len(rows.splitlines()) >= 4
    assert (tf2 / "metrics.csv").read_text() == rows
    assert (tf2 / "log.txt").read_text() == (tf1 / "log.txt").read_text()
    first, second = summary_of(tf1), summary_of(tf2)
    assert second["metrics"] == first["metrics"] and first["metrics"]
    assert [v["name"] for v in second["variables"]] == [v["name"] for v in first["variables"]]
    assert [v["shared"] for v in second["variables"]] == [v["shared"] for v in first["variables"]]
    assert (tf2 / "config.yaml").read_text().count("api: tf2") == 1
    assert list((tf2 / "ckpt").glob("model-*.index"))
    scopes = {name.split("/")[0] for name in _graph_nodes(tf2)}  # TensorBoard gets the traced step
    assert scopes >= ({"encoder", "decoder", "loss"} if name in ("tied", "untied") else {"mlp1", "net1", "net2"})


def _graph_nodes(run) -> list[str]:
    import tensorflow as tf

    tf1 = tf.compat.v1
    nodes = []
    for path in (run / "tb").iterdir():
        for event in tf1.train.summary_iterator(str(path)):
            if event.graph_def:
                nodes += [node.name for node in tf1.GraphDef.FromString(event.graph_def).node]
    return nodes


def test_a_different_seed_gives_different_tf2_numbers(tmp_path, mnist_dir):
    """The equality above is not two runs ignoring their config: tf2 follows the seed."""
    path = write_config(tmp_path / "tied.yaml", tiny_autoencoder(mnist_dir))
    seed0 = _run(path, tmp_path / "a", "--set", "model.api=tf2")
    seed1 = _run(path, tmp_path / "b", "--set", "model.api=tf2", "--set", "train.seed=1")
    assert (seed0 / "metrics.csv").read_text() != (seed1 / "metrics.csv").read_text()


def test_tf2_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, mnist_dir):
    """SIGTERM in network 2 of the shared pair (Adam's slots and beta powers restored from the
    tf.train.Checkpoint): the resumed run ends as the uninterrupted one."""
    networks = [{**net, "steps": 150} for net in tiny_mlp_pair(mnist_dir, "shared")["networks"]]
    config = tiny_mlp_pair(mnist_dir, "shared", model={"api": "tf2"}, networks=networks,
                           train={"log_every": 25, "checkpoint_every": 30})
    path = write_config(tmp_path / "pair.yaml", config)
    straight = _run(path, tmp_path / "straight")
    runs = tmp_path / "stopped"
    process = start_scopelab("run", path, "--runs-dir", runs, "--quiet")
    interrupt_after(process, "step, loss, accuracy = 50:", signal.SIGTERM, after="Network No.2")
    assert process.returncode == 143
    run = only_run(runs)
    assert summary_of(run)["status"] == "interrupted"
    resumed = cli("run", "--resume", run.name, "--runs-dir", runs, "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    assert (run / "metrics.csv").read_text() == (straight / "metrics.csv").read_text()
    assert (run / "log.txt").read_text() == (straight / "log.txt").read_text()
    assert summary_of(run)["metrics"] == summary_of(straight)["metrics"]


def test_tf2_diverging_loss_stops_the_run(tmp_path, mnist_dir, runs_dir):
    config = tiny_mlp_pair(mnist_dir, model={"api": "tf2"})
    config["networks"][0].update(optimizer="sgd", learning_rate=1.0e6, steps=50)
    result = cli("run", write_config(tmp_path / "div.yaml", config), "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 1
    assert "diverged: the loss of net1 became nan at step" in result.stderr
    summary = summary_of(only_run(runs_dir))
    assert summary["status"] == "diverged"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_inspect_tf2_lists_the_tf1_variables_and_sharing(name, tmp_path, mnist_dir):
    path = write_config(tmp_path / f"{name}.yaml", CONFIGS[name](mnist_dir))
    tables = {}
    for api in ("tf1", "tf2"):
        result = cli("inspect", path, "--set", f"model.api={api}", "--format", "json")
        assert result.exit_code == 0, result.stderr
        tables[api] = json.loads(result.output)
    keys = ("name", "shape", "parameters", "scope", "shared", "networks")
    for first, second in zip(tables["tf1"]["variables"], tables["tf2"]["variables"], strict=True):
        assert {key: second[key] for key in keys} == {key: first[key] for key in keys}
        # Object identity: a shared variable is held by two (network: module) pairs, else by one.
        assert (len(second["held_by"]) > 1) == second["shared"]
    assert tables["tf2"]["total"] == tables["tf1"]["total"]


def test_inspect_tf2_shows_the_decoder_holding_the_encoders_w(mnist_dir, tmp_path):
    path = write_config(tmp_path / "tied.yaml", tiny_autoencoder(mnist_dir))
    result = cli("inspect", path, "--set", "model.api=tf2")
    assert result.exit_code == 0, result.stderr
    assert "model.api tf2" in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("encoder/W ")]
    assert "autoencoder: encoder, autoencoder: decoder" in line and line.endswith("shared")
    assert "decoder/ MatMul(transposed)" in result.output


def test_graph_and_object_identity_must_agree(mnist_dir, tmp_path):
    """A decoder that copies the encoder's W into a variable of its own is read in both places of
    the graph by nobody twice, and held by one module: if the two views ever disagree, it is an error."""
    from scopelab.config import load_config
    from scopelab.data import load_mnist
    from scopelab.experiments import build

    path = write_config(tmp_path / "tied.yaml", tiny_autoencoder(mnist_dir, model={"api": "tf2"}))
    experiment = build(load_config(path), load_mnist(str(mnist_dir)))
    encoder, decoder = experiment.phases[0].modules
    assert decoder.W is encoder.W
    experiment.phases[0].modules = [encoder]  # forget that the decoder holds W: now only the graph says shared
    with pytest.raises(RuntimeError, match="encoder/W: the traced graph says shared"):
        experiment.variable_uses()


@pytest.mark.parametrize("value", ["tf3", "3", "TF2"])
def test_model_api_junk_is_one_line_listing_the_choices(value, tmp_path, mnist_dir, runs_dir):
    path = write_config(tmp_path / "tied.yaml", tiny_autoencoder(mnist_dir))
    result = cli("run", path, "--set", f"model.api={value}", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "key 'model.api'" in result.stderr and "expected one of 'tf1', 'tf2'" in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_compare_tf1_and_tf2_runs_differ_only_in_model_api(tmp_path, mnist_dir):
    path = write_config(tmp_path / "tied.yaml", tiny_autoencoder(mnist_dir))
    runs = tmp_path / "runs"
    for api in ("tf1", "tf2"):
        assert cli("run", path, "--set", f"model.api={api}", "--runs-dir", runs, "--quiet").exit_code == 0
    ids = sorted(path.name for path in runs.iterdir() if path.is_dir())
    result = cli("compare", *ids, "--runs-dir", runs, "--each", "--format", "json")
    assert result.exit_code == 0, result.stderr
    (comparison,) = json.loads(result.output)["comparisons"]
    assert list(comparison["settings_that_differ"]) == ["model.api"]
    assert comparison["rows"] and all(row["difference"]["delta"] == 0 for row in comparison["rows"])
    text = cli("compare", *ids, "--runs-dir", runs, "--each").output
    first, second = (group["label"] for group in comparison["groups"])
    assert f"{first} and {second} are equal on test loss" in text


def test_scopes_tf2_reads_every_name_from_tensorflow():
    result = cli("scopes", "--api", "tf2", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.output)
    assert len(rows) == 10
    by_code = {row["tf2 code"]: row for row in rows}
    module = next(row for code, row in by_code.items() if code.startswith("class M(tf.Module)"))
    assert module["tf2 name"] == "my_scope/var1:0" and module["name"] == "my_scope/var1:0"
    holder = next(row for code, row in by_code.items() if code.startswith("class Holder"))
    assert holder["tf2 name"] == "my_scope2/var4:0" and "same object: True" in holder["tf2 rule"]
    twice = next(row for code, row in by_code.items() if code.endswith("twice"))
    assert twice["tf2 name"] == "my_scope2/var4:0 and my_scope2/var4:0" and "same object: False" in twice["tf2 rule"]
    keras_row = next(row for code, row in by_code.items() if code.startswith("keras.layers.Dense"))
    assert keras_row["tf2 name"].startswith("path my_scope2/kernel")
    assert "traced: my_scope/Add:0" in rows[2]["tf2 name"]
