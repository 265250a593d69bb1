"""The two kinds of failure the CLI turns into exit codes, and text made safe to print on one line."""


def escaped(text: str) -> str:
    """Control characters written as escapes (\\n, \\x1b): text from a file or the user cannot start a line
    of its own or send the terminal an escape sequence."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InputError(Exception):
    """Bad usage or bad input (config, data, run id): exit code 2, one sentence, nothing written."""

    exit_code = 2

    def __init__(self, message: str):
        # User text quoted in the message (a key, a --set value) must not break the one-line rule.
        super().__init__(escaped(message))


class RunFailed(Exception):
    """The run itself failed (diverged, crashed): exit code 1, the run directory records why."""

    exit_code = 1


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a run after a checkpoint: exit 130 or 143, as shells expect."""

    def __init__(self, signal_number: int, message: str = ""):
        super().__init__(message or f"stopped by signal {signal_number}")
        self.signal_number = signal_number
        self.exit_code = 128 + signal_number
