"""Opt-in (`pytest -m wheel`; .ci/run runs it): the wheel, installed into a fresh virtual environment, works
from an empty directory: `list` shows the built-in configs, `run smoke` and `reproduce --quick` succeed; the
example plugin examples/siamese, installed from its own wheel, runs there too.

The fresh environment gets scopelab only from the wheel (`--no-deps`). Its dependencies (TensorFlow's
~2 GB among them) come from the environment running this test, through a .pth file that puts that
environment's site-packages on the path: downloading them again would take minutes and a network. A
directory listed in a .pth file is only appended to sys.path, its own .pth files are not run, so the
running environment's editable scopelab (a .pth hook) stays out, and the wheel's copy comes first on the
path anyway; the test checks which scopelab answered. What this does not prove, that the declared
dependencies are complete, .ci/run proves by installing from scratch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.wheel


def run(command: list, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def build_wheel(tmp_path: Path, project: Path, parts: tuple[str, ...], name: str) -> Path:
    """From a copy of the sources, so that the build writes nothing into the clone."""
    source = tmp_path / f"source-{name}"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in parts:
        copy = shutil.copytree if (project / part).is_dir() else shutil.copy
        copy(project / part, source / part, **({"ignore": ignore} if copy is shutil.copytree else {}))
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", dist,
         source], tmp_path)
    (wheel,) = dist.glob(f"{name}-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheels: list[Path]) -> Path:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", *wheels],
        tmp_path)
    where = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout
    site = Path(where.strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "dependencies-from-the-test-environment.pth").write_text("".join(f"{path}\n" for path in ours))
    return venv


def test_the_wheel_works_from_an_empty_directory(tmp_path):
    wheel = build_wheel(tmp_path, ROOT, ("scopelab", "pyproject.toml", "README.md"), "scopelab")
    plugin = build_wheel(tmp_path, ROOT / "examples" / "siamese", ("scopelab_siamese", "pyproject.toml", "README.md"),
                         "scopelab_siamese")
    venv = fresh_venv(tmp_path, [wheel, plugin])
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "SCOPELAB_DATA")}
    scopelab = venv / "bin" / "scopelab"

    for package in ("scopelab", "scopelab_siamese"):
        where = run([venv / "bin" / "python", "-c", f"import {package}; print({package}.__file__)"], empty, env).stdout
        assert where.startswith(str(venv)), where  # the wheel's copy, not the clone's
    declared = run([venv / "bin" / "python", "-c", "from importlib.metadata import entry_points; print(sorted("
                    "(p.name, p.value, p.dist.name) for p in entry_points(group='scopelab.experiments')))"],
                   empty, env).stdout
    assert declared.strip() == str(sorted([
        ("autoencoder", "scopelab.experiments.autoencoder_family", "scopelab"),
        ("mlp_pair", "scopelab.experiments.mlp_pair_family", "scopelab"),
        ("siamese", "scopelab_siamese.family", "scopelab-siamese"),
    ]))

    listing = run([scopelab, "list"], empty, env).stdout
    for name in ("mlp_averaged", "mlp_shared", "smoke", "tied_ae", "untied_ae"):
        assert f"\n{name} " in listing and "built-in" in listing

    smoke = run([scopelab, "run", "smoke", "--quiet"], empty, env)
    assert "run directory: runs/" in smoke.stdout and "loss (test) = " in smoke.stdout

    quick = run([scopelab, "reproduce", "--quick"], empty, env)
    assert quick.stdout.startswith("The article's figures beside scopelab's (seed 0; steps cut to 1/20")
    assert quick.stdout.count("(steps cut to 1/20 by --quick") == 3  # each verdict says so
    made = [path for path in (empty / "runs").iterdir() if path.is_dir() and path.name != "sweeps"]
    assert sorted(path.name.split("-", 2)[2] for path in made) == [
        "mlp_averaged", "mlp_shared", "smoke", "tied_ae", "untied_ae"
    ]
    assert not (empty / "configs").exists()  # nothing needed from a clone

    assert "siamese_shared       siamese      plugin scopelab-siamese" in run([scopelab, "list", "--configs"], empty,
                                                                               env).stdout
    siamese = run([scopelab, "run", "siamese_shared", "--set", "train.steps=20", "--runs-dir", "plugin-runs"], empty,
                  env)
    assert "pair accuracy (test) = " in siamese.stdout
    shown = run([scopelab, "show", "siamese_shared", "--runs-dir", "plugin-runs"], empty, env).stdout
    assert "tower/W_hid" in shown and "left/tower, right/tower" in shown
