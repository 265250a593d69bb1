"""Where a run came from (scopelab.provenance): git state, package versions, the machine; each part also when
what it reads is missing (no git, no repository, no package, no GPU details, no /proc)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

from scopelab import provenance


def git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True, text=True).stdout


def test_git_state_follows_the_repository(tmp_path):
    assert provenance.git_state(tmp_path) is None  # not a repository: silently nothing
    git(tmp_path, "init", "-q", "-b", "trunk")
    assert provenance.git_state(tmp_path) == {"commit": None, "branch": "trunk", "dirty": False}  # no commit yet
    (tmp_path / "c.yaml").write_text("a: 1\n")
    git(tmp_path, "add", "c.yaml")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    head = git(tmp_path, "rev-parse", "HEAD").strip()
    assert provenance.git_state(tmp_path) == {"commit": head, "branch": "trunk", "dirty": False}
    (tmp_path / "c.yaml").write_text("a: 2\n")
    assert provenance.git_state(tmp_path)["dirty"] is True
    git(tmp_path, "checkout", "-q", "--detach")
    assert provenance.git_state(tmp_path)["branch"] is None


def test_git_state_without_git_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable anywhere
    assert provenance.git_state(tmp_path) is None


def test_a_package_that_is_not_installed_is_left_out(monkeypatch):
    monkeypatch.setattr(provenance, "PACKAGES", ("click", "scopelab-no-such-package"))
    versions = provenance.package_versions()
    assert list(versions) == ["click"] and versions["click"][0].isdigit()


def test_machine_names_each_gpu_and_survives_a_machine_without_proc(monkeypatch):
    gpus = [SimpleNamespace(name="/physical_device:GPU:0"), SimpleNamespace(name="/physical_device:GPU:1")]
    details = {"/physical_device:GPU:0": {"device_name": "Tesla T4"}, "/physical_device:GPU:1": {}}
    tf = SimpleNamespace(config=SimpleNamespace(
        list_physical_devices=lambda kind: gpus if kind == "GPU" else [],
        experimental=SimpleNamespace(get_device_details=lambda device: details[device.name]),
    ))
    found = provenance.machine(tf, use_gpu=True)
    assert found["gpus"] == ["Tesla T4", "/physical_device:GPU:1"]  # the device's own name when no details
    assert provenance.machine(tf, use_gpu=False)["gpus"] == []  # a CPU run names no GPU, even when present
    assert found["memory_bytes"] > 0 and found["cpu"]

    def no_file(*args, **kwargs):
        raise OSError("no /proc here")

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr("builtins.open", no_file)
    monkeypatch.setattr(provenance.os, "sysconf", no_sysconf)
    monkeypatch.setattr(provenance.platform, "processor", lambda: "")
    monkeypatch.setattr(provenance.platform, "machine", lambda: "x86_64")
    bare = provenance.machine(tf, use_gpu=False)
    assert (bare["cpu"], bare["memory_bytes"]) == ("x86_64", None)
