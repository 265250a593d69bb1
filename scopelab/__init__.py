"""scopelab: reproduce and extend the TensorFlow variable-scope experiments from the command line."""

__version__ = "0.1.0"
