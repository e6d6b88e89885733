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
    from collections.abc import Collection, Sequence


class Opt(Record):
    """One of agentgate's own options: ``metavar`` None for a flag; ``optional``: a flag that
    may take a value (``--wait``, ``--wait=30s``, or ``--wait 30s`` as click reads it)."""

    name: str
    metavar: str | None
    help: str
    optional: bool = False


POLICY = Opt("--policy", "PATH", "Policy file to use (else $AGENTGATE_POLICY, the user policy, "
                                 "the embedded default). Give it once, before or after the command name.")
JSON = Opt("--json", None, "Print the result as JSON on stdout (errors too).")
AGENT = Opt("--agent", "NAME", "Who is asking (else $AGENTGATE_AGENT, else 'unknown').")
WAIT = Opt("--wait", "[=DURATION]",
           "When held for a human, wait for the decision instead of exiting 75: approved, CMD "
           "runs once; denied, exit 77 with the reason; after DURATION (e.g. 30s, 5m; default: "
           "until the request expires), exit 75.", optional=True)
HOOK_WAIT = Opt("--wait", "DURATION", "When held, wait up to DURATION for a human's decision "
                                      "(what `hook install --wait` writes).")
RUN_OPTIONS = (JSON, AGENT, POLICY, WAIT)  # `agentgate run`; typer's `run` declares exactly these
HOOK_OPTIONS = (POLICY, HOOK_WAIT)  # `agentgate hook AGENT`
GLOBAL_OPTIONS = (POLICY,)  # before the command name (plus typer's --version and -h/--help)
HELP_NAMES = ("-h", "--help")

RUN = "run"
HOOK = "hook"
# Commands that do not read the policy, each with why: --policy given to one of them (before or
# after its name) is a usage error, never an ignored flag. Every other command takes --policy.
NO_POLICY = {
    ("init",): "it writes the starter policy to the user policy path ($AGENTGATE_CONFIG_DIR); "
               "to write one elsewhere: agentgate init --print > PATH",
    ("log",): "the audit log is the state directory's ($AGENTGATE_HOME), whatever the policy",
    (HOOK, "install"): "the installed hook reads the policy in force each time the agent calls "
                       "it ($AGENTGATE_POLICY, else the user policy); to pin one, add --policy "
                       "PATH to the hook's command in the agent's settings",
    (HOOK, "status"): "it reads the agents' settings files and asks the agent, not the policy",
    ("service",): "protected mode's policy is the service's, /etc/agentgate/policy.toml",
    ("pending",): "requests are the ledger's ($AGENTGATE_HOME), whatever the policy",
    ("show",): "requests are the ledger's ($AGENTGATE_HOME), whatever the policy",
    ("approve",): "a request keeps the settings of the policy that made it; --remember writes "
                  "into $AGENTGATE_POLICY, else the user policy",
    ("deny",): "a request keeps the settings of the policy that made it",
    ("revoke",): "a request keeps the settings of the policy that made it",
    ("policy", "forget"): "it removes the exception from $AGENTGATE_POLICY, else the user "
                          "policy, where `approve --remember` wrote it",
    ("watch",): "requests are the ledger's ($AGENTGATE_HOME), whatever the policy",
    ("dashboard",): "requests are the ledger's ($AGENTGATE_HOME), whatever the policy",
}
# Commands an agent must never run on its own behalf: a human approves, denies and trusts, and
# sets protected mode up or takes it down.
HUMAN_ONLY = (("approve",), ("deny",), ("revoke",), ("policy", "trust"), ("policy", "forget"),
              ("service", "install"), ("service", "uninstall"), ("watch",), ("dashboard",))


# --------------------------------------------------------------------------- reading options


class Parsed(Record):
    """What :func:`parse_options` read: option values by name (a flag is True), and where it
    stopped."""

    values: dict[str, str | bool]
    stop: int


def no_policy_reason(words: Sequence[str]) -> str | None:
    """Why the command named by ``words`` (e.g. ``["log", "summary"]``) does not read the
    policy, or None when it does."""
    for cmd, why in NO_POLICY.items():
        if tuple(words[:len(cmd)]) == cmd:
            return why
    return None


def bad_value(value: str, own: Collection[str]) -> str | None:
    """What is wrong with an option's value, or None: empty, or one of agentgate's own options
    (``own``, ``--`` and the help options; ``--agent --policy p.toml`` is a forgotten value,
    never an agent named "--policy" followed by the command ``p.toml``)."""
    if not value:
        return "an empty string"
    if value == "--" or value in HELP_NAMES or value.partition("=")[0] in own:
        return f"the option {value.partition('=')[0]}"
    return None


def parse_options(argv: Sequence[str], i: int, specs: Sequence[Opt], *,
                  until_dash: bool = True) -> Parsed | None:
    """Read ``specs`` options from ``argv[i:]`` as click does (``--opt V``, ``--opt=V``, flags),
    up to the first word that is not an option (or past ``--`` when ``until_dash``). None for
    anything else (an unknown option, a missing or empty value, one that starts with ``-``, an
    option given twice): typer then answers, with the same grammar and its usage errors (for
    a value, :func:`bad_value`)."""
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
        if opt.optional and not eq and (i + 1 >= n or argv[i + 1].startswith("-")):
            values[name], i = True, i + 1  # no value: click's flag_value
            continue
        if eq:
            value, i = inline, i + 1
        elif i + 1 < n:
            value, i = argv[i + 1], i + 2
        else:
            return None
        if not value or value.startswith("-"):  # typer judges it (bad_value), with all options
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


def hook_command_line(executable: str, agent: str, wait: int | None = None) -> str:
    """The shell command an agent's settings run for agentgate's hook (``wait``: seconds it
    waits for a human's decision, `hook install --wait`)."""
    import shlex

    return f"{shlex.quote(executable)} {HOOK} {agent}" + (f" {HOOK_WAIT.name}={wait}s" if wait else "")


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
