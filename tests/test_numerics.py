"""The numbers a run reports, recomputed in NumPy from the weights its checkpoints hold: the loss the
trainer minimises (the article's formulas, on the batch just trained on) and the test metrics over
the whole test split. Nothing here calls TensorFlow to compute; it only reads the checkpoints."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from scopelab import data, trainer
from scopelab.checkpoints import saved_states
from scopelab.runs import RunDir

from conftest import (
    cli,
    idx_bytes,
    only_run,
    summary_of,
    synthetic_mnist,
    tiny_autoencoder,
    tiny_mlp_pair,
    write_config,
)

TEST_IMAGES = 2500  # more than one evaluation chunk, so a metric over the first chunk only is wrong
TOLERANCE = 1e-6  # relative: float32 sums in TensorFlow against float64 here
WEIGHT_DECAY = 0.01  # the article's coefficient of the hidden weights' L2 (the default of model.weight_decay)


def ambiguous_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Test digits of which about half light, a little fainter, a second class's block too: networks
    trained on clean digits disagree on some of those, so the averaged prediction differs from each
    network's, and the mixture makes the images' losses differ from one part of the split to another."""
    images, labels = synthetic_mnist(count, seed)
    rng = np.random.default_rng(seed)
    decoys = (labels + rng.integers(1, 10, size=count)) % 10
    for i in np.flatnonzero(rng.random(count) < 0.5):
        row, col = divmod(int(decoys[i]), 4)
        images[i, row * 7 : row * 7 + 7, col * 7 : col * 7 + 7] = 200
    return images, labels


@pytest.fixture(scope="module")
def hard_mnist(tmp_path_factory) -> Path:
    """600 clean training digits (as conftest's) and 2,500 ambiguous test digits, raw IDX files."""
    directory = tmp_path_factory.mktemp("hard-mnist")
    parts = {"train": synthetic_mnist(600, 1), "t10k": ambiguous_digits(TEST_IMAGES, 2)}
    for prefix, (images, labels) in parts.items():
        (directory / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return directory


def pixels_and_labels(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Read IDX files back by hand (not with scopelab's reader): pixels in [0, 1] as float64."""

    def raw(kind: str) -> bytes:
        path = directory / f"{prefix}-{kind}-ubyte"
        return path.read_bytes() if path.exists() else gzip.decompress(path.with_suffix(".gz").read_bytes())

    images = np.frombuffer(raw("images-idx3")[16:], dtype=np.uint8)
    labels = np.frombuffer(raw("labels-idx1")[8:], dtype=np.uint8)
    return images.reshape(len(labels), 784) / 255.0, labels.astype(np.int64)


def latest_weights(run: Path) -> dict[str, np.ndarray]:
    """Every variable of the checkpoint that the newest ckpt/state-*.json names, as float64."""
    state = json.loads(saved_states(RunDir(run))[0].read_text())
    reader = tf.train.load_checkpoint(str(run / "ckpt" / state["checkpoint"]))
    return {name: reader.get_tensor(name).astype(np.float64) for name in reader.get_variable_to_shape_map()}


def logged(run: Path, network: str, step: int) -> dict:
    with open(run / "metrics.csv") as handle:
        (row,) = [row for row in csv.DictReader(handle) if row["network"] == network and int(row["step"]) == step]
    return row


def first_batch(images: np.ndarray, labels: np.ndarray, start: int, stop: int, size: int, seed: int, stream: int):
    """Step 0's batch: the first `size` of the epoch-0 permutation of the slice start..stop-1."""
    chosen = np.random.default_rng([seed, stream, 0]).permutation(stop - start)[:size]
    return images[start:stop][chosen], labels[start:stop][chosen]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def autoencoder_bce(weights: dict, x: np.ndarray) -> np.ndarray:
    """The article's loss per image: mean over pixels of -(x log x^ + (1 - x) log(1 - x^))."""
    hidden = sigmoid(x @ weights["encoder/W"] + weights["encoder/b"])
    w_decoder = weights["decoder/W"] if "decoder/W" in weights else weights["encoder/W"].T  # tied: W transposed
    x_hat = sigmoid(hidden @ w_decoder + weights["decoder/b"])
    return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).mean(axis=1)


def mlp_logits(weights: dict, scope: str, x: np.ndarray) -> np.ndarray:
    def layer(inputs, suffix):
        return inputs @ weights[f"{scope}/W_{suffix}"] + weights[f"{scope}/b_{suffix}"]

    hidden_1 = np.maximum(layer(x, "hid_1"), 0)
    hidden_2 = np.maximum(layer(hidden_1, "hid_2"), 0)
    return layer(hidden_2, "RO")


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def mlp_loss(weights: dict, scope: str, x: np.ndarray, labels: np.ndarray) -> float:
    """Summed softmax cross-entropy plus 0.01 x the L2 (sum of squares / 2, tf.nn.l2_loss) of the two
    hidden weights; the readout is not decayed."""
    cross_entropy = -np.log(softmax(mlp_logits(weights, scope, x))[np.arange(len(labels)), labels]).sum()
    l2 = sum((weights[f"{scope}/W_{suffix}"] ** 2).sum() / 2 for suffix in ("hid_1", "hid_2"))
    return cross_entropy + WEIGHT_DECAY * l2


def stop_after_step_0(monkeypatch, stream: int) -> None:
    """Make the run crash when it asks for step 1's batch of one network, so its newest checkpoint
    (checkpoint_every 1) is the one taken right after that network's step 0 update."""
    original = data.Batches.batch

    def batch(self, step):
        if self.stream == stream and step == 1:
            raise MemoryError("stopped after step 0 by the test")
        return original(self, step)

    monkeypatch.setattr(data.Batches, "batch", batch)


@pytest.mark.parametrize("tied", [True, False])
def test_autoencoder_logged_loss_is_the_mean_bce_after_step_0(tmp_path, mnist_dir, monkeypatch, tied):
    config = tiny_autoencoder(mnist_dir, model={"tied": tied}, train={"checkpoint_every": 1})
    stop_after_step_0(monkeypatch, stream=0)
    result = cli("run", write_config(tmp_path / "ae.yaml", config), "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1 and "stopped after step 0 by the test" in result.stderr
    run = only_run(tmp_path / "runs")
    images, labels = pixels_and_labels(mnist_dir, "train")
    x, _ = first_batch(images, labels, 100, 600, 32, seed=0, stream=0)
    expected = autoencoder_bce(latest_weights(run), x).mean()
    assert float(logged(run, "autoencoder", 0)["loss"]) == pytest.approx(expected, rel=TOLERANCE)


@pytest.mark.parametrize(("sharing", "stream"), [("independent", 0), ("independent", 1), ("shared", 1)])
def test_mlp_logged_loss_is_summed_cross_entropy_plus_hidden_weight_decay(tmp_path, mnist_dir, monkeypatch, sharing,
                                                                          stream):
    config = tiny_mlp_pair(mnist_dir, sharing, train={"checkpoint_every": 1})
    network = config["networks"][stream]
    stop_after_step_0(monkeypatch, stream)
    result = cli("run", write_config(tmp_path / "mlp.yaml", config), "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1 and "stopped after step 0 by the test" in result.stderr
    run = only_run(tmp_path / "runs")
    images, labels = pixels_and_labels(mnist_dir, "train")
    x, y = first_batch(images, labels, network["train_start"], network["train_stop"], 20, seed=0, stream=stream)
    weights = latest_weights(run)
    expected = mlp_loss(weights, network["scope"], x, y)
    assert float(logged(run, f"net{stream + 1}", 0)["loss"]) == pytest.approx(expected, rel=TOLERANCE)
    # Had the readout been decayed too, the loss would differ by far more than the tolerance.
    readout = WEIGHT_DECAY * (weights[f"{network['scope']}/W_RO"] ** 2).sum() / 2
    assert readout > 10 * TOLERANCE * expected


def test_autoencoder_test_loss_is_the_mean_over_the_whole_test_split(tmp_path, hard_mnist):
    assert TEST_IMAGES > trainer.EVAL_CHUNK
    # Trained a little: an untrained autoencoder's loss is log 2 on every image, whatever it shows.
    config = tiny_autoencoder(hard_mnist, model={"tied": False}, train={"steps": 100, "learning_rate": 0.5})
    result = cli("run", write_config(tmp_path / "ae.yaml", config), "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path / "runs")
    x, _ = pixels_and_labels(hard_mnist, "t10k")
    per_image = autoencoder_bce(latest_weights(run), x)
    reported = summary_of(run)["metrics"]["test_loss"]
    assert reported == pytest.approx(per_image.mean(), rel=TOLERANCE)
    # The first chunk alone gives another number: the comparison above can tell them apart.
    assert abs(per_image[: trainer.EVAL_CHUNK].mean() - per_image.mean()) > 10 * TOLERANCE * per_image.mean()


def test_mlp_test_accuracies_are_recomputed_over_the_whole_test_split(tmp_path, hard_mnist):
    config = tiny_mlp_pair(hard_mnist, "independent")
    result = cli("run", write_config(tmp_path / "mlp.yaml", config), "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path / "runs")
    x, labels = pixels_and_labels(hard_mnist, "t10k")
    weights = latest_weights(run)  # network 1's weights do not change while network 2 trains
    logits = [mlp_logits(weights, scope, x) for scope in ("mlp1", "mlp2")]
    right = {
        "acc_net1": logits[0].argmax(axis=1) == labels,
        "acc_net2": logits[1].argmax(axis=1) == labels,
        "acc_averaged": ((softmax(logits[0]) + softmax(logits[1])) / 2).argmax(axis=1) == labels,
    }
    expected = {name: values.mean() for name, values in right.items()}
    assert summary_of(run)["metrics"] == pytest.approx(expected, abs=0.5 / TEST_IMAGES)
    # The data leaves room for the wrong answers to show: the three differ, and none is perfect.
    assert len(set(expected.values())) == 3 and max(expected.values()) < 1
    assert all(right[name][: trainer.EVAL_CHUNK].mean() != expected[name] for name in right)
