"""Experiment families found by entry point: group `scopelab.experiments`, name -> module.

scopelab's own families are entry points of its own package (pyproject.toml) and load through the same
`load` as any plugin's. Resolving one of them reads BUILTIN, never the installed packages' metadata (that
costs ~30 ms at start-up; a test proves BUILTIN equal to scopelab's declared entry points). The other
packages' entry points are scanned once per process, and only when a name is not a built-in one or when
every family (or every shipped config) is asked for.

A family module is checked when it is loaded (docs/PLUGINS.md is the contract): a fault is a PluginError,
one line naming the package and the entry point, raised before anything is built or written.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from scopelab.errors import InputError
from scopelab.metrics import Ensemble, Metric

GROUP = "scopelab.experiments"
API_VERSION = 1  # scopelab.api's version; a family module says which one it was written for
SUPPORTED_API_VERSIONS = (1,)
OWN_PACKAGE = "scopelab"
BUILTIN = {
    "autoencoder": "scopelab.experiments.autoencoder_family",
    "mlp_pair": "scopelab.experiments.mlp_pair_family",
}
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a family name; a broken record's "?" is none
# Every config a run, the loop and the records read, whatever the family: key path -> what it is for.
REQUIRED_KEYS = ("name", "description", "experiment", "model.api", "train.seed", "train.log_every",
                 "train.checkpoint_every", "data.path")


class PluginError(InputError):
    """A family module breaks the contract: exit 2, one line naming its package and entry point."""


@dataclass(frozen=True)
class EntryPoint:
    name: str
    module: str
    package: str

    def where(self) -> str:
        return f"package '{self.package}', entry point '{self.name} = {self.module}'"

    def fault(self, problem: str) -> PluginError:
        return PluginError(f"{self.where()}: {problem}")


@dataclass(frozen=True)
class Family:
    """A family module, checked: what the registry (scopelab.experiments) and config.py read of it."""

    name: str
    entry: EntryPoint
    module: ModuleType
    metrics: tuple[Metric, ...]
    headline: tuple[str, ...]  # the one metric `list` shows: the first of these a run has
    ensemble: Ensemble | None
    configs: Path | None  # the YAML configs it ships, run by name like scopelab's built-in ones
    build_tf1: Callable[..., Any]
    build_tf2: Callable[..., Any] | None
    validate: Callable[..., None] | None

    @cached_property
    def schema(self) -> type:
        """Checked when first read, by the config that needs it: reports read only the metrics, and a
        built-in family's schema lives in scopelab.config, which brings YAML with it."""
        return _schema(self.module, self.name, self.build_tf2 is not None, self.entry)

    @property
    def builtin(self) -> bool:
        return self.entry.package == OWN_PACKAGE

    def config_names(self) -> list[str]:
        return sorted(path.stem for path in self.configs.glob("*.yaml")) if self.configs else []


_loaded: dict[str, Family] = {}
_scanned: dict[str, list[EntryPoint]] | None = None


def family(name: str) -> Family | None:
    """The family `name`, loaded and checked once; None when no package declares it."""
    if name not in _loaded:
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            return None
        entry = EntryPoint(name, BUILTIN[name], OWN_PACKAGE) if name in BUILTIN else _plugin_entry(name)
        if entry is None:
            return None
        _loaded[name] = load(entry)
    return _loaded[name]


def loaded() -> list[Family]:
    """The families loaded so far in this process (no scan)."""
    return list(_loaded.values())


def names() -> list[str]:
    """Every family name: scopelab's own first, then the installed plugins' (this scans them)."""
    return [*BUILTIN, *sorted(_plugin_entry_points())]


def plugin_families() -> tuple[list[Family], list[PluginError]]:
    """Every installed plugin's family that loads, and the fault of each one that does not."""
    loaded, faults = [], []
    for name, entries in sorted(_plugin_entry_points().items()):
        if name in BUILTIN:  # never loaded: the built-in family of that name is the one configs get
            faults += [entry.fault(f"'{name}' is one of scopelab's own experiments; choose another name.")
                       for entry in entries]
            continue
        try:
            loaded.append(family(name))
            loaded[-1].schema  # noqa: B018 (checked here, so that its fault is listed too)
        except PluginError as fault:
            faults.append(fault)
    return loaded, faults


def _plugin_entry(name: str) -> EntryPoint | None:
    declared = _plugin_entry_points().get(name, [])
    if len(declared) > 1:
        packages = " and ".join(f"'{entry.package}'" for entry in declared)
        raise PluginError(f"experiment '{name}' is declared by two packages ({packages}, entry point group "
                          f"{GROUP}); uninstall one of them.")
    return declared[0] if declared else None


def _plugin_entry_points() -> dict[str, list[EntryPoint]]:
    """The group's entry points of every installed package but scopelab: read once per process."""
    global _scanned
    if _scanned is None:
        from importlib.metadata import entry_points

        _scanned = {}
        for point in entry_points(group=GROUP):
            package = point.dist.name if point.dist is not None else "unknown"
            if package == OWN_PACKAGE:
                continue  # BUILTIN, which a test holds equal to these
            _scanned.setdefault(point.name, []).append(EntryPoint(point.name, point.value, package))
    return _scanned


def load(entry: EntryPoint) -> Family:
    """Import the entry point's module and check it against the contract (docs/PLUGINS.md)."""
    fault = entry.fault
    if ":" in entry.module:
        raise fault("an entry point of this group names a module (no ':attribute').")
    try:
        module = importlib.import_module(entry.module)
    except Exception as error:  # anything its import raises is the plugin's fault, said in one line
        raise fault(f"the module cannot be imported ({_one_line(error)}).") from None
    version = getattr(module, "SCOPELAB_API", None)
    if version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(str(each) for each in SUPPORTED_API_VERSIONS)
        said = "no SCOPELAB_API" if version is None else f"SCOPELAB_API = {version!r}"
        raise fault(f"the module declares {said}; this scopelab supports API version {supported}.")
    build_tf1, build_tf2, validate = (_callable(module, name, fault) for name in ("build", "build_tf2", "validate"))
    if build_tf1 is None:
        raise fault("the module has no build(config, mnist).")
    metrics = _metrics(module, fault)
    declared = [metric.name for metric in metrics]
    headline = tuple(getattr(module, "HEADLINE", declared))
    ensemble = getattr(module, "ENSEMBLE", None)
    named = [*headline, *((ensemble.combined, *ensemble.members) if isinstance(ensemble, Ensemble) else ())]
    if ensemble is not None and not isinstance(ensemble, Ensemble):
        raise fault(f"ENSEMBLE is a {type(ensemble).__name__}; expected scopelab.api.Ensemble or None.")
    unknown = [name for name in named if name not in declared]
    if unknown:
        raise fault(f"HEADLINE or ENSEMBLE names '{unknown[0]}', which METRICS does not declare.")
    configs = getattr(module, "CONFIGS", None)
    if configs is not None and not Path(configs).is_dir():
        raise fault(f"CONFIGS is {configs!r}; expected the directory of the configs it ships.")
    return Family(entry.name, entry, module, metrics, headline, ensemble, Path(configs) if configs else None,
                  build_tf1, build_tf2, validate)


def _callable(module: ModuleType, name: str, fault: Callable[[str], PluginError]) -> Callable | None:
    value = getattr(module, name, None)
    if value is not None and not callable(value):
        raise fault(f"'{name}' is a {type(value).__name__}; expected a function.")
    return value


def _schema(module: ModuleType, name: str, has_tf2: bool, entry: EntryPoint) -> type:
    fault = entry.fault
    schema = getattr(module, "SCHEMA", None)
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema) and schema.__dataclass_params__.frozen):
        raise fault(f"SCHEMA is {_kind(schema)}; expected a frozen dataclass (@dataclass(frozen=True)).")
    try:
        defaults = schema()
    except Exception as error:
        raise fault(f"SCHEMA() fails ({_one_line(error)}); every key needs a default.") from None
    for key in REQUIRED_KEYS:
        node: Any = defaults
        for part in key.split("."):
            if not hasattr(node, part):
                raise fault(f"SCHEMA has no key '{key}', which every config needs (docs/PLUGINS.md).")
            node = getattr(node, part)
    if defaults.experiment != name:
        raise fault(f"SCHEMA's experiment defaults to {defaults.experiment!r}; expected '{name}', its entry "
                    "point's name.")
    if defaults.model.api == "tf2" and not has_tf2:
        raise fault("SCHEMA's model.api defaults to 'tf2', but the module has no build_tf2(config, mnist).")
    return schema


def _metrics(module: ModuleType, fault: Callable[[str], PluginError]) -> tuple[Metric, ...]:
    metrics = getattr(module, "METRICS", None)
    if not isinstance(metrics, (tuple, list)) or not metrics or not all(isinstance(m, Metric) for m in metrics):
        raise fault("METRICS must be a non-empty tuple of scopelab.api.Metric: the test metrics it records.")
    seen = set()
    for metric in metrics:
        if metric.name in seen:
            raise fault(f"METRICS declares '{metric.name}' twice.")
        seen.add(metric.name)
    return tuple(metrics)


def _one_line(error: BaseException) -> str:
    from scopelab.failures import one_line  # on a fault only: it imports traceback

    return one_line(error)


def _kind(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, type) and dataclasses.is_dataclass(value):
        return f"{value.__name__}, a dataclass that is not frozen"
    return f"a {type(value).__name__}"
