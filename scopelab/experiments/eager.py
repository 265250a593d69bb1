"""What a `model.api: tf2` builder hands the trainer, and how it runs: eagerly, each step a
`tf.function`, checkpoints by `tf.train.Checkpoint`.

The update rules are the TF1 optimizers the `tf1` graphs use (they run eagerly too) and the first
values are the `tf1` graph's own draws, so a `tf2` run follows a `tf1` run bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import tensorflow as tf

from scopelab.data import Batches, Split
from scopelab.experiments.uses import VariableUses, graph_uses

if TYPE_CHECKING:
    from scopelab.experiments.common import Experiment

tf1 = tf.compat.v1


class Forward(NamedTuple):
    """One network's forward pass on a batch: what the step, the logged row and the test read."""

    loss: tf.Tensor
    accuracy: tf.Tensor | None
    test: dict[str, tf.Tensor]  # per-example values, e.g. {"test_loss": ...}
    logits: tf.Tensor


@dataclass
class EagerPhase:
    """One network trained for steps 0..steps, as experiments.common.Phase, but made of objects."""

    network: str
    title: str | None
    steps: int
    batches: Batches
    modules: list[tf.Module]  # what this network computes with: sharing is two holding one variable
    variables: list[tf.Variable]  # what its optimizer trains
    optimizer: Any
    forward: Callable[..., Forward]  # forward(images[, labels])
    test_note: str | None = None
    # Test metrics that need every network so far, from their Forwards (the averaged ensemble).
    combined_test: Callable[[list[Forward], tf.Tensor], dict[str, tf.Tensor]] | None = None


@dataclass
class EagerExperiment:
    phases: list[EagerPhase]
    test_split: Split
    input_size: int
    labels: bool  # whether the networks read labels (the classifiers) or images only
    jit_compile: bool = False  # XLA changes the last bits of the results: off unless asked for
    _functions: dict = field(default_factory=dict, repr=False)

    def signature(self) -> list[tf.TensorSpec]:
        specs = [tf.TensorSpec([None, self.input_size], tf.float32, name="images")]
        return specs + ([tf.TensorSpec([None], tf.int32, name="labels")] if self.labels else [])

    def inputs(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
        return (images, labels.astype(np.int32)) if self.labels else (images,)

    def function(self, kind: str, index: int) -> Callable:
        """The tf.function of `kind` (step, measure, test) for phase `index`, made once."""
        key = (kind, index)
        if key not in self._functions:
            body = {"step": self._step, "measure": self._measure, "test": self._test}[kind](index)
            self._functions[key] = tf.function(body, input_signature=self.signature(), jit_compile=self.jit_compile)
        return self._functions[key]

    def _step(self, index: int) -> Callable:
        phase = self.phases[index]

        def step(*inputs):
            return _train(phase, inputs)[0].loss

        return step

    def _measure(self, index: int) -> Callable:
        phase = self.phases[index]

        def measure(*inputs):
            out = phase.forward(*inputs)
            return out.loss, (out.accuracy if out.accuracy is not None else tf.constant(np.nan, tf.float32))

        return measure

    def _test(self, index: int) -> Callable:
        phase = self.phases[index]

        def test(*inputs):
            if phase.combined_test is None:
                return phase.forward(*inputs).test
            outs = [earlier.forward(*inputs) for earlier in self.phases[: index + 1]]
            return {**outs[-1].test, **phase.combined_test(outs, inputs[-1])}

        return test

    def traced(self) -> tuple[tf.Graph, dict]:
        """Every phase's step, logged metrics and tests traced into one graph (not run): for
        TensorBoard and `inspect`. Each network's forward pass is traced once, as in the tf1 graph."""
        if "trace" not in self._functions:
            def everything(*inputs):
                outs, losses, outputs = [], {}, []
                for phase in self.phases:
                    out, _ = _train(phase, inputs)
                    outs.append(out)
                    losses[phase.network] = out.loss
                    outputs += ([out.accuracy] if out.accuracy is not None else []) + list(out.test.values())
                    if phase.combined_test is not None:
                        outputs += list(phase.combined_test(outs, inputs[-1]).values())
                return {"losses": losses, "outputs": outputs}

            function = tf.function(everything, input_signature=self.signature(), autograph=False)
            self._functions["trace"] = function.get_concrete_function()
        concrete = self._functions["trace"]
        return concrete.graph, concrete.structured_outputs

    @property
    def graph(self) -> tf.Graph:
        return self.traced()[0]

    def variable_uses(self) -> list[VariableUses]:
        """The variables with the ops that read them, found in the traced graph, and checked against
        which modules hold the same variable object: the two views of sharing must agree."""
        graph, tensors = self.traced()
        inside = {id(external): internal for external, internal in graph.captures}
        handles = [(variable.name.removesuffix(":0"), tuple(variable.shape), inside[id(variable.handle)])
                   for variable in self.trainable()]
        found = graph_uses(graph, handles, tensors["losses"], tensors["outputs"])
        held = self.holders()
        for variable, uses in zip(self.trainable(), found):
            if (len(held[id(variable)]) > 1) != uses.shared:
                raise RuntimeError(
                    f"{uses.name}: the traced graph says {'' if uses.shared else 'not '}shared, but it is held by "
                    f"{', '.join(held[id(variable)])}"
                )
        return found

    def variables(self) -> list[dict]:
        return [uses.summary() for uses in self.variable_uses()]

    def trainable(self) -> list[tf.Variable]:
        """Each variable object once. tf.Module lists them by attribute name (`W` sorts before `b`)
        and lists in order, which here is the order they were made, as in the tf1 graph."""
        found: list[tf.Variable] = []
        for phase in self.phases:
            for module in phase.modules:
                found += module.trainable_variables
        return unique(found)

    def held_by(self) -> dict[str, list[str]]:
        """Variable name -> the (network: module) pairs holding that object."""
        held = self.holders()
        return {variable.name.removesuffix(":0"): held[id(variable)] for variable in self.trainable()}

    def holders(self) -> dict[int, list[str]]:
        """Variable id -> the (network: module) pairs holding that object, e.g. ["net1: mlp1", "net2: mlp1"]."""
        held: dict[int, list[str]] = {}
        for phase in self.phases:
            for module in phase.modules:
                for variable in module.trainable_variables:
                    held.setdefault(id(variable), []).append(f"{phase.network}: {module.name}")
        return held

    def trackables(self) -> dict[str, Any]:
        """What a checkpoint holds: each module object and each optimizer (with its slots) once."""
        found: dict[str, Any] = {}
        for number, phase in enumerate(self.phases, start=1):
            for module in phase.modules:
                found.setdefault(module.name, module)
            found[f"optimizer_{number}"] = phase.optimizer
        return found

    def engine(self, use_gpu: bool, threads: int) -> EagerEngine:
        return EagerEngine(self, use_gpu, threads)


def _train(phase: EagerPhase, inputs: tuple) -> tuple[Forward, Any]:
    """One update: the loss before it (as the tf1 train op's fetch), by the phase's TF1 optimizer."""
    with tf.GradientTape() as tape:
        out = phase.forward(*inputs)
    gradients = tape.gradient(out.loss, phase.variables)
    return out, phase.optimizer.apply_gradients(zip(gradients, phase.variables))


class EagerEngine:
    """Runs an EagerExperiment for the trainer (the tf1 counterpart is experiments.common.GraphEngine)."""

    def __init__(self, experiment: EagerExperiment, use_gpu: bool, threads: int):
        self.experiment = experiment
        # Set before the experiment made its variables (runner._set_eager_threads), or fixed by an earlier
        # run in this process: what is in effect is what the run records.
        self.threads = tf.config.threading.get_intra_op_parallelism_threads()
        self._device = tf.device(None if use_gpu else "/CPU:0")
        self._checkpoint = tf.train.Checkpoint(**experiment.trackables())
        self.devices = [device.name for device in tf.config.list_logical_devices()]

    def __enter__(self) -> EagerEngine:
        self._device.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._device.__exit__(*exc)

    def initialize(self) -> None:
        """Nothing to run: eager variables hold their first values from the moment they are made."""

    def restore(self, path: str) -> None:
        # Optimizer slots do not exist until the first step makes them; the checkpoint restores
        # them then (deferred restoration), before the step reads them.
        self._checkpoint.read(path).assert_existing_objects_matched()  # read: the counterpart of write

    def step(self, index: int, images: np.ndarray, labels: np.ndarray) -> float:
        return float(self.experiment.function("step", index)(*self.experiment.inputs(images, labels)))

    def measure(self, index: int, images: np.ndarray, labels: np.ndarray) -> tuple[float, float | None]:
        loss, accuracy = self.experiment.function("measure", index)(*self.experiment.inputs(images, labels))
        return float(loss), (float(accuracy) if self.experiment.labels else None)

    def test(self, index: int, images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        values = self.experiment.function("test", index)(*self.experiment.inputs(images, labels))
        return {name: value.numpy() for name, value in values.items()}

    def save(self, directory: Path, position: int) -> str:
        # model-<position>.index and .data-00000-of-00001, as the tf1 Saver names them:
        # scopelab.checkpoints checks, chooses and prunes them the same way for both APIs.
        return self._checkpoint.write(str(directory / f"model-{position}"))


def unique(variables: list[tf.Variable]) -> list[tf.Variable]:
    """Each variable object once (a tied decoder holds the encoder's W: one variable, one update)."""
    return list({id(variable): variable for variable in variables}.values())


def tf1_initial_values(experiment: Experiment) -> dict[str, np.ndarray]:
    """The first values of a tf1 experiment's variables, by name. TF1 seeds each initializer from
    the graph seed and the op's position in the graph, which eager code has no counterpart of, so
    the tf2 modules start from these same draws rather than from draws of their own."""
    with experiment.graph.as_default():
        variables = tf1.trainable_variables()
        initializer = tf1.global_variables_initializer()
    with tf1.Session(graph=experiment.graph) as session:
        session.run(initializer)
        values = session.run(variables)
    return {variable.op.name: value for variable, value in zip(variables, values)}
