"""Agent hook adapters: an agent's pre-tool hook JSON -> Subject -> Gate.authorize -> its answer.

Every adapter is a thin translation; the decision is always ``Gate.authorize`` (same policy,
ledger, grants and audit log as ``agentgate run``). The hooks fail closed *inside each protocol*
(see agents.py): any expected failure here becomes a well-formed deny in the agent's words, and
exit 2. An unexpected exception (a bug) is left to the caller, which logs it and answers the same
way.

No printing and no exiting: the caller writes the Reply. On every tool call of a wired agent, so
as light as `run` (tests/test_entry.py checks the imports).
"""

from __future__ import annotations

import os

from ..backend import protected_quietly, record_blocked
from ..errors import AgentgateError
from ..guard import PROTECTED_RULE
from ..guard import is_protected as gate_is_protected
from ..jsontext import dumps, loads
from ..lean import Record
from ..outcome import Outcome, Subject
from ..paths import StatePaths, expand_user, pure, resolve
from ..subjects import action_subject, command_problem, command_subject
from .agents import AGENTS, PASS, Agent, Reply, Verdict, failure_reply, guarded, reply

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from ..backend import AnyGate

    GateFactory = Callable[[str], AnyGate]

MAX_INPUT_BYTES = 16 * 1024 * 1024  # a Write tool call carries the whole file; more is not sane


class HookInputError(Exception):
    """The hook input is not what the agent's protocol promises: the hook must deny."""


class ToolCall(Record):
    """The part of a hook input the gate cares about."""

    tool: str
    cwd: str  # absolute, resolved
    subject: Subject | None = None  # a shell command to gate
    path: str | None = None  # the target of a file-writing tool
    paths: tuple[str, ...] = ()  # more files it writes (a patch's targets)
    interactive: str | None = None  # the part that opens a shell whose stdin no hook sees
    call_id: str | None = None  # the agent's session and tool-use id, when it sends them
    unread_patch: bool = False  # it runs apply_patch on a patch the command does not show
    session: str | None = None  # the agent's session id, when it sends one
    tool_use_id: str | None = None

    def about(self) -> str:
        """What the call does, for telling two calls with one id apart."""
        return dumps([self.tool, self.cwd, None if self.subject is None else
                      list(self.subject.argv), self.path, list(self.paths)])


# --------------------------------------------------------------------------- entry point


def handle(agent: str, raw: bytes, gate_factory: GateFactory, *, fallback_cwd: str,
           explicit_policy: str | None = None, wait: str | None = None) -> Reply:
    """Answer one hook call. Every expected failure is a deny in the agent's format; an
    unexpected exception propagates (see :func:`internal_failure`). ``wait`` (``--wait``'s
    DURATION): a held command waits that long for a human's decision."""
    call: ToolCall | None = None
    try:
        spec = AGENTS.get(agent)
        if spec is None:
            raise HookInputError(f"unknown agent {agent!r}")
        seconds = None
        if wait is not None:
            from ..waiting import wait_seconds

            seconds = wait_seconds(wait)
        call = parse(spec, raw, fallback_cwd)
        parsed = call

        def answer(factory: GateFactory = gate_factory) -> Reply:
            verdict = decide(agent, parsed, _tagged(factory, parsed), explicit_policy, seconds)
            if verdict.via_grant and verdict.approval_id is not None:
                _await_report(agent, parsed, verdict.approval_id)
            return reply(spec, verdict)

        gated = call.subject is not None or call.path is not None or bool(call.paths)
        if gated and protected_quietly():  # the service remembers the call's allow (.calls)
            return answer(_service_factory(gate_factory, agent, call))
        if call.call_id is None or not gated:
            return answer()
        from .calls import answer_once

        return answer_once(StatePaths.default().root, agent, call.call_id, call.about(), answer)
    except AgentgateError as e:
        hint = f" Fix: {_sentence(e.hint)}" if e.hint else ""
        return failure(agent, _sentence(e.message), hint, call)
    except HookInputError as e:
        return failure(agent, _sentence(f"unreadable hook input: {e}"))


def _service_factory(factory: GateFactory, agent: str, call: ToolCall) -> GateFactory:
    """Protected mode: ``factory``, with each service gate it makes naming the tool call it
    decides (a digest of ``agent``, its id and what it does), so that the service answers a
    second invocation for the call with its first allow instead of using up a second grant
    (see .calls), and the call's report key, session and tool-use id, so that the service
    awaits the agent's report of a call that used up a grant (see .reports); nothing the
    agent's user can write is read for it."""
    from ..lean import sha256_hex

    key = None if call.call_id is None else sha256_hex(
        f"{agent}\0{call.call_id}\0{call.about()}".encode("utf-8", "surrogatepass"))
    named = call_key(call, call.session)
    report = {"report": report_key(agent, named), "session": call.session,
              "tool_use_id": call.tool_use_id} if named is not None else None

    def make(cwd: str) -> AnyGate:
        from ..remote import RemoteGate

        gate = factory(cwd)
        if isinstance(gate, RemoteGate):
            gate.call = key
            gate.report = report
        return gate

    return make


def report_key(agent: str, key: str) -> str:
    """What the service knows one tool call's decision and its report by (see
    :func:`call_key`): a digest, so that neither the ids nor the command go into the name."""
    from ..lean import sha256_hex

    return sha256_hex(f"{agent}\0report\0{key}".encode("utf-8", "surrogatepass"))[:32]


def call_key(call: ToolCall, session: str | None) -> str | None:
    """What names one tool call across its hooks (the pre-tool decision, the agent's report
    after it): its session and tool-use id, or, for an agent that sends no tool-use id (Gemini
    CLI), its session and what it does."""
    if call.call_id is not None:
        return call.call_id
    return None if session is None else f"{session}\0{call.about()}"


def _tagged(factory: GateFactory, call: ToolCall) -> GateFactory:
    """``factory``, its local gates writing the agent's session and tool-use id into every
    audit event of this call (``allowed``, ``grant_consumed``...), to link them to its report."""
    if call.session is None:
        return factory
    ids = {"session": call.session[:200], "tool_use_id": (call.tool_use_id or "")[:200] or None}

    def make(cwd: str) -> AnyGate:
        gate = factory(cwd)
        caller = getattr(gate, "caller", None)
        if isinstance(caller, dict) and "peer_uid" not in caller:  # not the service's own
            caller.update({k: v for k, v in ids.items() if v is not None})
        return gate

    return make


def _await_report(agent: str, call: ToolCall, grant: str) -> None:
    """The call used up a use of ``grant``: note that its report is awaited (personal mode;
    best effort: the grant is used either way, and the audit log says so)."""
    key = call_key(call, call.session)
    if key is None or protected_quietly():
        return
    from .reports import await_report

    subject = None if call.subject is None else {
        "kind": call.subject.kind, "argv": list(call.subject.argv), "cwd": call.subject.cwd}
    try:
        await_report(StatePaths.default().root, agent, key, grant, call.session,
                     call.tool_use_id, subject)
    except (OSError, AgentgateError):
        return


def failure(agent: str, problem: str, fix: str = "", call: ToolCall | None = None) -> Reply:
    """Fail closed: the agent's deny JSON (where it reads one) plus exit 2 and the reason. The
    model is told what happened and to leave it to the human; the fix (``fix``, " Fix: ...")
    goes to the human: the agent's user message and a ``blocked`` event in the audit log."""
    reason = (f"agentgate: BLOCKED (fail-closed): {problem} The command was not checked, so it "
              "must not run. Do not work around this; tell the human (agentgate's audit log "
              "says how to fix it: agentgate log --event blocked).")
    _record_failure(agent, call, f"agentgate could not check this call: {problem}{fix}")
    return failure_reply(AGENTS.get(agent), reason,
                         f"agentgate could not check this command: {problem}{fix}")


def _record_failure(agent: str, call: ToolCall | None, text: str) -> None:
    """Best effort: the fail-closed block as a ``blocked`` audit event (the block stands
    whether or not it can be written; the state may be the very problem)."""
    subject = None if call is None else call.subject
    if subject is None and call is not None and call.path is not None:
        subject = action_subject(call.tool, pure(os.path.join(call.cwd, call.path)), call.cwd)
    try:
        record_blocked(StatePaths.default(), subject, agent, AgentgateError(text))
    except Exception:  # see the docstring
        return


def internal_failure(agent: str, error: BaseException, log: str | None) -> Reply:
    """The answer to a bug: a deny, naming the error and where its traceback was logged."""
    where = f" (details in {log})" if log else ""
    return failure(agent, _sentence(f"internal error: {type(error).__name__}: {error}{where}"))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


# --------------------------------------------------------------------------- parsing


def _load(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_INPUT_BYTES:
        raise HookInputError(f"more than {MAX_INPUT_BYTES} bytes on stdin")
    try:
        data = loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise HookInputError(f"stdin is not a JSON document ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise HookInputError("stdin is not a JSON object")
    return data


_KIND_NAMES: dict[type, str] = {str: "a string", dict: "an object", list: "a list"}


def _field(obj: dict[str, Any], key: str, kind: type, where: str, *, required: bool = True) -> Any:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        want = _KIND_NAMES.get(kind, kind.__name__)
        raise HookInputError(f"{where}{key} must be {want}")
    return value


def _check_command(value: Any) -> None:
    """A shell string, or an argv list (some agents send the shell tool's argv)."""
    problem = command_problem(value)
    if problem is not None:
        raise HookInputError(problem)


def _cwd(value: str | None, base: str) -> str:
    """The directory the command runs in, absolute and resolved (it is part of the fingerprint)."""
    if not value:
        return resolve(base)
    if "\0" in value:
        raise HookInputError("cwd contains a NUL byte")
    return resolve(os.path.join(base, value))


def parse(agent: Agent, raw: bytes, fallback_cwd: str) -> ToolCall:
    """Read one hook input in ``agent``'s shape."""
    return parse_data(agent, _load(raw), fallback_cwd)


def parse_data(agent: Agent, data: dict[str, Any], fallback_cwd: str) -> ToolCall:
    """:func:`parse`, of the hook input's JSON object."""
    call = _parse_data(agent, data, fallback_cwd)
    given, use = data.get("session_id"), data.get("tool_use_id")
    use = use if isinstance(use, str) and use else None
    call_id = f"{given}\0{use}" if isinstance(given, str) and use is not None else None
    session = given if isinstance(given, str) and given else None
    if call_id is None and session is None:
        return call
    return ToolCall(call.tool, call.cwd, call.subject, call.path, call.paths, call.interactive,
                    call_id, call.unread_patch, session, use)


def _parse_data(agent: Agent, data: dict[str, Any], fallback_cwd: str) -> ToolCall:
    if not agent.shell_tools:  # Cursor: the event itself is the shell command
        return _parse_shell_event(agent, data, fallback_cwd)
    tool = _field(data, "tool_name", str, "")
    cwd = _cwd(_field(data, "cwd", str, "", required=False), fallback_cwd)
    if tool in agent.shell_tools:
        tool_input = _field(data, "tool_input", dict, "")
        command = tool_input.get("command")
        _check_command(command)
        if agent.rewrite is not None and isinstance(command, str):
            command = agent.rewrite(command)  # what the agent will run (Gemini CLI's unwrapping)
        key = next((k for k in agent.workdir_keys if k in tool_input), None)
        if key is not None and tool_input[key] is not None:
            if not isinstance(tool_input[key], str):
                raise HookInputError(f"tool_input.{agent.workdir_keys[0]} must be a string")
            cwd = _cwd(tool_input[key], cwd)
        if isinstance(command, str) and (agent.unhooked_stdin or agent.patch_tools):
            from . import codex

            analysis = codex.analyze(command, cwd)
            patched = codex.shell_patch_targets(analysis)
            return ToolCall(tool, cwd, subject=command_subject(command, cwd),
                            paths=tuple(patched or ()), unread_patch=patched is None,
                            interactive=(codex.interactive_program(analysis)
                                         if agent.unhooked_stdin else None))
        return ToolCall(tool, cwd, subject=command_subject(command, cwd))
    if tool in agent.patch_tools:
        from .codex import patch_targets

        tool_input = _field(data, "tool_input", dict, "")
        patch = _field(tool_input, "command", str, "tool_input.")
        return ToolCall(tool, cwd, paths=tuple(patch_targets(patch)))
    if tool in agent.write_tools:
        tool_input = _field(data, "tool_input", dict, "")
        path = _field(tool_input, agent.write_tools[tool], str, "tool_input.")
        return ToolCall(tool, cwd, path=path)
    return ToolCall(tool, cwd)


def _parse_shell_event(agent: Agent, data: dict[str, Any], fallback_cwd: str) -> ToolCall:
    event = data.get("hook_event_name", agent.event)
    if event != agent.event:
        raise HookInputError(f"`agentgate hook {agent.name}` answers {agent.event}, not {event!r}")
    command: Any = data.get("command")
    _check_command(command)
    cwd = _field(data, "cwd", str, "", required=False)
    if not cwd:
        roots = data.get("workspace_roots")
        if isinstance(roots, list) and roots and isinstance(roots[0], str):
            cwd = roots[0]
    where = _cwd(cwd, fallback_cwd)
    return ToolCall("shell", where, subject=command_subject(command, where))


# --------------------------------------------------------------------------- deciding


def decide(agent: str, call: ToolCall, gate_factory: GateFactory,
           explicit_policy: str | None = None, wait: float | None = None) -> Verdict:
    if call.interactive is not None:
        return _hold_interactive(agent, call)
    if call.unread_patch:
        return _deny_unread_patch(agent, call)
    if call.path is not None or call.paths:
        protected = _protect(agent, call, gate_factory, explicit_policy)
        if not protected.allowed or call.subject is None:
            return protected
    if call.subject is None:
        return PASS
    gate = gate_factory(call.cwd)
    subject = call.subject
    outcome = gate.authorize(subject, agent)
    if wait is not None and outcome.approval_required:
        from ..waiting import until_decided

        outcome = until_decided(gate, outcome, lambda: gate.authorize(subject, agent), wait)
    return _verdict(outcome)


def _verdict(outcome: Outcome) -> Verdict:
    if outcome.allowed:
        if outcome.via_grant:
            msg = (f"agentgate: allowed by {outcome.standing}." if outcome.standing else
                   f"agentgate: allowed once by approved grant {outcome.approval_id}.")
            return Verdict(True, f"{msg} {outcome.reason}", msg, via_grant=True,
                           approval_id=outcome.approval_id)
        return Verdict(True, outcome.reason, f"agentgate: allowed ({outcome.reason})")
    cmd = outcome.subject.display
    if outcome.approval_required:
        user = (f"agentgate: `{cmd}` needs your approval. To let it run once, run in a terminal: "
                f"agentgate approve {outcome.approval_id}")
    else:
        user = f"agentgate denied `{cmd}`: {outcome.reason}"
    return Verdict(False, HOLD_LEAD + outcome.message() if outcome.approval_required
                   else outcome.message(), user)


# The first words the model reads of a hold: some agents show every hook deny as a "hook error"
# (Claude Code 2.1.332), and a model that takes a hold for a failure tries another way.
HOLD_LEAD = "This is an approval hold, not an error. "


def is_protected(target: str, explicit_policy: str | None = None,
                 extra: Iterable[str] = ()) -> bool:
    """Would writing ``target`` change agentgate's policy, state or the agent's hook settings?"""
    return gate_is_protected(target, [*([explicit_policy] if explicit_policy else []), *extra])


def _policy_files(gate_factory: GateFactory, cwd: str) -> list[str]:
    """The gate's own list (policies in force, repo-local ones included), when it loads."""
    try:
        return gate_factory(cwd).policy_files()
    except Exception:  # the fixed list of protected files still applies
        return []


def _in_agent_dirs(agent: str, target: str) -> bool:
    """Is ``target`` in the agent's own configuration: its user directory (``$CODEX_HOME``) or a
    ``.codex``-style folder anywhere (a project's, or one a parent directory holds)?"""
    if guarded(target):  # every agent's own configuration (agents.guarded)
        return True
    spec = AGENTS.get(agent)
    if spec is None or not spec.patch_tools:  # only Codex's whole folder, for now
        return False
    if f"/{spec.folder}/".casefold() in (target + "/").casefold():  # see agents.guarded
        return True
    try:
        home = spec.home_dir().casefold()
    except RuntimeError:
        return False
    return any(t == home or t.startswith(home.rstrip("/") + "/")
               for t in (target.casefold(), resolve(target).casefold()))


def _protect(agent: str, call: ToolCall, gate_factory: GateFactory,
             explicit_policy: str | None) -> Verdict:
    policy_files: list[str] | None = None
    for written in (call.path, *call.paths):
        if written is None:
            continue
        for target in _targets(call.cwd, written):
            if not _in_agent_dirs(agent, target):
                if policy_files is None:
                    policy_files = _policy_files(gate_factory, call.cwd)
                if not is_protected(target, explicit_policy, policy_files):
                    continue
            return _protected_denial(agent, call, written, target)
    return PASS


def _targets(cwd: str, written: str) -> list[str]:
    """The files a tool's path may name: relative to the call's directory, and with a leading
    ``~`` as the home directory (Claude Code's file tools expand it; the strictest reading wins)."""
    found = [pure(os.path.join(cwd, written))]
    if written.startswith("~"):
        home = expand_user(written)
        if home is not None:
            found.append(pure(os.path.join(cwd, home)))
    return found


def _protected_denial(agent: str, call: ToolCall, written: str, target: str) -> Verdict:
    reason = (f"agentgate: DENIED [{PROTECTED_RULE}]: {call.tool} of {written} would change "
              "agentgate's policy, state or hook settings, or the agent's own configuration; an "
              "agent must not change the rules that gate it. Do not retry or work around this; "
              "a human edits these files.")
    record_blocked(StatePaths.default(), action_subject(call.tool, target, call.cwd),
                   agent, AgentgateError(reason))  # best effort: the deny stands regardless
    return Verdict(False, reason, f"agentgate blocked {call.tool} of {written}: it is "
                                  "agentgate's policy, state or hook settings, or the agent's own "
                                  "configuration.")


UNREAD_PATCH_RULE = "agentgate-unread-patch"


def _deny_unread_patch(agent: str, call: ToolCall) -> Verdict:
    """apply_patch in a shell writes the files its patch names: a patch the command does not
    show (a variable, a pipe, a file) could write the policy or the hooks unchecked."""
    reason = (f"agentgate: DENIED [{UNREAD_PATCH_RULE}]: this command runs apply_patch on a patch "
              "that is not written out in the command (it comes from a variable, a pipe or a "
              "file, or the directory is not known), so agentgate cannot see which files it "
              "changes. Use the apply_patch tool, or `apply_patch <<'EOF'` with the patch itself.")
    record_blocked(StatePaths.default(), call.subject, agent, AgentgateError(reason))
    return Verdict(False, reason, "agentgate blocked an apply_patch whose patch it could not read.")


INTERACTIVE_RULE = "agentgate-interactive-shell"


def _hold_interactive(agent: str, call: ToolCall) -> Verdict:
    """Codex types into a running session with write_stdin, which no hook sees: a command that
    opens an interactive shell or REPL is refused, so that every command comes through a hook."""
    reason = (f"agentgate: DENIED [{INTERACTIVE_RULE}]: `{call.interactive}` would start an "
              "interactive shell or interpreter, and what is typed into it later (write_stdin) "
              "reaches no hook, so agentgate could not check it. Run each command on its own "
              "instead (the command itself, or `bash -c '...'`, or a script file).")
    record_blocked(StatePaths.default(), call.subject, agent, AgentgateError(reason))
    return Verdict(False, reason, f"agentgate blocked `{call.interactive}`: an interactive shell "
                                  "would read commands no hook checks.")
