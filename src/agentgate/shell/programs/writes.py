"""Files a command line writes, and copies or links it makes, before it runs them: ``echo
'git push -f' > f; sh f`` is read as the script it writes, and ``ln -s /usr/bin/git g; ./g push
-f`` as git. Not a family: the analyzer asks these helpers about every command that redirects
its output or copies a file (see :class:`~..analyzer.Analyzer`)."""

from __future__ import annotations

import posixpath

from ..context import EXP, GLOB, PROC, Field, program_name

_RUNTIME = EXP | GLOB | PROC
_ECHO_FLAGS = frozenset({"-n", "-e", "-E", "-ne", "-en", "-nE", "-En"})
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\\\": "\\"}


def _unescape(text: str) -> str:
    for k, v in _ESCAPES.items():
        text = text.replace(k, v)
    return text


def output_text(words: list[Field], feed: Field | None, stdin: bool) -> str | None:
    """What a command writes on its stdout when that is redirected to a file: the text for
    ``echo``, ``printf`` (its format and arguments, escapes read) and ``cat`` of a literal
    here-document or here-string; None when it is not known (any other program, run-time
    words)."""
    if any(w.flags & _RUNTIME for w in words):
        return None
    prog = program_name(words[0].text)
    args = [w.text for w in words[1:]]
    if prog == "echo":
        while args and args[0] in _ECHO_FLAGS:
            args = args[1:]
        return _unescape(" ".join(args)) + "\n"
    if prog == "printf":
        if args[:1] == ["--"]:
            args = args[1:]
        return _unescape(" ".join(a.replace("%s", " ").replace("%b", " ") for a in args))
    if prog == "cat" and not args and stdin and feed is not None and not feed.flags & EXP:
        return feed.text
    return None


def tee_files(words: list[Field]) -> list[Field]:
    """The files ``tee`` writes (its operands past the options)."""
    return [w for w in words[1:] if not w.text.startswith("-") or w.text == "-"]


def copies(words: list[Field]) -> list[tuple[Field, str]]:
    """The copies and links ``cp``, ``ln``, ``install`` (``mv`` too) make: (destination, the
    source file), for a single literal source; a destination that ends in ``/`` or is ``.``
    gets the source's name. ``$(which git)``/``$(command -v git)`` as the source is ``git``."""
    prog = program_name(words[0].text)
    if prog not in ("cp", "ln", "install", "mv"):
        return []
    operands: list[Field] = []
    skip = False
    for w in words[1:]:
        if skip:
            skip = False
            continue
        t = w.text
        if t.startswith("-") and len(t) > 1:
            if prog == "install" and t in ("-m", "-o", "-g", "-t", "-S"):
                skip = True
            continue
        operands.append(w)
    if len(operands) != 2:
        return []
    src, dest = operands
    source = _source(src)
    if source is None or dest.flags & _RUNTIME:
        return []
    d = dest.text
    if d.endswith("/") or d in (".", ".."):
        d = posixpath.join(d, program_name(source))
    return [(Field(d), source)]


def _source(w: Field) -> str | None:
    t = w.text.strip()
    if not w.flags & _RUNTIME:
        return t
    for head in ("$(which ", "$(command -v ", "`which ", "`command -v ", "$(type -P ", "$(type -p "):
        if t.startswith(head) and t.endswith((")", "`")):
            name = t[len(head) : -1].strip()
            if name and not any(c in name for c in "$`'\" ;|&()"):
                return name
    return None
