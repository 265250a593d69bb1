"""Step time: scopelab's trainer (tf1 graphs, and tf2 modules with the step in a tf.function, with
and without XLA) against a minimal TF v1 loop, Keras 3 `fit` and PyTorch eager.

For each article experiment (autoencoder tied, untied, and network 1 of the MLP pair) every
contender trains the same model (shapes, optimizer, batch, data) in its own natural loop, in one
process. The loops run in threads that take turns: one block of --block steps each, round after
round, the order rotating every round, so a burst of load from other processes on a shared machine
hits every contender alike. ms/step is the median over the timed blocks; the ratios ("x tf1 loop":
this contender's time over the minimal TF loop's; "scopelab /": scopelab's time over this
contender's) are medians of the ratios within each round, which drifts in load cancel out of.
GFLOP/s counts the matmuls of forward and backward; "tf1 matmuls only" runs just those, the floor.

Every loop logs the loss of the batch just trained on once per block (as the article does every
1000 steps), so all do the same work. scopelab runs its real `train` (progress bar on, metrics
written), without mid-run checkpoints: their cost shows in bench_article.py.

    python benchmarks/bench_step.py            # about 2.5 minutes on 2 cores
    python benchmarks/bench_step.py --quick    # a check in under a minute
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scopelab.config import load_config
from scopelab.data import load_mnist
from scopelab.quiet_tf import import_tensorflow

# OpenMP's busy-waiting workers (PyTorch's) fight every other load for the cores of a shared
# machine and make its steps several times slower there; set OMP_WAIT_POLICY=ACTIVE on a quiet one.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
BASELINE = "tf1 loop"
FLOOR = "tf1 matmuls only"
TF2 = "scopelab tf2"
TF2_XLA = "scopelab tf2 xla"
CONTENDERS = ["scopelab", TF2, TF2_XLA, BASELINE, "tf1 data in graph", "keras fit", "torch eager", FLOOR]


@dataclass(frozen=True)
class Spec:
    """One experiment, read from its article config so every contender trains the same thing."""

    name: str
    config: Path
    sizes: tuple[int, ...]  # layer widths, input first
    tied: bool  # autoencoder only: the decoder uses the encoder's W transposed
    classifier: bool  # MLP: relu layers, softmax cross-entropy summed over the batch, weight decay
    batch: int
    learning_rate: float
    weight_decay: float
    images: np.ndarray
    labels: np.ndarray

    def layers(self) -> list[tuple[int, int]]:
        return list(zip(self.sizes, self.sizes[1:]))

    def step_flops(self) -> int:
        """The matmul FLOPs of one update: forward, weight gradients, and the gradients of every
        layer's input but the first (the images need none): about 3x the forward pass."""
        gemm = [2 * self.batch * fan_in * fan_out for fan_in, fan_out in self.layers()]
        return 3 * sum(gemm) - gemm[0]


EXPERIMENTS = {"tied": "tied_ae.yaml", "untied": "untied_ae.yaml", "mlp": "mlp_averaged.yaml"}


def load_specs(names: list[str], mnist) -> list[Spec]:
    specs = []
    for name in names:
        path = ROOT / "configs" / EXPERIMENTS[name]
        config = load_config(path)
        model = config.model
        if config.experiment == "autoencoder":
            network, data = config.train, config.data
            sizes, decay = (model.input_size, model.hidden_size, model.input_size), 0.0
            start, stop = data.train_start, data.train_stop
        else:
            network = config.networks[0]
            sizes = (model.input_size, model.hidden_size, model.hidden_size, model.num_classes)
            decay, start, stop = model.weight_decay, network.train_start, network.train_stop
        if network.optimizer != "adagrad":
            raise SystemExit(f"{path}: the hand-written contenders implement Adagrad only, not {network.optimizer}.")
        specs.append(Spec(name, path, sizes, getattr(model, "tied", False), config.experiment == "mlp_pair",
                          config.train.batch_size, network.learning_rate, decay,
                          mnist.train.images[start:stop], mnist.train.labels[start:stop].astype(np.int64)))
    return specs


def epoch_batches(count: int, batch: int, seed: int = 0):
    """Index arrays of shuffled batches, reshuffled every epoch, the last partial batch dropped."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(count)
        for start in range(0, count - batch + 1, batch):
            yield order[start : start + batch]


# --- the turn-taking -------------------------------------------------------------------------

class Lane:
    """One contender's loop in its own thread, paused at each `lap()` until its next turn."""

    def __init__(self, name: str, body: Callable[[Callable[[], None]], None], laps: int):
        self.name, self.laps = name, laps
        self.seconds: list[float] = []
        self.error: BaseException | None = None
        self.finished = False
        self._go, self._done = threading.Event(), threading.Event()
        self._resumed = 0.0
        self._thread = threading.Thread(target=self._run, args=(body,), daemon=True)
        self._thread.start()

    def lap(self) -> None:
        """Called by the loop after each block; extra calls after the last lap are ignored."""
        if len(self.seconds) < self.laps:
            self.seconds.append(time.perf_counter() - self._resumed)
            self._pause()

    def turn(self) -> None:
        """Run the loop up to its next lap (or its end) while every other lane waits."""
        self._done.clear()
        self._go.set()
        self._done.wait()

    def finish(self) -> None:
        """Let the loop run its tail (evaluation, checkpoint) alone, and wait for it."""
        while not self.finished:
            self.turn()
        self._thread.join()

    def _pause(self) -> None:
        self._done.set()
        self._go.wait()
        self._go.clear()
        self._resumed = time.perf_counter()

    def _run(self, body: Callable[[Callable[[], None]], None]) -> None:
        self._go.wait()
        self._go.clear()
        self._resumed = time.perf_counter()
        try:
            body(self.lap)
        except BaseException as error:  # reported by the main thread, which drops the lane
            self.error = error
        finally:
            self.finished = True
            self._done.set()


def race(bodies: dict[str, Callable], laps: int) -> dict[str, Lane]:
    """Round-robin one lap at a time, rotating who goes first; a lane that fails drops out."""
    lanes = {name: Lane(name, body, laps) for name, body in bodies.items()}
    names = list(lanes)
    for round_number in range(laps):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            lane = lanes[name]
            if not lane.finished:
                lane.turn()
    for lane in lanes.values():
        lane.finish()
    return lanes


# --- the contenders --------------------------------------------------------------------------
# Each body trains for `steps` updates and calls lap() after update 0 and after every `block`
# updates, having logged the loss of the batch just trained on.

@dataclass(frozen=True)
class Settings:
    block: int
    warmup: int  # laps thrown away after the first (which holds the set-up)
    laps: int  # measured laps
    threads: int
    gpu: bool

    @property
    def steps(self) -> int:
        return self.block * (self.warmup + self.laps) + 1

    @property
    def total_laps(self) -> int:
        return 1 + self.warmup + self.laps


def scopelab_body(spec: Spec, settings: Settings, mnist, runs_dir: Path, api: str = "tf1", jit: bool = False
                  ) -> Callable:
    """scopelab's real trainer; api tf2 runs the tf.Module build eagerly, jit compiles its step with XLA."""

    def body(lap: Callable[[], None]) -> None:
        from scopelab.experiments import build
        from scopelab.runs import create_run_dir
        from scopelab.trainer import TrainOptions, train

        last = settings.steps - 1
        # Network 1 of the pair is measured; network 2 runs one step in the untimed tail.
        overrides = [f"networks.0.steps={last}", "networks.1.steps=1"] if spec.classifier else [f"train.steps={last}"]
        experiment = build(load_config(spec.config, [*overrides, f"model.api={api}"]), mnist)
        if jit:
            experiment.jit_compile = True
        run_dir = create_run_dir(runs_dir, f"bench-{spec.name}")
        options = TrainOptions(settings.block, 1000000000, settings.gpu, settings.threads, progress=True)
        train(experiment, run_dir, options, on_line=lambda text: None, on_row=lambda row: lap())

    return body


def tf1_body(spec: Spec, settings: Settings, data_in_graph: bool) -> Callable:
    """The article's loop written by hand: placeholders fed numpy batches, or (data_in_graph) the
    training images held in a graph variable and only the batch's indices fed."""

    def body(lap: Callable[[], None]) -> None:
        tf = import_tensorflow()
        tf1 = tf.compat.v1
        graph = tf.Graph()
        with graph.as_default():
            tf1.set_random_seed(0)
            if data_in_graph:
                source = tf1.placeholder(tf.float32, spec.images.shape)
                stored = tf1.Variable(source, trainable=False, name="train_images")
                stored_labels = tf1.Variable(spec.labels.astype(np.int32), trainable=False, name="train_labels")
                chosen = tf1.placeholder(tf.int32, [None])
                images, labels = tf.gather(stored, chosen), tf.gather(stored_labels, chosen)
            else:
                images = tf1.placeholder(tf.float32, [None, spec.sizes[0]])
                labels = tf1.placeholder(tf.int32, [None])
            loss = tf1_loss(tf, spec, images, labels)
            train_op = tf1.train.AdagradOptimizer(spec.learning_rate).minimize(loss)
            initializer = tf1.global_variables_initializer()
        with tf1.Session(graph=graph, config=session_config(tf1, settings)) as session:
            session.run(initializer, {source: spec.images} if data_in_graph else None)
            batches = epoch_batches(len(spec.images), spec.batch)
            for step in range(settings.steps):
                indices = next(batches)
                if data_in_graph:
                    feed = {chosen: indices}
                elif spec.classifier:
                    feed = {images: spec.images[indices], labels: spec.labels[indices]}
                else:
                    feed = {images: spec.images[indices]}
                session.run(train_op, feed)
                if step % settings.block == 0:
                    session.run(loss, feed)
                    lap()

    return body


def matmuls_body(spec: Spec, settings: Settings) -> Callable:
    """Only the matmuls of an update (the shapes of `step_flops`), on stand-in values: the floor
    that no loop doing this step's arithmetic goes below."""

    def body(lap: Callable[[], None]) -> None:
        tf = import_tensorflow()
        tf1 = tf.compat.v1
        graph = tf.Graph()
        with graph.as_default():
            products = []
            for index, (fan_in, fan_out) in enumerate(spec.layers()):
                inputs = tf1.get_variable(f"in{index}", [spec.batch, fan_in])
                weights = tf1.get_variable(f"w{index}", [fan_in, fan_out])
                gradient = tf1.get_variable(f"grad{index}", [spec.batch, fan_out])
                products += [tf.matmul(inputs, weights), tf.matmul(inputs, gradient, transpose_a=True)]
                if index > 0:
                    products.append(tf.matmul(gradient, weights, transpose_b=True))
            # Fetch a value that needs every product: grappler prunes ops run only for control edges.
            step = tf.add_n([product[0, 0] for product in products])
            initializer = tf1.global_variables_initializer()
        with tf1.Session(graph=graph, config=session_config(tf1, settings)) as session:
            session.run(initializer)
            for index in range(settings.steps):
                session.run(step)
                if index % settings.block == 0:
                    lap()

    return body


def session_config(tf1, settings: Settings):
    return tf1.ConfigProto(intra_op_parallelism_threads=settings.threads,
                           inter_op_parallelism_threads=settings.threads,
                           device_count=None if settings.gpu else {"GPU": 0})


def tf1_loss(tf, spec: Spec, images, labels):
    tf1 = tf.compat.v1
    truncated = tf1.truncated_normal_initializer(stddev=0.05)
    zeros = tf1.zeros_initializer()
    if not spec.classifier:
        visible, hidden = spec.sizes[:2]
        w = tf1.get_variable("W", [visible, hidden], initializer=truncated)
        code = tf.sigmoid(tf.matmul(images, w) + tf1.get_variable("b", [hidden], initializer=zeros))
        w_out = w if spec.tied else tf1.get_variable("W_out", [hidden, visible], initializer=truncated)
        logits = tf.matmul(code, w_out, transpose_b=spec.tied) + tf1.get_variable("b_out", [visible], initializer=zeros)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits))
    out, decayed = images, []
    for index, (fan_in, fan_out) in enumerate(spec.layers()):
        readout = index == len(spec.sizes) - 2
        init = tf1.random_normal_initializer(stddev=0.05) if readout else truncated
        w = tf1.get_variable(f"W{index}", [fan_in, fan_out], initializer=init)
        out = tf.matmul(out, w) + tf1.get_variable(f"b{index}", [fan_out], initializer=zeros)
        if not readout:
            out = tf.nn.relu(out)
            decayed.append(w)
    cross_entropy = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=out))
    return cross_entropy + spec.weight_decay * tf.add_n([tf.nn.l2_loss(w) for w in decayed])


def keras_body(spec: Spec, settings: Settings) -> Callable:
    """`model.fit` with Keras's defaults (its TF backend compiles the step with XLA where it can)."""

    def body(lap: Callable[[], None]) -> None:
        import_tensorflow()
        import keras

        keras.utils.set_random_seed(0)
        truncated = keras.initializers.TruncatedNormal(stddev=0.05)
        inputs = keras.Input((spec.sizes[0],))
        if not spec.classifier:
            encoder = keras.layers.Dense(spec.sizes[1], "sigmoid", kernel_initializer=truncated)
            code = encoder(inputs)
            if spec.tied:
                decoder = tied_decoder(keras, encoder)
            else:
                decoder = keras.layers.Dense(spec.sizes[2], kernel_initializer=truncated)
            model = keras.Model(inputs, decoder(code))
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
            targets = spec.images
        else:
            out = inputs
            for width in spec.sizes[1:-1]:
                out = keras.layers.Dense(width, "relu", kernel_initializer=truncated,
                                         kernel_regularizer=keras.regularizers.L2(spec.weight_decay / 2))(out)
            readout = keras.initializers.RandomNormal(stddev=0.05)
            out = keras.layers.Dense(spec.sizes[-1], kernel_initializer=readout)(out)
            model = keras.Model(inputs, out)
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
            targets = spec.labels
        optimizer = keras.optimizers.Adagrad(spec.learning_rate, initial_accumulator_value=0.1, epsilon=1e-7)
        model.compile(optimizer=optimizer, loss=loss)
        usable = len(spec.images) // spec.batch * spec.batch  # drop the partial batch, as the others do

        class Laps(keras.callbacks.Callback):
            step = 0

            def on_train_batch_end(self, batch, logs=None):
                if self.step % settings.block == 0:
                    lap()
                self.step += 1
                if self.step == settings.steps:
                    self.model.stop_training = True

        epochs = -(-settings.steps // (usable // spec.batch))
        model.fit(spec.images[:usable], targets[:usable], batch_size=spec.batch, epochs=epochs, shuffle=True,
                  verbose=0, callbacks=[Laps()])

    return body


def tied_decoder(keras, encoder):
    """A Keras layer computing y W^T + b~, W being the encoder's own kernel (not a copy)."""

    class TiedDecoder(keras.layers.Layer):
        def build(self, input_shape):
            self.bias = self.add_weight(shape=(encoder.kernel.shape[0],), initializer="zeros")

        def call(self, code):
            return keras.ops.matmul(code, keras.ops.transpose(encoder.kernel)) + self.bias

    return TiedDecoder()


def torch_body(spec: Spec, settings: Settings) -> Callable:
    def body(lap: Callable[[], None]) -> None:
        import torch
        from torch.nn import functional

        torch.manual_seed(0)
        if settings.threads:
            torch.set_num_threads(settings.threads)
        device = torch.device("cuda" if settings.gpu else "cpu")

        def weight(fan_in: int, fan_out: int, truncated: bool = True) -> torch.Tensor:
            w = torch.empty(fan_in, fan_out, device=device)
            if truncated:
                torch.nn.init.trunc_normal_(w, std=0.05, a=-0.1, b=0.1)
            else:
                torch.nn.init.normal_(w, std=0.05)
            return w.requires_grad_()

        def bias(size: int) -> torch.Tensor:
            return torch.zeros(size, device=device, requires_grad=True)

        images = torch.from_numpy(spec.images).to(device)
        labels = torch.from_numpy(spec.labels).to(device)
        if not spec.classifier:
            visible, hidden = spec.sizes[:2]
            w, b, b_out = weight(visible, hidden), bias(hidden), bias(visible)
            w_out = None if spec.tied else weight(hidden, visible)
            params = [w, b, b_out] + ([] if spec.tied else [w_out])

            def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                code = torch.sigmoid(x @ w + b)
                logits = code @ (w.t() if spec.tied else w_out) + b_out
                return functional.binary_cross_entropy_with_logits(logits, x)
        else:
            pairs = spec.layers()
            ws = [weight(i, o, truncated=k < len(pairs) - 1) for k, (i, o) in enumerate(pairs)]
            bs = [bias(o) for _, o in pairs]
            params = ws + bs

            def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                out = x
                for k, (w_k, b_k) in enumerate(zip(ws, bs)):
                    out = out @ w_k + b_k
                    if k < len(ws) - 1:
                        out = torch.relu(out)
                decay = sum((w_k * w_k).sum() / 2 for w_k in ws[:-1])
                return functional.cross_entropy(out, y, reduction="sum") + spec.weight_decay * decay

        optimizer = torch.optim.Adagrad(params, lr=spec.learning_rate, initial_accumulator_value=0.1, eps=1e-7)
        batches = epoch_batches(len(spec.images), spec.batch)
        for step in range(settings.steps):
            chosen = torch.from_numpy(next(batches)).to(device)
            loss = loss_of(images[chosen], labels[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % settings.block == 0:
                with torch.no_grad():
                    loss_of(images[chosen], labels[chosen]).item()
                lap()

    return body


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# --- measuring and reporting ------------------------------------------------------------------

def measure(spec: Spec, settings: Settings, mnist, runs_dir: Path, contenders: list[str]) -> list[dict]:
    makers = {
        "scopelab": lambda: scopelab_body(spec, settings, mnist, runs_dir),
        TF2: lambda: scopelab_body(spec, settings, mnist, runs_dir, api="tf2"),
        TF2_XLA: lambda: scopelab_body(spec, settings, mnist, runs_dir, api="tf2", jit=True),
        BASELINE: lambda: tf1_body(spec, settings, data_in_graph=False),
        "tf1 data in graph": lambda: tf1_body(spec, settings, data_in_graph=True),
        "keras fit": lambda: keras_body(spec, settings),
        "torch eager": lambda: torch_body(spec, settings),
        FLOOR: lambda: matmuls_body(spec, settings),
    }
    bodies = {name: makers[name]() for name in contenders}
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):  # progress bars, TF chatter
        lanes = race(bodies, settings.total_laps)
    skip = 1 + settings.warmup
    timed = {name: lane.seconds[skip:] for name, lane in lanes.items()
             if lane.error is None and len(lane.seconds) == settings.total_laps}
    rows = []
    for name, lane in lanes.items():
        if name not in timed:
            reason = f"{type(lane.error).__name__}: {lane.error}" if lane.error else "stopped early"
            rows.append({"experiment": spec.name, "contender": name, "error": reason})
            continue
        per_step = [seconds / settings.block for seconds in timed[name]]
        median = statistics.median(per_step)
        rows.append({
            "experiment": spec.name,
            "contender": name,
            "ms_per_step": round(median * 1000, 3),
            "ms_per_step_min": round(min(per_step) * 1000, 3),
            "ms_per_step_blocks": [round(value * 1000, 3) for value in per_step],
            "ratio_to_tf1_loop": paired(timed[name], timed.get(BASELINE)),
            "scopelab_ratio": paired(timed.get("scopelab"), timed[name]),
            "gflops": round(spec.step_flops() / median / 1e9, 1),
        })
    return rows


def paired(mine: list[float] | None, theirs: list[float] | None) -> float | None:
    """Median of the per-round ratios mine/theirs: the two ran back to back in each round."""
    if not mine or not theirs:
        return None
    return round(statistics.median(a / b for a, b in zip(mine, theirs)), 3)


def print_table(rows: list[dict]) -> None:
    print(f"{'experiment':<10} {'contender':<18} {'ms/step':>8} {'min':>7} {'x tf1 loop':>10} {'scopelab /':>10} "
          f"{'GFLOP/s':>8}")
    for row in rows:
        if "error" in row:
            print(f"{row['experiment']:<10} {row['contender']:<18} failed: {row['error']}")
            continue
        ratios = [f"{value:.3f}" if value is not None else "-" for value in (row["ratio_to_tf1_loop"],
                                                                                row["scopelab_ratio"])]
        print(f"{row['experiment']:<10} {row['contender']:<18} {row['ms_per_step']:>8.2f} "
              f"{row['ms_per_step_min']:>7.2f} {ratios[0]:>10} {ratios[1]:>10} {row['gflops']:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", choices=list(EXPERIMENTS), default=list(EXPERIMENTS))
    parser.add_argument("--block", type=int, default=50, help="steps per turn (one timed sample)")
    parser.add_argument("--warmup", type=int, default=2, help="turns thrown away after the set-up turn")
    parser.add_argument("--laps", type=int, default=20, help="timed turns per contender")
    parser.add_argument("--quick", action="store_true", help="--block 20 --warmup 1 --laps 5: under a minute")
    parser.add_argument("--threads", type=int, default=0, help="threads per pool for every contender; 0: defaults")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=CONTENDERS,
                        help=f"which loops to race (the ratios need '{BASELINE}')")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_step.json")
    args = parser.parse_args()
    if args.quick:
        args.block, args.warmup, args.laps = 20, 1, 5

    tf = import_tensorflow()
    if args.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise SystemExit("--device gpu: TensorFlow sees no GPU on this machine.")
    if args.device == "cpu":
        tf.config.set_visible_devices([], "GPU")  # Keras too, not only the sessions
    settings = Settings(args.block, args.warmup, args.laps, args.threads, args.device == "gpu")
    contenders, notes = list(args.contenders), []
    if "torch eager" in contenders and not torch_available():
        contenders.remove("torch eager")
        notes.append("PyTorch is not installed: its row is skipped (pip install torch to include it).")
    elif "torch eager" in contenders and settings.gpu and not sys.modules["torch"].cuda.is_available():
        contenders.remove("torch eager")
        notes.append("PyTorch sees no CUDA device: its row is skipped.")

    mnist = load_mnist()
    rows = []
    with tempfile.TemporaryDirectory(prefix="scopelab-bench-") as runs_dir:
        for spec in load_specs(args.experiments, mnist):
            print(f"{spec.name}: {', '.join(contenders)} ({settings.steps} steps each)...", flush=True)
            rows += measure(spec, settings, mnist, Path(runs_dir), contenders)
    print()
    print_table(rows)
    for note in notes:
        print(note)
    report = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "tensorflow": tf.__version__, "device": args.device,
                    "torch": getattr(sys.modules.get("torch"), "__version__", None),
                    "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "load_average": os.getloadavg()},
        "settings": {"block": settings.block, "warmup": settings.warmup, "laps": settings.laps,
                     "threads": settings.threads, "steps_per_contender": settings.steps},
        "results": rows,
        "notes": notes,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
