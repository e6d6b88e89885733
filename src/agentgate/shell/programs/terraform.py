"""terraform and tofu: reported again without their global options."""

from __future__ import annotations

from ..context import EXP
from .common import renormalized

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx, Field
    from ..options import Handler, Walker


def _h_terraform(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``terraform -chdir=x apply`` is also reported as ``terraform apply``."""
    i = 1
    while i < len(words) and words[i].text.startswith("-") and not words[i].flags & EXP:
        i += 1
    renormalized(an, name, words, i, cx)


HANDLERS: dict[str, Handler] = {
    "terraform": _h_terraform,
    "tofu": _h_terraform,
}
