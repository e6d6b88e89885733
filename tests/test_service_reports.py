"""Protected mode's "it ran" reports (issue 11), in the service itself (driven directly, as
clients would over its socket): the service keeps each user's awaiting-report records in its own
state, a report adds only the agent's word (``ran``, ``no_report``) to the audit log, and a user
reports on its own calls only. tests/test_protected.py does the same through the real service,
users and sockets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from servicekit import new_service, with_proof

from agentgate.audit import AuditLog
from agentgate.integrations.hooks import report_key
from agentgate.service import protocol
from agentgate.service.server import Service


class _Client:
    """A client of a Service in this process: uid ``uid`` (not this process: it would be the
    service's own, which sees everything)."""

    def __init__(self, service: Service, cwd: str, uid: int | None = None) -> None:
        self.service = service
        self.cwd = cwd
        self.peer = protocol.Peer(os.getpid() + 1, os.getuid() if uid is None else uid,
                                  os.getgid())

    def ask(self, **msg: Any) -> dict[str, Any]:
        return self.service.handle(msg, self.peer)

    def subject(self, *argv: str) -> dict[str, Any]:
        return {"kind": "argv", "argv": list(argv), "cwd": self.cwd}

    def authorize(self, *argv: str, use: str, session: str = "s-1") -> dict[str, Any]:
        answer = self.ask(op="authorize", agent="claude-code", subject=self.subject(*argv),
                          report=report_key("claude-code", f"{session}\0{use}"),
                          session=session, tool_use_id=use)
        assert answer["ok"], answer
        return dict(answer["outcome"])

    def report(self, *argv: str, use: str, session: str = "s-1",
               **extra: Any) -> dict[str, Any]:
        msg = {"op": "report", "agent": "claude-code", "subject": self.subject(*argv),
               "report": report_key("claude-code", f"{session}\0{use}"), "session": session,
               "tool_use_id": use, "tool": "Bash", "event": "PostToolUseFailure",
               "outcome": "failed", "exit_code": 3, **extra}
        return self.ask(**msg)


def _service(tmp_path: Path) -> Service:
    return new_service(tmp_path)


def _approve(service: Service, rid: str) -> None:
    root = _Client(service, "/", uid=0)
    done = with_proof(root.ask, {"op": "approve", "id": rid, "ttl": None})
    assert done["ok"], done


def _consumed(service: Service, c: _Client, *argv: str, use: str,
              session: str = "s-1") -> str:
    """A held call, approved, and its retry (tool-use ``use``) that uses up the grant."""
    rid = str(c.authorize(*argv, use=f"{use}-held", session=session)["approval_id"])
    _approve(service, rid)
    retry = c.authorize(*argv, use=use, session=session)
    assert retry["allowed"] and retry["via_grant"] and retry["approval_id"] == rid, retry
    return rid


def _events(service: Service, name: str) -> list[dict[str, Any]]:
    return [e for e in AuditLog(service.paths.audit).events() if e.get("event") == name]


def test_a_report_closes_the_callers_record_and_logs_ran_linked_to_the_grant(
        tmp_path: Path) -> None:
    service = _service(tmp_path)
    c = _Client(service, str(tmp_path))
    rid = _consumed(service, c, "vercel", "--prod", use="u-1")
    [awaiting] = c.ask(op="hook_uses", id=rid)["uses"]
    assert awaiting["status"] == "awaiting report"
    answer = c.report("vercel", "--prod", use="u-1")
    assert answer == {"ok": True, "events": 1, "id": rid}, answer
    [ran] = _events(service, "ran")
    assert (ran["id"], ran["outcome"], ran["exit_code"], ran["argv"], ran["tool_use_id"],
            ran["peer_uid"]) == (rid, "failed", 3, ["vercel", "--prod"], "u-1", os.getuid())
    [used] = c.ask(op="hook_uses", id=rid)["uses"]
    assert (used["status"], used["outcome"], used["exitCode"]) == ("ran", "failed", 3)
    assert c.report("vercel", "--prod", use="u-1")["events"] == 0  # a second copy: once
    assert len(_events(service, "ran")) == 1
    assert c.ask(op="get", id=rid)["request"]["status"] == "consumed"  # the grant is as it was
    records = Path(service.paths.root, "reports", str(os.getuid()), "hook-reports")
    assert records.is_dir() and records.stat().st_mode & 0o777 == 0o700


def test_the_end_of_a_turn_without_a_report_is_a_no_report_event(tmp_path: Path) -> None:
    service = _service(tmp_path)
    c = _Client(service, str(tmp_path))
    rid = _consumed(service, c, "vercel", "--prod", use="u-2", session="s-2")
    assert c.ask(op="unreported")["unreported"] == []
    answer = c.ask(op="report", agent="claude-code", session="s-2", end=True)
    assert answer == {"ok": True, "events": 1}, answer
    [told] = _events(service, "no_report")
    assert (told["id"], told["session"], told["tool_use_id"], told["argv"]) == (
        rid, "s-2", "u-2", ["vercel", "--prod"])
    assert "turn ended" in told["why"] and told["consumed_at"]
    [overdue] = c.ask(op="unreported")["unreported"]
    assert (overdue["id"], overdue["status"]) == (rid, "no report")
    assert c.ask(op="report", agent="claude-code", session="s-2", end=True)["events"] == 0
    assert len(_events(service, "no_report")) == 1  # told once


def test_a_later_reported_call_makes_an_earlier_unreported_one_overdue(tmp_path: Path) -> None:
    service = _service(tmp_path)
    c = _Client(service, str(tmp_path))
    rid = _consumed(service, c, "vercel", "--prod", use="u-3", session="s-3")
    assert c.authorize("ls", use="u-4", session="s-3")["allowed"]
    answer = c.report("ls", use="u-4", session="s-3", outcome="succeeded", exit_code=None)
    assert answer["events"] == 2 and answer["id"] is None, answer
    [told] = _events(service, "no_report")
    assert told["id"] == rid and "later call" in told["why"]


def test_a_user_reports_on_its_own_calls_only(tmp_path: Path) -> None:
    """Another uid's report of the very same call (session, tool-use id, command) is logged
    as that uid's word and closes nothing of the owner's; nor does it see the owner's uses."""
    service = _service(tmp_path)
    owner = _Client(service, str(tmp_path))
    other = _Client(service, str(tmp_path), uid=os.getuid() + 4242)
    rid = _consumed(service, owner, "vercel", "--prod", use="u-5")
    answer = other.report("vercel", "--prod", use="u-5")
    assert answer["ok"] and answer["id"] is None, answer
    [ran] = _events(service, "ran")
    assert "id" not in ran and ran["peer_uid"] == os.getuid() + 4242
    assert ran["user"] == f"uid {os.getuid() + 4242}"
    [still] = owner.ask(op="hook_uses", id=rid)["uses"]
    assert still["status"] == "awaiting report"
    assert other.ask(op="report", agent="claude-code", session="s-1", end=True)["events"] == 0
    assert owner.ask(op="hook_uses", id=rid)["uses"][0]["status"] == "awaiting report"
    refused = other.ask(op="hook_uses", id=rid)
    assert refused["ok"] is False and "another user's" in refused["error"]["message"]
    assert other.ask(op="unreported")["unreported"] == []
    root = _Client(service, "/", uid=0)
    assert [u["id"] for u in root.ask(op="hook_uses", id=rid)["uses"]] == [rid]


def test_a_report_that_is_not_one_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    service = _service(tmp_path)
    c = _Client(service, str(tmp_path))
    rid = _consumed(service, c, "vercel", "--prod", use="u-6")
    for bad in ({"outcome": "ran fine"}, {"subject": None}, {"subject": {"kind": "argv"}}):
        answer = c.ask(**{"op": "report", "agent": "claude-code", "outcome": "succeeded",
                          "subject": c.subject("vercel", "--prod"), "session": "s-1",
                          "report": report_key("claude-code", "s-1\0u-6"), **bad})
        assert answer["ok"] is False, (bad, answer)
    assert c.ask(op="report", agent="claude-code", end=True)["ok"] is False  # no session
    long = c.ask(op="report", agent="claude-code", subject=c.subject("x" * 200_000),
                 outcome="succeeded")
    assert long["ok"] is False  # a command longer than the service checks
    assert _events(service, "ran") == [] and _events(service, "no_report") == []
    assert c.ask(op="hook_uses", id=rid)["uses"][0]["status"] == "awaiting report"
    # a report key that is not a digest is not a name in the service's folder
    odd = c.report("vercel", "--prod", use="u-6", report="../../x")
    assert odd["ok"] and odd["id"] is None
    # it closed nothing: as a later report of the same session, it makes the record overdue
    assert c.ask(op="hook_uses", id=rid)["uses"][0]["status"] == "no report"
