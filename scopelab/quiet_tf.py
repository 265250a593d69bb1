"""Import TensorFlow without the C++ start-up chatter it writes to stderr before its logging is set up."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager


@contextmanager
def _captured_stderr():
    """Send fd 2 to a temp file for the duration; replay it only if the body raised."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# TensorFlow's __init__ imports Keras's optimizers (and so all of Keras, and scikit-learn through Keras's
# wrappers when it is installed) only to register them for SavedModel, and passes on an ImportError. scopelab
# saves with tf.train and builds no Keras model, so that import is held off while TensorFlow loads: about a
# third of the import's time (4.2 s against 5.5 s here), paid by every run and every sweep worker. Keras
# imports as usual afterwards (`scopes` uses it).
KERAS_EAGER_IMPORTS = ("keras.src.optimizers", "tf_keras.src.optimizers")


def import_tensorflow():
    """TensorFlow, imported quietly, with the list of GPUs probed once (that probe is noisy too)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Each session's own thread pools, as its config asks (with use_per_session_threads): otherwise the first
    # session of a process sizes them for every later one, and a sweep worker that ran a 1-thread member
    # would run the 2-thread member of a last round (scopelab.sweep.jobs) on one thread too.
    os.environ.setdefault("TF_OVERRIDE_GLOBAL_THREADPOOL", "1")
    # Only on TensorFlow's first import, and never over a Keras this process already loaded.
    loaded = "tensorflow" in sys.modules
    held_off = [] if loaded else [name for name in KERAS_EAGER_IMPORTS if name not in sys.modules]
    with _captured_stderr():
        sys.modules.update(dict.fromkeys(held_off))  # None: `import` raises ImportError at once
        try:
            import tensorflow as tf
        finally:
            for name in held_off:
                sys.modules.pop(name, None)
        tf.config.list_physical_devices("GPU")
    tf.get_logger().setLevel("ERROR")
    return tf
