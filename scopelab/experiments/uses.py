"""The graph walk that finds each variable's users; every training run records its result.

Uses are found in the graph, not declared: a resource variable is used through ReadVariableOps
on its handle, and each op that consumes such a read is one use, in that op's name scope. Only
ops that the networks' losses or outputs depend on count; gradients, optimizer updates, the
initializer and the saver feed neither, so the walk leaves them out without matching names.
"""

from __future__ import annotations

from dataclasses import dataclass


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
