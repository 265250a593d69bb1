"""The MLP pair: shared weights vs independent networks averaged, through the real CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tensorflow as tf

from scopelab.config import load_config
from scopelab.data import load_mnist
from scopelab.experiments import build
from scopelab.experiments.mlp_pair import averaged, correct

from conftest import cli, only_run, summary_of, tiny_mlp_pair, write_config

tf1 = tf.compat.v1
NAMES = ["W_hid_1", "b_hid_1", "W_hid_2", "b_hid_2", "W_RO", "b_RO"]
SHAPES = [[784, 625], [625], [625, 625], [625], [625, 10], [10]]


def _article_config(name: str, mnist_dir):
    small_slices = ["networks.0.train_stop=300", "networks.1.train_start=300", "networks.1.train_stop=600"]
    return load_config(f"configs/{name}.yaml", [f"data.path={mnist_dir}", *small_slices])


@pytest.mark.parametrize(("config", "scopes"), [("mlp_shared", ["mlp1"]), ("mlp_averaged", ["mlp1", "mlp2"])])
def test_article_graph_variables_are_pinned(mnist_dir, config, scopes):
    experiment = build(_article_config(config, mnist_dir), load_mnist(str(mnist_dir)))
    variables = experiment.variables()
    expected = {f"{scope}/{name}": shape for scope in scopes for name, shape in zip(NAMES, SHAPES)}
    assert {v["name"]: v["shape"] for v in variables} == expected
    assert len(variables) == 6 * len(scopes)
    assert all(v["scope"] == v["name"].split("/")[0] for v in variables)
    assert all(v["shared"] is (len(scopes) == 1) for v in variables)
    per_network = 784 * 625 + 625 + 625 * 625 + 625 + 625 * 10 + 10
    assert sum(v["parameters"] for v in variables) == per_network * len(scopes)


def _run(tmp_path, mnist_dir, sharing: str) -> tuple[dict, list[dict], str]:
    runs = tmp_path / sharing
    config = write_config(tmp_path / f"{sharing}.yaml", tiny_mlp_pair(mnist_dir, sharing))
    result = cli("run", config, "--runs-dir", runs, "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run(runs)
    with open(run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    return summary_of(run), rows, result.stdout


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory, mnist_dir):
    tmp_path = tmp_path_factory.mktemp("pair")
    return {sharing: _run(tmp_path, mnist_dir, sharing) for sharing in ("shared", "independent")}


def test_shared_network_2_starts_from_network_1s_training(both_runs):
    first_loss = {}
    for sharing, (_, rows, _) in both_runs.items():
        net2 = [row for row in rows if row["network"] == "net2"]
        first_loss[sharing] = float(net2[0]["loss"])
    # Same data, same step: only the inherited weights can make the shared network this much better.
    assert first_loss["shared"] < 0.5 * first_loss["independent"]


def test_network_1_is_the_same_in_both_modes(both_runs):
    net1 = {sharing: [row for row in rows if row["network"] == "net1"] for sharing, (_, rows, _) in both_runs.items()}
    assert net1["shared"] == net1["independent"]


def test_output_blocks_and_summary_metrics(both_runs):
    summary, rows, stdout = both_runs["independent"]
    lines = stdout.splitlines()
    assert lines[0] == "Network No.1 :"
    assert lines[1].startswith("step, loss, accuracy = 0: ")
    assert "Network No.2 :" in lines
    assert [(row["network"], row["step"]) for row in rows] == [
        (net, str(step)) for net in ("net1", "net2") for step in (0, 10, 20)
    ]
    metrics = summary["metrics"]
    assert set(metrics) == {"acc_net1", "acc_net2", "acc_averaged"}
    assert all(0 <= value <= 1 for value in metrics.values())
    assert f"accuracy (test) averaged = {metrics['acc_averaged']:.4f}" in lines
    shared_summary, _, shared_stdout = both_runs["shared"]
    assert set(shared_summary["metrics"]) == {"acc_net1", "acc_net2"}
    assert "right after network 1's training" in shared_stdout
    assert shared_summary["param_count"] * 2 == summary["param_count"]


def test_averaged_prediction_is_the_mean_of_the_softmax_outputs():
    logits_1 = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]], dtype=np.float32)
    logits_2 = np.array([[0.0, 1.0, 0.0], [5.0, 0.0, 0.0]], dtype=np.float32)
    softmax = lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # noqa: E731
    with tf.Graph().as_default(), tf1.Session() as session:
        result = session.run(averaged([tf.constant(logits_1), tf.constant(logits_2)]))
    np.testing.assert_allclose(result, (softmax(logits_1) + softmax(logits_2)) / 2, rtol=1e-6)
    # Row 2: net 1 says class 1 (p=0.91), net 2 says class 0 (p=0.99): the average picks class 0.
    assert result.argmax(axis=1).tolist() == [0, 0]


def test_accuracy_counts_the_most_probable_class():
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]], dtype=np.float32)
    labels = np.array([1, 1, 2, 0], dtype=np.int32)
    with tf.Graph().as_default(), tf1.Session() as session:
        right = session.run(correct(tf.constant(probabilities), tf.constant(labels)))
    assert right.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert right.mean() == 0.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sharing": "partly"}, "key 'sharing' is 'partly'; expected one of 'shared', 'independent'"),
        ({"networks": [{"scope": "mlp1"}]}, "key 'networks' has 1 items; expected exactly 2"),
        ({"networks": [{"scope": "a"}, {"scope": "b"}, {"scope": "c"}]}, "key 'networks' has 3 items"),
        ({"sharing": "shared"}, "key 'networks.1.scope' is 'mlp2'; expected 'mlp1'"),
    ],
)
def test_bad_pair_config_values(tmp_path, mnist_dir, runs_dir, change, message):
    config = write_config(tmp_path / "bad.yaml", {**tiny_mlp_pair(mnist_dir, "independent"), **change})
    result = cli("run", config, "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_data_slice_outside_the_training_set(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "slice.yaml", tiny_mlp_pair(mnist_dir))
    result = cli("run", config, "--set", "networks.1.train_stop=60000", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert "'networks.1.train_start/train_stop' asks for training images 300..59999" in result.stderr
    assert "the training set has 600 images" in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
