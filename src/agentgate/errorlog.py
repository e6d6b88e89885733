"""The log of internal errors: an unexpected exception is a bug, and its traceback, agentgate's
and Python's versions, the platform and the command line are appended to ``<state>/errors.log``
(0600, never through a link; past MAX_BYTES the old log moves to ``errors.log.1``), so that the
one line a person sees can say where the details are (pre-commit's error handler does the same).

When the state directory cannot take it, the report goes to a new file under the system's temp
directory (created 0600, exclusively); when nothing can be written, :func:`record` returns None
and the caller shows the traceback itself. Nothing here prints. Imported only when a bug
happened, so its imports cost the hot paths nothing.
"""

from __future__ import annotations

import os
import sys

from .errors import AgentgateError
from .fileio import make_state_dir, open_state_file
from .paths import state_dir

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Sequence

LOG_NAME = "errors.log"
MAX_BYTES = 1024 * 1024


def report(error: BaseException, argv: Sequence[str] | None = None) -> str:
    """The text logged for one internal error."""
    import platform
    import time
    import traceback

    from . import __version__

    words = list(sys.argv if argv is None else argv)
    return "".join([
        f"### {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} internal error\n",
        f"agentgate {__version__}, Python {platform.python_version()} "
        f"({sys.executable}), {platform.platform()}\n",
        f"argv: {words!r}\n",
        *traceback.format_exception(error),
        "\n",
    ])


def record(error: BaseException, argv: Sequence[str] | None = None) -> str | None:
    """Log ``error``; the path of the file that holds its report, or None when none could."""
    text = report(error, argv).encode("utf-8", "backslashreplace")
    for write in (_to_state_dir, _to_temp_file):
        try:
            return str(write(text))
        except (AgentgateError, OSError):
            continue
    return None


def _to_state_dir(text: bytes) -> str:
    root = state_dir()
    make_state_dir(root)  # refuses a directory others can write, creates it 0700
    path = os.path.join(root, LOG_NAME)
    fd = _open_log(path)
    try:
        if os.fstat(fd).st_size + len(text) > MAX_BYTES:  # keep one older log, drop the rest
            os.close(fd)
            fd = -1
            os.replace(path, os.path.join(root, f"{LOG_NAME}.1"))
            fd = _open_log(path)
        _write_all(fd, text)
    finally:
        if fd >= 0:
            os.close(fd)
    return path


def _open_log(path: str) -> int:
    fd = open_state_file(path, os.O_WRONLY | os.O_APPEND, label="error log", create=True)
    assert fd is not None  # create=True: a file, or an error
    return fd


def _to_temp_file(text: bytes) -> str:
    import tempfile

    fd, name = tempfile.mkstemp(prefix="agentgate-error-", suffix=".log")  # 0600, O_EXCL
    try:
        _write_all(fd, text)
    finally:
        os.close(fd)
    return name


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
