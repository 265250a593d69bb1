"""The experiment registry: a config's `experiment` name -> its family (scopelab.plugins finds and checks
the family modules, scopelab's own and installed plugins'), and what reporting reads of it.

Family modules import TensorFlow only inside their builders, so `list`, `show` and `compare` read the
declared metrics without it; resolving a built-in family reads no package metadata.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from scopelab import plugins
from scopelab.errors import InputError, RunFailed
from scopelab.metrics import Ensemble, Metric, undeclared

if TYPE_CHECKING:
    from scopelab.config import Config
    from scopelab.data import Mnist
    from scopelab.experiments.common import Experiment
    from scopelab.experiments.eager import EagerExperiment

_warned: set[str] = set()


def build(config: Config, mnist: Mnist) -> Experiment | EagerExperiment:
    """Build the experiment: with `model.api: tf1` its graph (in its own tf.Graph), with `tf2` its
    modules (eager variables); no training, no printing. A plugin's builder that raises anything but an
    InputError is the plugin's failure: one line naming its package and entry point, exit 1, nothing made."""
    family = plugins.family(config.experiment)
    builder = family.build_tf2 if config.model.api == "tf2" else family.build_tf1
    if builder is None:
        raise InputError(f"config '{config.name}': key 'model.api' is 'tf2', but experiment '{family.name}' "
                         f"({family.entry.where()}) has no build_tf2; use model.api: tf1.")
    try:
        experiment = builder(config, mnist)
    except InputError:
        raise
    except Exception as error:
        if family.builtin:
            raise
        from scopelab.failures import one_line

        raise RunFailed(f"{family.entry.where()}: build failed ({one_line(error)}); nothing was run.") from error
    _check_recorded(family, experiment)
    return experiment


def _check_recorded(family: plugins.Family, experiment: Experiment | EagerExperiment) -> None:
    """Every test metric a (tf1) phase records is declared: reports must not guess a metric's meaning."""
    declared = {metric.name for metric in family.metrics}
    for phase in experiment.phases:
        extra = sorted(set(getattr(phase, "test", {})) - declared)
        if extra:
            raise plugins.PluginError(
                f"{family.entry.where()}: phase '{phase.network}' records test metric '{extra[0]}', which METRICS "
                f"does not declare (it declares {', '.join(sorted(declared))})."
            )


def declared_family(experiment: str) -> plugins.Family | None:
    """The family for reporting: None for an experiment no installed package declares, or (said once on
    stderr) one whose plugin is broken; its runs then read as undeclared metrics."""
    try:
        return plugins.family(experiment)
    except plugins.PluginError as fault:
        if experiment not in _warned:
            _warned.add(experiment)
            print(f"Warning: {fault}", file=sys.stderr)
        return None


def metric_of(experiment: str, name: str) -> Metric:
    """The metric `name` as `experiment` declares it; scopelab.metrics.undeclared when it does not."""
    family = declared_family(experiment)
    declared = {metric.name: metric for metric in family.metrics} if family else {}
    return declared.get(name) or undeclared(name)


def metrics_of(experiment: str) -> tuple[Metric, ...]:
    family = declared_family(experiment)
    return family.metrics if family else ()


def headline_of(experiment: str, names: Iterable[str]) -> str | None:
    """Of the metrics a run has, the one its experiment puts first (None for an experiment not declared)."""
    family = declared_family(experiment)
    present = set(names)
    return next((name for name in family.headline if name in present), None) if family else None


def ensemble_of(experiment: str) -> Ensemble | None:
    family = declared_family(experiment)
    return family.ensemble if family else None


def declared_names(experiments: Iterable[str] = ()) -> set[str]:
    """Every metric name scopelab's own families and these experiments' families declare."""
    return {metric.name for experiment in {*plugins.BUILTIN, *experiments} for metric in metrics_of(experiment)}
