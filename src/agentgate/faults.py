"""Test-only fault injection. Inert in normal use: it reads nothing unless AGENTGATE_TEST_HOOKS=1.

The fault tests (tests/test_faults.py) crash or stall real ``agentgate`` processes at exact
instants of their ledger and audit writes, then check that nothing was lost or duplicated::

    AGENTGATE_TEST_HOOKS=1 AGENTGATE_TEST_FAULT=audit.write:torn agentgate run -- ...

``AGENTGATE_TEST_FAULT`` is ``POINT:ACTION`` (several joined by ``,``). Points: ``audit.write``
(before the append's single write), ``audit.written`` (after it, and its fsync, before the head is
written), and for each file replaced through fileio.stage_file, named ``ledger``, ``trust`` or
``audit.head``: ``<name>.tmp_written`` (temp file complete; for the ledger and trust records, before
their audit lines are appended), ``<name>.renaming`` (after those, just before ``os.replace``;
``enospc`` here is a rename that fails) and ``<name>.replaced`` (after it). Actions: ``kill``
(SIGKILL this process), ``torn`` (write the first half of the pending bytes, then SIGKILL),
``sleep=SECONDS`` (stall, e.g. while holding the lock), ``enospc`` (fail the write as if the disk
were full), ``raise`` (an unexpected exception, as a bug would raise one).
``clock:offset=SECONDS`` shifts the ledger's wall clock (a clock that jumped);
``boot:id=NAME`` and ``boot:offset=SECONDS`` replace the boot id and shift the boot's monotonic
clock (a reboot: another id, a clock that restarted near zero). With the hooks off, :func:`fault` is
one falsy check. Even when on, they give a process nothing its user could not already do (kill it,
hold the lock file, edit the ledger), which the threat model leaves out of scope; no action can make
a command run.
"""

from __future__ import annotations

import os
from collections.abc import Callable

_SPEC = os.environ.get("AGENTGATE_TEST_FAULT", "") if os.environ.get("AGENTGATE_TEST_HOOKS") == "1" else ""


def fault(point: str, fd: int | None = None, data: bytes = b"") -> None:
    """Trigger the fault configured for ``point``, if any (tests only)."""
    if _SPEC:
        _inject(point, fd, data)


def test_clock(clock: Callable[[], float]) -> Callable[[], float]:
    """``clock``, shifted by ``clock:offset=SECONDS`` when the hooks are on (tests only)."""
    for item in _SPEC.split(",") if _SPEC else ():
        where, _, action = item.partition(":")
        if where == "clock" and action.startswith("offset="):
            offset = float(action[len("offset="):])
            return lambda: clock() + offset
    return clock


def test_boot_clock(boot_clock: Callable[[], tuple[str | None, float]]
                    ) -> Callable[[], tuple[str | None, float]]:
    """``boot_clock`` with ``boot:id=NAME`` and ``boot:offset=SECONDS`` applied (tests only)."""
    boot: str | None = None
    offset = 0.0
    for item in _SPEC.split(",") if _SPEC else ():
        where, _, action = item.partition(":")
        if where == "boot" and action.startswith("id="):
            boot = action[len("id="):]
        elif where == "boot" and action.startswith("offset="):
            offset = float(action[len("offset="):])
    if boot is None and not offset:
        return boot_clock

    def shifted() -> tuple[str | None, float]:
        real, mono = boot_clock()
        return (boot if boot is not None else real), max(0.0, mono + offset)

    return shifted


def _inject(point: str, fd: int | None, data: bytes) -> None:
    import errno
    import signal
    import time

    for item in _SPEC.split(","):
        where, _, action = item.partition(":")
        if where != point:
            continue
        if action == "torn" and fd is not None and data:
            os.write(fd, data[: max(1, len(data) // 2)])
            action = "kill"
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action.startswith("sleep="):
            time.sleep(float(action[len("sleep="):]))
        elif action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        elif action == "raise":
            raise RuntimeError(f"test fault at {point}")
