"""The audit log: appends, the hash chain, the head, breaks, torn lines, rotation and file safety."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentgate.audit import (
    EVENTS,
    GENESIS,
    AuditLog,
    Line,
    line_hash,
    looks_torn,
    now_iso,
    parse_iso,
    parse_lines,
)
from agentgate.errors import StateError


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


def _fill(log: AuditLog, n: int = 5) -> list[bytes]:
    for i in range(n):
        log.append([{"event": "allowed", "argv": ["echo", str(i)]}])
    return Path(log.path).read_bytes().splitlines()


def _rewrite(log: AuditLog, lines: list[bytes]) -> None:
    Path(log.path).write_bytes(b"".join(x + b"\n" for x in lines))


def _events(log: AuditLog) -> list[dict]:
    return [json.loads(x) for x in Path(log.path).read_bytes().splitlines() if x.startswith(b'{"ts"')
            and x.endswith(b"}")]


def test_append_builds_a_chain(log: AuditLog) -> None:
    lines = _fill(log, 4)
    evs = [json.loads(x) for x in lines]
    assert [e["seq"] for e in evs] == [1, 2, 3, 4]
    assert evs[0]["prev"] == GENESIS
    for prev_raw, ev in zip(lines, evs[1:], strict=False):
        assert ev["prev"] == line_hash(prev_raw)
    assert evs[2]["argv"] == ["echo", "2"]
    assert parse_iso(evs[0]["ts"]) > 0 and evs[0]["ts"].endswith("Z") and "." in evs[0]["ts"]
    assert json.loads(Path(log.head_path).read_bytes()) == {"seq": 4, "sha256": line_hash(lines[-1])}
    assert log.verify().ok and log.verify().lines == 4


def test_batch_append_is_one_write_of_whole_lines(log: AuditLog) -> None:
    log.append([{"event": "a"}, {"event": "b"}, {"event": "c"}])
    assert Path(log.path).read_bytes().endswith(b"\n")
    assert [json.loads(x)["event"] for x in Path(log.path).read_bytes().splitlines()] == ["a", "b", "c"]
    assert log.verify().ok


def test_edited_line_is_detected(log: AuditLog) -> None:
    lines = _fill(log)
    lines[2] = lines[2].replace(b'"echo","2"', b'"echo","X"')
    _rewrite(log, lines)
    res = log.verify()
    assert not res.ok
    assert res.first_bad == f"{log.path}:4"  # the line after the edit no longer chains
    assert "hash chain broken" in (res.problem or "")


def test_deleted_line_is_detected(log: AuditLog) -> None:
    lines = _fill(log)
    del lines[1]
    _rewrite(log, lines)
    res = log.verify()
    assert not res.ok and res.first_bad == f"{log.path}:2"


def test_reordered_lines_are_detected(log: AuditLog) -> None:
    lines = _fill(log)
    lines[1], lines[2] = lines[2], lines[1]
    _rewrite(log, lines)
    res = log.verify()
    assert not res.ok and res.first_bad == f"{log.path}:2"


def test_deleting_the_first_line_is_detected(log: AuditLog) -> None:
    lines = _fill(log)
    _rewrite(log, lines[1:])
    assert log.verify().first_bad == f"{log.path}:1"


# --------------------------------------------------------------------------- the head


def test_cutting_the_tail_is_detected_through_the_head(log: AuditLog) -> None:
    lines = _fill(log)
    _rewrite(log, lines[:3])
    res = log.verify()
    assert not res.ok and res.first_bad == str(log.head_path)
    assert "ends at seq 3 but the head records seq 5" in (res.problem or "")


def test_editing_the_last_line_is_detected_through_the_head(log: AuditLog) -> None:
    lines = _fill(log)
    lines[-1] = lines[-1].replace(b'"echo","4"', b'"echo","X"')
    _rewrite(log, lines)
    res = log.verify()
    assert not res.ok and "the last line was edited" in (res.problem or "")


@pytest.mark.parametrize("damage", ["head deleted", "head garbled", "head wrong type",
                                    "log deleted"])
def test_a_missing_or_garbled_head_or_log_is_detected(damage: str, log: AuditLog) -> None:
    _fill(log, 2)
    if damage == "head deleted":
        Path(log.head_path).unlink()
    elif damage == "head garbled":
        Path(log.head_path).write_bytes(b'{"seq": 2, "sha')
    elif damage == "head wrong type":
        Path(log.head_path).write_text('{"seq": "2", "sha256": "%s"}' % ("0" * 64))
    else:
        Path(log.path).unlink()
    res = log.verify()
    assert not res.ok
    assert res.first_bad == str(log.head_path)
    expected = {"head deleted": "head record is missing", "head garbled": "head record is unreadable",
                "head wrong type": "head record is unreadable",
                "log deleted": "removed from the end"}[damage]
    assert expected in (res.problem or ""), res


def test_verify_cannot_be_walked_without_the_head(log: AuditLog) -> None:
    """The one way to verify: a progress wrapper sees every line, the head is checked anyway."""
    lines = _fill(log)
    _rewrite(log, lines[:3])
    seen: list[Line] = []

    def progress(it: Iterator[Line], total: int) -> Iterator[Line]:
        assert total == Path(log.path).stat().st_size
        for item in it:
            seen.append(item)
            yield item

    res = log.verify(progress)
    assert len(seen) == 3
    assert not res.ok and "head records seq 5" in (res.problem or "")
    with pytest.raises(TypeError):
        log.verify(iter(seen))  # type: ignore[arg-type]  # the old line-iterator call is gone


def test_no_log_and_no_head_is_a_failure_not_an_empty_pass(log: AuditLog) -> None:
    res = log.verify()
    assert not res.ok and res.lines == 0 and res.first_bad is None
    assert f"no audit log at {log.path}" in (res.problem or "")
    assert "AGENTGATE_HOME" in (res.problem or "")
    Path(log.path).write_bytes(b"")
    res = log.verify()
    assert not res.ok and "holds no events" in (res.problem or "")


def test_a_head_that_lags_after_a_crash_is_accepted(log: AuditLog) -> None:
    """A crash between the append and the head write leaves the head one append behind."""
    _fill(log, 3)
    head = Path(log.head_path).read_bytes()
    log.append([{"event": "allowed", "argv": ["a"]}, {"event": "exited", "exit_code": 0}])
    Path(log.head_path).write_bytes(head)
    assert log.verify().ok


def test_the_next_append_retracts_the_claims_of_a_crashed_append(log: AuditLog) -> None:
    """Lines past the head were written by a process that died before its head write, so before
    the ledger rename or the command's start: the next append says they did not take effect."""
    _fill(log, 3)
    head = Path(log.head_path).read_bytes()
    log.append([{"event": "expired", "id": "apr_x"}, {"event": "approved", "id": "apr_y"},
                {"event": "denied", "id": "apr_z"}])
    Path(log.head_path).write_bytes(head)
    log.append([{"event": "approval_pending", "id": "apr_y"}])
    evs = _events(log)
    assert [e["event"] for e in evs[-2:]] == ["retracted", "approval_pending"]
    assert evs[-2]["seqs"] == [4, 5]  # a denial is true as soon as it is written: not retracted
    assert "did not take effect" in evs[-2]["reason"]
    assert log.verify().ok
    log.append([{"event": "allowed"}])
    assert [e["event"] for e in _events(log)].count("retracted") == 1


def test_a_head_far_behind_that_does_not_match_is_a_break(log: AuditLog) -> None:
    _fill(log, 3)
    Path(log.head_path).write_text(json.dumps({"seq": 1, "sha256": "f" * 64}))
    res = log.verify()
    assert not res.ok and "does not match" in (res.problem or "")


@pytest.mark.parametrize("case", ["two appends", "two processes", "genesis head on a cut log",
                                  "fewer lines than the append wrote"])
def test_a_head_lagging_more_than_one_append_is_a_break_never_a_crash(
        case: str, log: AuditLog) -> None:
    """A crash leaves one append's lines after the head: one process, as many lines as its
    first line's `batch`. An older head put back (the replay of a copy) covers more, and the
    next append records the break instead of retracting real events."""
    pid = {"pid": 7}
    for i in range(3):
        log.append([{"event": "allowed", "argv": [str(i)], **pid}])
    old = Path(log.head_path).read_bytes()
    if case == "two appends":
        log.append([{"event": "allowed", "argv": ["a"], **pid}])
        log.append([{"event": "exited", "exit_code": 0, **pid}])  # the same process, twice
    elif case == "two processes":
        log.append([{"event": "allowed", "argv": ["a"], "pid": 7},
                    {"event": "exited", "exit_code": 0, "pid": 8}])
    elif case == "genesis head on a cut log":
        old = json.dumps({"seq": 0, "sha256": GENESIS}).encode()  # needs no hashing to forge
    else:
        log.append([{"event": "allowed", "argv": ["a"], **pid},
                    {"event": "exited", "exit_code": 0, **pid}])
        _rewrite(log, Path(log.path).read_bytes().splitlines()[:-1])  # whole lines, no fragment
    Path(log.head_path).write_bytes(old)
    res = log.verify()
    assert not res.ok and "are not what a crash leaves" in (res.problem or ""), res
    assert res.first_bad == str(log.head_path)
    log.append([{"event": "allowed", "argv": ["next"], **pid}])
    evs = _events(log)
    assert "retracted" not in [e["event"] for e in evs]
    assert evs[-1]["event"] == "audit_break" or evs[-2]["event"] == "audit_break"
    assert not log.verify().ok


def test_what_one_crashed_append_leaves_is_accepted_and_marked_by_its_batch(
        log: AuditLog) -> None:
    """Each append's first line says how many lines it wrote (when more than one); a head
    just before them, also the genesis head of a log that holds just its first append, is
    what a crash leaves."""
    log.append([{"event": "allowed", "pid": 7}, {"event": "exited", "pid": 7},
                {"event": "allowed", "pid": 7}])
    evs = _events(log)
    assert evs[0]["batch"] == 3 and "batch" not in evs[1] and "batch" not in evs[2]
    real = Path(log.head_path).read_bytes()
    Path(log.head_path).write_text(json.dumps({"seq": 0, "sha256": GENESIS}))
    assert log.verify().ok
    Path(log.head_path).write_bytes(real)
    log.append([{"event": "allowed", "pid": 8}])
    assert "batch" not in _events(log)[-1]  # one line: no mark
    head = Path(log.head_path).read_bytes()
    log.append([{"event": "allowed", "pid": 9}, {"event": "exited", "pid": 9}])
    data = Path(log.path).read_bytes()
    Path(log.path).write_bytes(data[:len(data) - len(data.splitlines()[-1]) // 2 - 1])  # torn write
    Path(log.head_path).write_bytes(head)
    res = log.verify()
    assert not res.ok and "incomplete last line" in (res.problem or "") and not res.others
    log.append([{"event": "allowed", "pid": 10}])
    evs = _events(log)
    assert evs[-2]["event"] == "retracted" and evs[-2]["seqs"] == [5]  # the whole line of 5, 6
    assert log.verify().ok


# --------------------------------------------------------------------------- breaks


def _break_lines(log: AuditLog) -> list[dict]:
    return [e for e in _events(log) if e["event"] == "audit_break"]


@pytest.mark.parametrize("damage", ["cut", "edit last", "delete log", "delete head", "garble head"])
def test_damage_is_recorded_by_the_next_append_and_reported_for_ever(damage: str, log: AuditLog) -> None:
    lines = _fill(log, 5)
    if damage == "cut":
        _rewrite(log, lines[:3])
    elif damage == "edit last":
        _rewrite(log, [*lines[:-1], lines[-1].replace(b'"4"', b'"X"')])
    elif damage == "delete log":
        Path(log.path).unlink()
    elif damage == "delete head":
        Path(log.head_path).unlink()
    else:
        Path(log.head_path).write_bytes(b"\x00garbage")
    for i in range(3):  # later appends must not make the head agree again
        log.append([{"event": "allowed", "argv": ["after", str(i)]}])
        res = log.verify()
        assert not res.ok, (damage, i)
        breaks = _break_lines(log)
        assert len(breaks) == 1, "recorded once"
        assert res.first_bad is not None and res.first_bad.startswith(f"{log.path}:")
        assert "found damaged when this line was written" in (res.problem or "")
    brk = breaks[0]
    expected_end = {"cut": 3, "edit last": 5, "delete log": 0, "delete head": 5, "garble head": 5}
    assert brk["log_end"]["seq"] == expected_end[damage]
    if damage in ("delete head", "garble head"):
        assert brk["head"] is None
    else:
        assert brk["head"]["seq"] == 5
    evs = _events(log)
    assert evs[-1]["argv"] == ["after", "2"], "new events are still recorded"
    # the chain continues from the file's real end, so everything after the break verifies
    assert [e["seq"] for e in evs[-4:]] == [expected_end[damage] + k for k in (1, 2, 3, 4)]


def test_a_break_and_a_later_edit_are_both_reported(log: AuditLog) -> None:
    lines = _fill(log, 4)
    _rewrite(log, lines[:2])
    _fill(log, 3)
    lines = Path(log.path).read_bytes().splitlines()
    lines[-2] = lines[-2].replace(b'"echo"', b'"ECHO"')
    _rewrite(log, lines)
    res = log.verify()
    assert not res.ok and "found damaged" in (res.problem or "")
    assert any("hash chain broken" in o for o in res.others), res.others


# --------------------------------------------------------------------------- torn lines


def test_torn_last_line_is_reported_and_not_glued(log: AuditLog) -> None:
    _fill(log, 3)
    with open(log.path, "ab") as f:
        f.write(b'{"ts":"2026-')  # a crash mid-write
    res = log.verify()
    assert not res.ok and res.first_bad == f"{log.path}:4"
    assert "incomplete last line" in (res.problem or "")
    log.append([{"event": "allowed", "argv": ["after"]}])
    raw = Path(log.path).read_bytes().splitlines()
    assert raw[3] == b'{"ts":"2026-'  # the fragment stays on its own line
    after = json.loads(raw[4])
    assert after["argv"] == ["after"] and after["seq"] == 4
    assert after["prev"] == line_hash(raw[2])  # the chain continues from the last whole line
    assert after["torn"] == [line_hash(b'{"ts":"2026-')]
    res = log.verify()
    assert res.ok and res.interrupted == (f"{log.path}:4",)
    assert [e["seq"] for e in log.events()] == [1, 2, 3, 4]


def test_a_crash_while_stepping_over_a_fragment_is_stepped_over_too(log: AuditLog) -> None:
    _fill(log, 2)
    with open(log.path, "ab") as f:
        f.write(b'{"ts":"2026-05-28T20:26:40.000Z","seq":3,"event":"allo')  # first crash
    head = Path(log.head_path).read_bytes()
    log.append([{"event": "allowed", "argv": ["x"]}])
    second = Path(log.path).read_bytes().splitlines()[-1]
    # the second crash, mid-line of the append that steps over the fragment, before its head write
    Path(log.path).write_bytes(Path(log.path).read_bytes()[:-len(second) - 1] + second[:20])
    Path(log.head_path).write_bytes(head)
    log.append([{"event": "allowed", "argv": ["y"]}])
    res = log.verify()
    assert res.ok, res
    assert len(res.interrupted) == 2
    assert [e.get("argv") for e in log.events()][-1] == ["y"]
    # a filtered read that drops the first fragment unparsed still steps over the second
    picked = parse_lines(log.raw_lines(), skip=lambda raw: b"allo" in raw and b'"y"' not in raw)
    assert [ev["argv"] for _, ev in picked] == [["y"]]


@pytest.mark.parametrize("junk", [b"garbage", b"", b'{"ts":"2026-', b"[1, 2]"])
def test_junk_inserted_mid_file_is_never_an_interrupted_write(junk: bytes, log: AuditLog) -> None:
    """Even junk that looks like a torn prefix, where the line after it chains from the line
    before: no append stepped over it (that line has no ``torn`` mark)."""
    lines = _fill(log, 4)
    _rewrite(log, [*lines[:2], junk, *lines[2:]])
    res = log.verify()
    assert not res.ok and res.first_bad == f"{log.path}:3"
    assert "not an interrupted write" in (res.problem or "")
    with pytest.raises(StateError, match=r"audit\.jsonl:3"):
        list(log.events())


def test_junk_with_a_forged_torn_mark_is_still_not_a_torn_write(log: AuditLog) -> None:
    """The fragment must be a prefix of what the writer writes for that seq."""
    _fill(log, 2)
    for frag in (b"garbage", b'{"ts":"2026-05-28T20:26:40.000Z","seq":9,'):
        with open(log.path, "ab") as f:
            f.write(frag)
        log.append([{"event": "allowed"}])
        res = log.verify()
        assert not res.ok and "not the beginning of an audit line" in (res.problem or ""), frag
        lines = Path(log.path).read_bytes().splitlines()
        _rewrite(log, lines[:2])  # restore, head included
        Path(log.head_path).write_text(json.dumps({"seq": 2, "sha256": line_hash(lines[1])}))


def test_a_deliberately_cut_last_line_is_not_an_interrupted_write(log: AuditLog) -> None:
    _fill(log, 4)
    data = Path(log.path).read_bytes()
    Path(log.path).write_bytes(data[:-40])  # the last line cut short, no newline: it looks torn
    res = log.verify()
    assert not res.ok
    assert any("head records seq 4" in o for o in (res.problem or "", *res.others)), res
    log.append([{"event": "allowed", "argv": ["after"]}])
    res = log.verify()  # stepped over like a torn line, but the head said the line was whole
    assert not res.ok and "found damaged" in (res.problem or "")
    assert _break_lines(log)[0]["head"]["seq"] == 4 and _break_lines(log)[0]["log_end"]["seq"] == 3


def test_a_well_formed_line_claiming_a_fragment_that_is_not_there(log: AuditLog) -> None:
    _fill(log, 2)
    log.append([{"event": "allowed"}])
    lines = Path(log.path).read_bytes().splitlines()
    ev = json.loads(lines[-1])
    ev["torn"] = ["0" * 64]
    lines[-1] = json.dumps(ev, separators=(",", ":")).encode()
    _rewrite(log, lines)
    res = log.verify()
    assert not res.ok and res.first_bad == f"{log.path}:3"


def test_looks_torn_accepts_every_prefix_of_a_real_line_and_nothing_else(log: AuditLog) -> None:
    _fill(log, 1)
    log.append([{"event": "approval_requested", "id": "apr_x", "argv": ["deploy", "--prod"]}])
    real = Path(log.path).read_bytes().splitlines()[-1]
    assert all(looks_torn(real[:k], 2) for k in range(1, len(real))), "a crash writes a prefix"
    assert not looks_torn(real, 2), "a whole line is not a fragment"
    assert not looks_torn(real[:40], 3), "a prefix of another seq"
    assert not looks_torn(real[:40].replace(b"2026", b"20x6"), 2)
    assert not looks_torn(b'{"ts":"2026-05-28T20:26:40.000Z","seq":2,"event":"made_up","x', 2)
    assert not looks_torn(b"", 2) and not looks_torn(b"garbage", 2)
    assert {"audit_break", "retracted"} <= EVENTS


# --------------------------------------------------------------------------- failures


def test_a_failed_head_write_cuts_the_line_back(log: AuditLog) -> None:
    """The head is the commit point: when it cannot be written, the lines are removed again."""
    _fill(log, 2)
    before = Path(log.path).read_bytes()
    head = Path(log.head_path).read_bytes()
    Path(log.head_path).unlink()
    Path(log.head_path).mkdir()  # os.replace of the new head onto a directory fails
    with pytest.raises(StateError, match="cannot append to audit log"):
        log.append([{"event": "allowed", "argv": ["x"]}])
    assert Path(log.path).read_bytes() == before
    assert sorted(p.name for p in Path(log.path).parent.iterdir()
                  if p.name.startswith((".", "audit"))) == ["audit.head", "audit.jsonl"]
    Path(log.head_path).rmdir()
    Path(log.head_path).write_bytes(head)
    assert log.verify().ok


def test_unwritable_log_is_a_state_error(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    log = AuditLog(afile / "audit.jsonl")
    with pytest.raises(StateError, match=str(afile)) as exc:
        log.append([{"event": "x"}])
    assert exc.value.exit_code == 78


def test_a_state_dir_that_is_a_file_is_an_error_not_an_empty_log(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    log = AuditLog(afile / "audit.jsonl")
    with pytest.raises(StateError, match="not a directory"):
        log.verify()


# --------------------------------------------------------------------------- files


def test_a_symlink_at_the_log_is_refused_never_appended_through(log: AuditLog, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"precious\n")
    Path(log.path).symlink_to(target)
    with pytest.raises(StateError, match=f"audit log {log.path} is a symbolic link") as exc:
        log.append([{"event": "allowed"}])
    assert exc.value.exit_code == 78
    with pytest.raises(StateError, match="symbolic link"):
        log.verify()
    assert target.read_bytes() == b"precious\n"


def test_a_symlink_at_a_rolled_file_is_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=300)
    for i in range(6):
        log.append([{"event": "allowed", "argv": [str(i)]}])
    rolled = Path(log.rolled_files()[0])
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(rolled.read_bytes())
    rolled.unlink()
    rolled.symlink_to(copy)
    with pytest.raises(StateError, match=f"{rolled} is a symbolic link"):
        log.verify()


def test_a_symlink_at_the_head_is_replaced_not_written_through(log: AuditLog, tmp_path: Path) -> None:
    _fill(log, 2)
    target = tmp_path / "target"
    target.write_bytes(Path(log.head_path).read_bytes())
    Path(log.head_path).unlink()
    Path(log.head_path).symlink_to(target)
    before = target.read_bytes()
    log.append([{"event": "allowed"}])
    assert target.read_bytes() == before
    assert not Path(log.head_path).is_symlink()
    assert _break_lines(log)[0]["problem"].startswith("the head record is unreadable")


def test_files_are_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        log = AuditLog(tmp_path / "state" / "audit.jsonl", max_bytes=300)
        for i in range(6):
            log.append([{"event": "allowed", "argv": [str(i)]}])
    finally:
        os.umask(old)
    files = [Path(log.path), Path(log.head_path), *[Path(p) for p in log.rolled_files()]]
    assert len(files) > 2
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE(Path(log.path).parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in Path(log.path).parent.iterdir() if p.name.startswith(".")) == []


# --------------------------------------------------------------------------- rotation


def test_rotation_keeps_the_chain_across_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=600)
    t = [1_700_000_000.0]

    def clock() -> float:
        t[0] += 1
        return t[0]

    log.clock = clock
    for i in range(30):
        log.append([{"event": "allowed", "argv": ["echo", str(i)]}])
    rolled = [Path(p) for p in log.rolled_files()]
    assert len(rolled) >= 3
    assert all(p.stat().st_size < 600 + 300 for p in rolled)
    res = log.verify()
    assert res.ok and res.lines == 30
    assert [e["seq"] for e in log.events()] == list(range(1, 31))
    # tampering inside a rolled file is still caught
    first = rolled[0].read_bytes().splitlines()
    first[0] = first[0].replace(b'"0"', b'"Z"')
    rolled[0].write_bytes(b"".join(x + b"\n" for x in first))
    assert log.verify().first_bad == f"{rolled[0]}:2"


def test_rolled_files_are_read_in_chain_order_whatever_the_clock_said(tmp_path: Path) -> None:
    """A clock set back (NTP step, a manual fix) at a roll names the newer file before the
    older ones; readers still walk the chain in its order, so an untouched log verifies."""
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=600)
    t = [1_700_000_000.0]
    log.clock = lambda: t[0]
    for i in range(30):
        if i == 12:
            t[0] -= 7200  # two hours back, between rolls
        log.append([{"event": "allowed", "argv": ["echo", str(i)]}])
    rolled = [Path(p) for p in log.rolled_files()]
    assert len(rolled) >= 3 and sorted(p.name for p in rolled) != [p.name for p in rolled]
    res = log.verify()
    assert res.ok and res.lines == 30, res
    assert [e["seq"] for e in log.events()] == list(range(1, 31))
    first = [json.loads(p.read_bytes().split(b"\n", 1)[0])["seq"] for p in rolled]
    assert first == sorted(first)
    log.append([{"event": "allowed", "argv": ["after"]}])  # end() looks back the same way
    assert log.verify().ok and log.verify().lines == 31


def test_a_torn_line_right_after_a_roll_continues_the_chain(tmp_path: Path) -> None:
    """The new file holds only a fragment: the chain continues from the rolled file's end."""
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=400)
    for i in range(3):
        log.append([{"event": "allowed", "argv": [str(i)]}])
    assert Path(log.path).stat().st_size >= 400
    log._roll()
    rolled = Path(log.rolled_files()[-1])
    last = rolled.read_bytes().splitlines()[-1]
    Path(log.path).write_bytes(b'{"ts":"2026-05-28T20:26:40.000Z","seq":4,"ev')
    assert log.end().seq == 3 and log.end().digest == line_hash(last)
    log.append([{"event": "allowed", "argv": ["after"]}])
    evs = list(log.events())
    assert [e["seq"] for e in evs] == [1, 2, 3, 4]
    res = log.verify()
    assert res.ok and res.interrupted == (f"{log.path}:1",)


def test_now_iso_roundtrip() -> None:
    t = 1_764_480_000.123
    assert now_iso(t) == "2025-11-30T05:20:00.123Z"
    assert abs(parse_iso(now_iso(t)) - t) < 0.001
