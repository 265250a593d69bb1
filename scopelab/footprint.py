"""Whether a config's model fits in this machine's memory, estimated from the config before anything is
built: `model.hidden_size=1e8` once made a run directory and failed 24 seconds later in TensorFlow."""

from __future__ import annotations

import os

from scopelab.config import AutoencoderConfig, Config, MlpPairConfig
from scopelab.errors import InputError

FLOAT_BYTES = 4
# Values kept per variable besides the variable itself: its gradient, and the optimizer's slots.
SLOTS = {"sgd": 0, "adagrad": 1, "momentum": 1, "adam": 2, "rmsprop": 2}


def estimated_bytes(config: Config) -> int | None:
    """Variables, gradients and optimizer slots, plus a batch's activations (forward and backward); None
    for a plugin family's config, whose model this module does not know (docs/PLUGINS.md)."""
    model = config.model
    if not isinstance(config, (AutoencoderConfig, MlpPairConfig)):
        return None
    if isinstance(config, AutoencoderConfig):
        weights = model.input_size * model.hidden_size * (1 if model.tied else 2)
        parameters = weights + model.hidden_size + model.input_size
        per_value = 2 + SLOTS[config.train.optimizer]
        activations = config.train.batch_size * (model.hidden_size + model.input_size)
    else:
        one = model.input_size * model.hidden_size + model.hidden_size + model.hidden_size * model.num_classes
        one += model.num_classes
        parameters = one * (1 if config.sharing == "shared" else 2)
        per_value = 2 + max(SLOTS[network.optimizer] for network in config.networks)
        activations = config.train.batch_size * (model.hidden_size + model.num_classes)
    return FLOAT_BYTES * (parameters * per_value + 4 * activations)


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else the physical memory, else None (unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_fits_in_memory(config: Config) -> None:
    need, have = estimated_bytes(config), available_bytes()
    if need is not None and have is not None and need > have:
        raise InputError(
            f"config '{config.name}': its model needs about {size_text(need)} for its variables, gradients, "
            f"optimizer slots and a batch (model.hidden_size {config.model.hidden_size}, model.input_size "
            f"{config.model.input_size}), more than the {size_text(have)} of memory available here."
        )


def size_text(count: int) -> str:
    value, unit = float(count), "bytes"
    for larger in ("KB", "MB", "GB", "TB", "PB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{value:.1f} {unit}"
