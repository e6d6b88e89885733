"""Time: a grant is never usable past its TTL by any clock the gate can read.

The ledger's clocks are injectable: a wall clock and a boot clock (boot id, seconds since boot)
that these tests move by hand to simulate clocks set back, clocks that once jumped years ahead,
and reboots (another boot id, a monotonic clock that restarts near zero). The end-to-end tests
fake the same through the test-only hooks (agentgate/faults.py) of the real console script.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import ag
from hypothesis import given, settings
from hypothesis import strategies as st

from agentgate import ledger as L
from agentgate.paths import StatePaths

FP = "f" * 64
TEN_YEARS = 10 * 365 * 86400.0


class Machine:
    """Real time, and the clocks the gate can read: a wall clock that can be off by any amount
    and a boot clock that restarts, with a new boot id, at every reboot."""

    def __init__(self, real: float = 1_000_000.0, uptime: float = 500.0):
        self.real = real
        self.wall_offset = 0.0
        self.boot_no = 1
        self.booted_at = real - uptime

    def wait(self, seconds: float) -> None:
        self.real += seconds

    def set_wall(self, offset: float) -> None:
        self.wall_offset = offset

    def reboot(self, downtime: float = 5.0) -> None:
        self.real += downtime
        self.boot_no += 1
        self.booted_at = self.real

    def wall(self) -> float:
        return self.real + self.wall_offset

    def boot_clock(self) -> tuple[str | None, float]:
        return f"boot-{self.boot_no}", self.real - self.booted_at

    def ledger(self, state: Path) -> L.Ledger:
        return L.Ledger(StatePaths(state), clock=self.wall, boot_clock=self.boot_clock)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def request(ledger: L.Ledger, ttl: float = 3600) -> str:
    with ledger.locked() as s:
        req = L.make_request(fp=FP, kind="argv", argv=["deployer", "--prod"], cwd="/",
                             rule="deploy-prod", reason="x", agent="a", now=s.now,
                             request_ttl=ttl)
        s.add(req)
    return req.id


def approve(ledger: L.Ledger, ttl: float) -> str:
    rid = request(ledger)
    with ledger.locked() as s:
        s.approve(rid, ttl, "human")
    return rid


def deny(ledger: L.Ledger, hold: float) -> str:
    rid = request(ledger)
    with ledger.locked() as s:
        s.deny(rid, "no", "human", hold)
    return rid


def usable(ledger: L.Ledger) -> bool:
    with ledger.locked() as s:
        s.expire()
        req = s.open_for(FP, "a")
        return req is not None and req.status == L.APPROVED


def pending(ledger: L.Ledger) -> bool:
    with ledger.locked() as s:
        s.expire()
        req = s.open_for(FP, "a")
        return req is not None and req.status == L.PENDING


def denied(ledger: L.Ledger) -> bool:
    with ledger.locked() as s:
        return s.denied_for(FP) is not None


def touch(ledger: L.Ledger) -> None:
    """A process that writes the ledger now (so the high-water mark is this moment)."""
    with ledger.locked() as s:
        s.dirty = True


# --------------------------------------------------------------------------- the reported cases


@pytest.mark.parametrize("wall_offset", [-3600.0, -TEN_YEARS, 0.0, 30.0])
def test_a_grant_from_before_a_reboot_is_expired(wall_offset: float, state: Path) -> None:
    """A 15 s grant ran after about 20 s across a reboot with the wall clock behind the mark.
    After a reboot nothing can prove how long the machine was down: the grant is expired,
    whatever the wall clock says (even when it looks well within the TTL)."""
    m = Machine()
    led = m.ledger(state)
    rid = approve(led, ttl=15)
    m.reboot(downtime=1)
    m.set_wall(wall_offset)
    assert not usable(led)
    assert led.read_only().get(rid).status == L.EXPIRED


def test_a_clock_that_once_jumped_ten_years_ahead_does_not_stall_time(state: Path) -> None:
    m = Machine()
    led = m.ledger(state)
    m.set_wall(TEN_YEARS)
    touch(led)                 # the ledger saw a time ten years ahead (its mark)
    m.set_wall(0.0)            # NTP fixes the clock
    m.wait(1)
    approve(led, ttl=15)       # approved while the wall clock is far behind the mark
    m.wait(14)
    assert usable(led)
    m.wait(1)
    assert not usable(led)


def test_a_human_denial_ends_on_time_with_the_clock_behind(state: Path) -> None:
    """A 20 s denial still held after 22 s: ledger time stalled at its mark."""
    m = Machine()
    led = m.ledger(state)
    deny(led, hold=20)
    m.set_wall(-3600)
    m.wait(19.9)
    assert denied(led)
    m.wait(0.2)
    assert not denied(led)


def test_a_human_denial_across_a_reboot_counts_the_new_boots_uptime(state: Path) -> None:
    """After a reboot with the clock behind, the time of this boot is known to have passed since
    the mark (it came after it); the downtime cannot be known, so a denial may hold that much
    longer (the strict side), never less."""
    m = Machine()
    led = m.ledger(state)
    deny(led, hold=20)
    m.reboot(downtime=3)
    m.set_wall(-3600)
    m.wait(19.9)
    assert denied(led)
    m.wait(0.2)
    assert not denied(led)


@pytest.mark.parametrize("wall_offset", [-3600.0, -TEN_YEARS])
def test_a_pending_request_expires_on_time_with_the_clock_behind(wall_offset: float,
                                                                state: Path) -> None:
    m = Machine()
    led = m.ledger(state)
    request(led, ttl=60)
    m.set_wall(wall_offset)
    m.wait(59)
    assert pending(led)
    m.wait(1)
    assert not pending(led)


def test_reading_without_writing_does_not_stretch_time(state: Path) -> None:
    """Ledger time advances from the stored mark however many read-only looks there are."""
    m = Machine()
    led = m.ledger(state)
    rid = request(led, ttl=10)
    m.set_wall(-3600)
    for _ in range(9):
        m.wait(1)
        view = led.read_only()
        assert view.get(rid).expires_at > view.now
    m.wait(1)
    view = led.read_only()
    assert view.get(rid).expires_at <= view.now


def test_the_mark_records_the_boot_clock(state: Path) -> None:
    m = Machine()
    led = m.ledger(state)
    touch(led)
    doc = json.loads((state / "ledger.json").read_text())
    boot, mono = m.boot_clock()
    assert (doc["clock"], doc["clock_boot"], doc["clock_mono"]) == (m.wall(), boot, mono)
    assert doc["clock_host"] == L.hostname()


def test_ledger_time_rules() -> None:
    mark = L.Mark(1000.0, "b1", 50.0, "h")
    assert L.ledger_time(2000.0, mark, "b1", 60.0, "h") == 2000.0          # the wall clock, when ahead
    assert L.ledger_time(10.0, mark, "b1", 60.0, "h") == 1010.0            # mark + elapsed, same boot
    assert L.ledger_time(10.0, mark, "b2", 7.0, "h") == 1007.0             # mark + new boot's uptime
    assert L.ledger_time(10.0, mark, "b1", 40.0, "h") == 1000.0            # a clock that ran back: 0
    assert L.ledger_time(10.0, mark, "b2", 7.0, "other") == 1000.0         # another machine's mark
    assert L.ledger_time(10.0, L.Mark(1000.0), "b1", 60.0, "h") == 1000.0  # an old ledger: no boot


def test_without_any_boot_clock_ledger_time_decides_alone(state: Path) -> None:
    """Where there is no boot id at all (not Linux), a grant lives by ledger time."""
    wall = [1_000_000.0]
    led = L.Ledger(StatePaths(state), clock=lambda: wall[0], boot_clock=lambda: (None, 0.0))
    approve(led, ttl=60)
    wall[0] += 59
    assert usable(led)
    wall[0] += 1
    assert not usable(led)


def test_a_grant_with_a_boot_clock_at_one_end_only_is_expired(state: Path) -> None:
    m = Machine()
    approve(L.Ledger(StatePaths(state), clock=m.wall, boot_clock=lambda: (None, 0.0)), ttl=600)
    assert not usable(m.ledger(state))


# --------------------------------------------------------------------------- any sequence of clocks


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, float]]:
    quarters = st.integers(0, 160).map(lambda n: n / 4)  # exact in binary: no rounding noise
    steps = st.one_of(
        st.tuples(st.just("wait"), quarters),
        st.tuples(st.just("wall"), st.sampled_from([-TEN_YEARS, -86400, -3600, -20, 0, 5, 3600,
                                                    TEN_YEARS])),
        st.tuples(st.just("reboot"), quarters),
        st.tuples(st.just("touch"), st.just(0.0)),
    )
    return draw(st.lists(steps, max_size=12))


@settings(max_examples=150, deadline=None)
@given(before=histories(), after=histories(), ttl=st.integers(4, 240).map(lambda n: n / 4))
def test_no_history_of_clocks_makes_a_grant_outlive_its_ttl(
        before: list[tuple[str, float]], after: list[tuple[str, float]], ttl: float,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Whatever the clocks did before and after the approval, the grant is usable only on the
    boot it was approved on and only while less real time than its TTL has passed."""
    m = Machine()
    led = m.ledger(tmp_path_factory.mktemp("state"))

    def play(steps: list[tuple[str, float]]) -> None:
        for what, x in steps:
            if what == "wait":
                m.wait(x)
            elif what == "wall":
                m.set_wall(x)
            elif what == "reboot":
                m.reboot(x)
            else:
                touch(led)

    play(before)
    approve(led, ttl)
    approved_real, approved_boot = m.real, m.boot_no
    for step in after:
        play([step])
        if usable(led):
            assert m.boot_no == approved_boot
            assert m.real - approved_real < ttl


# --------------------------------------------------------------------------- end to end


DEPLOY = ("deployer", "--prod")


def hooked(*spec: str) -> dict[str, str | None]:
    return {"AGENTGATE_TEST_HOOKS": "1", "AGENTGATE_TEST_FAULT": ",".join(spec)}


def block(*argv: str, env: dict[str, str | None] | None = None) -> str:
    r = ag("run", "--json", "--", *argv, env=env)
    assert r.returncode == 75, (r.returncode, r.stderr)
    return str(json.loads(r.stdout)["approvalId"])


def status(state: Path, rid: str) -> str:
    return L.Ledger(StatePaths(state)).read_only().get(rid).status


def runs(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def uptime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


@pytest.fixture
def short_ttls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from conftest import write_policy

    path = write_policy(tmp_path / "short.toml", request_ttl="3s")
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    return path


pytestmark_linux = pytest.mark.skipif(not Path("/proc/sys/kernel/random/boot_id").exists(),
                                      reason="needs a boot id")


@pytestmark_linux
def test_cli_a_grant_does_not_survive_a_reboot_with_the_clock_behind(
        state_dir: Path, policy_file: Path, fake_bin: Path, marker: Path) -> None:
    rid = block(*DEPLOY)
    assert ag("approve", rid, "--yes", "--ttl", "1h").returncode == 0
    # the machine reboots a second later; its wall clock comes up an hour behind the ledger
    rebooted = hooked("clock:offset=-3600", "boot:id=another-boot", f"boot:offset={-uptime() + 1}")
    r = ag("run", "--json", "--", *DEPLOY, env=rebooted)
    assert r.returncode == 75, r.stderr
    assert json.loads(r.stdout)["approvalId"] != rid
    assert runs(marker) == 0
    assert status(state_dir, rid) == L.EXPIRED


@pytestmark_linux
def test_cli_a_denial_and_a_request_end_on_time_with_the_clock_set_back(
        state_dir: Path, short_ttls: Path, fake_bin: Path, marker: Path) -> None:
    back = hooked("clock:offset=-3600")
    rid = block(*DEPLOY)
    assert ag("deny", "--yes", rid, "--reason", "not now").returncode == 0
    denied_at = time.monotonic()
    assert ag("run", "--", *DEPLOY, env=back).returncode == 77  # the denial holds (3 s) ...
    time.sleep(max(0.0, denied_at + 3.3 - time.monotonic()))
    r = ag("run", "--json", "--", *DEPLOY, env=back)
    assert r.returncode == 75, r.stderr  # ... and then ends: a new request, not "denied"
    new = json.loads(r.stdout)["approvalId"]
    created = time.monotonic()
    time.sleep(max(0.0, created + 3.3 - time.monotonic()))
    r = ag("run", "--json", "--", *DEPLOY, env=back)
    assert r.returncode == 75 and json.loads(r.stdout)["approvalId"] != new  # expired: a new one
    assert runs(marker) == 0


@pytestmark_linux
def test_cli_a_request_opened_ten_years_ahead_expires_after_its_ttl(
        state_dir: Path, short_ttls: Path, fake_bin: Path) -> None:
    rid = block(*DEPLOY, env=hooked(f"clock:offset={TEN_YEARS}"))
    opened = time.monotonic()
    time.sleep(max(0.0, opened + 3.3 - time.monotonic()))
    r = ag("run", "--json", "--", *DEPLOY)  # the clock is right again, ten years behind the mark
    assert r.returncode == 75 and json.loads(r.stdout)["approvalId"] != rid, r.stderr
    assert status(state_dir, rid) == L.EXPIRED
