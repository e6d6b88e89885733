"""Hostile local state: a state directory others can change, symlinks, the umask, permissions.

Whoever can write the state directory can plant an approved grant, so agentgate refuses one that
another user could change (like ssh's StrictModes), opens state files without following links,
creates every file 0600 and every directory 0700 whatever the umask, and turns every OSError on
state into exit 78 naming the path. These tests use the installed console script; where a second
OS user is needed (root only) it is ``nobody``, or a user this session creates.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from conftest import AGENTGATE

import agentgate
from agentgate import ledger as L
from agentgate.errors import StateError
from agentgate.fileio import check_state_dir
from agentgate.paths import StatePaths

DEPLOY = ("deployer", "--prod")  # the test policy's `deploy-prod` rule asks a human
IS_ROOT = os.geteuid() == 0
REPO_POLICY = """\
version = 1

[[rule]]
id = "no-rmrf"
decision = "deny"
reason = "Not here."
commands = ["rmrf"]
"""
needs_root = pytest.mark.skipif(not IS_ROOT, reason="chown and a second OS user need root")


CONSOLE_SCRIPT = "import sys; from agentgate.entry import main; sys.argv[0] = 'agentgate'; sys.exit(main())"


def agx(*args: str, env: Mapping[str, str] | None = None, umask: int | None = None,
        user: OtherUser | None = None, cwd: str | os.PathLike[str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The console script, optionally under ``umask`` or as ``user`` (a real setuid)."""
    full = {**os.environ, **(env or {})}
    argv: list[str] = [str(AGENTGATE), *args]
    kwargs: dict[str, object] = {}
    if user is not None:
        # the console script's own code, on an interpreter they can run (the script file itself
        # may sit in a venv only root can read)
        argv = [user.python, "-c", CONSOLE_SCRIPT, *args]
        full["PYTHONPATH"] = user.pythonpath
        for var in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            full[var] = "/nonexistent"  # the test's own are in a tmp_path only root can enter
        kwargs.update(user=user.uid, group=user.gid, extra_groups=[])
        if cwd is None:  # not the test's own directory, which that user may not reach
            cwd = "/"
    if umask is not None:
        kwargs["preexec_fn"] = lambda: os.umask(umask)
    result: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        argv, env=full, cwd=cwd, capture_output=True, text=True, timeout=30, input=input,
        stdin=subprocess.DEVNULL if input is None else None, check=False, **kwargs)
    return result


def block(*argv: str, **kw: object) -> str:
    r = agx("run", "--json", "--", *argv, **kw)  # type: ignore[arg-type]
    assert r.returncode == 75, (r.returncode, r.stderr)
    return str(json.loads(r.stdout)["approvalId"])


def runs(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


# --------------------------------------------------------------------------- a second OS user


class OtherUser:
    def __init__(self, name: str, uid: int, gid: int, python: str, pythonpath: str):
        self.name, self.uid, self.gid = name, uid, gid
        self.python, self.pythonpath = python, pythonpath

    def sh(self, script: str, input: str = "") -> subprocess.CompletedProcess[str]:
        """A shell command as this user (the attacker's hands)."""
        return subprocess.run(["/bin/sh", "-c", script], user=self.uid, group=self.gid,
                              extra_groups=[], input=input, capture_output=True, text=True,
                              timeout=30, check=False)


def _interpreter_for(uid: int, gid: int, pythonpath: str) -> str | None:
    """A Python of this version that ``uid`` can run with agentgate importable (the venv's
    interpreter may live under a home directory only its owner can enter)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable, os.path.realpath(sys.executable), f"/usr/bin/python{version}",
                  f"/usr/local/bin/python{version}", shutil.which(f"python{version}") or ""]
    probe = (f"import sys, agentgate.entry; assert sys.version_info[:2] == "
             f"({sys.version_info.major}, {sys.version_info.minor})")
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            r = subprocess.run([python, "-c", probe], user=uid, group=gid, extra_groups=[],
                               env={**os.environ, "PYTHONPATH": pythonpath}, capture_output=True,
                               timeout=30, check=False)
        except OSError:
            continue
        if r.returncode == 0:
            return python
    return None


@pytest.fixture(scope="session")
def other_user() -> Iterator[OtherUser]:
    """``nobody`` (or a user created for this session), able to run the console script."""
    if not IS_ROOT:
        pytest.skip("a second OS user needs root")
    created = None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        created = "agentgate-other"
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        created], check=True)
        entry = pwd.getpwnam(created)
    src = str(Path(agentgate.__file__).resolve().parent.parent)
    purelib = sysconfig.get_paths()["purelib"]
    pythonpath = os.pathsep.join([src, purelib])
    python = _interpreter_for(entry.pw_uid, entry.pw_gid, pythonpath)
    copy = None
    if python is None:
        # The checkout or the venv may sit where that user cannot read (under /root, 0700): give
        # them a readable copy of the code and its dependencies instead of skipping.
        import tempfile

        copy = Path(tempfile.mkdtemp(prefix="agentgate-code-"))
        copy.chmod(0o755)
        shutil.copytree(Path(src) / "agentgate", copy / "src" / "agentgate",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(purelib, copy / "lib", ignore=shutil.ignore_patterns("__pycache__"),
                        symlinks=True)
        subprocess.run(["chmod", "-R", "a+rX", str(copy)], check=True)
        pythonpath = os.pathsep.join([str(copy / "src"), str(copy / "lib")])
        python = _interpreter_for(entry.pw_uid, entry.pw_gid, pythonpath)
    try:
        if python is None:
            pytest.fail(f"no Python {sys.version_info.major}.{sys.version_info.minor} that "
                        f"{entry.pw_name} can run agentgate with (install python3 for that user)")
        yield OtherUser(entry.pw_name, entry.pw_uid, entry.pw_gid, python, pythonpath)
    finally:
        if created:
            subprocess.run(["userdel", created], check=False)
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory under /tmp that the other user can reach (pytest's tmp_path is 0700)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="agentgate-state-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- who may write the state


@needs_root
def test_a_grant_planted_by_another_user_never_runs(
        shared_tmp: Path, policy_file: Path, fake_bin: Path, marker: Path, other_user: OtherUser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reported attack: a world-writable state directory, another user writes an approved
    grant for the held command into it, the agent retries. Nothing runs until the directory and
    the planted file are the user's own again (which proves the planted grant was valid)."""
    state_dir = shared_tmp / "state"
    monkeypatch.setenv("AGENTGATE_HOME", str(state_dir))
    rid = block(*DEPLOY)
    doc = json.loads((state_dir / "ledger.json").read_text())
    req = doc["requests"][rid]
    boot, mono = L.boot_clock()
    now = time.time()
    req.update(status="approved", decided_at=now, decided_by="mallory", expires_at=now + 3600,
               approved_boot=boot, approved_mono=mono)
    state_dir.chmod(0o777)  # the mistake
    r = other_user.sh(f"cat > {state_dir}/.x && mv {state_dir}/.x {state_dir}/ledger.json",
                      input=json.dumps(doc))
    assert r.returncode == 0, r.stderr
    assert (state_dir / "ledger.json").stat().st_uid == other_user.uid

    r = agx("run", "--", *DEPLOY)
    assert r.returncode == 78, r.stderr
    assert f"the state directory {state_dir} is writable by its group and others (mode 0777)" in r.stderr
    assert f"chmod 700 {state_dir}" in r.stderr
    assert runs(marker) == 0

    state_dir.chmod(0o700)  # the directory is fixed, but the planted file is still someone else's
    r = agx("run", "--", *DEPLOY)
    assert r.returncode == 78, r.stderr
    assert f"ledger {state_dir / 'ledger.json'} is owned by {other_user.name}" in r.stderr
    assert runs(marker) == 0

    os.chown(state_dir / "ledger.json", 0, 0)  # the user adopts it: now the grant is theirs
    os.chmod(state_dir / "ledger.json", 0o600)
    assert agx("run", "--", *DEPLOY).returncode == 0
    assert runs(marker) == 1


COMMANDS: list[Sequence[str]] = [
    ("run", "--", "deployer", "site"),          # allowed: audit append under the lock
    ("run", "--", *DEPLOY),                     # held: the ledger
    ("pending",),
    ("show", "apr_abcdefghij"),
    ("approve", "apr_abcdefghij", "--yes"),
    ("deny", "--yes", "apr_abcdefghij", "--reason", "no"),
    ("log",),
    ("log", "verify"),
    ("log", "summary"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_world_writable_state_dir_is_refused_by_every_command(
        args: Sequence[str], state_dir: Path, policy_file: Path, fake_bin: Path,
        marker: Path) -> None:
    assert agx("run", "--", "deployer", "site").returncode == 0  # state exists, with a log
    state_dir.chmod(0o777)
    before = sorted(p.name for p in state_dir.iterdir())
    r = agx(*args)
    assert r.returncode == 78, (r.returncode, r.stderr)
    assert f"the state directory {state_dir} is writable" in r.stderr, r.stderr
    assert f"chmod 700 {state_dir}" in r.stderr and "Traceback" not in r.stderr
    assert runs(marker) == 1
    assert sorted(p.name for p in state_dir.iterdir()) == before


def test_a_group_writable_state_dir_is_refused_by_the_hook(
        state_dir: Path, policy_file: Path, tmp_path: Path) -> None:
    assert agx("run", "--", "true").returncode == 0
    state_dir.chmod(0o770)
    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls"},
                          "cwd": str(tmp_path), "hook_event_name": "PreToolUse"})
    r = agx("hook", "claude-code", input=hook_in)
    assert "allow" not in r.stdout
    assert f"{state_dir} is writable by its group (mode 0770)" in r.stdout + r.stderr


@needs_root
@pytest.mark.parametrize("args", COMMANDS[:3] + COMMANDS[6:7], ids=lambda a: " ".join(a[:2]))
def test_a_state_dir_owned_by_another_user_is_refused(
        args: Sequence[str], state_dir: Path, policy_file: Path, fake_bin: Path, marker: Path,
        other_user: OtherUser) -> None:
    state_dir.mkdir(mode=0o700)
    os.chown(state_dir, other_user.uid, other_user.gid)
    r = agx(*args)
    assert r.returncode == 78, r.stderr
    assert (f"the state directory {state_dir} is owned by {other_user.name} (uid "
            f"{other_user.uid}), not by you (root)") in r.stderr
    assert f"chown root {state_dir}" in r.stderr
    assert runs(marker) == 0
    assert list(state_dir.iterdir()) == []


def test_parents_writable_by_others_are_refused_unless_sticky(
        tmp_path: Path, policy_file: Path, fake_bin: Path, marker: Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o777)  # another user could rename the state directory and put theirs there
    env = {"AGENTGATE_HOME": str(parent / "state")}
    r = agx("run", "--", "deployer", "site", env=env)
    assert r.returncode == 78, r.stderr
    assert f"{parent}, above the state directory {parent / 'state'}, is writable" in r.stderr
    assert f"chmod go-w {parent}" in r.stderr
    assert runs(marker) == 0 and not (parent / "state").exists()
    parent.chmod(0o1777)  # sticky, like /tmp: others cannot rename what is not theirs
    assert agx("run", "--", "deployer", "site", env=env).returncode == 0
    assert runs(marker) == 1


def test_a_symlinked_state_dir_is_checked_where_it_points(
        tmp_path: Path, policy_file: Path, fake_bin: Path, marker: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    env = {"AGENTGATE_HOME": str(link)}
    assert agx("run", "--", "deployer", "site", env=env).returncode == 0
    assert (real / "audit.jsonl").exists()
    real.chmod(0o777)
    r = agx("run", "--", "deployer", "site", env=env)
    assert r.returncode == 78 and f"the state directory {link} ({real}) is writable" in r.stderr
    assert runs(marker) == 1


def test_links_inside_a_links_target_are_walked_too(
        tmp_path: Path, policy_file: Path, fake_bin: Path, marker: Path) -> None:
    """link -> open/inner -> real: `open` is on the way only through the first link's target
    (realpath would skip it); another user could swap `inner` there."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    opened = tmp_path / "open"
    opened.mkdir()
    (opened / "inner").symlink_to(real)
    link = tmp_path / "link"
    link.symlink_to(opened / "inner")
    env = {"AGENTGATE_HOME": str(link / "state")}
    assert agx("run", "--", "deployer", "site", env=env).returncode == 0
    opened.chmod(0o777)
    r = agx("run", "--", "deployer", "site", env=env)
    assert r.returncode == 78, r.stderr
    assert f"{opened}, above the state directory {link / 'state'}, is writable" in r.stderr
    opened.chmod(0o1777)  # sticky: `inner` is ours, so nobody else can swap it
    assert agx("run", "--", "deployer", "site", env=env).returncode == 0
    assert runs(marker) == 2
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    r = agx("run", "--", "deployer", "site", env={"AGENTGATE_HOME": str(loop / "state")})
    assert r.returncode == 78 and "too many levels of symbolic links" in r.stderr, r.stderr


@needs_root
@pytest.mark.parametrize("where", ["the state dir", "a parent", "inside my link's target"])
def test_another_users_symlink_on_the_state_path_is_refused(
        where: str, shared_tmp: Path, other_user: OtherUser, policy_file: Path, fake_bin: Path,
        marker: Path) -> None:
    """In a sticky directory (like /tmp) another user's link can be re-pointed by them at any
    time (here: at another directory of ours, swapping the ledger): it is refused wherever it
    is on the path, while a link of our own in the same place is fine."""
    sticky = shared_tmp / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    real = shared_tmp / "real"
    real.mkdir(mode=0o700)
    target = real / "state" if where == "the state dir" else real
    if where == "the state dir":
        target.mkdir(mode=0o700)
    theirs = sticky / "theirs"
    r = other_user.sh(f"ln -s {target} {theirs}")
    assert r.returncode == 0, r.stderr
    if where == "inside my link's target":
        mine = shared_tmp / "mine"
        mine.symlink_to(theirs)
        home = mine / "state"
    else:
        home = theirs if where == "the state dir" else theirs / "state"
    r = agx("run", "--", "deployer", "site", env={"AGENTGATE_HOME": str(home)})
    assert r.returncode == 78, r.stderr
    assert (f"{theirs}, on the way to the state directory {home}, is a symbolic link owned by "
            f"{other_user.name}") in r.stderr
    assert runs(marker) == 0 and not (real / "state" / "audit.jsonl").exists()
    ours = sticky / "ours"
    ours.symlink_to(target)
    home = ours if where == "the state dir" else ours / "state"
    assert agx("run", "--", "deployer", "site", env={"AGENTGATE_HOME": str(home)}).returncode == 0
    assert runs(marker) == 1 and (real / "state" / "audit.jsonl").exists()


@needs_root
def test_root_state_owned_by_root_is_fine_and_a_users_own_state_is_fine(
        shared_tmp: Path, other_user: OtherUser, policy_file: Path) -> None:
    """The owner check compares with the effective user: root's own dir passes for root, and a
    second user's own dir passes for that user (run as that user, for real)."""
    mine = shared_tmp / "root-state"
    assert agx("run", "--", "true", env={"AGENTGATE_HOME": str(mine)}).returncode == 0
    (shared_tmp / "them").mkdir(mode=0o755)
    os.chown(shared_tmp / "them", other_user.uid, other_user.gid)
    theirs = shared_tmp / "them" / "state"
    r = agx("run", "--", "true", user=other_user,
            env={"AGENTGATE_HOME": str(theirs), "AGENTGATE_POLICY": ""})
    assert r.returncode == 0, r.stderr
    assert theirs.stat().st_uid == other_user.uid and oct(theirs.stat().st_mode & 0o777) == "0o700"
    # and each refuses the other's
    r = agx("pending", env={"AGENTGATE_HOME": str(theirs)})
    assert r.returncode == 78 and f"owned by {other_user.name}" in r.stderr
    r = agx("pending", user=other_user, env={"AGENTGATE_HOME": str(mine), "AGENTGATE_POLICY": ""})
    assert r.returncode == 78 and "is owned by root (uid 0), not by you" in r.stderr, r.stderr


# --------------------------------------------------------------------------- symlinks


def _prepared(state_dir: Path, marker: Path) -> str:
    """State with a ledger, a lock, markers and a log; returns a pending request id."""
    rid = block(*DEPLOY)
    assert (state_dir / "ledger.json").exists() and (state_dir / "ledger.lock").exists()
    return rid


@pytest.mark.parametrize("name, args", [
    ("ledger.json", ("pending",)),
    ("ledger.json", ("run", "--", *DEPLOY)),
    ("ledger.lock", ("run", "--", "deployer", "site")),
    ("ledger-done.jsonl", ("show", "apr_notinledger")),
    ("trusted.json", ("run", "--", "deployer", "site")),
])
def test_a_symlinked_state_file_is_refused_and_its_target_untouched(
        name: str, args: Sequence[str], state_dir: Path, policy_file: Path, fake_bin: Path,
        marker: Path, tmp_path: Path, in_tmp_cwd: Path) -> None:
    _prepared(state_dir, marker)
    (in_tmp_cwd / ".git").mkdir()
    (in_tmp_cwd / ".agentgate.toml").write_text(REPO_POLICY)
    target = tmp_path / "victim"
    if name in ("ledger.json", "trusted.json"):
        target.write_bytes((state_dir / "ledger.json").read_bytes() if name == "ledger.json"
                           else b'{"version": 1, "files": {}}')
    link = state_dir / name
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    before = target.read_bytes() if target.exists() else None
    r = agx(*args)
    assert r.returncode == 78, (r.returncode, r.stderr)
    assert f"{link} is a symbolic link" in r.stderr, r.stderr
    assert f"rm {link}" in r.stderr and "Traceback" not in r.stderr
    assert (target.read_bytes() if target.exists() else None) == before
    assert runs(marker) == 0


def test_a_symlinked_validated_dir_is_refused(state_dir: Path, policy_file: Path, fake_bin: Path,
                                              marker: Path, tmp_path: Path) -> None:
    assert agx("run", "--", "deployer", "site").returncode == 0
    shutil.rmtree(state_dir / "validated")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state_dir / "validated").symlink_to(elsewhere)
    r = agx("run", "--", "deployer", "site")
    assert r.returncode == 78 and f"{state_dir / 'validated'} is a symbolic link" in r.stderr
    assert list(elsewhere.iterdir()) == [] and runs(marker) == 1


def test_the_archive_is_never_appended_through_a_symlink(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(L, "ARCHIVE_KEEP", 1)
    ledger = L.Ledger(StatePaths(tmp_path / "state"))
    target = tmp_path / "victim"
    target.write_bytes(b"precious\n")
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / "ledger-done.jsonl").symlink_to(target)
    with pytest.raises(StateError, match="is a symbolic link") as exc, ledger.locked() as st:
        for i in range(3):  # finished requests beyond ARCHIVE_KEEP move to the archive
            req = L.make_request(fp=f"f{i}", kind="argv", argv=["x"], cwd="/", rule=None,
                                 reason="r", agent="a", now=st.now, request_ttl=60)
            st.add(req)
            st.deny(req.id, None, "h", 0)
    assert str(tmp_path / "state" / "ledger-done.jsonl") in exc.value.message
    assert target.read_bytes() == b"precious\n"


@pytest.mark.parametrize("name, args", [
    ("audit.jsonl", ("run", "--", "deployer", "site")),
    ("ledger.json", ("run", "--", *DEPLOY)),
    ("ledger-done.jsonl", ("show", "apr_notinledger")),
])
def test_a_hard_linked_state_file_is_refused_and_the_other_file_untouched(
        name: str, args: Sequence[str], state_dir: Path, policy_file: Path, fake_bin: Path,
        marker: Path, tmp_path: Path) -> None:
    """A hard link is no symlink (O_NOFOLLOW opens it): appending would write into the other
    name's file, e.g. a user's shell start-up file."""
    _prepared(state_dir, marker)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n" if name != "ledger.json"
                       else (state_dir / "ledger.json").read_bytes())
    victim.chmod(0o600)
    (state_dir / name).unlink(missing_ok=True)
    os.link(victim, state_dir / name)
    before = victim.read_bytes()
    r = agx(*args)
    assert r.returncode == 78, (r.returncode, r.stderr)
    assert f"{state_dir / name} has 2 hard links" in r.stderr, r.stderr
    assert f"cp -p {state_dir / name}" in r.stderr and "Traceback" not in r.stderr
    assert victim.read_bytes() == before and runs(marker) == 0


@pytest.mark.parametrize("name", [".ledger-0123456789abcdef.tmp", ".trusted-x.tmp",
                                  ".audit.head-x.tmp"])
def test_something_planted_at_a_temp_name_is_left_alone(
        name: str, state_dir: Path, policy_file: Path, fake_bin: Path, marker: Path,
        in_tmp_cwd: Path) -> None:
    """The clean-up of crashed temp files removes only regular files: a directory at such a
    name is in no write's way (temp names are random) and is no reason to fail."""
    rid = _prepared(state_dir, marker)
    (state_dir / name).mkdir()
    (state_dir / name / "keep").write_text("x")
    (in_tmp_cwd / ".git").mkdir()
    (in_tmp_cwd / ".agentgate.toml").write_text(REPO_POLICY)
    assert agx("approve", rid, "--yes").returncode == 0
    assert agx("policy", "trust").returncode == 0
    r = agx("run", "--", *DEPLOY)
    assert r.returncode == 0, r.stderr
    assert runs(marker) == 1 and (state_dir / name / "keep").read_text() == "x"
    stale = state_dir / ".ledger-deadbeef.tmp"  # what a crash leaves is still removed
    stale.write_text("{}")
    assert block("deployer", "again", "--prod")
    assert not stale.exists()


def test_a_fifo_state_file_fails_instead_of_hanging(state_dir: Path, policy_file: Path) -> None:
    _prepared(state_dir, state_dir / "unused")
    (state_dir / "ledger.json").unlink()
    os.mkfifo(state_dir / "ledger.json", 0o600)
    r = agx("pending")
    assert r.returncode == 78 and "is not a regular file" in r.stderr


def test_temp_files_are_unpredictable_and_exclusive(tmp_path: Path) -> None:
    """A link planted at any name the writer could pick is never written through."""
    from agentgate.fileio import replace_atomically

    d = tmp_path / "d"
    d.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for i in range(50):
        (d / f".ledger-{i}.tmp").symlink_to(victim)
    for i in range(20):
        replace_atomically(d / "ledger.json", b"new %d" % i, prefix=".ledger-")
    assert victim.read_text() == "precious"
    assert (d / "ledger.json").read_bytes() == b"new 19"
    assert sorted(p.name for p in d.iterdir() if not p.is_symlink()) == ["ledger.json"]


# --------------------------------------------------------------------------- modes and the umask


def test_every_file_is_0600_and_every_directory_0700_under_umask_000(
        tmp_path: Path, policy_file: Path, fake_bin: Path, marker: Path,
        in_tmp_cwd: Path) -> None:
    root = tmp_path / "a" / "b" / "state"  # a and b do not exist yet
    env = {"AGENTGATE_HOME": str(root)}
    (in_tmp_cwd / ".git").mkdir()
    (in_tmp_cwd / ".agentgate.toml").write_text(REPO_POLICY)
    rid = block(*DEPLOY, env=env, umask=0)
    assert agx("approve", rid, "--yes", env=env, umask=0).returncode == 0
    assert agx("run", "--", *DEPLOY, env=env, umask=0).returncode == 0
    assert agx("policy", "trust", env=env, umask=0).returncode == 0
    assert agx("run", "--", "deployer", "site", env=env, umask=0).returncode == 0
    seen = set()
    for d in (tmp_path / "a", tmp_path / "a" / "b"):
        assert oct(d.stat().st_mode & 0o7777) == "0o700", d
    for p in [root, *root.rglob("*")]:
        if p.name.startswith("audit"):
            continue  # the audit log's files are audit.py's (tests/test_audit.py)
        want = "0o700" if p.is_dir() else "0o600"
        assert oct(p.stat().st_mode & 0o7777) == want, p
        seen.add(p.name if p.parent == root else p.parent.name)
    assert {"ledger.json", "ledger.lock", "trusted.json", "validated"} <= seen


def test_the_check_itself_unit(tmp_path: Path) -> None:
    d = tmp_path / "s"
    check_state_dir(d)  # missing is fine while what is above it is fine
    d.mkdir(mode=0o700)
    check_state_dir(d)
    for mode, words in [(0o777, "its group and others"), (0o720, "its group"), (0o702, "others")]:
        d.chmod(mode)
        with pytest.raises(StateError, match=f"writable by {words} \\(mode 0{mode:o}\\)") as exc:
            check_state_dir(d)
        assert exc.value.exit_code == 78 and f"chmod 700 {d}" in (exc.value.hint or "")
    d.chmod(0o755)  # readable by others is not a risk to approvals
    check_state_dir(d)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StateError, match="is not a directory"):
        check_state_dir(f)


# --------------------------------------------------------------------------- permission errors


@pytest.fixture
def unprivileged(request: pytest.FixtureRequest) -> OtherUser | None:
    """Who to run as so that permissions bite: another user under root, else ourselves."""
    return request.getfixturevalue("other_user") if IS_ROOT else None


def _own(path: Path, who: OtherUser | None) -> None:
    if who is not None:
        os.chown(path, who.uid, who.gid)


@pytest.mark.parametrize("args", [("run", "--", "true"), ("pending",), ("log",), ("log", "verify")],
                         ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("case", ["dir-000", "dir-500", "parent-unsearchable"])
def test_permission_errors_on_state_exit_78_naming_the_path(
        args: Sequence[str], case: str, shared_tmp: Path, unprivileged: OtherUser | None) -> None:
    parent = shared_tmp / "p"
    parent.mkdir(mode=0o755)
    state = parent / "state"
    state.mkdir(mode=0o700)
    _own(state, unprivileged)
    env = {"AGENTGATE_HOME": str(state), "AGENTGATE_POLICY": ""}
    if args[0] != "run":  # something to read
        r = agx("run", "--", "true", env=env, user=unprivileged)
        assert r.returncode == 0, r.stderr
    if case == "dir-000":
        state.chmod(0o000)
    elif case == "dir-500":
        state.chmod(0o500)
    else:
        parent.chmod(0o700 if unprivileged is not None else 0o000)
    try:
        r = agx(*args, env=env, user=unprivileged)
    finally:
        parent.chmod(0o755)
        state.chmod(0o700)
    if case == "dir-500" and args[0] != "run":
        assert r.returncode == 0, r.stderr  # reading a read-only state directory is fine
        return
    assert r.returncode == 78, (r.returncode, r.stderr)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert str(state) in r.stderr and "hint:" in r.stderr
