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


def kernel_file(path: str) -> bool:
    """A /dev or /proc path (``/dev/stdin``, ``/proc/self/fd/0``, any spelling): what a copy
    of it holds is what that descriptor or device gives, not a file this input knows."""
    if not path.startswith("/"):
        return False
    norm = "/" + posixpath.normpath(path).lstrip("/")
    return norm.startswith(("/dev/", "/proc/"))


def stdin_text(words: list[Field], feed: Field | None, stdin: bool, source: str | None = None) -> str | None:
    """The text a command copies from its stdin (a literal here-document or here-string), for
    ``cp /dev/stdin x``, ``dd of=x``; None when it is not known."""
    from .common import STDIN_PATHS, fd_path

    if source is not None and fd_path(source) not in STDIN_PATHS:
        return None
    prog = program_name(words[0].text)
    if prog not in ("dd", "cp", "install", "mv", "ln") or (
            prog == "dd" and any(w.text.startswith(("if=", "conv=", "skip=", "count=")) for w in words[1:])):
        return None  # curl -o F, sort -o F: not a copy of stdin
    if stdin and feed is not None and not feed.flags & EXP:
        return feed.text
    return None


# options naming a file a program writes its output to: program -> (prefix spellings, ones
# whose value is the next word)
_OUTPUT_OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dd": (("of=",), ()),
    "curl": (("--output=", "-o"), ("-o", "--output")),
    "wget": (("--output-document=", "-O"), ("-O", "--output-document")),
    "sort": (("--output=", "-o"), ("-o", "--output")),
}


def named_outputs(words: list[Field]) -> list[str]:
    """The files ``dd of=F``, ``curl -o F``, ``wget -O F``, ``sort -o F`` write (literal ones)."""
    spec = _OUTPUT_OPTIONS.get(program_name(words[0].text))
    if spec is None:
        return []
    prefixes, takes_next = spec
    out: list[str] = []
    for k, w in enumerate(words[1:], 1):
        if w.flags & _RUNTIME:
            continue
        t = w.text
        bundled = next((o for o in takes_next if len(o) == 2 and t[:1] == "-" and t[1:2] != "-"
                        and o[1] in t[2:]), None)  # curl -so F, -sSLoF
        if bundled is not None:
            rest = t[t.index(bundled[1], 2) + 1 :]
            t = bundled if not rest else bundled + rest
        if t in takes_next:
            if k + 1 < len(words) and not words[k + 1].flags & _RUNTIME:
                out.append(words[k + 1].text)
            continue
        for p in prefixes:
            if t.startswith(p) and len(t) > len(p):
                out.append(t[len(p):])
                break
    return out


_MAKEFILES = ("GNUmakefile", "makefile", "Makefile")
# files a program reads the commands it runs from without being told: program -> paths
_COMMAND_FILES: dict[str, tuple[str, ...]] = {
    "make": _MAKEFILES, "gmake": _MAKEFILES, "bmake": _MAKEFILES,
    "npm": ("package.json", ".npmrc"), "pnpm": ("package.json", ".npmrc"),
    "yarn": ("package.json", ".yarnrc", ".yarnrc.yml"), "bun": ("package.json", "bunfig.toml"),
    "git": (".git/config", "~/.gitconfig", "~/.config/git/config"),
    # start-up files: read by interactive and login shells (any run after writing one is held)
    "bash": ("~/.bashrc", "~/.bash_profile", "~/.bash_login", "~/.profile", "~/.bash_logout"),
    "sh": ("~/.profile",), "dash": ("~/.profile",), "ksh": ("~/.profile", "~/.kshrc"),
    "zsh": ("~/.zshenv", "~/.zshrc", "~/.zprofile", "~/.zlogin"),
}

# an interpreter run after this input wrote a file in its language may load it (python -m mod,
# sitecustomize.py on PYTHONPATH, node -r ./x.js, perl -Mmod, ruby -r ./x)
LANGUAGE_FILES: dict[str, tuple[str, ...]] = {
    "python": (".py", ".pth"), "node": (".js", ".mjs", ".cjs"), "nodejs": (".js", ".mjs", ".cjs"),
    "deno": (".js", ".mjs", ".ts"), "bun": (".js", ".mjs", ".cjs", ".ts"), "ruby": (".rb",),
    "perl": (".pl", ".pm"), "php": (".php",), "lua": (".lua",), "luajit": (".lua",),
}


# environment variables naming more such files: program -> names
_COMMAND_FILE_VARS: dict[str, tuple[str, ...]] = {
    "git": ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG"),
    "make": ("MAKEFILES",), "gmake": ("MAKEFILES",), "bmake": ("MAKEFILES",),
    "npm": ("NPM_CONFIG_USERCONFIG", "npm_config_userconfig", "NPM_CONFIG_GLOBALCONFIG",
            "npm_config_globalconfig"),
}


def command_files(prog: str, words: list[Field], home: str | None, env: tuple[str, ...] = ()) -> list[str]:
    """The files ``prog`` reads the commands it runs from: its own (``Makefile``,
    ``package.json``, ``.git/config``), ones its environment names (``GIT_CONFIG_GLOBAL=f``,
    ``MAKEFILES=f``) and ``make -f FILE``'s."""
    files = list(_COMMAND_FILES.get(prog, ()))
    names = _COMMAND_FILE_VARS.get(prog, ())
    for entry in env if names else ():
        name, _, value = entry.partition("=")
        if name in names and value:
            files.extend(value.split())
    if prog in ("make", "gmake", "bmake"):
        for k, w in enumerate(words[1:], 1):
            t = w.text
            if t in ("-f", "--file", "--makefile") and k + 1 < len(words):
                files.append(words[k + 1].text)
            elif t.startswith(("--file=", "--makefile=")):
                files.append(t.partition("=")[2])
            elif t.startswith("-f") and len(t) > 2 and not t.startswith("--"):
                files.append(t[2:])
    if home:
        files += [home.rstrip("/") + f[1:] for f in files if f.startswith("~/")]
    return files
