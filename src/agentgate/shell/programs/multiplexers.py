"""Terminal multiplexers: tmux and screen start commands and type keys into sessions."""

from __future__ import annotations

from ..context import EXP, Field, Unclear, wordset
from ..options import Opt, Opts, opts, parse_opts, run, seen
from .common import joined, split_words

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker


# tmux: option letters of the commands that start a shell command or type keys
_TMUX_SPECS: dict[str, Opts] = {
    "new-session": opts("AdDEPX", "cefFnsStxy"),
    "new-window": opts("abdkPS", "cenFt"),
    "split-window": opts("bdfhIvPZ", "celFpt"),
    "respawn-pane": opts("k", "cet"),
    "respawn-window": opts("k", "cet"),
    "run-shell": opts("bCE", "cdt"),
    "display-popup": opts("BCEkN", "bcdehsStTwxy"),
    "if-shell": opts("bF", "t"),
    "pipe-pane": opts("IOo", "t"),
    "send-keys": opts("FHKlMRX", "cNt"),
}
_TMUX_ALIASES = {"new": "new-session", "neww": "new-window", "splitw": "split-window",
                 "respawnp": "respawn-pane", "respawnw": "respawn-window", "run": "run-shell",
                 "popup": "display-popup", "if": "if-shell", "pipep": "pipe-pane", "send": "send-keys"}
_TMUX_ENTER = wordset("enter c-m c-j kpenter ^m ^j")
_TMUX_KEYS = wordset("bspace btab dc delete end escape home ic insert npage pagedown pgdn ppage "
                     "pageup pgup tab up down left right any space")


_TMUX = opts("2CDlNuvV", "cfLST")


def _h_tmux(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``tmux [opts] CMD [ARGS] [; CMD ...]``: the commands that start a shell command or type
    keys (see _TMUX_SPECS) are followed; ``tmux -c TEXT`` is shell text."""
    i, found = parse_opts(words, 1, _TMUX, name)
    for o in found:
        if o.name == "-c":
            an.shell_text(o.value, o.flags, f"{name} -c", cx)
    cmd: list[Field] = []
    for w in words[i:]:  # commands are separated by ';' words (or a trailing ';')
        t = w.text
        if t == ";" or (t.endswith(";") and not t.endswith("\\;")):
            if t != ";":
                cmd.append(Field(t[:-1], w.flags))
            _tmux_command(an, name, cmd, cx)
            cmd = []
        else:
            cmd.append(w)
    _tmux_command(an, name, cmd, cx)


def _tmux_name(word: str) -> str | None:
    """The tmux command ``word`` names, if it is one that matters (aliases, unique prefixes)."""
    sub = _TMUX_ALIASES.get(word) or (word if word in _TMUX_SPECS else None)
    if sub is None:
        hits = [c for c in _TMUX_SPECS if c.startswith(word)]
        sub = hits[0] if len(hits) == 1 else None
    return sub


def _tmux_command(an: Walker, name: str, cmd: list[Field], cx: Cx) -> None:
    """One tmux command (its words after tmux's own options)."""
    if not cmd:
        return
    if cmd[0].flags & EXP:
        raise Unclear(f"{name}: the command is not literal ({cmd[0].text})")
    sub = _tmux_name(cmd[0].text)
    if sub is None:
        return
    label = f"{name} {sub}"
    j, found = parse_opts(cmd, 1, _TMUX_SPECS[sub], label)
    rest = cmd[j:]
    if not rest:
        return
    if sub == "send-keys":
        typed = _tmux_typed(label, found, rest)
        if typed is not None:
            an.shell_text(typed.text, typed.flags, label, cx)
    elif sub == "if-shell" or (sub == "run-shell" and seen(found, "-C")):
        _tmux_nested(an, name, sub, found, rest, cx)
    elif sub in ("run-shell", "pipe-pane") or len(rest) == 1:
        an.shell_text(rest[0].text, rest[0].flags, label, cx)
    else:
        an.command(rest, cx.wrap(label, stdin=False))


def _tmux_nested(an: Walker, name: str, sub: str, found: list[Opt], rest: list[Field], cx: Cx) -> None:
    """``if-shell [-F] TEXT CMD [CMD]`` (TEXT is shell text unless -F), ``run-shell -C CMD``:
    the CMDs are tmux commands."""
    label = f"{name} {sub}"
    if sub == "if-shell" and not seen(found, "-F"):
        an.shell_text(rest[0].text, rest[0].flags, label, cx)
    for text in rest[1:3] if sub == "if-shell" else rest[:1]:
        _h_tmux(an, name, [Field(name), *split_words(text, label, "a tmux command")], cx.wrap(label))


def _tmux_typed(label: str, found: list[Opt], keys: list[Field]) -> Field | None:
    """What ``send-keys KEYS`` types, as shell text (Enter is a newline); None for copy-mode
    commands (-X). Keys that edit the line make it unknown."""
    if seen(found, "-X"):
        return None
    if seen(found, "-H"):
        raise Unclear(f"{label}: keys given in hexadecimal")
    literal = seen(found, "-l")
    typed: list[str] = []
    flags = 0
    for w in keys:
        key = w.text
        flags |= w.flags
        low = key.lower()
        if literal:
            typed.append(key)
        elif low in _TMUX_ENTER:
            typed.append("\n")
        elif low == "space":
            typed.append(" ")
        elif low in _TMUX_KEYS or (len(key) >= 3 and key[1] == "-" and key[0] in "CMScms") or (
                len(key) == 2 and key[0] == "^") or (key[:1] in "Ff" and key[1:].isdigit()):
            raise Unclear(f"{label}: editing keys make the typed command unknown ({key})")
        else:
            typed.append(key)
    return Field("".join(typed), flags)


_SCREEN_NONE = frozenset({"-ls", "-list", "-wipe", "-v", "-version", "--version", "-help", "--help"})
_SCREEN_FLAGS = frozenset({"-fn", "-fa", "-ln", "-U", "-O", "-q", "-a", "-A", "-l", "-i", "-L", "-f"})


def _h_screen(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``screen [-dmS name] CMD ...`` runs CMD; ``screen -X stuff TEXT`` types TEXT, ``-X exec``
    and ``-X screen`` run commands in a running session."""
    i, n = 1, len(words)
    while i < n:
        w = words[i]
        t = w.text
        if w.flags & EXP:
            raise Unclear(f"{name}: an option or the command is not literal ({t})")
        if len(t) < 2 or t[0] != "-":
            break
        if t in _SCREEN_NONE:
            return
        used = 2 if t in ("-Logfile", "-logfile") else 1 if t in _SCREEN_FLAGS else _screen_bundle(t)
        if not used:
            return _screen_command(an, name, words[i + 1 :], cx)
        i += used
    if i < n:
        run(an, words, i, name, cx)


def _screen_bundle(t: str) -> int:
    """The words the option bundle ``t`` uses (a value may be the next word); 0 for -X and -Q
    (the rest is a command for a running session)."""
    for j in range(1, len(t)):
        if t[j] in "XQ":
            return 0
        if t[j] in "cehpsStT":
            return 2 if j + 1 == len(t) else 1
    return 1


def _screen_command(an: Walker, name: str, rest: list[Field], cx: Cx) -> None:
    """``screen -X CMD ARGS``: stuff types text, exec and screen run commands, eval more."""
    if not rest:
        return
    c = rest[0].text
    if rest[0].flags & EXP:
        raise Unclear(f"{name} -X: the command is not literal ({c})")
    label = f"{name} -X {c}"
    if c == "stuff":
        typed = _screen_typed(label, rest[1:])
        an.shell_text(typed.text, typed.flags, label, cx)
    elif c in ("exec", "screen"):
        k = 1  # screen's own options, exec's fd pattern (.!. and the like)
        while k < len(rest) and (rest[k].text.startswith("-") or (
                c == "exec" and rest[k].text != "" and set(rest[k].text) <= set(".!|:"))):
            k += 1
        if k < len(rest):
            an.command(rest[k:], cx.wrap(label, stdin=False))
    elif c == "eval":
        for w in rest[1:]:
            _screen_command(an, name, split_words(w, label, "a screen command"), cx.wrap(label))


def _screen_typed(label: str, words: list[Field]) -> Field:
    """What ``stuff TEXT`` types (\\n, \\r, ^M, ^J are Enter); other control characters make
    it unknown."""
    typed = joined(words)
    text = typed.text
    for esc in ("\\n", "\\r", "^M", "^J", "\\015", "\\012"):
        text = text.replace(esc, "\n")
    if "^" in text or "\\" in text:
        raise Unclear(f"{label}: control characters make the typed command unknown")
    return Field(text, typed.flags)


HANDLERS: dict[str, Handler] = {
    "tmux": _h_tmux,
    "screen": _h_screen,
}
