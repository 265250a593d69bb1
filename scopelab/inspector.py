"""`scopelab inspect` and `run --dry-run`: a config's variables and where the graph uses them.

Uses are found in the graph, not declared: a resource variable is used through ReadVariableOps
on its handle, and each op that consumes such a read is one use, in that op's name scope. Only
ops that the networks' losses or outputs depend on count; gradients, optimizer updates, the
initializer and the saver feed neither, so the walk leaves them out without matching names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scopelab.config import Config, config_to_dict, dump_config, load_config
from scopelab.config_source import resolve_config, source_label
from scopelab.errors import InputError
from scopelab.runs import resolve_run

if TYPE_CHECKING:
    from scopelab.experiments.common import Experiment


@dataclass(frozen=True)
class Use:
    """One op that reads a variable."""

    name_scope: str  # e.g. "decoder" for the op decoder/MatMul
    op_type: str  # e.g. "MatMul(transposed)": how the value is used
    networks: tuple[str, ...]  # the networks whose loss depends on this use
    model: bool  # on the path to the outputs; False for a term of the loss only (weight decay)


@dataclass(frozen=True)
class VariableUses:
    name: str
    shape: tuple[int, ...]
    uses: tuple[Use, ...]

    @property
    def scope(self) -> str:
        return self.name.rsplit("/", 1)[0] if "/" in self.name else ""

    @property
    def parameters(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count

    @property
    def used_by(self) -> list[str]:
        """The name scopes where the model computes with this variable, in graph order."""
        return list(dict.fromkeys(use.name_scope for use in self.uses if use.model))

    @property
    def networks(self) -> list[str]:
        return list(dict.fromkeys(network for use in self.uses for network in use.networks))

    @property
    def shared(self) -> bool:
        """Used by two networks, or in two places of one model (a tied weight)."""
        return len(self.used_by) > 1 or len(self.networks) > 1

    def summary(self) -> dict:
        """The row summary.json stores."""
        return {"name": self.name, "shape": list(self.shape), "parameters": self.parameters, "scope": self.scope,
                "used_by": self.used_by, "shared": self.shared}


def variable_uses(experiment: Experiment) -> list[VariableUses]:
    """Every trainable variable of a tf1 experiment's graph with the ops that use it."""
    import tensorflow as tf

    phases = experiment.phases
    with experiment.graph.as_default():
        trainable = tf.compat.v1.trainable_variables()
    return graph_uses(
        experiment.graph,
        [(variable.op.name, tuple(int(d) for d in variable.shape), variable.handle) for variable in trainable],
        {phase.network: phase.loss for phase in phases},
        [t for p in phases for t in (p.accuracy, *p.test.values()) if t is not None],
    )


def graph_uses(
    graph, handles: list[tuple[str, tuple[int, ...], object]], losses: dict, outputs: list
) -> list[VariableUses]:
    """The uses of each variable, given as (name, shape, its resource handle in `graph`): the ops
    that read it and feed a network's loss (`losses`, by network) or an output (`outputs`)."""
    output_ops = _ancestors(outputs)
    trained = {network: _ancestors([loss]) for network, loss in losses.items()}
    order = {op.name: index for index, op in enumerate(graph.get_operations())}
    found = []
    for name, shape, handle in handles:
        uses = []
        # The optimizer, initializer and saver take the handle itself; the model reads it.
        reads = [op for op in handle.consumers() if op.type == "ReadVariableOp"]
        users = [(user, read) for read in reads for user in read.outputs[0].consumers()]
        for user, read in sorted(users, key=lambda pair: order[pair[0].name]):
            networks = tuple(network for network, ops in trained.items() if user.name in ops)
            model = user.name in output_ops
            if networks or model:
                scope = user.name.rsplit("/", 1)[0] if "/" in user.name else ""
                uses.append(Use(scope, _how(user, read.outputs[0]), networks, model))
        found.append(VariableUses(name, shape, tuple(uses)))
    return found


def _how(user, value) -> str:
    """The op type, marked when a matmul reads the variable transposed (the tied decoder)."""
    for index, flag in ((0, "transpose_a"), (1, "transpose_b")):
        if user.type == "MatMul" and user.inputs[index] is value and user.get_attr(flag):
            return "MatMul(transposed)"
    return user.type


def _ancestors(tensors: list) -> set[str]:
    """Names of the ops these tensors are computed from (themselves included)."""
    seen: set[str] = set()
    stack = [tensor.op for tensor in tensors]
    while stack:
        op = stack.pop()
        if op.name not in seen:
            seen.add(op.name)
            stack.extend(tensor.op for tensor in op.inputs)
    return seen


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
    config_file = run_path / "config.yaml"
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
        return json.dumps(_as_json(config, source, variables, held), indent=2)
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
    rows = [("scope / variable", "shape", "parameters", "used in (name scope, op)", "")]
    totals = _scope_totals(variables)
    for scope, (count, parameters) in totals.items():
        rows.append((f"{scope}/", f"{count} variable{'s' * (count != 1)}", f"{parameters:,}", "", ""))
        for variable in (v for v in variables if v.scope == scope):
            uses = ", ".join(f"{_slash(use.name_scope)} {use.op_type}" for use in variable.uses)
            rows.append((f"  {variable.name.rsplit('/', 1)[-1]}", " x ".join(map(str, variable.shape)),
                         f"{variable.parameters:,}", uses or "(unused)", "shared" if variable.shared else ""))
    rows.append(("total", f"{len(variables)} variables", f"{sum(v.parameters for v in variables):,}", "", ""))
    scope_rows = [("name scope", "network", "role", "note")]
    scope_rows += [(_slash(s.name), ", ".join(s.networks), ", ".join(s.roles), s.note) for s in name_scopes(variables)]
    if config.model.api == "tf1":
        title = f"{config.name} ({config.experiment}, from {source}): the graph built, not trained"
    else:
        title = (f"{config.name} ({config.experiment}, model.api tf2, from {source}): the modules built and "
                 "their steps traced into a graph, not trained")
    parts = [title, "", _columns(rows, right={2}), "", _columns(scope_rows)]
    if held:
        # tf2 shares by object: the holders must agree with the graph (EagerExperiment checks it).
        held_rows = [("variable object", "held by (network: module)", "")]
        held_rows += [(v.name, ", ".join(held[v.name]), "shared" if v.shared else "") for v in variables]
        parts += ["", _columns(held_rows)]
    return "\n".join(parts)


def _slash(name_scope: str) -> str:
    return f"{name_scope}/" if name_scope else "/"


def _columns(rows: list[tuple[str, ...]], right: frozenset[int] | set[int] = frozenset()) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
