"""What an agent does to a shell command before it runs it, so that the gate judges the command
that will run, not the one the hook was shown.

Gemini CLI (0.61.0, ``stripShellWrapper`` in packages/core/src/utils/shell-utils.ts) drops a
leading ``sh|bash|zsh -c`` (any directory before the name), ``cmd.exe /c``, ``powershell[.exe]
[-NoProfile] -Command`` or ``pwsh[.exe] [-NoProfile] -Command`` and, when what is left is quoted
from end to end, the outer quotes; for ``-c "..."`` it reads the quoted text the way the
shell-quote package's ``parse`` does (with variables kept as ``$NAME``). Then it runs the rest
with ``bash -c``. :func:`gemini` is that function, step for step in JavaScript's terms: its
whitespace, its ``trim``, its case-insensitive ASCII matching. tests/test_rewrite.py holds the
upstream test cases, and tests/test_real_gemini.py compares it with the installed bundle's.

On the hook path: only ``re``, compiled on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    import re

# JavaScript's WhiteSpace and LineTerminator (what \s matches and String.prototype.trim drops);
# Python's differ (\x1c-\x1f are space to str.isspace, U+FEFF is not).
_JS_SPACES = ("\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200b)))
              + "\u2028\u2029\u202f\u205f\u3000\ufeff")
JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # as a class
_S = f"[{JS_SPACE}]"
_NS = f"[^{JS_SPACE}]"
_WRAPPER = (rf"^{_S}*(?:(?:(?:{_NS}+/)?(?:sh|bash|zsh)){_S}+-c|cmd\.exe{_S}+/c|"
            rf"powershell(?:\.exe)?{_S}+(?:-NoProfile{_S}+)?-Command|"
            rf"pwsh(?:\.exe)?{_S}+(?:-NoProfile{_S}+)?-Command){_S}+")

# shell-quote's parse.js (1.8), the pieces it builds its chunker from.
_CONTROL = "(?:" + "|".join([r"\|\|", r"\&\&", ";;", r"\|\&", r"\<\(", r"\<\<\<", ">>", r">\&",
                             r"<\&", r"[&;()|<>]"]) + ")"
_META = "|&;()<> \\t"
_BAREWORD = r"(\\['\"" + _META + r"]|[^" + JS_SPACE + r"'\"" + _META + "])+"
_DQ = r'"((\\"|[^"])*?)"'
_SQ = r"'((\\'|[^'])*?)'"
_CHUNK = f"({_CONTROL})|({_BAREWORD}|{_DQ}|{_SQ})+"

_cache: dict[str, re.Pattern[str]] = {}


def _rx(name: str) -> re.Pattern[str]:
    found = _cache.get(name)
    if found is None:
        import re

        source = {"wrapper": _WRAPPER, "chunk": _CHUNK, "control": f"^{_CONTROL}$",
                  "varend": "[^A-Za-z0-9_]", "special": "[*@#?$!_-]"}[name]
        # ASCII: case-insensitive as JavaScript without the u flag (no long s for 's', no Kelvin
        # sign for 'k'); the classes above spell out JavaScript's whitespace.
        found = _cache[name] = re.compile(source, re.IGNORECASE | re.ASCII if name == "wrapper"
                                          else re.ASCII)
    return found


def js_trim(text: str) -> str:
    """``String.prototype.trim``."""
    return text.strip(_JS_SPACES)


def gemini(command: str) -> str:
    """The command Gemini CLI runs for ``run_shell_command`` given ``command``."""
    match = _rx("wrapper").match(command)
    if match is None:
        return js_trim(command)
    rest = js_trim(command[match.end():])
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        if rest[0] == '"' and js_trim(match.group()).endswith("-c"):  # case-sensitive there
            entries = _shell_quote_parse(rest)
            if entries is not None and len(entries) == 1 and isinstance(entries[0], str):
                return entries[0]
        return rest[1:-1]
    return rest


class _BadSubstitution(Exception):
    pass


def _shell_quote_parse(text: str) -> list[object] | None:
    """shell-quote's ``parse(text, key => "$" + key)``: its list of words (str) and operators,
    globs and comments (anything else, here ``object()``); None where it throws."""
    out: list[object] = []
    commented = False
    for m in _finditer(_rx("chunk"), text):
        s = m.group()
        if not s or commented:
            continue
        if _rx("control").match(s):
            out.append(object())
            continue
        try:
            word = _word(s)
        except _BadSubstitution:
            return None
        if word is _COMMENT:
            commented = True
            out.append(object())
        elif isinstance(word, tuple):  # a word, then a comment
            commented = True
            out.extend([word[0], object()])
        else:
            out.append(word)
    return out


def _finditer(rx: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """JavaScript's exec loop with the g flag (an empty match moves one on)."""
    found, pos = [], 0
    while pos <= len(text):
        m = rx.search(text, pos)
        if m is None:
            break
        found.append(m)
        pos = m.end() + (1 if m.end() == m.start() else 0)
    return found


_COMMENT = object()
_GLOB = object()


def _word(s: str) -> object:
    """One chunk as shell-quote reads it: its text (str), a glob or an operator (``_GLOB``),
    a comment (``_COMMENT``, or (text, comment) when text came first)."""
    quote = ""
    esc = False
    glob = False
    out: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        glob = glob or (not quote and c in "*?")
        if esc:
            out.append(c)
            esc = False
        elif quote:
            if c == quote:
                quote = ""
            elif quote == "'":
                out.append(c)
            elif c == "\\":
                i += 1
                c = s[i] if i < n else ""
                out.append(c if c in ('"', "\\", "$") else "\\" + c)
            elif c == "$":
                text, i = _variable(s, i)
                out.append(text)
            else:
                out.append(c)
        elif c in "\"'":
            quote = c
        elif _rx("control").match(c):
            return _GLOB  # shell-quote returns the chunk as an operator: not a word either way
        elif c == "#":
            return (("".join(out), _COMMENT) if out else _COMMENT)
        elif c == "\\":
            esc = True
        elif c == "$":
            text, i = _variable(s, i)
            out.append(text)
        else:
            out.append(c)
        i += 1
    return _GLOB if glob else "".join(out)


def _variable(s: str, i: int) -> tuple[str, int]:
    """parseEnvVar at ``s[i] == "$"``: "$" + the name it reads, and the index of its last
    character (the loop then moves one on)."""
    i += 1
    c = s[i] if i < len(s) else ""
    if c == "{":
        i += 1
        if s[i:i + 1] == "}":
            raise _BadSubstitution
        end = s.find("}", i)
        if end < 0:
            raise _BadSubstitution
        return "$" + s[i:end], end
    if c and _rx("special").match(c):
        return "$" + c, i + 1  # as shell-quote does: the character after it is skipped
    tail = s[i:]
    m = _rx("varend").search(tail)
    if m is None:
        return "$" + tail, len(s)
    return "$" + tail[:m.start()], i + m.start() - 1
