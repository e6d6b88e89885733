"""Replacing a file so that a crash at any instant leaves the old content or the new, never a mix.

Used for every state file agentgate rewrites (ledger, its archive, trust records) and for the
agent settings that `hook install` edits. The audit log is appended to, not replaced (audit.py).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .faults import fault


def replace_atomically(path: Path, data: bytes, mode: int = 0o600, *, prefix: str | None = None,
                       fault_point: str | None = None) -> None:
    """Write ``data`` to a temp file beside ``path`` (with ``mode``), fsync it, rename it over
    ``path`` and fsync the directory. On failure the temp file is removed and OSError raised;
    ``path`` is then unchanged. ``fault_point`` names the test-only fault hooks
    ``<point>.tmp_written`` (before the rename) and ``<point>.replaced`` (after it)."""
    import tempfile  # writers only: not on the `run` path

    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}-", suffix=".tmp", dir=path.parent)
    pending: str | None = tmp
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if fault_point:
            fault(f"{fault_point}.tmp_written")
        os.replace(tmp, path)
        pending = None
        if fault_point:
            fault(f"{fault_point}.replaced")
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        if pending is not None:
            with contextlib.suppress(OSError):
                os.unlink(pending)
