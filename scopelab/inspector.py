"""`scopelab inspect` and `run --dry-run`: a config's variables and where the graph uses them.

The walk that finds the uses belongs to the experiments (scopelab.experiments.uses: every training
run records it); this module loads the target, builds it and renders what the walk found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from scopelab.config import Config, config_to_dict, dump_config, load_config
from scopelab.config_source import resolve_config, source_label
from scopelab.errors import InputError
from scopelab.experiments.uses import Use, VariableUses
from scopelab.report.tables import Table, strict_json, to_text
from scopelab.runs import RunDir, resolve_run


@dataclass(frozen=True)
class NameScope:
    """A name scope where variables are read: who trains through it, and what it reads from elsewhere."""

    name: str
    networks: list[str]
    roles: list[str]  # "model" and/or "loss term"
    note: str


def name_scopes(variables: list[VariableUses]) -> list[NameScope]:
    readers: dict[str, list[tuple[VariableUses, Use]]] = {}
    for variable in variables:
        for use in variable.uses:
            readers.setdefault(use.name_scope, []).append((variable, use))
    found = []
    for name, pairs in readers.items():
        networks = list(dict.fromkeys(network for _, use in pairs for network in use.networks))
        roles = list(dict.fromkeys("model" if use.model else "loss term" for _, use in pairs))
        foreign = list(dict.fromkeys(variable.name for variable, _ in pairs if variable.scope != name))
        owners = {variable.scope for variable, _ in pairs}
        note = ""
        if foreign and len(owners) == 1:
            (owner,) = owners
            if re.fullmatch(re.escape(owner) + r"_\d+", name):
                # TensorFlow gives a reopened variable_scope a fresh, uniquified name scope.
                note = f"variable_scope {owner} reopened with reuse: {owner}/'s variables, a name scope of its own"
        if foreign and not note:
            note = "reads " + ", ".join(foreign)
        if not foreign and len(networks) > 1:
            # Only tf2 gets here: a module keeps one name scope however many networks call it.
            note = f"one module object called by {', '.join(networks)}: the same variables, one name scope"
        found.append(NameScope(name, networks, roles, note))
    return found


def load_target(target: str, overrides: tuple[str, ...], runs_dir: Path) -> tuple[Config, str]:
    """A config (a file, ./configs/NAME.yaml or a built-in name), a run directory, or a run id (or unique
    prefix) in runs_dir -> (config, where from)."""
    path = Path(target)
    if path.is_file() or path.suffix in (".yaml", ".yml"):
        return load_config(path, overrides), source_label(path)
    if not path.is_dir():
        try:
            found = resolve_config(target)
        except InputError:
            pass  # not a config: a run, then
        else:
            return load_config(found, overrides), source_label(found)
    try:
        run_path = path if path.is_dir() else resolve_run(runs_dir, target).path
    except InputError as error:
        raise InputError(f"'{target}' is neither a config (file, ./configs/{target}.yaml or built-in) "
                         f"nor a run: {error}") from None
    config_file = RunDir(run_path).config_file
    if not config_file.is_file():
        raise InputError(f"{run_path}: no config.yaml, so this is not a run directory to inspect.")
    return load_config(config_file, overrides), str(config_file)


def inspect_config(config: Config) -> tuple[list[VariableUses], dict[str, list[str]] | None]:
    """Build the config's graph (no session, no training; tf2: the modules, the steps traced) and
    walk it. Also, for tf2, which (network: module) pairs hold each variable object."""
    from scopelab.data import load_mnist
    from scopelab.experiments import build
    from scopelab.quiet_tf import import_tensorflow

    import_tensorflow()
    # The builders slice and batch the data, so it is loaded (the bundled copy takes about a second):
    # a data.path or a train range the run would reject is rejected here too.
    experiment = build(config, load_mnist(config.data.path))
    return experiment.variable_uses(), experiment.held_by()


def inspect(target: str, overrides: tuple[str, ...], runs_dir: Path, fmt: str) -> str:
    """`scopelab inspect`: the variable tree of a config or a run as a table or JSON."""
    config, source = load_target(target, overrides, runs_dir)
    variables, held = inspect_config(config)
    if fmt == "json":
        return strict_json(_as_json(config, source, variables, held))
    return _tree(config, source, variables, held)


def dry_run(target: str, overrides: tuple[str, ...], runs_dir: Path) -> str:
    """`scopelab run --dry-run`: the resolved config and its variable tree; nothing is written."""
    config, source = load_target(target, overrides, runs_dir)
    variables, held = inspect_config(config)
    return f"# resolved config ({source})\n{dump_config(config)}\n{_tree(config, source, variables, held)}"


def _as_json(config: Config, source: str, variables: list[VariableUses], held: dict[str, list[str]] | None) -> dict:
    scopes = _scope_totals(variables)
    return {
        "config": config.name,
        "experiment": config.experiment,
        "api": config.model.api,
        "source": source,
        "resolved": config_to_dict(config),
        "variables": [
            {**variable.summary(), "networks": variable.networks,
             **({"held_by": held[variable.name]} if held else {}),
             "uses": [{"name_scope": use.name_scope, "op": use.op_type, "networks": list(use.networks),
                       "role": "model" if use.model else "loss term"} for use in variable.uses]}
            for variable in variables
        ],
        "scopes": [{"scope": scope, "variables": count, "parameters": total}
                   for scope, (count, total) in scopes.items()],
        "name_scopes": [{"name_scope": s.name, "networks": s.networks, "roles": s.roles, "note": s.note}
                        for s in name_scopes(variables)],
        "total": {"variables": len(variables), "parameters": sum(v.parameters for v in variables)},
    }


def _scope_totals(variables: list[VariableUses]) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for variable in variables:
        count, parameters = totals.get(variable.scope, (0, 0))
        totals[variable.scope] = (count + 1, parameters + variable.parameters)
    return totals


def _tree(config: Config, source: str, variables: list[VariableUses], held: dict[str, list[str]] | None) -> str:
    """Variables grouped by scope with totals, then the name scopes that read them (and for tf2,
    the module objects that hold each variable)."""
    rows = []
    totals = _scope_totals(variables)
    for scope, (count, parameters) in totals.items():
        rows.append([f"{scope}/", f"{count} variable{'s' * (count != 1)}", f"{parameters:,}", "", ""])
        for variable in (v for v in variables if v.scope == scope):
            uses = ", ".join(f"{_slash(use.name_scope)} {use.op_type}" for use in variable.uses)
            rows.append([f"  {variable.name.rsplit('/', 1)[-1]}", " x ".join(map(str, variable.shape)),
                         f"{variable.parameters:,}", uses or "(unused)", "shared" if variable.shared else ""])
    rows.append(["total", f"{len(variables)} variables", f"{sum(v.parameters for v in variables):,}", "", ""])
    header = ["scope / variable", "shape", "parameters", "used in (name scope, op)", ""]
    scope_rows = [[_slash(s.name), ", ".join(s.networks), ", ".join(s.roles), s.note] for s in name_scopes(variables)]
    if config.model.api == "tf1":
        title = f"{config.name} ({config.experiment}, from {source}): the graph built, not trained"
    else:
        title = (f"{config.name} ({config.experiment}, model.api tf2, from {source}): the modules built and "
                 "their steps traced into a graph, not trained")
    tables = [Table("", header, rows, right={2}, rule=False),
              Table("", ["name scope", "network", "role", "note"], scope_rows, rule=False)]
    if held:
        # tf2 shares by object: the holders must agree with the graph (EagerExperiment checks it).
        held_rows = [[v.name, ", ".join(held[v.name]), "shared" if v.shared else ""] for v in variables]
        tables.append(Table("", ["variable object", "held by (network: module)", ""], held_rows, rule=False))
    return "\n\n".join([title, *map(to_text, tables)])


def _slash(name_scope: str) -> str:
    return f"{name_scope}/" if name_scope else "/"
