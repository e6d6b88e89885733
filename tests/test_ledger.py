"""The ledger's state machine with an injectable clock, and its on-disk behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgate import ledger as L
from agentgate.errors import Conflict, NotFound, StateError
from agentgate.paths import StatePaths


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> L.Ledger:
    return L.Ledger(StatePaths(tmp_path / "state"), clock=clock, lock_timeout=2)


def _new(state: L.LedgerState, fp: str = "fp1", ttl: float = 3600) -> L.Request:
    req = L.make_request(fp=fp, kind="argv", argv=["vercel", "--prod"], cwd="/w", rule="r",
                         reason="why", agent="tester", now=state.now, request_ttl=ttl)
    state.add(req)
    return req


def test_id_format() -> None:
    ids = {L.new_id() for _ in range(200)}
    assert len(ids) == 200
    for i in ids:
        assert i.startswith("apr_") and len(i) == 14
        assert not set(i[4:]) & set("01lo")


def test_fingerprint_is_canonical() -> None:
    a = L.fingerprint({"argv": ["a", "b"], "cwd": "/x"})
    assert a == L.fingerprint({"cwd": "/x", "argv": ["a", "b"]})
    assert a != L.fingerprint({"argv": ["a", "b"], "cwd": "/y"})
    assert a != L.fingerprint({"argv": ["a b"], "cwd": "/x"})


def test_pending_approve_consume(ledger: L.Ledger, clock: Clock) -> None:
    with ledger.locked() as st:
        rid = _new(st).id
    with ledger.locked() as st:
        assert st.open_for("fp1", "tester").id == rid
        st.approve(rid, 1800, "alice")
    with ledger.locked() as st:
        req = st.open_for("fp1", "tester")
        assert req.status == L.APPROVED and req.decided_by == "alice"
        st.consume(req)
    with ledger.locked() as st:
        assert st.open_for("fp1", "tester") is None
        assert st.get(rid).status == L.CONSUMED
        assert [h["event"] for h in st.get(rid).history] == ["approval_requested", "approved", "grant_consumed"]
        with pytest.raises(Conflict):
            st.consume(st.get(rid))


def test_a_request_and_its_grant_belong_to_the_agent_that_asked(ledger: L.Ledger) -> None:
    with ledger.locked() as st:
        rid = _new(st).id
        assert st.open_for("fp1", "tester").id == rid
        assert st.open_for("fp1", "someone-else") is None  # their own request, when they ask
        st.approve(rid, 1800, "alice")
        assert st.open_for("fp1", "someone-else") is None
        assert st.open_for("fp1", "tester").status == L.APPROVED


def test_a_denial_holds_the_command_for_every_agent(ledger: L.Ledger) -> None:
    with ledger.locked() as st:
        rid = _new(st).id
        st.deny(rid, "no", "alice", 600)
        assert st.denied_for("fp1").id == rid  # whoever asks next


def test_a_ledger_of_the_previous_format_binds_its_grants_to_their_agent(
        ledger: L.Ledger, clock: Clock) -> None:
    """A ledger written before grants were bound (the same format: every request already
    recorded its agent) keeps its approved grant, for the agent recorded on the request only."""
    req = {"id": "apr_oldgrant22", "fingerprint": "fp1", "kind": "argv",
           "argv": ["vercel", "--prod"], "cwd": "/w", "rule": "r", "reason": "why",
           "agent": "claude-code", "pid": 1, "user": "u", "host": "h", "status": "approved",
           "created_at": clock.t - 10, "expires_at": clock.t + 1800, "decided_at": clock.t - 5,
           "decided_by": "alice", "history": [], "uses": 1, "used": 0}
    req["approved_boot"], req["approved_mono"] = L.boot_clock()
    with ledger.locked():  # the state directory, with its modes
        pass
    Path(ledger.paths.ledger).write_text(json.dumps({"version": L.LEDGER_VERSION,
                                                     "requests": {req["id"]: req}}))
    with ledger.locked() as st:
        assert st.open_for("fp1", "codex") is None
        grant = st.open_for("fp1", "claude-code")
        assert grant is not None and grant.id == "apr_oldgrant22" and not st.grant_overdue(grant)
        st.consume(grant)
    assert ledger.read_only().get("apr_oldgrant22").status == L.CONSUMED


def test_pending_request_expires(ledger: L.Ledger, clock: Clock) -> None:
    with ledger.locked() as st:
        rid = _new(st, ttl=60).id
    clock.t += 61
    with ledger.locked() as st:
        expired = st.expire()
        assert [r.id for r in expired] == [rid]
        assert st.get(rid).status == L.EXPIRED
        with pytest.raises(Conflict, match="expired"):
            st.approve(rid, 60, "bob")


def test_unused_grant_expires(ledger: L.Ledger, clock: Clock) -> None:
    with ledger.locked() as st:
        rid = _new(st).id
        st.approve(rid, 120, "alice")
    clock.t += 119
    with ledger.locked() as st:
        assert st.expire() == []
    clock.t += 2
    with ledger.locked() as st:
        assert [r.id for r in st.expire()] == [rid]
        assert st.open_for("fp1", "tester") is None


def test_clock_going_backwards_never_extends_a_grant(ledger: L.Ledger, clock: Clock) -> None:
    with ledger.locked() as st:
        rid = _new(st).id
        st.approve(rid, 100, "alice")
    clock.t += 101          # the grant is now overdue ...
    with ledger.locked() as st:
        pass                # ... and the ledger has seen that time (it writes only when dirty)
    with ledger.locked() as st:
        st.dirty = True     # force a write so the high-water mark is stored
    clock.t -= 3600         # the wall clock jumps back an hour
    with ledger.locked() as st:
        assert st.now >= clock.t + 3600
        assert [r.id for r in st.expire()] == [rid]


def test_approve_deny_errors(ledger: L.Ledger) -> None:
    with ledger.locked() as st:
        rid = _new(st).id
        with pytest.raises(NotFound):
            st.approve("apr_nope", 60, "x")
        st.deny(rid, "not today", "alice", 3600)
        with pytest.raises(Conflict, match="already denied"):
            st.approve(rid, 60, "x")
        with pytest.raises(Conflict, match="already denied"):
            st.deny(rid, None, "x", 60)
        assert st.denied_for("fp1").human_reason == "not today"
        rid2 = _new(st, fp="fp2").id
        st.approve(rid2, 60, "x")
        with pytest.raises(Conflict, match="already approved"):
            st.approve(rid2, 60, "x")


def test_denial_holds_until_it_expires(ledger: L.Ledger, clock: Clock) -> None:
    with ledger.locked() as st:
        rid = _new(st).id
        st.deny(rid, "no", "alice", 100)
    clock.t += 99
    with ledger.locked() as st:
        assert st.denied_for("fp1") is not None
    clock.t += 2
    with ledger.locked() as st:
        assert st.denied_for("fp1") is None


def test_prune_drops_only_old_finished_requests(ledger: L.Ledger, clock: Clock) -> None:
    with ledger.locked() as st:
        old = _new(st, fp="a").id
        st.approve(old, 60, "x")
        st.consume(st.get(old))
        pend = _new(st, fp="b", ttl=10**9).id
    clock.t += 8 * 86400
    with ledger.locked() as st:
        assert st.prune(7 * 86400) == 1
        assert old not in st.requests and pend in st.requests


def test_writes_are_atomic_files_with_private_mode(ledger: L.Ledger) -> None:
    with ledger.locked() as st:
        _new(st)
    path = Path(ledger.paths.ledger)
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and len(doc["requests"]) == 1
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not list(path.parent.glob(".ledger-*.tmp"))


def test_no_write_when_nothing_changed(ledger: L.Ledger) -> None:
    with ledger.locked():
        pass
    assert not Path(ledger.paths.ledger).exists()


@pytest.mark.parametrize("content", [b"{not json", b"", b"[]", b'{"version": 1}',
                                     b'{"version": 1, "requests": {"x": {"id": 1}}}'])
def test_corrupt_ledger_is_an_error_and_is_left_untouched(ledger: L.Ledger, content: bytes) -> None:
    Path(ledger.paths.root).mkdir(parents=True)
    Path(ledger.paths.ledger).write_bytes(content)
    with pytest.raises(StateError, match="corrupt") as exc, ledger.locked():
        pass
    assert str(ledger.paths.ledger) in exc.value.message
    assert exc.value.exit_code == 78
    assert Path(ledger.paths.ledger).read_bytes() == content


def test_future_version_is_refused(ledger: L.Ledger) -> None:
    Path(ledger.paths.root).mkdir(parents=True)
    Path(ledger.paths.ledger).write_text('{"version": 9, "requests": {}}')
    with pytest.raises(StateError, match="newer agentgate"), ledger.locked():
        pass


def test_stale_temp_files_are_cleaned_under_the_lock(ledger: L.Ledger) -> None:
    Path(ledger.paths.root).mkdir(parents=True)
    stale = Path(ledger.paths.root) / ".ledger-crash.tmp"
    stale.write_text("partial")
    with ledger.locked() as st:
        _new(st)
    assert not stale.exists()


def test_failed_write_keeps_the_previous_ledger(ledger: L.Ledger) -> None:
    """A write that fails half-way (file size limit, like a full disk) leaves the old ledger."""
    import resource
    import signal

    with ledger.locked() as st:
        _new(st)
    before = Path(ledger.paths.ledger).read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 100, hard))
    try:
        with pytest.raises(StateError, match="cannot write ledger"), ledger.locked() as st:
            for i in range(20):
                _new(st, fp=f"other{i}")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert Path(ledger.paths.ledger).read_bytes() == before
    assert not list(Path(ledger.paths.root).glob(".ledger-*.tmp"))


def test_unusable_state_dir(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    led = L.Ledger(StatePaths(afile / "state"))
    with pytest.raises(StateError, match="cannot create state directory"), led.locked():
        pass


@pytest.mark.parametrize("mutate", [
    lambda r: r.update(expires_at="tomorrow"),
    lambda r: r.update(status="approved-ish"),
    lambda r: r.update(argv="vercel --prod"),
    lambda r: r.update(created_at=True),
    lambda r: r.update(id="apr_other"),
])
def test_a_record_with_wrong_types_is_corruption(ledger: L.Ledger, mutate: object) -> None:
    with ledger.locked() as st:
        _new(st)
    doc = json.loads(Path(ledger.paths.ledger).read_text())
    rec = next(iter(doc["requests"].values()))
    mutate(rec)  # type: ignore[operator]
    bad = json.dumps(doc).encode()
    Path(ledger.paths.ledger).write_bytes(bad)
    with pytest.raises(StateError, match="corrupt"), ledger.locked():
        pass
    assert Path(ledger.paths.ledger).read_bytes() == bad
