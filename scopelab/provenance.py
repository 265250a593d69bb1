"""What produced a run, gathered at its start: git state of the config's repository, the command line,
package versions, TensorFlow's build, the machine and the environment variables that change results (an
allowlist: no secret is ever recorded)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from scopelab import __version__
from scopelab.runs import Provenance

# Required first, then the extras: an absent one is left out.
PACKAGES = ("tensorflow", "numpy", "click", "PyYAML", "tqdm", "tensorboard", "matplotlib", "ray", "protobuf")
# The environment variables that change what TensorFlow computes or where: named one by one, never by prefix
# (TF_* also holds Terraform's TF_TOKEN_<host> and TF_VAR_<name>). docs/reliability.md says why each is here.
ENV_ALLOWLIST = (
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TF_FORCE_GPU_ALLOW_GROWTH", "TF_GPU_ALLOCATOR",  # placement
    "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC", "TF_CUDNN_USE_AUTOTUNE", "TF_CUDNN_WORKSPACE_LIMIT_IN_MB",
    "NVIDIA_TF32_OVERRIDE", "TF_ENABLE_ONEDNN_OPTS", "TF_XLA_FLAGS", "XLA_FLAGS",  # which kernels, what precision
    "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS",  # threads: the order of summation
    "PYTHONHASHSEED", "SCOPELAB_DATA",
)
# A name that suggests a secret is never recorded, even if it is (or is one day put) on the allowlist.
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH", re.IGNORECASE)


def collect(config_file: Path | None, command: str, tf: Any, use_gpu: bool) -> Provenance:
    """The provenance of a run started now by `command` (tf: the imported TensorFlow module)."""
    return Provenance(
        command=command,
        git=git_state(config_file.parent) if config_file else None,
        python=platform.python_version(),
        scopelab=__version__,
        packages=package_versions(),
        tensorflow_build=_build_info(tf),
        machine=machine(tf, use_gpu),
        env=environment(),
    )


def git_state(directory: Path) -> dict | None:
    """commit, branch and dirty flag of the repository holding `directory`; None when there is no git or no
    repository (silently: a config outside version control is normal)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    headers = dict(line[2:].split(" ", 1) for line in done.stdout.splitlines() if line.startswith("# "))
    commit = headers.get("branch.oid")
    branch = headers.get("branch.head")
    return {
        "commit": None if commit in (None, "(initial)") else commit,
        "branch": None if branch in (None, "(detached)") else branch,
        "dirty": any(not line.startswith("#") for line in done.stdout.splitlines()),
    }


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, str]:
    """Only the variables that change results or placement: nothing else from the environment is kept."""
    return recordable(os.environ)


def recordable(env: Mapping[str, str]) -> dict[str, str]:
    """The allowlisted variables of `env` whose names suggest no secret, sorted by name. `show` filters an
    old run's record through it too: scopelab 0.1 recorded every TF_* variable."""
    return {name: env[name] for name in sorted(env) if name in ENV_ALLOWLIST and not SECRET_NAME.search(name)}


def machine(tf: Any, use_gpu: bool) -> dict[str, Any]:
    gpus = []
    if use_gpu:
        for device in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(device)
            gpus.append(details.get("device_name", device.name))
    return {
        "system": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "gpus": gpus,
    }


def _build_info(tf: Any) -> dict[str, Any]:
    """CUDA and cuDNN versions on a GPU build (plain JSON values only)."""
    info = dict(tf.sysconfig.get_build_info())
    return {key: value for key, value in info.items() if isinstance(value, (str, int, float, bool))}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
