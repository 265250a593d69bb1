"""Config: YAML (with its `base:` chain) plus `--set key=value` overrides -> typed, frozen dataclasses.

Defaults live here, a config file holds what differs (from the defaults, or from its base). Every
error is an InputError that names the file, the key path and what was expected; the training code
only ever sees the dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from scopelab import plugins
from scopelab.config_source import BUILTIN_PREFIX, builtin_path, source_label, suggest_builtin
from scopelab.dotted import lookup
from scopelab.errors import InputError
from scopelab.safe_read import CONFIG_LIMIT, NodeBudget, UnsafeFile, load_yaml, read_text

Optimizer = Literal["adagrad", "adam", "sgd", "momentum", "rmsprop"]
# tf1: variable_scope/get_variable graphs run by a Session (the article's way); tf2: tf.Module
# objects shared by holding them, run eagerly with the step in a tf.function. Same numbers either way.
Api = Literal["tf1", "tf2"]
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SCOPE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_NAME = 200  # a run directory is <date>-<time>-<name>[-xxxx]: within the 255 bytes a file name may have
MAX_SEED = 2**31 - 1  # TensorFlow folds larger graph seeds into this range, so two seeds would give one run
# A base: chain is read whole before anything is checked: bound it in files and in bytes (a real one is
# two or three files of a page each), so that a chain of thousands of files, or of many at safe_read's
# per-file limit, is refused before it is read.
MAX_BASE_CHAIN = 32  # files, the config itself included
CHAIN_LIMIT = 4 << 20  # bytes over the whole chain: four configs at the 1 MB a single one may have


@dataclass(frozen=True)
class DataConfig:
    dataset: Literal["mnist"] = "mnist"
    # None: the bundled copy (or $SCOPELAB_DATA); else a directory of IDX files or an mnist.npz.
    path: str | None = None


@dataclass(frozen=True)
class AutoencoderData(DataConfig):
    # TensorFlow's old MNIST reader held out training images 0-4,999 for validation.
    train_start: int = 5000
    train_stop: int | None = None  # None: to the end of the training set


@dataclass(frozen=True)
class AutoencoderModel:
    input_size: int = 784
    hidden_size: int = 625
    tied: bool = False
    init_std: float = 0.05
    api: Api = "tf1"


@dataclass(frozen=True)
class TrainConfig:
    # Updates are numbered 0..steps (steps + 1 of them), as in the article's loop and table.
    steps: int = 10000
    batch_size: int = 128
    optimizer: Optimizer = "adagrad"
    learning_rate: float = 0.1
    log_every: int = 1000
    checkpoint_every: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class AutoencoderConfig:
    name: str = ""
    description: str = ""
    experiment: Literal["autoencoder"] = "autoencoder"
    model: AutoencoderModel = AutoencoderModel()
    train: TrainConfig = TrainConfig()
    data: AutoencoderData = AutoencoderData()


@dataclass(frozen=True)
class MlpModel:
    input_size: int = 784
    hidden_size: int = 625
    num_classes: int = 10
    init_std: float = 0.05
    weight_decay: float = 0.01
    api: Api = "tf1"


@dataclass(frozen=True)
class NetworkConfig:
    scope: str = "mlp1"
    optimizer: Optimizer = "adam"
    learning_rate: float = 0.001
    steps: int = 5000
    train_start: int = 0
    train_stop: int | None = None


@dataclass(frozen=True)
class PairTrainConfig:
    batch_size: int = 100
    log_every: int = 1000
    checkpoint_every: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class MlpPairConfig:
    name: str = ""
    description: str = ""
    experiment: Literal["mlp_pair"] = "mlp_pair"
    sharing: Literal["shared", "independent"] = "independent"
    model: MlpModel = MlpModel()
    train: PairTrainConfig = PairTrainConfig()
    data: DataConfig = DataConfig()
    networks: tuple[NetworkConfig, NetworkConfig] = (
        NetworkConfig("mlp1", "adagrad", 0.003, 5000, 0, 30000),
        NetworkConfig("mlp2", "adam", 0.001, 5000, 30000, None),
    )


# The built-in families' schemas; a plugin family's schema is its own frozen dataclass (scopelab.plugins).
Config = AutoencoderConfig | MlpPairConfig


def load_config(path: str | Path, overrides: tuple[str, ...] | list[str] = (), option: str = "--set") -> Config:
    """Read a YAML config file, apply `key=value` overrides, and return the validated config.

    `option` names where the overrides came from in error messages (`--set`, or a sweep's `--grid`).
    """
    path = Path(path)
    where = source_label(path)  # builtin:tied_ae, not the path inside site-packages
    raw = _read_with_bases(path)
    parsed = [_parse_override(text, option) for text in overrides]
    experiment = raw.get("experiment")
    for keys, value, _ in parsed:
        if keys == ["experiment"]:
            experiment = value
    family = _family(experiment, where)
    for keys, value, text in parsed:
        _apply_override(raw, family.schema, keys, value, f"{where}: {option} {text}")
    raw.setdefault("name", path.stem)
    config = _convert(raw, family.schema, "", where)
    _validate(config, where, family)
    return config


def _family(experiment: Any, where: str) -> plugins.Family:
    """The family whose schema reads the config: scopelab's own, or an installed plugin's."""
    found = plugins.family(experiment) if isinstance(experiment, str) else None
    if found is not None:
        return found
    known = plugins.names()  # only now, for the message: every installed family
    if experiment is None:
        raise InputError(f"{where}: key 'experiment' is missing; expected one of {_choices(known)}.")
    raise InputError(
        f"{where}: key 'experiment' is {_show(experiment)}; expected one of {_choices(known)}"
        f"{_suggest(str(experiment), known)}."
    )


def _read_with_bases(path: Path) -> dict:
    """The file's keys over its base's over the base's base...: mappings merge key by key, anything else
    (a list such as `networks`, a scalar) is replaced whole. `name` is never inherited: it is the file's."""
    nodes = NodeBudget()  # YAML nodes over the whole chain
    layers = [_read_yaml(path, nodes)]
    chain = [path]
    seen = {path.resolve()}
    total = _size(path)
    while "base" in layers[-1]:
        child = source_label(chain[-1])
        reference = layers[-1].pop("base")
        if not isinstance(reference, str) or not reference.strip():
            raise InputError(f"{child}: key 'base' is {_show(reference)}; expected a built-in name or a file path.")
        if len(chain) == MAX_BASE_CHAIN:
            raise InputError(
                f"{child}: base '{reference}' would make the base chain of {source_label(path)} longer than "
                f"{MAX_BASE_CHAIN} files."
            )
        base = _base_path(reference, chain[-1])
        if base.resolve() in seen:
            names = " -> ".join(source_label(item) for item in [*chain, base])
            raise InputError(f"{source_label(path)}: the base chain is a cycle: {names}.")
        seen.add(base.resolve())
        total += _size(base)  # before reading it; each read is bounded too (safe_read's CONFIG_LIMIT)
        if total > CHAIN_LIMIT:
            raise InputError(
                f"{child}: base '{reference}' would make the base chain of {source_label(path)} more than "
                f"{CHAIN_LIMIT:,} bytes in all."
            )
        raw = _read_yaml(base, nodes)
        ours, theirs = layers[-1].get("experiment"), raw.get("experiment")
        if ours is not None and theirs is not None and ours != theirs:
            raise InputError(
                f"{child}: experiment {_show(ours)}, but its base '{reference}' is of experiment {_show(theirs)}; "
                "a base must be of the same experiment kind."
            )
        if ours is not None:
            raw["experiment"] = ours  # so that the next base down is checked against it too
        raw.pop("name", None)
        layers.append(raw)
        chain.append(base)
    merged: dict = {}
    for layer in reversed(layers):
        merged = _merge(merged, layer)
    return merged


def _size(path: Path) -> int:
    """Its size on disk; 0 when it cannot be looked at, for _read_yaml to word that error."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _base_path(reference: str, child: Path) -> Path:
    """A bare name is a built-in config; anything with a '/' or a .yaml suffix a path relative to the file."""
    name = reference.removeprefix(BUILTIN_PREFIX)
    is_path = "/" in reference or Path(reference).suffix in (".yaml", ".yml")
    if reference.startswith(BUILTIN_PREFIX) or not is_path:
        found = builtin_path(name)
        if found is None:
            raise InputError(f"{child}: base '{reference}' is not a built-in config{suggest_builtin(name)}.")
        return found
    found = child.parent / reference
    if not found.is_file():
        raise InputError(f"{child}: base '{reference}' not found (looked for {found}).")
    return found


def _merge(base: dict, layer: dict) -> dict:
    merged = dict(base)
    for key, value in layer.items():
        both_mappings = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both_mappings else value
    return merged


def config_to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain YAML-ready data (tuples become lists)."""
    return _plain(dataclasses.asdict(config))


def dump_config(config: Config, width: int | None = None) -> str:
    """The config as YAML; width: fold long strings to fit about that many columns (YAML folds at a space
    once past its width, so it is given a word's allowance less; the text reads back the same)."""
    if width is None:
        return yaml.safe_dump(config_to_dict(config), sort_keys=False)
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, width=max(width - 16, 20))


def overridden(config: Config, overrides: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The resolved value of each key that KEY=VALUE overrides set, e.g. {"train.learning_rate": 0.1}."""
    keys = (text.partition("=")[0].strip() for text in overrides)
    plain = config_to_dict(config)
    return {key: lookup(plain, key) for key in keys}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _read_yaml(path: Path, nodes: NodeBudget) -> dict:
    if not path.exists():
        raise InputError(f"{path}: no such config file.")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; expected a YAML config file.")
    try:
        raw = load_yaml(read_text(path, CONFIG_LIMIT), nodes)
    except UnsafeFile as error:
        raise InputError(f"{path}: the config file {error}.") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: cannot read the config file (it is not UTF-8 text).") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the config file ({error.strerror}).") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or "invalid YAML"
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{path}: YAML syntax error{at}: {problem}.") from None
    if raw is None:
        raise InputError(f"{path}: the config file is empty; expected a mapping with at least 'experiment'.")
    if not isinstance(raw, dict):
        raise InputError(f"{path}: the top level is a {_kind(raw)}; expected a mapping of keys to values.")
    return raw


def _parse_override(text: str, option: str) -> tuple[list[str], Any, str]:
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"{option} {text}: expected KEY=VALUE, e.g. --set train.steps=200.")
    try:
        value = load_yaml(value_text) if value_text.strip() else None
    except yaml.YAMLError:
        value = value_text  # not a YAML scalar: take the text as it is, the type check decides
    except UnsafeFile as error:
        raise InputError(f"{option} {key}=...: the value {error}.") from None
    return key.split("."), value, text


def _apply_override(raw: dict, schema: type, keys: list[str], value: Any, where: str) -> None:
    """Set raw[keys...] = value, checking every key against the schema (not against the file). Not
    scopelab.dotted's lookup: this walk also checks each key and fills in a missing section's defaults."""
    node: Any = raw
    hint: Any = schema
    default: Any = schema()
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        dotted = ".".join(keys[: depth + 1])
        if dataclasses.is_dataclass(hint):
            if not isinstance(node, dict):  # the file has a list (say `train: []`) where a mapping belongs
                raise InputError(f"{where}: '{'.'.join(keys[:depth])}' is a list in the config; expected a mapping.")
            hints = get_type_hints(hint)
            if key not in hints:
                prefix = dotted[: -len(key)]
                raise InputError(f"{where}: unknown key '{dotted}'{_suggest(key, hints, prefix)}.")
            hint, default = hints[key], getattr(default, key)
        elif get_origin(hint) is tuple and isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise InputError(f"{where}: '{dotted}' is not an index of the {len(node)}-item list.")
            args = get_args(hint)
            hint = args[0] if args[-1] is Ellipsis else args[int(key)]
            key = int(key)
            default = default[key] if key < len(default) else hint()
        else:
            raise InputError(f"{where}: '{'.'.join(keys[:depth])}' has no key '{key}'.")
        if last:
            node[key] = value
            return
        if isinstance(node, dict) and key not in node:
            # Not in the file: start from the schema's defaults so that one key can be changed.
            if dataclasses.is_dataclass(default):
                node[key] = _plain(dataclasses.asdict(default))
            elif isinstance(default, tuple):
                node[key] = [_plain(dataclasses.asdict(item)) for item in default]
        node = node.get(key) if isinstance(node, dict) else node[key]
        if not isinstance(node, (dict, list)):
            raise InputError(f"{where}: '{dotted}' is not a mapping or list in the config.")


def _convert(value: Any, hint: Any, path: str, where: str) -> Any:
    """Check value against the type hint and build the typed value; errors name the key path."""
    key = path or "the top level"
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise InputError(f"{where}: key '{key}' is {_show(value)}; expected a mapping.")
        hints = get_type_hints(hint)
        for name in value:
            if name not in hints:
                dotted = f"{path}.{name}" if path else str(name)
                prefix = f"{path}." if path else ""
                raise InputError(f"{where}: unknown key '{dotted}'{_suggest(str(name), hints, prefix)}.")
        fields = {name: _convert(value[name], hints[name], f"{path}.{name}" if path else name, where) for name in value}
        return hint(**fields)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _convert(value, inner, path, where)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise InputError(
                f"{where}: key '{key}' is {_show(value)}; expected one of {_choices(choices)}"
                f"{_suggest(str(value), choices)}."
            )
        return value
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(value, list):
            raise InputError(f"{where}: key '{key}' is {_show(value)}; expected a list.")
        if args[-1] is not Ellipsis and len(value) != len(args):
            raise InputError(f"{where}: key '{key}' has {len(value)} items; expected exactly {len(args)}.")
        inner = [args[0]] * len(value) if args[-1] is Ellipsis else args
        return tuple(_convert(item, hint_i, f"{path}.{i}", where) for i, (item, hint_i) in enumerate(zip(value, inner)))
    return _scalar(value, hint, key, where)


def _scalar(value: Any, hint: type, key: str, where: str) -> Any:
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]
    if value is None:
        raise InputError(f"{where}: key '{key}' is null; expected {expected}.")
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):  # YAML's .inf and .nan: a run would be made, then diverge
            raise InputError(f"{where}: key '{key}' is {value}; expected a finite number.")
        return float(value)
    if hint is float and isinstance(value, str):
        # PyYAML reads `1e-3` (no dot) as a string; accept what Python reads as a finite number.
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    if hint is str and isinstance(value, str):
        return value
    raise InputError(f"{where}: key '{key}' is {_show(value)}; expected {expected}.")


def _validate(config: Config, where: str, family: plugins.Family) -> None:
    """What every run needs of a config, then what its family checks (its `validate(config, require)`)."""
    def require(ok: bool, key: str, expected: str) -> None:
        if not ok:
            value = lookup(config_to_dict(config), key)
            raise InputError(f"{where}: key '{key}' is {_show(value)}; expected {expected}.")

    require(
        bool(NAME_PATTERN.match(config.name)) and len(config.name) <= MAX_NAME,
        "name",
        f"at most {MAX_NAME} letters, digits, '.', '_' or '-' (it names run directories)",
    )
    if family.validate is not None:
        family.validate(config, require)
    train = config.train
    require(train.log_every >= 1, "train.log_every", "an integer >= 1")
    require(train.checkpoint_every >= 1, "train.checkpoint_every", "an integer >= 1")
    require(0 <= train.seed <= MAX_SEED, "train.seed", f"an integer from 0 to {MAX_SEED} (what TensorFlow keeps)")


def check_sizes(config: Config, require: Any) -> None:
    """A built-in family's validate: the sizes both of the article's models have."""
    require(config.model.input_size >= 1, "model.input_size", "an integer >= 1")
    require(config.model.hidden_size >= 1, "model.hidden_size", "an integer >= 1")
    require(config.model.init_std > 0, "model.init_std", "a number > 0")
    require(config.train.batch_size >= 1, "train.batch_size", "an integer >= 1")


def check_slice(require: Any, prefix: str, start: int, stop: int | None, batch_size: int) -> None:
    """A family's validate: a train range [start, stop) of the training images that holds a batch."""
    require(start >= 0, f"{prefix}.train_start", "an integer >= 0")
    if stop is not None:
        require(stop > start, f"{prefix}.train_stop", f"null or an integer > train_start ({start})")
        require(
            stop - start >= batch_size,
            f"{prefix}.train_stop",
            f"at least train.batch_size ({batch_size}) images after train_start",
        )


def _suggest(word: str, options: Any, prefix: str = "") -> str:
    if len(word) > 100:  # no key or choice is this long: nothing to suggest, and nothing to compare at length
        return ""
    close = difflib.get_close_matches(word, [str(option) for option in options], n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def _choices(options: Any) -> str:
    return ", ".join(repr(option) for option in options)


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return f"a {_kind(value)}" if not isinstance(value, dict) else "a mapping"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
