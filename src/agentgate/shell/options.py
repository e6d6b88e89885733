"""Per-program knowledge as data: getopt-style option tables (:class:`Opts`, :func:`opts`),
the parser that reads a command's options with them (:func:`parse_opts`), and the handler
every simple wrapper is made of (:func:`wrapper`).

A handler is called with the analyzer (a :class:`Walker`), the program's lower-case name, the
command's fields (``words[0]`` is the program) and the command's :class:`~.context.Cx`; it
reports what the command runs through the walker and raises :class:`~.context.Unclear` when
that cannot be followed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..lean import Record
from .context import EXP, SPLIT, Field, Unclear

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol, TypeAlias

    from .context import Cx

    class Walker(Protocol):
        """What handlers may ask of the analyzer."""

        aliases: dict[str, str]
        git_aliases: dict[str, str]  # git aliases saved by ``git config alias.x ...`` so far

        def command(self, words: list[Field], cx: Cx, lead: tuple[str, ...] = (),
                    direct: bool = False) -> None: ...

        def shell_text(self, text: str, flag: int, label: str, cx: Cx,
                       pos: tuple[Field, ...] | None = None, pos_open: bool = False) -> None: ...

        def script(self, text: str, cx: Cx) -> None: ...

        def add_opaque(self, kind: str, reason: str, text: str, via: tuple[str, ...],
                       commands: bool = False) -> None: ...

        def written_file(self, path: str) -> tuple[bool, str | None]: ...

    Handler: TypeAlias = Callable[[Walker, str, list[Field], Cx], None]


class Opts(Record):
    """getopt-style option table of a wrapper. Unknown options make the command opaque."""

    flags: str = ""  # short options without an argument
    args: str = ""  # short options with an argument (attached or next word)
    optattached: str = ""  # short options whose optional argument must be attached
    long_flags: frozenset[str] = frozenset()
    long_args: frozenset[str] = frozenset()  # argument after '=' or in the next word
    long_optional: frozenset[str] = frozenset()  # optional argument, only after '='
    numeric: bool = False  # nice: -5 / --5
    lenient: int = 0  # 1: unknown --opt=value is fine; 2: any unknown --opt is a switch


def opts(flags: str = "", args: str = "", lf: str = "", la: str = "", lo: str = "",
         optattached: str = "", numeric: bool = False, lenient: int = 0) -> Opts:
    """An :class:`Opts` from strings: long options (``lf`` flags, ``la`` with an argument,
    ``lo`` with an optional one) are space-separated."""
    return Opts(flags, args, optattached, frozenset(lf.split()), frozenset(la.split()),
                frozenset(lo.split()), numeric, lenient)


class Opt:
    """An option as given: its name (``-u``, ``--user``; ``-n`` for nice's ``-5``), its value
    ("" for a switch) and the flags of the field the value came from."""

    __slots__ = ("flags", "name", "value")

    def __init__(self, name: str, value: str, flags: int) -> None:
        self.name = name
        self.value = value
        self.flags = flags


def parse_opts(words: list[Field], i: int, spec: Opts, name: str) -> tuple[int, list[Opt]]:
    """Read a command's options from ``words[i]`` on: the index of its first operand (past
    ``--``; ``len(words)`` when an option's value is missing) and the options given."""
    found: list[Opt] = []
    n = len(words)
    while i < n:
        w = words[i]
        t = w.text
        if w.flags & EXP:
            raise Unclear(f"{name}: an option or the command is not literal ({t})")
        if t == "--":
            return i + 1, found
        if len(t) < 2 or t[0] != "-":
            return i, found
        used = _long(words, i, spec, name, found) if t[1] == "-" else _short(words, i, spec, name, found)
        if not used:
            return n, found
        i += used
    return i, found


def _long(words: list[Field], i: int, spec: Opts, name: str, found: list[Opt]) -> int:
    """Read the long option ``words[i]``: the number of words it used (0: its value is missing)."""
    w = words[i]
    key, eq, val = w.text.partition("=")
    if key in spec.long_args:
        if eq:
            found.append(Opt(key, val, w.flags))
            return 1
        return _next_value(words, i, key, name, found)
    if key in spec.long_flags or key in spec.long_optional:
        found.append(Opt(key, val, w.flags))
    elif spec.numeric and w.text[2:].isdigit():
        found.append(Opt("-n", w.text[2:], w.flags))
    elif spec.lenient >= 2 or (spec.lenient and eq):
        found.append(Opt(key, val, w.flags))
    else:
        raise Unclear(f"{name}: unrecognised option {key}")
    return 1


def _short(words: list[Field], i: int, spec: Opts, name: str, found: list[Opt]) -> int:
    """Read the short options bundled in ``words[i]`` (``-abc``, ``-uroot``, ``-u root``)."""
    w = words[i]
    t = w.text
    for j in range(1, len(t)):
        opt = "-" + t[j]
        if t[j] in spec.args:
            if j + 1 < len(t):
                found.append(Opt(opt, t[j + 1 :], w.flags))
                return 1
            return _next_value(words, i, opt, name, found)
        if t[j] in spec.optattached:
            found.append(Opt(opt, t[j + 1 :], w.flags))
            return 1
        if t[j] in spec.flags:
            found.append(Opt(opt, "", w.flags))
        elif spec.numeric and t[j:].isdigit():
            found.append(Opt("-n", t[j:], w.flags))
            return 1
        else:
            raise Unclear(f"{name}: unrecognised option {opt}")
    return 1


def _next_value(words: list[Field], i: int, opt: str, name: str, found: list[Opt]) -> int:
    """The value of ``opt`` is the next word: 2 words used, or 0 when there is none."""
    if i + 1 >= len(words):
        return 0
    v = words[i + 1]
    if v.flags & SPLIT:
        raise Unclear(f"{name}: the value of {opt} may split into several words")
    found.append(Opt(opt, v.text, v.flags))
    return 2


# docker and podman take the same command line
_CONTAINER_VALUES = ("-t --tag -e --env -v --volume --name -p --publish -w --workdir --network "
                     "-f --file --platform --label -l --build-arg --target --user -u --entrypoint")

# Options known to take a value (in the next word), per program: a run-time word right after
# one is its value, so it cannot be another option. After any other option a run-time word may
# be an option itself (``vercel --yes $X`` may be ``vercel --yes --prod``).
VALUE_OPTIONS: dict[str, frozenset[str]] = {name: frozenset(spec.split()) for name, spec in {
    "git": "-m --message -C -c -F --file -b -B -o --push-option --repo --author --date "
           "--format --pretty --grep --since --until --branch --depth --origin --reference",
    "docker": _CONTAINER_VALUES,
    "podman": _CONTAINER_VALUES,
    "kubectl": "-n --namespace -f --filename -l --selector -o --output --context --cluster "
               "--kubeconfig -c --container --image",
    "helm": "-n --namespace -f --values --set --set-string --version --kube-context",
    "gh": "-R --repo -t --title -b --body -F --body-file -m --milestone -l --label -a --assignee",
    "curl": "-o --output -H --header -d --data --data-raw -X --request -u --user -A "
            "--user-agent -e --referer -b --cookie -T --upload-file -F --form",
    "npm": "--prefix -w --workspace --tag --otp --registry",
    "grep": "-e --regexp -f --file -m --max-count -A -B -C --include --exclude",
    "rg": "-e --regexp -g --glob -t --type -T --type-not -m --max-count -A -B -C",
    "ssh": "-i -l -p -o -F -J -L -R -D",
    "aws": "--profile --region --output --query",
    "gcloud": "--project --region --zone --format --account",
    "az": "-g --resource-group -n --name --subscription -o --output",
    "vercel": "--token -t --scope -S --cwd -A --local-config -Q --global-config -e --env "
              "-b --build-env -m --meta",
    "terraform": "-var -var-file -target -chdir -out",
}.items()}


def option_values(name: str, words: Sequence[Field], dynamic: Sequence[int]) -> tuple[int, ...]:
    """The positions in ``dynamic`` that are the value of the option before them, for the
    options of ``name`` known to take one (:data:`VALUE_OPTIONS`): ``-m "$MSG"``, ``-am "$MSG"``."""
    known = VALUE_OPTIONS.get(name)
    if not known:
        return ()
    out = []
    for j in dynamic:
        if j < 2 or j >= len(words):
            continue
        before = words[j - 1]
        t = before.text
        if before.flags & EXP or t[:1] != "-" or "=" in t:
            continue
        if t in known or (t[1:2] != "-" and len(t) > 2 and "-" + t[-1] in known):
            out.append(j)
    return tuple(out)


def seen(found: list[Opt], *names: str) -> bool:
    """Was one of the options ``names`` given?"""
    return any(o.name in names for o in found)


def value(found: list[Opt], *names: str) -> Opt | None:
    """The first of the options ``names`` given, if any."""
    return next((o for o in found if o.name in names), None)


def run(an: Walker, words: list[Field], i: int, label: str, cx: Cx, *,
        stdin: bool | None = None, tail: bool | None = None) -> None:
    """Analyse ``words[i:]`` as the command a wrapper runs (nothing to run is fine, unless the
    words come from input)."""
    if i >= len(words):
        if cx.tail:
            raise Unclear(f"{label}: the command to run comes from input")
        return
    an.command(words[i:], cx.wrap(label, stdin=stdin, tail=tail))


def wrapper(spec: Opts | None, operands: int = 0, none_if: str = "", shell_if: str = "") -> Handler:
    """A command that runs the rest of its argv after its options (``spec``; None: it takes
    none) and ``operands`` fixed words. ``none_if``: options that make it run nothing;
    ``shell_if``: options that make it start the user's shell when no command follows ("*":
    always), which then reads its stdin."""
    stop = frozenset(none_if.split())
    shell = frozenset(shell_if.split())

    def handler(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
        i, found = parse_opts(words, 1, spec, name) if spec is not None else (1, [])
        if stop and any(o.name in stop for o in found):
            return
        for _ in range(operands):
            if i >= len(words):
                return run(an, words, i, name, cx)
            if words[i].flags & EXP:
                raise Unclear(f"{name}: an operand is not literal ({words[i].text})")
            i += 1
        if i >= len(words) and shell and ("*" in shell or any(o.name in shell for o in found)):
            return reads_stdin(f"{name}'s shell", cx, an, "shell")
        run(an, words, i, name, cx)

    return handler


def reads_stdin(name: str, cx: Cx, an: Walker | None = None, kind: str = "") -> None:
    """``name`` runs what its stdin holds. A here-document or here-string is read: as a script
    (``kind`` "shell") or reported as code ("code"); other data on stdin is opaque."""
    if cx.stdin:
        if cx.feed is not None and an is not None and kind:
            feed = cx.feed
            if feed.flags & EXP:
                raise Unclear(f"the here-document fed to {name} is not literal")
            if kind == "code":
                an.add_opaque("code", f"{name} runs the here-document or here-string on its stdin as code",
                              feed.text, cx.via)
                return
            inner = cx.wrap(f"{name} <<", stdin=True, tail=False, pos=None)
            inner.feed = None  # commands in it read the rest of the script
            an.script(feed.text, inner)
            return
        raise Unclear(f"input is piped or fed into {name}, which runs it as code")
    if cx.tail:
        raise Unclear(f"{name} would run code named by its input")
