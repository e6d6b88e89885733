"""agentgate: a fail-closed, human-in-the-loop checkpoint in front of an AI agent's commands.

``from agentgate import verify, gated, ApprovalRequired, Denied`` is the Python checkpoint
(see ``agentgate.api``). They are loaded on first use so that ``import agentgate`` and the CLI's
start-up stay light.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not from typing: see agentgate.lean

__version__ = "0.1.0"

_LAZY = {"verify": "api", "gated": "api", "ApprovalRequired": "api", "Denied": "api",
         "VerifyResult": "api"}

__all__ = ["ApprovalRequired", "Denied", "VerifyResult", "__version__", "gated", "verify"]

if TYPE_CHECKING:
    from typing import Any

    from .api import ApprovalRequired, Denied, VerifyResult, gated, verify


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentgate' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
