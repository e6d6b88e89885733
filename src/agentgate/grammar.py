"""agentgate's own command line, defined once: its options, the commands only a human may run,
and the command line of an installed hook.

Read by the typer-free fast paths (entry.py) and by the typer app (cli.py), so that a spelling
means the same wherever it is read; by the built-in guard, which must recognise agentgate
approving, denying or trusting on an agent's behalf; and by `hook install`, which must recognise
its own hook in an agent's settings. Light on purpose (it is on the `run` and hook paths).
"""

from __future__ import annotations

from .lean import Record

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Sequence


class Opt(Record):
    """One of agentgate's own options: ``metavar`` None for a flag."""

    name: str
    metavar: str | None
    help: str


POLICY = Opt("--policy", "PATH", "Policy file to use (else $AGENTGATE_POLICY, the user policy, "
                                 "the embedded default). Give it once, before or after the command name.")
JSON = Opt("--json", None, "Print the result as JSON on stdout (errors too).")
AGENT = Opt("--agent", "NAME", "Who is asking (else $AGENTGATE_AGENT, else 'unknown').")
RUN_OPTIONS = (JSON, AGENT, POLICY)  # `agentgate run`; typer's `run` declares exactly these
HOOK_OPTIONS = (POLICY,)  # `agentgate hook AGENT`
GLOBAL_OPTIONS = (POLICY,)  # before the command name (plus typer's --version and -h/--help)
HELP_NAMES = ("-h", "--help")

RUN = "run"
HOOK = "hook"
# Commands an agent must never run on its own behalf: a human approves, denies and trusts.
HUMAN_ONLY = (("approve",), ("deny",), ("policy", "trust"))


# --------------------------------------------------------------------------- reading options


class Parsed(Record):
    """What :func:`parse_options` read: option values by name (a flag is True), and where it
    stopped."""

    values: dict[str, str | bool]
    stop: int


def parse_options(argv: Sequence[str], i: int, specs: Sequence[Opt], *,
                  until_dash: bool = True) -> Parsed | None:
    """Read ``specs`` options from ``argv[i:]`` as click does (``--opt V``, ``--opt=V``, flags),
    up to the first word that is not an option (or past ``--`` when ``until_dash``). None for
    anything else (an unknown option, a missing or empty value, an option given twice): typer
    then answers, with the same grammar and its usage errors."""
    by_name = {o.name: o for o in specs}
    values: dict[str, str | bool] = {}
    n = len(argv)
    while i < n:
        a = argv[i]
        if a == "--" and until_dash:
            return Parsed(values, i + 1)
        if not a.startswith("-") or a == "-":
            break
        name, eq, inline = a.partition("=")
        opt = by_name.get(name)
        if opt is None or name in values:
            return None
        if opt.metavar is None:
            if eq:
                return None
            values[name], i = True, i + 1
            continue
        if eq:
            value, i = inline, i + 1
        elif i + 1 < n:
            value, i = argv[i + 1], i + 2
        else:
            return None
        if not value:
            return None
        values[name] = value
    return Parsed(values, i)


def policies(*found: Parsed) -> list[str]:
    """Every ``--policy`` value given, before and after the command name (more than one is a
    usage error)."""
    return [str(p.values[POLICY.name]) for p in found if POLICY.name in p.values]


# --------------------------------------------------------------------------- recognising commands


def command_words(args: Sequence[str]) -> list[str]:
    """The words that name the command in agentgate's arguments ``args`` (the program name
    left out): what follows the options before the command name. An option that takes a value
    (``--policy PATH``) skips its value; any other word starting with ``-`` is skipped alone,
    so that an unknown option cannot hide the command from the guard."""
    takes_value = {o.name for o in GLOBAL_OPTIONS if o.metavar is not None}
    i, n = 0, len(args)
    while i < n and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in takes_value else 1
    if i < n and args[i] == "--":
        i += 1
    return [w for w in args[i:] if w]


def is_human_only(args: Sequence[str]) -> bool:
    """Do agentgate's arguments ``args`` (the program name left out) run a command that only a
    human may run (approve, deny, policy trust)?"""
    words = command_words(args)
    return any(tuple(words[:len(cmd)]) == cmd for cmd in HUMAN_ONLY)


def hook_command_line(executable: str, agent: str) -> str:
    """The shell command an agent's settings run for agentgate's hook."""
    import shlex

    return f"{shlex.quote(executable)} {HOOK} {agent}"


def is_hook_command_line(command: str, agent: str) -> bool:
    """Does a hook command in an agent's settings already call agentgate's hook for ``agent``?
    Any word naming agentgate (a path, a wrapper, ``python -m agentgate``) followed, later, by
    ``hook AGENT``."""
    words = command.split()
    for i, w in enumerate(words):
        if "agentgate" in w:
            rest = words[i + 1:]
            return any(rest[j:j + 2] == [HOOK, agent] for j in range(len(rest)))
    return False
