"""Every rendering, for people (text on stderr, tables, rich only where a table or progress bar
needs it, imported then) and for machines (JSON on stdout through agentgate.jsontext).

Human text goes to stderr; ``--json`` puts data (or an error object) on stdout. A command's body
(agentgate.commands) returns data, and the CLI hands it to one function here. Light at import:
the `run` and hook paths use the first few functions.
"""

from __future__ import annotations

import os
import sys
import time

from .jsontext import dumps
from .lean import safe as safe  # escaping for people, also used below the interface (notify)
from .outcome import fmt_duration as fmt_duration  # one reading of a duration, for the gate too

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path
    from typing import Any, TextIO

    from .audit import VerifyResult
    from .errors import AgentgateError
    from .gate import Outcome, RequestView
    from .integrations.install import InstallPlan, SystemPlan
    from .integrations.status import Status
    from .ledger import Request
    from .runner import RunResult


# --------------------------------------------------------------------------- streams


ESCAPE_ERRORS = "agentgate-escape"


def _escape_unencodable(e: UnicodeError) -> tuple[str, int]:
    """The codec error handler of :func:`safe_streams`: a character as ``\\u00e9`` (never
    ``\\xe9``, which is how :func:`safe` shows a byte that was not UTF-8), such a byte as
    ``\\xNN``."""
    if not isinstance(e, UnicodeEncodeError):
        raise e
    out = []
    for c in e.object[e.start:e.end]:
        o = ord(c)
        out.append(f"\\x{o - 0xDC00:02x}" if 0xDC80 <= o <= 0xDCFF
                   else f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
    return "".join(out), e.end


def safe_streams() -> None:
    """Make stdout and stderr escape what their encoding cannot carry (see
    :func:`_escape_unencodable`) instead of raising: a person's text on an ASCII or Latin-1
    terminal (``PYTHONIOENCODING=ascii``, a Windows console) is shown, never an internal error.
    JSON does not rely on this: :func:`emit_json` writes ``\\u`` escapes where the stream is not
    UTF-8."""
    import codecs

    codecs.register_error(ESCAPE_ERRORS, _escape_unencodable)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors=ESCAPE_ERRORS)
            except (ValueError, OSError, LookupError):
                continue  # closed, or not a text stream of ours: left as it is


def err(text: str) -> None:
    """One message for a person, on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def to_stdout(text: str) -> None:
    """Text on stdout, as it is."""
    sys.stdout.write(text)
    sys.stdout.flush()


def emit_json(obj: object, stream: TextIO | None = None) -> None:
    """One JSON document and a newline on ``stream`` (stdout): always valid JSON, in any locale
    (undecodable bytes as agentgate.jsontext says; ``\\u`` escapes if the stream is not UTF-8)."""
    target = sys.stdout if stream is None else stream
    text = dumps(obj)
    if not text.isascii() and not _is_utf8(getattr(target, "encoding", None) or "utf-8"):
        text = dumps(obj, ensure_ascii=True)  # Latin-1 bytes would not be JSON for its reader
    target.write(text + "\n")
    target.flush()


def _is_utf8(encoding: str) -> bool:
    import codecs

    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def error(e: AgentgateError, as_json: bool) -> int:
    """One stderr line (plus a hint), a JSON error object under --json; returns the exit code."""
    msg = f"agentgate: error: {e.message}"
    if e.hint:
        msg += f"\n  hint: {e.hint}"
    err(msg)
    if as_json:
        emit_json({"allowed": False, **e.to_dict()})
    return e.exit_code


def internal_error(e: BaseException, log: str | None, *, ran: bool = False) -> None:
    """The one line for a bug; its traceback is in ``log`` (or, when no log could be written,
    shown here)."""
    what = "" if ran else " (nothing was run)"
    if log is None:
        import traceback

        sys.stderr.write("".join(traceback.format_exception(e)))
        err(f"agentgate: internal error: {type(e).__name__}: {e}{what}; no error log could be "
            "written, the traceback is above")
    else:
        err(f"agentgate: internal error: {type(e).__name__}: {e}{what}; details in {log}")


def usage_error_json(message: str, hint: str | None, exit_code: int) -> None:
    """A usage error (click's message is already on stderr), for --json readers."""
    emit_json({"allowed": False, "error": "usage_error", "message": message, "hint": hint,
               "exitCode": exit_code})


# --------------------------------------------------------------------------- run, verify


def blocked(outcome: Outcome, as_json: bool) -> int:
    """A command or action the gate did not let through; returns its exit code."""
    err(outcome.message())
    if as_json:
        emit_json(outcome.to_dict())
    return outcome.exit_code


def allowed(outcome: Outcome, as_json: bool) -> None:
    """A command about to run: stdout belongs to it, so the decision goes to stderr."""
    if outcome.standing:
        err(outcome.message())
    elif outcome.via_grant:
        err(f"agentgate: allowed once by approved grant {outcome.approval_id}")
    if as_json:
        emit_json(outcome.to_dict(), sys.stderr)


def ran(result: RunResult) -> None:
    if result.error:
        err(f"agentgate: {result.error}")


def exit_not_logged(exit_code: int, problem: str) -> None:
    err(f"agentgate: warning: the command ran (exit {exit_code}) but its exit could not be "
        f"logged: {problem}")


def verified(outcome: Outcome, action: str, resource: str | None, as_json: bool) -> int:
    """`agentgate verify`; returns its exit code."""
    err(outcome.message())
    if as_json:
        emit_json({**outcome.to_dict(), "action": action, "resource": resource,
                   "attributes": dict(outcome.subject.attributes)})
    return outcome.exit_code


# --------------------------------------------------------------------------- other commands


def version(text: str) -> None:
    to_stdout(text + "\n")


def check(obj: dict[str, Any], as_json: bool) -> int:
    if as_json:
        emit_json(obj)
    else:
        print_check(obj)
    return int(obj["exitCode"])


def approval_prompt(view: RequestView) -> None:
    err(describe_request(view.request, view.now))


def approved(req: Request, now: float, as_json: bool, remembered: str | None = None,
             exception: str | None = None) -> None:
    from .audit import now_iso

    if remembered:
        err(f"remembered as standing exception {exception} in {remembered}: this exact command "
            f"in this directory runs without asking from now on (`agentgate policy forget "
            f"{exception}` removes it).")
    err(approved_text(req, now))
    if as_json:
        emit_json({"id": req.id, "status": req.status, "expiresAt": now_iso(req.expires_at),
                   "uses": req.uses, "exception": exception, "policyFile": remembered})


def approved_text(req: Request, now: float) -> str:
    """What an approval allows, in one sentence: `approve`, `watch` and the dashboard say it,
    naming the agent whose retries may use it (the agent that asked)."""
    left = fmt_duration(req.expires_at - now)
    by = f"by {safe(req.agent)}"
    if req.uses is None:
        return (f"approved {req.id}: the same command may now run any number of times in this "
                f"directory, for {left}, {by}; `agentgate revoke {req.id}` withdraws it.")
    if req.uses > 1:
        return (f"approved {req.id}: the same command may now run {req.uses} times, within "
                f"{left}, {by}; `agentgate revoke {req.id}` withdraws it.")
    what = "action may now go through" if req.kind == "action" else "command may now run"
    return f"approved {req.id}: the same {what} once, within {left}, {by}."


def denied(req: Request, reason: str | None, as_json: bool) -> None:
    err(f"denied {req.id}.")
    if as_json:
        emit_json({"id": req.id, "status": req.status, "reason": reason})


def policy_shown(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(info)
        return
    out = []
    for s in info["sources"]:
        status = "trusted" if s["trusted"] else "untrusted"
        note = str(s["note"] or "").removeprefix(f"{status}: ").removeprefix(status)
        out.append(f"{safe(s['path'])}  ({s['kind']}, {status}{'; ' + note if note else ''})")
        for r in s["rules"]:
            off = "" if r["applies"] else "  [ignored: untrusted]"
            out.append(f"  {r['decision']:5}  {safe(r['id'])}: {safe(r['reason'])}{off}")
        for e in s["exceptions"]:
            off = "" if e["applies"] else "  [ignored: untrusted]"
            out.append(f"  exception {e['id']}: {safe(command_words(e))} in {safe(e['cwd'])} "
                       f"(relaxes {safe(e['rule'])}){off}")
    st = info["settings"]
    out.append("settings  " + ", ".join(
        f"{k}={policy_duration(v) if k in _DURATION_SETTINGS and isinstance(v, int) else v}"
        for k, v in st.items() if not isinstance(v, list | tuple | dict) or v))
    out.append(f"order     {info['order']}")
    sys.stdout.write("\n".join(out) + "\n")


_DURATION_SETTINGS = ("approval_ttl", "request_ttl", "retention")


def policy_duration(seconds: int) -> str:
    """Seconds as a policy file writes them: ``1800`` is ``30m``, ``604800`` is ``7d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def command_words(e: dict[str, Any]) -> str:
    import shlex

    return shlex.join(e["command"]) if e.get("kind", "argv") == "argv" else " ".join(e["command"])


def forgotten(path: str, exception: dict[str, Any], as_json: bool) -> None:
    err(f"removed standing exception {exception['id']} ({command_words(exception)}) from {path}; "
        "that command asks again.")
    if as_json:
        emit_json({"removed": exception, "policyFile": path})


def revoked(req: Request, as_json: bool) -> None:
    was = next((h.get("was") for h in reversed(req.history) if h.get("event") == "revoked"), None)
    what = "the denial is lifted: the next try asks a human again" if was == "denied" else \
        "the grant is withdrawn: the next try asks a human again"
    err(f"revoked {req.id}: {what}.")
    if as_json:
        emit_json({"id": req.id, "status": req.status, "was": was})


def pending(reqs: list[Request], now: float, as_json: bool,
            unreported: Sequence[dict[str, Any]] = ()) -> None:
    """The open requests (``--json``: their list, as ever); in the human form also the used
    grants whose call the agent never reported as run (``show ID --json`` has them)."""
    if as_json:
        emit_json([request_json(r) for r in reqs])
        return
    print_pending(reqs, now)
    if unreported:
        lines = ["", "approved and consumed, but the agent never reported that the call ran:"]
        lines += [f"  {u['id']}  {use_text(u)}" for u in unreported]
        sys.stdout.write("\n".join(lines) + "\n")


def request(view: RequestView, as_json: bool, uses: Sequence[dict[str, Any]] = ()) -> None:
    """One request; ``uses``: each hook call that used its grant, and what the agent reported."""
    if as_json:
        body = request_json(view.request)
        if uses:
            body["hookUses"] = [use_json(u) for u in uses]
        emit_json(body)
    else:
        print_request(view.request, view.now)
        if uses:
            sys.stdout.write("\n".join(["hook calls that used it", *(
                f"  {use_text(u)}" for u in uses)]) + "\n")


def use_text(use: dict[str, Any]) -> str:
    """One use of a grant by a hook call, in words that claim no more than the agent said."""
    at = fmt_time(use["consumedAt"])
    who = safe(str(use.get("agent") or "the agent"))
    if use["status"] == "ran":
        how = {"succeeded": "it succeeded", "failed": "it failed",
               "interrupted": "it was interrupted"}.get(str(use.get("outcome")),
                                                         "not how it ended")
        code = use.get("exitCode")
        how += f" (exit code {code})" if isinstance(code, int) else ""
        return f"approved and consumed at {at}; {who} reported that it ran: {how}"
    if use["status"] == "no report":
        return (f"approved and consumed at {at}, but {who} never reported that it ran "
                f"({safe(str(use.get('why')))}; it may have been refused after agentgate "
                "allowed it, or the agent stopped)")
    return f"approved and consumed at {at}; awaiting {who}'s report that it ran"


def use_json(use: dict[str, Any]) -> dict[str, Any]:
    from .audit import now_iso

    out = {k: v for k, v in use.items() if v is not None}
    for key in ("consumedAt", "reportedAt"):
        if isinstance(out.get(key), int | float):
            out[key] = now_iso(out[key])
    out["text"] = use_text(use)
    return out


def where(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(info)
        return
    to_stdout("".join(f"{k:12} {(', '.join(v) or '-') if isinstance(v, list) else v}\n"
                for k, v in info.items()))


def wrote(path: Path) -> None:
    err(f"wrote {path}")


def validated(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(info)
        return
    for s in info["sources"]:
        err(f"ok: {s['path']} ({'trusted' if s['trusted'] else s['note']})")
    err(f"{info['rules']} rules valid, every example holds.")


def trusted(files: list[tuple[str, str]]) -> None:
    for p, digest in files:
        err(f"trusted {p} (sha256 {digest[:12]}...); any change untrusts it again.")


def log_lines(lines: Iterable[tuple[bytes, dict[str, Any]]], as_json: bool) -> None:
    """`agentgate log`: the stored lines (JSONL) under --json, else one line per event."""
    if not as_json:
        print_events(ev for _raw, ev in lines)
        return
    from .logview import json_line

    target = sys.stdout.buffer
    for raw, _ev in lines:
        target.write(json_line(raw) + b"\n")
    target.flush()


def log_summary(summary: dict[str, Any], chain: dict[str, Any] | None, *, as_json: bool,
                markdown: bool) -> None:
    if as_json:
        emit_json(summary)
    elif markdown:
        to_stdout(markdown_summary(summary, chain))
    else:
        print_summary(summary)


def log_verified(res: VerifyResult, as_json: bool) -> None:
    if as_json:
        emit_json(res.to_dict())
        return
    if res.ok:
        err(f"ok: {res.lines} lines, hash chain intact.")
    elif res.first_bad is None:
        err(f"FAILED: {res.problem}.")
    else:
        err(f"BROKEN at {res.first_bad}: {res.problem} ({res.lines} lines verified before it).")
    for other in res.others:
        err(f"also: {other}")
    if res.interrupted:
        err(f"note: {len(res.interrupted)} fragment(s) of interrupted writes, which the chain "
            f"continues over: {', '.join(res.interrupted)}")


def hook_installed(plan: InstallPlan, *, dry_run: bool, backup: Path | None, executable: str,
                   on_path: bool) -> None:
    link = f" (a symbolic link to {plan.target})" if plan.target is not None else ""
    if not plan.changed:
        err(f"agentgate's {plan.agent} hook is already in {plan.path}{link}; nothing to do.")
        return
    if dry_run:
        to_stdout(plan.diff())
        err(f"dry run: {plan.path}{link} was not changed.")
        return
    if plan.target is not None:
        link = f" (a symbolic link: written to its target {plan.target}, the link kept)"
    err(f"installed agentgate's {plan.agent} hook in {plan.path}{link}"
        + (f"; backup of the previous file: {backup}" if backup else ""))
    if not on_path:
        err(f"warning: `{executable}` is not on this PATH; the agent must be able to run it, or "
            "its hook fails (and most agents then let the command through). See --executable.")


def hook_status(status: Status, *, as_json: bool, after_install: bool = False) -> None:
    """`hook status AGENT` (and the check after `hook install`): each copy, and what to do."""
    if as_json:
        import dataclasses

        emit_json({**dataclasses.asdict(status), "ok": status.ok})
        return
    if after_install:
        if not status.ok:
            for p in status.problems:
                err(f"warning: the hook will not run yet: {p}")
        return
    for c in status.copies:
        state = {True: "runs", False: "does not run", None: "installed"}[c.runs]
        err(f"{c.path}: {state}{f' ({c.why})' if c.why else ''}: {c.command}")
    for n in status.notes:
        err(f"note: {n}")
    for p in status.problems:
        err(f"problem: {p}")
    err(f"{status.product}: agentgate's hook {'will run' if status.ok else 'will NOT run'}.")


def hook_installed_system(plan: SystemPlan, *, dry_run: bool, backups: Iterable[Path] = (),
                          warning: str | None = None) -> None:
    """`hook install AGENT --system`: the files, what each lock setting does, and why a dry run
    would be refused for real."""
    import json

    where = plan.path
    if not plan.changed:
        there = "is not" if plan.removing else "is already"
        err(f"agentgate's machine-wide {plan.agent} hook {there} in {where}; nothing to do.")
    elif dry_run:
        for f in plan.files:
            if f.changed:
                to_stdout(f.diff())
        err("dry run: nothing was written.")
    elif plan.removing:
        err(f"removed agentgate's {plan.agent} hook from the machine-wide settings {where}")
    else:
        err(f"installed agentgate's {plan.agent} hook in the machine-wide settings {where}: "
            f"{plan.product} runs `{plan.command}`, which user and project settings cannot remove")
    for b in backups:
        err(f"backup of the previous file: {b}")
    would = "would set" if dry_run else "set"
    for n in plan.locks:
        setting = f"{n.setting.name} = {json.dumps(n.setting.value)}"
        if plan.removing:
            err(f"left {setting} in {n.path}: remove it by hand if only agentgate needed it")
        elif n.state == "set" and plan.changed:
            err(f"{would} {setting} in {n.path}: {n.setting.meaning}")
        elif n.state == "on":
            err(f"{setting} is already in {n.path}: {n.setting.meaning}")
        elif n.state == "kept":
            err(f"warning: {n.path} sets {n.setting.name} otherwise, kept as an administrator "
                f"wrote it; without {setting}, {n.setting.meaning.split(': ')[0]} is not "
                "enforced (docs/protected-mode-hooks.md)")
    if warning:
        err(f"warning: for real this would be refused: {warning}")


# --------------------------------------------------------------------------- text for people


def fmt_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


# Ledger fields that only the gate's clock checks read: no meaning outside this machine's boot.
_INTERNAL_FIELDS = frozenset({"approved_boot", "approved_mono"})


def camel(name: str) -> str:
    """``human_reason`` -> ``humanReason``."""
    first, *rest = name.split("_")
    return first + "".join(w[:1].upper() + w[1:] for w in rest)


def _json_fields(d: dict[str, Any]) -> dict[str, Any]:
    from .audit import now_iso

    fields: dict[str, Any] = {}
    for k, v in d.items():
        if k in _INTERNAL_FIELDS:
            continue
        if (k == "at" or k.endswith("_at")) and isinstance(v, int | float) and not isinstance(v, bool):
            v = now_iso(v)
        fields[camel(k)] = v
    return fields


def request_json(req: Request) -> dict[str, Any]:
    """A request as the CLI's JSON shows it: camelCase keys, times as ISO-8601 UTC strings, its
    history entries alike."""
    d = _json_fields(req.to_dict())
    d["history"] = [_json_fields(h) for h in req.history]
    return d


def command_text(req: Request) -> str:
    import shlex

    from .outcome import attribute_words

    if req.kind == "argv":
        return safe(shlex.join(req.argv))
    return safe(" ".join([*req.argv, *attribute_words(req.attributes or {})]))


def describe_request(req: Request, now: float) -> str:
    lines = [
        f"request  {req.id}  ({req.status})",
        f"command  {command_text(req)}",
        f"cwd      {safe(req.cwd)}",
        f"rule     {safe(req.rule or '-')}: {safe(req.reason)}",
        f"agent    {safe(req.agent)} (pid {req.pid}, {safe(req.user)}@{safe(req.host)})"
        + ("; its grant is for this agent's retries only" if req.status in ("pending", "approved")
           else ""),
        f"age      {fmt_duration(now - req.created_at)} (requested {fmt_time(req.created_at)})",
    ]
    if req.status in ("pending", "approved"):
        lines.append(f"expires  in {fmt_duration(req.expires_at - now)}")
    if req.status != "pending" and req.standing:
        allowed = "any number of runs" if req.uses is None else f"{req.uses} runs"
        lines.append(f"grant    {allowed}, {req.used} used")
    if req.human_reason:
        lines.append(f"reason   {safe(req.human_reason)}")
    return "\n".join(lines)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 10_000  # a pipe gets whole lines, never folded ones
    return Console(stderr=stderr, no_color=bool(os.environ.get("NO_COLOR")) or None,
                   highlight=False, soft_wrap=False, width=width)


def print_pending(reqs: list[Request], now: float) -> None:
    """A plain table (rich's would cost `pending` more start-up than everything else)."""
    if not reqs:
        sys.stderr.write("no pending requests\n")
        return
    rows = [("ID", "AGE", "AGENT", "RULE", "COMMAND", "CWD")]
    rows += [(r.id, fmt_duration(now - r.created_at), safe(r.agent), safe(r.rule or "-"),
              command_text(r), safe(r.cwd)) for r in reqs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    out = ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
           for row in rows]
    sys.stdout.write("\n".join(out) + "\n")


def print_request(req: Request, now: float) -> None:
    out = [describe_request(req, now), "history"]
    for h in req.history:
        extra = safe(", ".join(f"{k}={v}" for k, v in h.items() if k not in ("at", "event") and v is not None))
        out.append(f"  {fmt_time(h['at'])}  {h['event']}" + (f"  ({extra})" if extra else ""))
    sys.stdout.write("\n".join(out) + "\n")


def print_check(obj: dict[str, Any]) -> None:
    import shlex

    out = []
    for i, p in enumerate(obj["parts"], 1):
        via = " > ".join(p["via"]) if p["via"] else "top level"
        label = "opaque" if p["opaque"] else "command"
        out.append(f"{i}. {label}: {safe(shlex.join(p['argv'])) if p['argv'] else '-'}")
        out.append(f"   via: {via}")
        out.append(f"   rules: {', '.join(p['rules']) or '(none)'} -> {p['decision']}: {safe(p['reason'])}")
    out.append(f"decision: {obj['decision'].upper()}" + (f" (rule {obj['rule']})" if obj["rule"] else "")
               + f": {obj['reason']}")
    for s in obj["policies"]:
        status = "trusted" if s["trusted"] else "UNTRUSTED"
        out.append(f"policy: {s['path']} [{s['kind']}, {status}] sha256 {s['sha256'][:12]}"
                   + (f" - {s['note']}" if s["note"] and not s["trusted"] else ""))
    sys.stdout.write("\n".join(out) + "\n")


def format_event(ev: dict[str, Any]) -> str:
    import shlex

    from .jsontext import AUDIT_SUFFIX, restore

    if "argv" + AUDIT_SUFFIX in ev:  # the exact words, undecodable bytes shown as \xNN below
        ev = restore(ev, AUDIT_SUFFIX)
    argv = ev.get("argv")
    cmd = safe((shlex.join(argv) if ev.get("kind", "argv") == "argv" else " ".join(map(str, argv)))
               if isinstance(argv, list) else "")
    if cmd and isinstance(ev.get("attributes"), dict):  # an action's: what the grant binds
        from .outcome import attribute_words

        cmd += "".join(" " + safe(w) for w in attribute_words(ev["attributes"]))
    bits = [str(ev.get("ts", "?")), f"{ev.get('event', '?'):18}"]
    if ev.get("id"):
        bits.append(str(ev["id"]))
    if ev.get("rule"):
        bits.append(f"[{ev['rule']}]")
    if ev.get("agent"):
        bits.append(f"agent={safe(ev['agent'])}")
    if ev.get("event") == "ran":  # the agent's word: nothing agentgate saw run
        bits.append(f"reported by the agent: {safe(str(ev.get('outcome') or 'unknown'))}")
    if ev.get("event") == "no_report":
        bits.append(f"consumed at {safe(str(ev.get('consumed_at', '?')))}, never reported as run")
    if "exit_code" in ev:
        bits.append(f"exit={ev['exit_code']}")
    if cmd:
        bits.append(cmd)
    return "  ".join(bits)


def print_events(events: Iterable[dict[str, Any]]) -> None:
    """One line per event (what the stream cannot carry is escaped: see :func:`safe_streams`)."""
    out = sys.stdout
    for ev in events:
        out.write(format_event(ev) + "\n")


PROGRESS_MIN_BYTES = 16 * 1024 * 1024  # below this a read is quick: no bar


def progress_lines(lines: Iterable[tuple[str, int, bytes]], total_bytes: int,
                   label: str = "reading the audit log") -> Iterator[tuple[str, int, bytes]]:
    """Pass audit lines through; draw a progress bar on stderr for a long read on a terminal.

    rich is imported only when the bar is drawn, so pipes and CI never pay for it."""
    if total_bytes < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield from lines
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TimeRemainingColumn(), console=_console(stderr=True), transient=True,
                   redirect_stdout=False, redirect_stderr=False)
    with bar:
        task = bar.add_task(label, total=total_bytes)
        done, step = 0, 0
        for item in lines:
            done += len(item[2]) + 1
            step += 1
            if step >= 4096:
                bar.update(task, completed=done)
                step = 0
            yield item


def print_summary(summary: dict[str, Any]) -> None:
    """The `log summary` tables as plain aligned text (one section per grouping)."""
    out = [f"period   {summary['since'] or 'start'} .. {summary['until'] or 'now'}",
           f"events   {summary['events']}"
           + (f" ({summary['first']} .. {summary['last']})" if summary["first"] else "")]
    sections = (("by event", {k: {"": v} for k, v in summary["byEvent"].items()}),
                ("by rule", summary["byRule"]), ("by agent", summary["byAgent"]))
    for title, groups in sections:
        if not groups:
            continue
        out.append("")
        out.append(title)
        width = max(len(k) for k in groups)
        for key, counts in groups.items():
            cells = "  ".join(f"{name}={n}" if name else str(n) for name, n in counts.items())
            out.append(f"  {key:<{width}}  {cells}")
    sys.stdout.write("\n".join(out) + "\n")


def _md_cell(value: object) -> str:
    """Text for one Markdown table cell: no line breaks, pipes escaped, terminal tricks shown."""
    text = safe(str(value))
    for c in "\\|`*":
        text = text.replace(c, "\\" + c)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _md_table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(c) for c in header) + " |",
           "|" + "|".join(["---", *["---:"] * (len(header) - 1)]) + "|"]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def markdown_summary(summary: dict[str, Any], chain: dict[str, Any] | None = None) -> str:
    """`log summary --markdown`: the counts as GitHub-flavoured Markdown tables (for a CI job's
    step summary), with the hash chain's status from `log verify` when ``chain`` is given."""
    period = f"{summary['since'] or 'the start'} to {summary['until'] or 'now'}"
    out = ["## agentgate audit log", "", f"Period: {_md_cell(period)}. Events: {summary['events']}"
           + (f" ({_md_cell(summary['first'])} to {_md_cell(summary['last'])})."
              if summary["first"] else ".")]
    if chain is not None:
        if chain["ok"]:
            status = f"intact ({chain['verifiedLines']} lines)"
        else:
            where = f" at {_md_cell(chain['firstBad'])}" if chain["firstBad"] else ""
            status = f"**BROKEN**{where}: {_md_cell(chain['problem'])}"
        out.append("")
        out.append(f"Hash chain: {status.rstrip('.')}.")
    if summary["byEvent"]:
        out += ["", "### By event", ""]
        out += _md_table(["event", "count"], [[k, v] for k, v in summary["byEvent"].items()])
    for title, key, label in (("By rule", "byRule", "rule"), ("By agent", "byAgent", "agent")):
        groups = summary[key]
        if not groups:
            continue
        names = list(dict.fromkeys(n for counts in groups.values() for n in counts))
        rows: list[list[object]] = [[k, sum(c.values()), *(c.get(n, 0) for n in names)]
                                    for k, c in groups.items()]
        out += ["", f"### {title}", ""]
        out += _md_table([label, "events", *names], rows)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- protected mode


def service_report(report: Any, as_json: bool) -> None:
    """What `service install` / `uninstall` did, then warnings (loud) and notes."""
    if as_json:
        emit_json({"done": report.done, "warnings": report.warnings, "notes": report.notes})
    for line in report.done:
        err(f"agentgate: {line}")
    for uri in report.totp_uris:
        totp_enrolment(uri)
    for line in report.warnings:
        err(f"agentgate: WARNING: {line}")
    for line in report.notes:
        err(f"  note: {line}")


def service_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(status)
        return
    err(f"agentgate: protected mode; the service answers on {status.get('socket')} "
        f"(version {status.get('version')}, pid {status.get('pid')}, user "
        f"{status.get('serviceUser')})")
    err(f"  policy: {status.get('policy')} (sha256 {str(status.get('policySha256'))[:12]})")
    err(f"  approver secret set: {'yes' if status.get('secret') else 'NO (nothing can be approved)'}"
        f"; authenticator (TOTP): {'yes' if status.get('totp') else 'no'}")
    err(f"  pending requests: {status.get('pending')}")
    for r in status.get("pendingRequests") or []:
        command = " ".join(str(a) for a in r.get("command") or [])
        who = f"{safe(r.get('user'))}, {safe(r.get('agent'))}"
        err(f"    {safe(r.get('id'))}  {safe(command)[:100]}  ({who})")



def totp_enrolment(uri: str) -> None:
    """The enrolment for an authenticator app: a QR code in the terminal, and the URI for one
    that cannot scan (on stderr only: it is a secret, not a result)."""
    import io

    import segno

    buf = io.StringIO()
    segno.make(uri, error="m").terminal(out=buf, compact=True)
    err("Scan this with an authenticator app (or enter the URI below by hand):")
    sys.stderr.write(buf.getvalue())
    err(uri)
