"""`agentgate watch`: the installed console script in a real terminal (tmux, one private server
per test), driven by keys (send-keys) and read from the screen (capture-pane); the decisions it
makes are checked through `agentgate run`, as the agent would meet them."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AGENTGATE, ag, audit_of, held, marker_lines, runs_until_a_6s_grant_ends

from agentgate.watch import DOWN, ENTER, ESC, UP, Screen, split_keys

TMUX = shutil.which("tmux")


class Term:
    """One tmux server of this test's own, running `agentgate watch` in a 160x50 window."""

    def __init__(self, tmp: Path) -> None:
        assert TMUX, "tmux is needed for the watch tests (apt-get install tmux)"
        self.socket = f"agw-{os.getpid()}-{tmp.name}"
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in os.environ.items()
                       if k.startswith(("AGENTGATE_", "XDG_")) or k in ("HOME", "PATH", "MARKER",
                                                                        "NO_COLOR"))
        cmd = f"env {env} {shlex.quote(str(AGENTGATE))} watch; echo WATCH-EXITED $?; sleep 60"
        self.tmux("new-session", "-d", "-x", "160", "-y", "50", "-s", "w", cmd)

    def tmux(self, *args: str) -> str:
        return subprocess.run([str(TMUX), "-L", self.socket, *args], capture_output=True,
                              text=True, check=True, timeout=10).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "w")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "w", *(["-l"] if literal else []), *keys)

    def wait_for(self, text: str, timeout: float = 10.0) -> float:
        """Seconds until ``text`` is on the screen (fails with the screen after ``timeout``)."""
        start = time.monotonic()
        while True:
            shown = self.screen()
            if text in shown:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{text!r} not on the screen after {timeout}s:\n{shown}")
            time.sleep(0.05)

    def close(self) -> None:
        subprocess.run([str(TMUX), "-L", self.socket, "kill-server"], capture_output=True,
                       check=False, timeout=10)


@pytest.fixture
def term(tmp_path: Path, policy_file: Path, fake_bin: Path, marker: Path,
         in_tmp_cwd: Path) -> Iterator[Term]:
    t = Term(tmp_path)
    try:
        t.wait_for("no pending requests")
        yield t
    finally:
        t.close()


def test_a_held_request_shows_within_a_second(term: Term) -> None:
    rid = held()
    assert term.wait_for(rid) < 1.0
    assert term.wait_for("approval_requested") < 1.0  # the recent decisions, from the audit log
    shown = term.screen()
    assert "deployer --prod" in shown and "Production deploys need a human." in shown


def test_each_request_shows_the_agent_whose_retry_may_use_its_grant(term: Term) -> None:
    """The same command from two agents is two requests, each with its agent: the human sees
    whose retry an approval lets through."""
    for agent in ("claude-code", "codex"):
        r = ag("run", "--agent", agent, "--", "deployer", "--prod")
        assert r.returncode == 75, r.stderr
    term.wait_for("pending (2)")
    term.wait_for("its grant is for this agent's retries only")
    shown = term.screen()
    assert "claude-code" in shown and "codex" in shown, shown


def test_a_decision_made_elsewhere_shows_within_a_second(term: Term) -> None:
    rid = held()
    term.wait_for(rid)
    r = ag("approve", rid, "--yes")
    assert r.returncode == 0, r.stderr
    assert term.wait_for("pending (0)") < 1.0
    assert term.wait_for(f"approved            {rid}") < 1.0


def test_approve_by_keys_lets_exactly_one_retry_run(term: Term, marker: Path) -> None:
    rid = held()
    term.wait_for(rid)
    term.keys("a")
    term.wait_for("o (enter) once")
    term.keys("Enter")
    term.wait_for("Approve deployer --prod to run once? [y/N]")
    term.keys("y")
    term.wait_for(f"approved {rid}")
    assert ag("run", "--", "deployer", "--prod").returncode == 0
    assert marker_lines(marker) == ["--prod"]
    again = ag("run", "--", "deployer", "--prod")
    assert again.returncode == 75, again.stderr  # used up: held again
    assert marker_lines(marker) == ["--prod"]


def test_approving_a_waiting_agent_by_keys_runs_its_command_once(term: Term,
                                                                  marker: Path) -> None:
    assert AGENTGATE
    agent = subprocess.Popen([AGENTGATE, "run", "--wait=60s", "--", "deployer", "--prod"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        term.wait_for("pending (1)")
        assert agent.poll() is None and marker_lines(marker) == []
        term.keys("a")
        term.wait_for("o (enter) once")
        term.keys("o")
        term.wait_for("[y/N]")
        term.keys("y")
        assert agent.wait(15) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert marker_lines(marker) == ["--prod"]


def test_declining_or_escaping_the_confirmation_approves_nothing(term: Term, marker: Path) -> None:
    rid = held()
    term.wait_for(rid)
    term.keys("a")
    term.wait_for("o (enter) once")
    term.keys("o")
    term.wait_for("[y/N]")
    term.keys("n")
    term.wait_for("not approved")
    term.keys("a")
    term.wait_for("o (enter) once")
    term.keys("o")
    term.wait_for("[y/N]")
    term.keys("Escape")
    term.wait_for("cancelled.")
    term.keys("a")
    term.wait_for("o (enter) once")
    term.keys("Escape")  # at the choice of how much: nothing is asked further
    term.wait_for("cancelled.")
    assert ag("run", "--", "deployer", "--prod").returncode == 75
    assert marker_lines(marker) == []


def test_approve_for_n_uses_by_keys_lets_exactly_n_runs(term: Term, marker: Path) -> None:
    rid = held()
    term.wait_for(rid)
    term.keys("a")
    term.wait_for("o (enter) once")
    term.keys("n")
    term.wait_for("Runs (--uses, 1 to 1000): ")
    term.keys("x3y", literal=True)  # only digits are taken
    term.wait_for("Runs (--uses, 1 to 1000): 3_")
    term.keys("Enter")
    term.wait_for("Within (--ttl")
    term.keys("10m", literal=True)
    term.keys("Enter")
    term.wait_for("Approve deployer --prod to run 3 times within 10m? [y/N]")
    assert marker_lines(marker) == []
    term.keys("y")
    term.wait_for(f"approved {rid}: the same command may now run 3 times, within 10m")
    for _ in range(3):
        assert ag("run", "--", "deployer", "--prod").returncode == 0
    assert marker_lines(marker) == ["--prod"] * 3
    again = ag("run", "--", "deployer", "--prod")
    assert again.returncode == 75, again.stderr  # the three are used: held again
    assert marker_lines(marker) == ["--prod"] * 3
    [ev] = audit_of(rid, "approved")  # audited as `approve --uses 3 --ttl 10m` is
    assert ev["uses"] == 3 and ev["standing"] is True and ev["ttl"] == 600
    assert len(audit_of(rid, "grant_consumed")) == 3


def test_approve_for_a_duration_by_keys_lets_runs_through_until_it_ends(
        term: Term, marker: Path) -> None:
    rid = held()
    term.wait_for(rid)
    term.keys("a")
    term.wait_for("o (enter) once")
    term.keys("f")
    term.wait_for("For how long (--for")
    term.keys("6s", literal=True)
    term.keys("Enter")
    term.wait_for("Approve deployer --prod to run any number of times for 6s? [y/N]")
    term.keys("y")
    term.wait_for(f"approved {rid}: the same command may now run any number of times")
    runs_until_a_6s_grant_ends(rid, time.monotonic(), marker)


@pytest.mark.parametrize(("keys", "message"), [
    (["n", "0", "Enter", "Enter"], "--uses takes 1 to 1000, not 0"),
    (["n", "1001", "Enter", "Enter"], "--uses takes 1 to 1000, not 1001"),
    (["n", "Enter"], "--uses takes 1 to 1000: type a number"),
    (["n", "2", "Enter", "soon", "Enter"], "--ttl: bad duration 'soon'"),
    (["f", "3x", "Enter"], "--for: bad duration '3x'"),
    (["f", "400d", "Enter"], "--for: duration '400d' is longer than a year"),
    (["f", "Enter"], "--for takes a duration"),
])
def test_a_grant_out_of_bounds_is_refused_with_the_clis_message(
        term: Term, marker: Path, keys: list[str], message: str) -> None:
    rid = held()
    term.wait_for(rid)
    term.keys("a")
    term.wait_for("o (enter) once")
    for k in keys:
        term.keys(k, literal=k != "Enter")
    term.wait_for(message)
    assert "[y/N]" not in term.screen()  # refused before anything is confirmed
    assert ag("run", "--", "deployer", "--prod").returncode == 75
    assert marker_lines(marker) == []
    assert audit_of(rid, "approved") == []


def test_deny_with_a_reason_reaches_the_agent(term: Term, marker: Path) -> None:
    rid = held()
    term.wait_for(rid)
    term.keys("d")
    term.wait_for("reason for the agent")
    term.keys("not on a friday", literal=True)
    term.keys("Enter")
    term.wait_for(f"denied {rid}")
    r = ag("run", "--", "deployer", "--prod")
    assert r.returncode == 77
    assert "not on a friday" in r.stderr
    assert marker_lines(marker) == []


def test_revoke_lifts_a_denial(term: Term) -> None:
    rid = held()
    term.wait_for(rid)
    term.keys("d")
    term.wait_for("reason for the agent")
    term.keys("Enter")
    term.wait_for(f"denied {rid}")
    assert ag("run", "--", "deployer", "--prod").returncode == 77
    term.keys("r")
    term.wait_for(f"(enter: this id, esc: cancel): {rid}")  # the newest decision is offered
    term.keys("Enter")
    term.wait_for("Revoke the decision on deployer --prod? [y/N]")
    term.keys("y")
    term.wait_for(f"revoked {rid}")
    assert ag("run", "--", "deployer", "--prod").returncode == 75  # a human is asked again


def test_details_and_selection(term: Term) -> None:
    first = held(("deployer", "--prod"))
    term.wait_for(f">  {first}")
    second = held(("deployer", "site", "--prod"))
    term.wait_for(second)
    assert f">  {first}" in term.screen()  # the selection stays on its request
    term.keys("Up")  # newest first: the new one is above
    term.wait_for(f">  {second}")
    term.keys("j")
    term.wait_for(f">  {first}")
    term.keys("Enter")
    term.wait_for(f"request {first}")
    term.wait_for("history")
    term.wait_for("esc, enter or q: back")
    term.keys("q")  # leaves the details, not the view
    term.wait_for("recent decisions")
    term.keys("q")
    term.wait_for("WATCH-EXITED 0")


def test_a_corrupt_ledger_is_shown_and_nothing_is_decided(term: Term, state_dir: Path) -> None:
    rid = held()
    term.wait_for(rid)
    (state_dir / "ledger.json").write_text("{not json")
    term.wait_for("pending (?)")
    shown = term.screen()
    assert "cannot read the gate: ledger" in shown and "is corrupt" in shown
    assert f">  {rid}" not in shown  # nothing stale is left to act on (the log still tells)
    term.keys("a")
    time.sleep(1)
    assert "[y/N]" not in term.screen()
    assert (state_dir / "ledger.json").read_text() == "{not json"


def test_watch_refuses_without_a_terminal() -> None:
    r = ag("watch")
    assert r.returncode != 0
    assert "needs a terminal" in r.stderr


def test_split_keys_reads_arrows_and_lone_escape() -> None:
    assert split_keys("\x1b[Aj\x1b[Bk\r\x1b") == [UP, "j", DOWN, "k", ENTER, ESC]
    assert split_keys("\x1bOA\n\x7f") == [UP, ENTER, "\x7f"]


def test_selection_follows_the_request_when_the_list_changes() -> None:
    from agentgate.ledger import Request, make_request

    def req(n: int) -> Request:
        return make_request(fp=f"fp{n}", kind="argv", argv=["x", str(n)], cwd="/", rule=None,
                            reason="", agent="a", now=float(n), request_ttl=60)

    s = Screen()
    a, b, c = req(1), req(2), req(3)
    s.set_pending([b, a], 0.0)
    s.move(1)
    assert s.current() is a
    s.set_pending([c, b, a], 0.0)
    assert s.current() is a  # a new request above does not move the selection off it
    s.set_pending([c], 0.0)
    assert s.current() is c
