"""bash features that run text the analysis does not see as a command: arithmetic that runs
``$(...)`` in an array subscript, prompt strings, start-up files, exported functions, builtin
callbacks, the command-hash and alias tables. Each is read here when it can be (a callback or
PROMPT_COMMAND is shell text) and held as unparseable when it cannot: text bash will execute
that cannot be read statically gets the strictest outcome the matcher has for unknown code.

The analyzer calls :func:`script` for each piece of shell text, :func:`assignment` for each
``NAME=value`` it meets (shell variables, prefixes, ``export``/``declare`` arguments, ``env``
words), :func:`command` for each simple command and :func:`exported_functions` for a command
that starts with ``BASH_FUNC_name%%=...`` words (what ``env`` passes on).
"""

from __future__ import annotations

from ..lean import lazy_regex
from .context import EXP, Field, Unclear, wordset

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from .context import Cx
    from .options import Walker

# text that holds an array subscript running a command: a[$(cmd)], a[`cmd`]
_SUBSCRIPT_RUNS = lazy_regex(r"[A-Za-z_][A-Za-z0-9_]*\[[^\]]*(?:\$\(|`)")
# where bash evaluates a string as arithmetic (or an array subscript in a name): (( )), $(( )),
# $[ ], [[ -eq ]], ${s:off}, ${a[i]}, let, declare -i, printf -v, test -v, read/unset NAME, ...
_ARITHMETIC = lazy_regex(r"\(\(|\$\[|\[\[|\$\{|(?:^|[\s;&|(`'\"])(?:let|declare|typeset|local|readonly|"
                         r"export|printf|test|\[|unset|read|mapfile|readarray|getopts|wait|shift|"
                         r"return|exit|ulimit|source|\.)(?=[\s;&|)'\"]|$)")
_PROMPTS = wordset("PS0 PS1 PS2 PS3 PS4")
_TABLES = wordset("BASH_CMDS BASH_ALIASES")
_SHELLS = wordset("sh bash zsh dash ksh mksh ash yash posh rbash ksh93 pdksh oksh loksh")
_DECLARE = wordset("declare typeset local export readonly")
# the variables :func:`assignment` looks at (the analyzer asks before calling it)
NAMES = _PROMPTS | wordset("PROMPT_COMMAND BASH_ENV BASH_CMDS BASH_ALIASES")
_CALLBACK = {"mapfile": "-C", "readarray": "-C", "compgen": "-C", "complete": "-C"}


def _runs(value: str) -> bool:
    """Does a prompt-expanded string run something (``$(..)``, backquotes)?"""
    return "$(" in value or "`" in value


def script(an: Walker, text: str, cx: Cx) -> None:
    """Text bash evaluates as arithmetic runs ``$(...)`` found in an array subscript in quoted
    data (``x='a[$(cmd)]'; (( x ))``); ``${x@P}`` expands a value as a prompt."""
    if "[" in text and ("$(" in text or "`" in text) and _SUBSCRIPT_RUNS().search(text) \
            and _ARITHMETIC().search(text):
        an.add_opaque("unparseable", "bash may evaluate text holding an array subscript with a "
                      "command substitution as arithmetic (a[$(cmd)]), which runs the command", text, cx.via)
    if "@P}" in text:
        an.add_opaque("unparseable", "${NAME@P} expands a value as a prompt string, which may "
                      "run commands", text, cx.via)


def assignment(an: Walker, name: str, value: str | None, source: str, cx: Cx) -> None:
    """A variable whose value bash itself runs or reads code from."""
    base = name.split("[", 1)[0]
    if base in _PROMPTS:
        if value is None or _runs(value):
            an.add_opaque("unparseable", f"{base} is expanded as a prompt (with set -x, in an "
                          "interactive shell), which runs its command substitutions", source, cx.via)
    elif base == "PROMPT_COMMAND":
        if value is None or "[" in name or "(" in source.split("=", 1)[0]:
            an.add_opaque("unparseable", "PROMPT_COMMAND runs before each prompt, and its text "
                          "is not literal", source, cx.via)
        else:
            an.shell_text(value, 0, "PROMPT_COMMAND=", cx)
    elif base == "BASH_ENV" and (value is None or value):
        an.add_opaque("unparseable", "BASH_ENV names a start-up file every non-interactive bash "
                      "runs, which is not read here", source, cx.via)
    elif base in _TABLES:
        an.add_opaque("unparseable", f"{base} makes a command name run another program or text",
                      source, cx.via)
    elif base.startswith("BASH_FUNC_"):
        an.add_opaque("unparseable", "an exported function definition (BASH_FUNC_name%%) "
                      "replaces a command in the shells started from here", source, cx.via)


def command(an: Walker, low: str, words: list[Field], env: tuple[str, ...], cx: Cx) -> None:
    """Builtin callbacks (``mapfile -C``, ``compgen -C``, ``complete -C``) run shell text; a
    shell given ``--rcfile``/``--init-file``, or ``ENV``/``BASH_ENV`` in its environment,
    runs a start-up file not read here."""
    opt = _CALLBACK.get(low)
    if opt is not None:
        for k in range(1, len(words)):
            t = words[k].text
            if t == "--":
                break
            if t.startswith("-") and not t.startswith("--") and "C" in t[1:]:
                rest = t[t.index("C") + 1:]
                code = Field(rest, words[k].flags) if rest else (words[k + 1] if k + 1 < len(words) else None)
                if code is None:
                    continue
                if code.flags & EXP:
                    raise Unclear(f"{low} -C: the callback is not literal")
                an.shell_text(code.text, 0, f"{low} -C", cx)
        return
    if low in _DECLARE:  # declare 'BASH_CMDS[ls]=...', export 'PS4=$(..)': what the table misses
        for w in words[1:]:
            key, eq, val = w.text.partition("=")
            if eq and "[" in key:
                assignment(an, key, None if w.flags & EXP else val, w.text, cx)
        return
    if low not in _SHELLS:
        return
    if any(w.text.split("=", 1)[0] in ("--rcfile", "--init-file") for w in words[1:]):
        raise Unclear(f"{low} runs a start-up file (--rcfile/--init-file) that is not read here")
    interactive = any(w.text[:1] == "-" and w.text[1:2] != "-" and "i" in w.text for w in words[1:]) or all(
        w.text[:1] in ("-", "+") for w in words[1:])
    for e in env:
        name, _eq, val = e.partition("=")
        if val and (name == "BASH_ENV" or (name == "ENV" and interactive)):
            raise Unclear(f"{low} may run the start-up file {name} names, which is not read here")


def exported_functions(an: Walker, words: list[Field], cx: Cx) -> list[Field]:
    """``BASH_FUNC_name%%=() { ...; }`` words (an exported function, as ``env`` passes it): the
    function's body is analysed, and a shell started with it may run it in place of ``name``
    (held). The words after them are returned: the command they are given to."""
    k = 0
    while k < len(words) and words[k].text.startswith("BASH_FUNC_") and "=" in words[k].text:
        w = words[k]
        key, _eq, body = w.text.partition("=")
        fname = key[len("BASH_FUNC_"):].rstrip("%").removesuffix("()") or "f"
        an.add_opaque("unparseable", "an exported function definition (BASH_FUNC_name%%) "
                      "replaces a command in the shells started from here", w.text, cx.via)
        if not w.flags & EXP and body.lstrip().startswith("()"):
            an.shell_text(f"{fname} {body.lstrip()}", 0, "BASH_FUNC_", cx)
        k += 1
    return words[k:]
