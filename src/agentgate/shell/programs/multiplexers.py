"""Terminal multiplexers: tmux and screen start commands and type keys into sessions."""

from __future__ import annotations

from ..context import Unclear
from ..options import Opts, opts, parse_opts, run, seen
from ..syntax import EXP, wordset

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker
    from ..syntax import Field


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


_TMUX_KEYS = wordset("bspace btab dc delete end escape home ic insert npage pagedown pgdn ppage pageup "
                  "pgup tab up down left right any space")


def _h_tmux(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, found = parse_opts(words, 1, opts("2CDlNuvV", "cfLST"), name)
    for o, v, f in found:
        if o == "-c":
            an.shell_text(v, f, f"{name} -c", cx)
    cmd: list[Field] = []
    for t, f in words[i:]:  # commands are separated by ';' words (or a trailing ';')
        if t == ";" or (t.endswith(";") and not t.endswith("\\;")):
            if t != ";":
                cmd.append((t[:-1], f))
            _tmux_command(an, name, cmd, cx)
            cmd = []
        else:
            cmd.append((t, f))
    _tmux_command(an, name, cmd, cx)


def _tmux_command(an: Walker, name: str, cmd: list[Field], cx: Cx) -> None:
    if not cmd:
        return
    t, f = cmd[0]
    if f & EXP:
        raise Unclear(f"{name}: the command is not literal ({t})")
    sub = _TMUX_ALIASES.get(t) or (t if t in _TMUX_SPECS else None)
    if sub is None:
        hits = [c for c in _TMUX_SPECS if c.startswith(t)]  # tmux takes unique prefixes
        if len(hits) != 1:
            return
        sub = hits[0]
    label = f"{name} {sub}"
    j, found = parse_opts(cmd, 1, _TMUX_SPECS[sub], label)
    rest = cmd[j:]
    if not rest:
        return
    if sub == "send-keys":
        if seen(found, "-X"):
            return  # copy-mode commands
        if seen(found, "-H"):
            raise Unclear(f"{label}: keys given in hexadecimal")
        literal = seen(found, "-l")
        typed: list[str] = []
        flag = 0
        for key, g in rest:
            flag |= g
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
        return an.shell_text("".join(typed), flag, label, cx)
    if sub == "if-shell" or (sub == "run-shell" and seen(found, "-C")):
        tmux_cmds = rest[1:3] if sub == "if-shell" else rest[:1]
        if sub == "if-shell" and not seen(found, "-F"):
            an.shell_text(rest[0][0], rest[0][1], label, cx)
        for text, g in tmux_cmds:
            if g & EXP:
                raise Unclear(f"{label}: a tmux command is not literal")
            import shlex

            try:
                toks = shlex.split(text)
            except ValueError as exc:
                raise Unclear(f"{label}: cannot split a tmux command: {exc}") from None
            _h_tmux(an, name, [(name, 0), *((x, 0) for x in toks)], cx.wrap(label))
        return
    if sub in ("run-shell", "pipe-pane") or len(rest) == 1:
        return an.shell_text(rest[0][0], rest[0][1], label, cx)
    an.command(rest, cx.wrap(label, stdin=False))


def _h_screen(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``screen [-dmS name] CMD ...`` runs CMD; ``screen -X stuff TEXT`` types TEXT, ``-X exec``
    and ``-X screen`` run commands in a running session."""
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if f & EXP:
            raise Unclear(f"{name}: an option or the command is not literal ({t})")
        if len(t) < 2 or t[0] != "-":
            break
        if t in ("-ls", "-list", "-wipe", "-v", "-version", "--version", "-help", "--help"):
            return
        if t in ("-Logfile", "-logfile"):
            i += 2
            continue
        if t in ("-fn", "-fa", "-ln", "-U", "-O", "-q", "-a", "-A", "-l", "-i", "-L", "-f"):
            i += 1
            continue
        for j in range(1, len(t)):
            ch = t[j]
            if ch in "XQ":
                return _screen_command(an, name, words[i + 1 :], cx)
            if ch in "cehpsStT":
                if j + 1 == len(t):
                    i += 1
                break
        i += 1
    if i < n:
        run(an, words, i, name, cx)


def _screen_command(an: Walker, name: str, rest: list[Field], cx: Cx) -> None:
    if not rest:
        return
    c, f = rest[0]
    if f & EXP:
        raise Unclear(f"{name} -X: the command is not literal ({c})")
    label = f"{name} -X {c}"
    if c == "stuff":
        flag = 0
        for _, g in rest[1:]:
            flag |= g
        text = " ".join(t for t, _ in rest[1:])
        for esc in ("\\n", "\\r", "^M", "^J", "\\015", "\\012"):
            text = text.replace(esc, "\n")
        if "^" in text or "\\" in text:
            raise Unclear(f"{label}: control characters make the typed command unknown")
        an.shell_text(text, flag, label, cx)
    elif c in ("exec", "screen"):
        k = 1  # screen's own options, exec's fd pattern (.!. and the like)
        while k < len(rest) and (rest[k][0].startswith("-") or (
                c == "exec" and rest[k][0] != "" and set(rest[k][0]) <= set(".!|:"))):
            k += 1
        if k < len(rest):
            an.command(rest[k:], cx.wrap(label, stdin=False))
    elif c == "eval":
        for t, g in rest[1:]:
            if g & EXP:
                raise Unclear(f"{label}: a screen command is not literal")
            import shlex

            try:
                toks = shlex.split(t)
            except ValueError as exc:
                raise Unclear(f"{label}: cannot split a screen command: {exc}") from None
            _screen_command(an, name, [(x, 0) for x in toks], cx.wrap(label))


HANDLERS: dict[str, Handler] = {
    "tmux": _h_tmux,
    "screen": _h_screen,
}
