"""The console-script entry point, with typer-free fast paths for `agentgate run` and `hook`.

`run` is on every gated command's path, and `hook AGENT` on every tool call of a wired agent, so
their start-up cost matters: this module reads their plain forms itself (``agentgate [--policy P]
run [--json] [--agent NAME] [--policy P] [--wait[=DURATION]] [--] CMD...`` and ``agentgate
[--policy P] hook AGENT [--policy P] [--wait DURATION]``) with the option grammar of
agentgate.grammar, which the typer app declares its options from too, and imports only what
they use. Anything else (help, other commands, unusual
spellings) goes to the typer app in cli.py, which refuses an unknown option (exit 2) instead of
running it as the command.

Errors reach people here, once: an expected one was already reported (its exit code comes back);
an unexpected exception is a bug, logged with its traceback (agentgate.errorlog) and reported in
one line naming the log, exit 70.
"""

from __future__ import annotations

import sys

from . import hotpath, output
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED
from .grammar import (
    AGENT,
    GLOBAL_OPTIONS,
    HOOK,
    HOOK_OPTIONS,
    HOOK_WAIT,
    JSON,
    RUN,
    RUN_OPTIONS,
    WAIT,
    Opt,
    Parsed,
    parse_options,
    policies,
)
from .lean import Record
from .paths import json_wanted

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Sequence


def _global_options(argv: Sequence[str]) -> Parsed | None:
    """The global options before the command name."""
    return parse_options(argv, 0, GLOBAL_OPTIONS, until_dash=False)


class FastRun(Record):
    policy: str | None
    as_json: bool
    agent: str | None
    cmd: list[str]
    wait: str | bool | None = None  # --wait: True, or its DURATION


def parse_fast_run(argv: Sequence[str]) -> FastRun | None:
    """The plain `run` form, else None (typer handles it, and its errors)."""
    head = _global_options(argv)
    if head is None or head.stop >= len(argv) or argv[head.stop] != RUN:
        return None
    opts = parse_options(argv, head.stop + 1, RUN_OPTIONS)
    if opts is None:
        return None
    given = policies(head, opts)
    cmd = list(argv[opts.stop:])
    if len(given) > 1 or not cmd:
        return None
    agent = opts.values.get(AGENT.name)
    return FastRun(given[0] if given else None, bool(opts.values.get(JSON.name)),
                   agent if isinstance(agent, str) else None, cmd, opts.values.get(WAIT.name))


class FastHook(Record):
    policy: str | None
    agent: str
    wait: str | None = None  # --wait DURATION


def parse_fast_hook(argv: Sequence[str]) -> FastHook | None:
    """`agentgate [--policy P] hook AGENT [--policy P]`, else None."""
    head = _global_options(argv)
    if head is None or argv[head.stop:head.stop + 1] != [HOOK]:
        return None
    from .integrations.agents import AGENTS  # not on the `run` path

    i = head.stop + 1
    if i >= len(argv) or argv[i] not in AGENTS:
        return None
    opts = parse_options(argv, i + 1, HOOK_OPTIONS, until_dash=False)
    if opts is None or opts.stop != len(argv):
        return None
    given = policies(head, opts)
    if len(given) > 1:
        return None
    wait = opts.values.get(HOOK_WAIT.name)
    return FastHook(given[0] if given else None, argv[i], wait if isinstance(wait, str) else None)


TAIL = Opt("--tail", "N", "")
HUMAN_READS = {"pending": (JSON,), "show": (JSON,), "log": (JSON, TAIL)}


class FastRead(Record):
    """`pending`, `show ID` and `log --tail N` in their plain forms (a human's quick looks)."""

    command: str
    as_json: bool
    request_id: str | None = None
    tail: int | None = None


def parse_fast_read(argv: Sequence[str]) -> FastRead | None:
    """``agentgate pending [--json]``, ``agentgate show [--json] ID [--json]`` and ``agentgate
    log [--json] --tail N [--json]``, else None (typer handles it, and its errors)."""
    if not argv or argv[0] not in HUMAN_READS:
        return None
    name, specs = argv[0], HUMAN_READS[argv[0]]
    opts = parse_options(argv, 1, specs, until_dash=False)
    if opts is None:
        return None
    values, stop, rid = dict(opts.values), opts.stop, None
    if name == "show":
        if stop >= len(argv) or not argv[stop].startswith("apr_"):
            return None
        rid = argv[stop]
        more = parse_options(argv, stop + 1, [o for o in specs if o.name not in values],
                             until_dash=False)
        if more is None:
            return None
        values.update(more.values)
        stop = more.stop
    if stop != len(argv):
        return None
    tail = values.get(TAIL.name)
    if name == "log" and not (isinstance(tail, str) and tail.isdigit() and tail.isascii()):
        return None
    return FastRead(name, bool(values.get(JSON.name)), rid,
                    int(tail) if isinstance(tail, str) else None)


def _fast_read(read: FastRead) -> int:
    """What cli.py does for these, without typer (the same bodies and output)."""
    from . import commands
    from .errors import AgentgateError

    as_json = json_wanted(read.as_json)
    try:
        if read.command == "pending":
            found = commands.pending()
            output.pending(found.requests, found.now, as_json, found.unreported)
        elif read.command == "show":
            assert read.request_id is not None
            output.request(commands.show(read.request_id), as_json,
                           commands.hook_uses(read.request_id))
        else:
            lines = commands.log(since=None, until=None, events=[], request_id=None, rule=None,
                                 agent=None, tail=read.tail, progress=output.progress_lines)
            output.log_lines(lines, as_json)
    except AgentgateError as e:
        return output.error(e, as_json)
    return 0


def dispatch(argv: list[str]) -> int:
    """Run agentgate on ``argv``: a fast path when one applies, else the typer app."""
    hook = parse_fast_hook(argv)
    if hook is not None:
        return hotpath.hook_command(hook.agent, hook.policy, hook.wait)
    read = parse_fast_read(argv)
    if read is not None:
        return _fast_read(read)
    if argv == ["service", "run"]:  # the service itself: typer-free, like the gated calls
        return _service_run()
    fast = parse_fast_run(argv)
    if fast is not None:
        return hotpath.run_command(fast.cmd, policy=fast.policy, as_json=json_wanted(fast.as_json),
                                   agent=fast.agent, wait=fast.wait)
    from .cli import run_app

    return run_app(argv)


def _service_run() -> int:
    from .errors import AgentgateError
    from .service.server import run

    try:
        run()
    except AgentgateError as e:
        return output.error(e, False)
    return 0


def main() -> None:
    output.safe_streams()
    try:
        code = dispatch(sys.argv[1:])
    except KeyboardInterrupt:
        output.err("agentgate: interrupted")
        code = EXIT_INTERRUPTED
    except Exception as e:  # a bug: fail closed, never a silent allow
        output.internal_error(e, _log(e))
        code = EXIT_INTERNAL
    sys.exit(code)


def _log(error: Exception) -> str | None:
    try:
        from . import errorlog

        return errorlog.record(error)
    except Exception:  # the log itself failed: the traceback goes to stderr instead
        return None
