"""Shared fixtures: small synthetic MNIST-format data written as real IDX files, and the CLI."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from scopelab.cli import main


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in IDX format (magic 0x08 = ubyte, then its dimensions)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def synthetic_mnist(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable digits: each class lights its own 7x7 block (plus noise), so a model can get it right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[i, row * 7 : row * 7 + 7, col * 7 : col * 7 + 7] = 230
    return images, labels


def write_idx_dir(directory: Path, train: int = 600, test: int = 200, gz: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    parts = {"train": synthetic_mnist(train, 1), "t10k": synthetic_mnist(test, 2)}
    for prefix, (images, labels) in parts.items():
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
    return directory


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    return write_idx_dir(tmp_path_factory.mktemp("mnist"))


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    return tmp_path / "runs"


def tiny_autoencoder(mnist_dir: Path, **changes) -> dict:
    config = {
        "experiment": "autoencoder",
        "model": {"hidden_size": 32, "tied": True},
        "train": {"steps": 30, "batch_size": 32, "log_every": 10, "learning_rate": 0.1},
        "data": {"path": str(mnist_dir), "train_start": 100},
    }
    return _merge(config, changes)


def tiny_mlp_pair(mnist_dir: Path, sharing: str = "independent", **changes) -> dict:
    config = {
        "experiment": "mlp_pair",
        "sharing": sharing,
        "model": {"hidden_size": 32},
        "train": {"batch_size": 20, "log_every": 10},
        "data": {"path": str(mnist_dir)},
        "networks": [
            {
                "scope": "mlp1",
                "optimizer": "adagrad",
                "learning_rate": 0.05,
                "steps": 20,
                "train_start": 0,
                "train_stop": 300,
            },
            {
                "scope": "mlp1" if sharing == "shared" else "mlp2",
                "optimizer": "adam",
                "learning_rate": 0.001,
                "steps": 20,
                "train_start": 300,
                "train_stop": 600,
            },
        ],
    }
    return _merge(config, changes)


def _merge(base: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def cli(*args: str):
    """Invoke the real CLI in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def only_run(runs_dir: Path) -> Path:
    (run,) = [path for path in runs_dir.iterdir() if path.is_dir()]
    return run


def summary_of(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


_started: list[subprocess.Popen] = []


def start_scopelab(*args) -> subprocess.Popen:
    """The real CLI in its own process (unbuffered, so a test can wait for a line), stdout and stderr apart.
    One still alive when its test ends is killed (stop_leftover_processes)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scopelab", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    _started.append(process)
    return process


def interrupt_after(process: subprocess.Popen, marker: str, number: int, after: str | None = None) -> tuple[str, str]:
    """Send the signal once a line starting with `marker` has been printed (a logged step; with `after`, the
    first such line after one starting with `after`), then collect the output."""
    seen = []
    armed = after is None
    for line in process.stdout:
        seen.append(line)
        armed = armed or line.startswith(after)
        if armed and line.startswith(marker):
            process.send_signal(number)
            break
    out, err = process.communicate(timeout=120)
    return "".join(seen) + out, err


@pytest.fixture(autouse=True)
def stop_leftover_processes():
    """A test that fails while its training process lives (an endless run, a sweep's driver) would leave
    it taking a core from every later test; it is killed here (a sweep's workers die with their driver)."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()
