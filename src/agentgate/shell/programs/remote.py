"""Remote execution: ssh (its command and its -o ProxyCommand), rsync -e."""

from __future__ import annotations

from ..options import opts, parse_opts, seen
from .common import reads_stdin

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker
    from ..syntax import Field


_O_SSH = opts("46AaCfGgKkMNnqsTtVvXxYy", "BbcDEeFIiJLlmOoPpQRSWw")


def _h_ssh(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, found = parse_opts(words, 1, _O_SSH, name)
    if i < len(words) and not (i > 1 and words[i - 1][0] == "--"):
        j, more = parse_opts(words, i + 1, _O_SSH, name)  # ssh reads options after the host too
        found += more
        rest = words[j:]
    else:
        rest = words[i + 1 :]
    for o, v, f in found:
        if o == "-o":
            v = v.strip()
            cut = min((k for k in (v.find("="), v.find(" "), v.find("\t")) if k > 0), default=len(v))
            key, val = v[:cut].strip(), v[cut:].strip().lstrip("=").strip()
            if key.lower() in ("proxycommand", "localcommand", "knownhostscommand"):
                an.shell_text(val, f, f"{name} -o {key}", cx)
    if i >= len(words) or seen(found, "-N"):
        return
    if not rest:
        return reads_stdin(f"{name} (remote shell)", cx, an, "shell")
    flag = 0
    for _, f in rest:
        flag |= f
    an.shell_text(" ".join(t for t, _ in rest), flag, f"{name} (remote)", cx)


def _h_rsync(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    for k, (t, f) in enumerate(words):
        if t in ("-e", "--rsh") and k + 1 < len(words):
            an.shell_text(words[k + 1][0], words[k + 1][1], f"{name} -e", cx)
        elif t.startswith("--rsh="):
            an.shell_text(t[6:], f, f"{name} -e", cx)


HANDLERS: dict[str, Handler] = {
    "ssh": _h_ssh,
    "rsync": _h_rsync,
}
