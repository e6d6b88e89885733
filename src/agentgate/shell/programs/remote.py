"""Remote execution: ssh (its command and its -o ProxyCommand), rsync -e."""

from __future__ import annotations

from ..options import opts, parse_opts, reads_stdin, seen
from .common import run_joined

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx, Field
    from ..options import Handler, Walker


_SSH = opts("46AaCfGgKkMNnqsTtVvXxYy", "BbcDEeFIiJLlmOoPpQRSWw")


def _h_ssh(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``ssh [opts] HOST [opts] CMD...``: CMD, joined, is shell text on the remote host; no CMD
    means a remote shell reading stdin. ``-o ProxyCommand=...`` and the like run locally."""
    if len(words) > 1 and words[1].text in ("-V", "--version", "--help", "-?", "-h"):
        return  # prints its version or usage
    i, found = parse_opts(words, 1, _SSH, name)
    if i < len(words) and not (i > 1 and words[i - 1].text == "--"):
        j, more = parse_opts(words, i + 1, _SSH, name)  # ssh reads options after the host too
        found += more
        rest = words[j:]
    else:
        rest = words[i + 1 :]
    for o in found:
        if o.name == "-o":
            ssh_option(an, name, o.value, o.flags, cx)
    if i >= len(words) or seen(found, "-N"):
        return
    if not rest:
        return reads_stdin(f"{name} (remote shell)", cx, an, "shell")
    run_joined(an, rest, f"{name} (remote)", cx)


def ssh_option(an: Walker, name: str, option: str, flags: int, cx: Cx) -> None:
    """``-o Key=Value``: the keys that name a local command are analysed as shell text."""
    v = option.strip()
    cut = min((k for k in (v.find("="), v.find(" "), v.find("\t")) if k > 0), default=len(v))
    key, val = v[:cut].strip(), v[cut:].strip().lstrip("=").strip()
    if key.lower() in ("proxycommand", "localcommand", "knownhostscommand"):
        an.shell_text(val, flags, f"{name} -o {key}", cx)


def _h_rsync(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``rsync -e|--rsh TEXT``: the remote shell command runs locally."""
    for k, w in enumerate(words):
        if w.text in ("-e", "--rsh") and k + 1 < len(words):
            an.shell_text(words[k + 1].text, words[k + 1].flags, f"{name} -e", cx)
        elif w.text.startswith("--rsh="):
            an.shell_text(w.text[6:], w.flags, f"{name} -e", cx)


HANDLERS: dict[str, Handler] = {
    "ssh": _h_ssh,
    "rsync": _h_rsync,
}
