"""The audit log: appends, the hash chain, tampering, torn lines and rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgate.audit import GENESIS, AuditLog, line_hash, now_iso, parse_iso
from agentgate.errors import StateError


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


def _fill(log: AuditLog, n: int = 5) -> list[bytes]:
    for i in range(n):
        log.append([{"event": "allowed", "argv": ["echo", str(i)]}])
    return log.path.read_bytes().splitlines()


def test_append_builds_a_chain(log: AuditLog) -> None:
    lines = _fill(log, 4)
    evs = [json.loads(x) for x in lines]
    assert [e["seq"] for e in evs] == [1, 2, 3, 4]
    assert evs[0]["prev"] == GENESIS
    for prev_raw, ev in zip(lines, evs[1:], strict=False):
        assert ev["prev"] == line_hash(prev_raw)
    assert evs[2]["argv"] == ["echo", "2"]
    assert parse_iso(evs[0]["ts"]) > 0 and evs[0]["ts"].endswith("Z") and "." in evs[0]["ts"]
    assert log.verify().ok and log.verify().lines == 4


def test_batch_append_is_one_write_of_whole_lines(log: AuditLog) -> None:
    log.append([{"event": "a"}, {"event": "b"}, {"event": "c"}])
    assert log.path.read_bytes().endswith(b"\n")
    assert [json.loads(x)["event"] for x in log.path.read_bytes().splitlines()] == ["a", "b", "c"]
    assert log.verify().ok


def _rewrite(log: AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(x + b"\n" for x in lines))


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


def test_deleting_the_whole_log_or_the_head_is_detected(log: AuditLog) -> None:
    _fill(log, 2)
    log.head_path.unlink()
    assert "head record is missing" in (log.verify().problem or "")
    _fill(log, 1)  # the next append writes a head again
    assert log.verify().ok
    log.path.unlink()
    assert "removed from the end" in (log.verify().problem or "")


def test_a_head_that_lags_after_a_crash_is_accepted(log: AuditLog) -> None:
    """A crash between the append and the head write leaves the head one line behind."""
    _fill(log, 3)
    head = log.head_path.read_bytes()
    _fill(log, 1)
    log.head_path.write_bytes(head)
    assert log.verify().ok


def test_torn_last_line_is_reported_and_not_glued(log: AuditLog) -> None:
    _fill(log, 3)
    with open(log.path, "ab") as f:
        f.write(b'{"ts":"2026-')  # a crash mid-write
    res = log.verify()
    assert not res.ok and res.first_bad == f"{log.path}:4"
    assert "incomplete last line" in (res.problem or "")
    log.append([{"event": "after"}])
    raw = log.path.read_bytes().splitlines()
    assert raw[3] == b'{"ts":"2026-'  # the fragment stays on its own line
    after = json.loads(raw[4])
    assert after["event"] == "after" and after["seq"] == 4
    assert after["prev"] == line_hash(raw[2])  # the chain continues from the last whole line


def test_events_reader_names_a_bad_line(log: AuditLog) -> None:
    _fill(log, 2)
    with open(log.path, "ab") as f:
        f.write(b"garbage\n")
    with pytest.raises(StateError, match=r"audit\.jsonl:3"):
        list(log.events())


def test_rotation_keeps_the_chain_across_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=600)
    t = [1_700_000_000.0]

    def clock() -> float:
        t[0] += 1
        return t[0]

    log.clock = clock
    for i in range(30):
        log.append([{"event": "allowed", "argv": ["echo", str(i)]}])
    rolled = log.rolled_files()
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


def test_unwritable_log_is_a_state_error(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    log = AuditLog(afile / "audit.jsonl")
    with pytest.raises(StateError, match="cannot append to audit log") as exc:
        log.append([{"event": "x"}])
    assert exc.value.exit_code == 78


def test_now_iso_roundtrip() -> None:
    t = 1_764_480_000.123
    assert now_iso(t) == "2025-11-30T05:20:00.123Z"
    assert abs(parse_iso(now_iso(t)) - t) < 0.001


def test_a_state_dir_that_is_a_file_is_an_error_not_an_empty_log(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    log = AuditLog(afile / "audit.jsonl")
    with pytest.raises(StateError, match="not a directory"):
        log.verify()
