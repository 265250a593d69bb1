"""A failure in one line: the cause (and the path) first, for stderr, summary.json and `list`; the whole
text, traceback included, for log.txt. TensorFlow's errors run to dozens of lines with the useful one
(often an OS error such as "No space left on device") somewhere in the middle."""

from __future__ import annotations

import errno
import os
import traceback

# Lines of a long message that say what went wrong on the machine: preferred over the first line.
OS_CAUSES = tuple(
    os.strerror(number)
    for number in (errno.ENOSPC, errno.EROFS, errno.ENOENT, errno.EACCES, errno.EDQUOT, errno.EIO, errno.ENAMETOOLONG)
)
MAX_LENGTH = 300


def one_line(error: BaseException) -> str:
    """`Type: the first meaningful line`, at most MAX_LENGTH characters."""
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        text = f"{error.strerror}{where}"
    else:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        cause = next((line for line in lines for phrase in OS_CAUSES if phrase in line), None)
        text = cause or (lines[0] if lines else "")
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 3] + "..."


def full_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))
