"""Every bad input a user can type: exit 2, one sentence on stderr, no traceback, nothing written."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from scopelab import data
from scopelab.errors import InputError

from conftest import cli, idx_bytes, tiny_autoencoder, write_config, write_idx_dir


def assert_clean_error(result, *fragments: str, runs_dir=None) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    if runs_dir is not None:
        assert not runs_dir.exists() or not any(runs_dir.iterdir())


CONFIG_CASES = {
    "empty file": ("", ["is empty"]),
    "syntax error": ("experiment: autoencoder\ntrain: {steps: 3\n", ["YAML syntax error at line 3, column 1"]),
    "top level a list": ("- 1\n- 2\n", ["top level is a list; expected a mapping"]),
    "no experiment": ("train: {steps: 3}\n", ["key 'experiment' is missing"]),
    "unknown experiment": ("experiment: autoencodr\n", ["'autoencodr'", "did you mean 'autoencoder'"]),
    "unknown top key": ("experiment: autoencoder\nmodle: {}\n", ["unknown key 'modle'", "did you mean 'model'"]),
    "unknown deep key": (
        "experiment: autoencoder\ntrain: {stpes: 3}\n",
        ["unknown key 'train.stpes'", "did you mean 'train.steps'"],
    ),
    "wrong type": (
        "experiment: autoencoder\ntrain: {steps: many}\n",
        ["key 'train.steps' is 'many'; expected an integer"],
    ),
    "float for int": (
        "experiment: autoencoder\ntrain: {steps: 2.5}\n",
        ["key 'train.steps' is 2.5; expected an integer"],
    ),
    "bool for int": ("experiment: autoencoder\ntrain: {steps: true}\n", ["expected an integer"]),
    "string for bool": (
        "experiment: autoencoder\nmodel: {tied: 'yes'}\n",
        ["key 'model.tied' is 'yes'; expected true or false"],
    ),
    "null value": ("experiment: autoencoder\ntrain: {learning_rate: null}\n", ["key 'train.learning_rate' is null"]),
    "mapping expected": ("experiment: autoencoder\ntrain: 5\n", ["key 'train' is 5; expected a mapping"]),
    "zero steps": (
        "experiment: autoencoder\ntrain: {steps: 0}\n",
        ["key 'train.steps' is 0; expected an integer >= 1"],
    ),
    "negative rate": ("experiment: autoencoder\ntrain: {learning_rate: -0.1}\n", ["'train.learning_rate' is -0.1"]),
    "unknown optimizer": (
        "experiment: autoencoder\ntrain: {optimizer: adamw}\n",
        ["'train.optimizer' is 'adamw'", "did you mean 'adam'"],
    ),
    "bad name": ("experiment: autoencoder\nname: ../evil\n", ["key 'name' is '../evil'"]),
    "zero batch": ("experiment: autoencoder\ntrain: {batch_size: 0}\n", ["'train.batch_size' is 0"]),
    "slice backwards": (
        "experiment: autoencoder\ndata: {train_start: 10, train_stop: 5}\n",
        ["'data.train_stop' is 5"],
    ),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_file(tmp_path, runs_dir, case):
    text, fragments = CONFIG_CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert_clean_error(cli("run", path, "--runs-dir", runs_dir), str(path), *fragments, runs_dir=runs_dir)


def test_missing_config_file(tmp_path, runs_dir):
    assert_clean_error(
        cli("run", tmp_path / "nope.yaml", "--runs-dir", runs_dir), "no such config file", runs_dir=runs_dir
    )


def test_directory_as_config(tmp_path, runs_dir):
    assert_clean_error(cli("run", tmp_path, "--runs-dir", runs_dir), "is a directory", runs_dir=runs_dir)


def test_unreadable_config_file(tmp_path, runs_dir):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")  # not UTF-8 (chmod would not stop root, who runs CI)
    assert_clean_error(cli("run", path, "--runs-dir", runs_dir), "cannot read the config file", runs_dir=runs_dir)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("train.steps", ["--set train.steps: expected KEY=VALUE"]),
        ("train.stesp=3", ["unknown key 'train.stesp'", "did you mean 'train.steps'"]),
        ("train.steps=abc", ["key 'train.steps' is 'abc'"]),
        ("model.tied.deeper=1", ["'model.tied' is not a mapping"]),
        ("=3", ["expected KEY=VALUE"]),
    ],
)
def test_bad_override(tmp_path, mnist_dir, runs_dir, override, fragments):
    config = write_config(tmp_path / "ok.yaml", tiny_autoencoder(mnist_dir))
    assert_clean_error(cli("run", config, "--set", override, "--runs-dir", runs_dir), *fragments, runs_dir=runs_dir)


def test_batch_larger_than_the_data(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "big.yaml", tiny_autoencoder(mnist_dir, train={"batch_size": 550}))
    assert_clean_error(
        cli("run", config, "--runs-dir", runs_dir),
        "'train.batch_size' is 550",
        "500 training images",
        runs_dir=runs_dir,
    )


def _broken_data_dir(tmp_path, damage):
    directory = write_idx_dir(tmp_path / "data", train=120, test=40, gz=False)
    damage(directory)
    return directory


def _replace(name, content):
    return lambda d: (d / name).write_bytes(content)


DATA_CASES = {
    "missing file": (lambda d: (d / "t10k-labels-idx1-ubyte").unlink(), ["missing MNIST file t10k-labels-idx1-ubyte"]),
    "wrong magic": (
        _replace("train-labels-idx1-ubyte", b"\x00\x00\x09\x01" + b"\x00" * 10),
        ["wrong IDX magic number"],
    ),
    "truncated": (
        lambda d: (d / "train-images-idx3-ubyte").write_bytes((d / "train-images-idx3-ubyte").read_bytes()[:-5]),
        ["train-images-idx3-ubyte: IDX file has", "needs"],
    ),
    "header only": (_replace("train-images-idx3-ubyte", b"\x00\x00\x08\x03\x00"), ["truncated IDX header"]),
    "count mismatch": (
        _replace("train-labels-idx1-ubyte", idx_bytes(np.zeros(119, np.uint8))),
        ["120 train images but 119 train labels"],
    ),
    "label out of range": (
        _replace("t10k-labels-idx1-ubyte", idx_bytes(np.full(40, 12, np.uint8))),
        ["label 12 is outside 0-9"],
    ),
    "bad gzip": (
        lambda d: (d / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip") or (d / "t10k-images-idx3-ubyte").unlink(),
        ["cannot read the IDX file"],
    ),
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_directory(tmp_path, runs_dir, case):
    damage, fragments = DATA_CASES[case]
    directory = _broken_data_dir(tmp_path, damage)
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(directory))
    assert_clean_error(cli("run", config, "--runs-dir", runs_dir), *fragments, runs_dir=runs_dir)


def test_missing_data_directory(tmp_path, runs_dir):
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(tmp_path / "nowhere"))
    assert_clean_error(cli("run", config, "--runs-dir", runs_dir), "no such data directory", runs_dir=runs_dir)


def test_data_from_environment_variable(tmp_path, runs_dir, monkeypatch):
    monkeypatch.setenv("SCOPELAB_DATA", str(tmp_path / "env-missing"))
    config = tiny_autoencoder(tmp_path)
    del config["data"]["path"]
    path = write_config(tmp_path / "c.yaml", config)
    assert_clean_error(cli("run", path, "--runs-dir", runs_dir), "env-missing", "SCOPELAB_DATA", runs_dir=runs_dir)


@pytest.mark.parametrize(
    ("arrays", "fragment"),
    [
        ({"x_train": np.zeros((5, 28, 28), np.uint8)}, "lacks the arrays y_train, x_test, y_test"),
        (
            {
                "x_train": np.zeros((5, 27, 27), np.uint8),
                "y_train": np.zeros(5, np.uint8),
                "x_test": np.zeros((5, 28, 28), np.uint8),
                "y_test": np.zeros(5, np.uint8),
            },
            "x_train has shape (5, 27, 27)",
        ),
    ],
)
def test_bad_npz(tmp_path, runs_dir, arrays, fragment):
    npz = tmp_path / "mnist.npz"
    np.savez(npz, **arrays)
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(npz))
    assert_clean_error(cli("run", config, "--runs-dir", runs_dir), fragment, runs_dir=runs_dir)


def test_npz_in_keras_layout_loads(tmp_path):
    from conftest import synthetic_mnist

    (x_train, y_train), (x_test, y_test) = synthetic_mnist(50, 1), synthetic_mnist(20, 2)
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    mnist = data.load_mnist(str(npz))
    assert mnist.train.images.shape == (50, 784) and mnist.test.labels.tolist() == y_test.tolist()
    np.testing.assert_allclose(mnist.train.images[3], x_train[3].reshape(-1) / 255.0, rtol=1e-6)


def test_raw_and_gzip_idx_give_the_same_arrays(tmp_path):
    raw = data.load_mnist(str(write_idx_dir(tmp_path / "raw", gz=False)))
    packed = data.load_mnist(str(write_idx_dir(tmp_path / "gz", gz=True)))
    assert np.array_equal(raw.train.images, packed.train.images)
    assert raw.train.images.dtype == np.float32 and 0 <= raw.train.images.min() and raw.train.images.max() <= 1


def test_bundled_checksum_catches_a_corrupted_copy(tmp_path, monkeypatch, runs_dir, mnist_dir):
    bundle = tmp_path / "bundle"
    shutil.copytree(mnist_dir, bundle)
    sums = "".join(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}\n" for f in sorted(bundle.glob("*.gz")))
    (bundle / "SHA256SUMS").write_text(sums)
    data.verify_checksums(bundle)  # intact: passes
    target = bundle / "train-labels-idx1-ubyte.gz"
    target.write_bytes(gzip.compress(gzip.decompress(target.read_bytes())[:-1] + b"\x03"))
    with pytest.raises(InputError, match="checksum mismatch"):
        data.verify_checksums(bundle)
    monkeypatch.setattr(data, "BUNDLED_DIR", bundle)
    monkeypatch.delenv("SCOPELAB_DATA", raising=False)
    config = tiny_autoencoder(mnist_dir)
    del config["data"]["path"]
    path = write_config(tmp_path / "c.yaml", config)
    assert_clean_error(
        cli("run", path, "--runs-dir", runs_dir), "checksum mismatch", "train-labels-idx1-ubyte.gz", runs_dir=runs_dir
    )


def test_the_real_bundled_copy_passes_its_checksums():
    data.verify_checksums(data.BUNDLED_DIR)
    assert len((data.BUNDLED_DIR / "SHA256SUMS").read_text().splitlines()) == 4


def test_runs_dir_that_is_a_file(tmp_path, mnist_dir):
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir))
    blocker = tmp_path / "runs-file"
    blocker.write_text("x")
    assert_clean_error(cli("run", config, "--runs-dir", blocker), "the runs directory is a file")
    assert_clean_error(cli("run", config, "--runs-dir", blocker / "sub"), "cannot create the runs directory")
    assert blocker.read_text() == "x"


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ("../x", "'../x' is not a run id"),
        ("/etc", "is not a run id"),
        ("2099", "no run '2099'"),
        ("2026", "run '2026' is ambiguous"),
    ],
)
def test_bad_resume_reference(tmp_path, reference, fragment):
    runs = tmp_path / "runs"
    for name in ("20260101-000000-a", "20260102-000000-b"):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.yaml").write_text("name: x\n")  # what makes a directory a run
    before = sorted(p.name for p in runs.iterdir())
    assert_clean_error(cli("run", "--resume", reference, "--runs-dir", runs), fragment)
    assert sorted(p.name for p in runs.iterdir()) == before


def test_gpu_asked_for_on_a_machine_without_one(tmp_path, mnist_dir, runs_dir):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU, so --device gpu is valid here")
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir))
    assert_clean_error(cli("run", config, "--device", "gpu", "--runs-dir", runs_dir), "--device gpu", runs_dir=runs_dir)


def test_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "none.yaml"
    for debug, code in (["--debug"], 1), ([], 2):
        done = subprocess.run(
            [sys.executable, "-m", "scopelab", *debug, "run", str(missing)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == code
        lines = done.stderr.strip().splitlines()
        if debug:  # the traceback down to the frame that raised, then the error itself
            assert lines[0] == "Traceback (most recent call last):"
            frames = [line.strip() for line in lines if line.strip().startswith('File "')]
            assert frames[-1].endswith("in resolve_config")
            assert lines[-1] == f"scopelab.errors.InputError: {missing}: no such config file."
        else:
            assert lines == [f"Error: {missing}: no such config file."]


@pytest.mark.parametrize(
    "command", [["list"], ["compare"], ["compare", "x"], ["run", "--resume", "x"], ["inspect", "x"]]
)
def test_commands_reading_runs_refuse_a_runs_dir_that_is_a_file(tmp_path, command):
    blocker = tmp_path / "runs-file"
    blocker.write_text("x")
    assert_clean_error(cli(*command, "--runs-dir", blocker), "the runs directory is a file")
