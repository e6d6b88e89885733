"""Loading a policy from every place it comes from, through the installed console script.

A policy file that says nothing (no rule, no explicit ``settings.default``) and a path that is not
a small regular file (a FIFO, a device, a directory, a huge file) both fail closed with exit 78
and a message naming the file, in `run`, `check`, `policy validate`, `policy trust` and the
hooks, and none of them may hang or read without bound.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TEST_POLICY, ag
from test_state_safety import IS_ROOT, OtherUser, agx  # a second OS user, as those tests make one
from test_state_safety import other_user as other_user  # fixtures
from test_state_safety import shared_tmp as shared_tmp

from agentgate import policy as pol
from agentgate.errors import PolicyError

PLACES = ("option", "env", "user", "repo")
DEADLINE = 15.0  # seconds; a FIFO used to hang `run` and the hooks forever


class Place:
    """Where a policy file sits, and how each command is pointed at it."""

    def __init__(self, where: str, tmp_path: Path) -> None:
        self.where = where
        self.cwd = tmp_path / "repo"
        (self.cwd / ".git").mkdir(parents=True)
        self.args: list[str] = []
        self.env: dict[str, str | None] = {"AGENTGATE_CONFIG_DIR": str(tmp_path / "config")}
        if where == "option":
            self.path = tmp_path / "given.toml"
            self.args = ["--policy", str(self.path)]
        elif where == "env":
            self.path = tmp_path / "env.toml"
            self.env["AGENTGATE_POLICY"] = str(self.path)
        elif where == "user":
            (tmp_path / "config").mkdir()
            self.path = tmp_path / "config" / "policy.toml"
        else:
            self.path = self.cwd / ".agentgate.toml"

    def ag(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return ag(*self.args, *args, input=input, cwd=self.cwd, env=self.env, timeout=DEADLINE)

    def hook(self, command: str) -> subprocess.CompletedProcess[str]:
        payload = {"session_id": "s", "cwd": str(self.cwd), "hook_event_name": "PreToolUse",
                   "tool_name": "Bash", "tool_input": {"command": command}}
        return self.ag("hook", "claude-code", input=json.dumps(payload))


def refused(r: subprocess.CompletedProcess[str], path: Path, needle: str) -> None:
    assert r.returncode == 78, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert f"{path}: " in r.stderr and needle in r.stderr, r.stderr


def hook_denied(r: subprocess.CompletedProcess[str], path: Path, needle: str) -> None:
    """Claude Code's protocol: exit 2, and a well-formed deny on stdout that says why."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    out = json.loads(r.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    assert str(path) in out["permissionDecisionReason"] and needle in out["permissionDecisionReason"]


# --------------------------------------------------------------------------- a file that says nothing

NOTHING = {"empty": "", "whitespace": " \n\t\n", "comments": "# my policy\n# todo\n",
           "version only": "version = 1\n"}
ALLOWS_ALL = "would allow every command"


@pytest.mark.parametrize("text", NOTHING.values(), ids=NOTHING.keys())
@pytest.mark.parametrize("where", PLACES)
def test_a_policy_that_says_nothing_blocks_everything(where: str, text: str, tmp_path: Path,
                                                      fake_bin: Path, marker: Path) -> None:
    place = Place(where, tmp_path)
    place.path.write_text(text)
    needle = "says nothing" if where == "repo" else ALLOWS_ALL
    refused(place.ag("run", "--", "deployer", "site"), place.path, needle)
    assert not marker.exists()
    refused(place.ag("check", "--", "ls"), place.path, needle)
    hook_denied(place.hook("deployer site"), place.path, needle)
    assert not marker.exists()


def test_an_empty_user_policy_no_longer_allows_rm_rf_root(tmp_path: Path) -> None:
    place = Place("user", tmp_path)
    assert place.ag("check", "--", "rm", "-rf", "/").returncode == 77  # the embedded default
    place.path.write_bytes(b"")
    r = place.ag("check", "--", "rm", "-rf", "/")
    refused(r, place.path, ALLOWS_ALL)
    assert "delete it to use the embedded default policy" in r.stderr
    assert "agentgate init" in r.stderr and 'default = "allow"' in r.stderr
    place.path.write_text('[settings]\ndefault = "allow"\n')  # allow-all, said on purpose
    r = place.ag("check", "--json", "--", "rm", "-rf", "/")
    assert r.returncode == 0 and json.loads(r.stdout)["policies"][0]["kind"] == "user"


@pytest.mark.parametrize("where", PLACES)
def test_policy_validate_refuses_a_policy_that_says_nothing(where: str, tmp_path: Path) -> None:
    place = Place(where, tmp_path)
    place.path.write_text("version = 1\n")
    needle = "says nothing" if where == "repo" else ALLOWS_ALL
    refused(place.ag("policy", "validate"), place.path, needle)
    refused(ag("policy", "validate", str(place.path), timeout=DEADLINE), place.path, needle)


def test_an_empty_repo_policy_cannot_be_trusted(tmp_path: Path, state_dir: Path) -> None:
    place = Place("repo", tmp_path)
    place.path.write_text("# nothing yet\n")
    refused(place.ag("policy", "trust"), place.path, "says nothing")
    refused(place.ag("policy", "trust", str(place.path)), place.path, "says nothing")
    assert not (state_dir / "trusted.json").exists()


def test_a_repo_policy_of_settings_only_loads(tmp_path: Path, policy_file: Path) -> None:
    """It adds to the policy in force instead of replacing it, so settings alone are a change."""
    place = Place("repo", tmp_path)
    place.path.write_text('[settings]\ndefault = "ask"\n')
    r = place.ag("check", "--json", "--", "ls")
    assert r.returncode == 0, r.stderr  # untrusted: its settings wait for `policy trust`
    assert [s["kind"] for s in json.loads(r.stdout)["policies"]] == ["env", "repo"]
    assert place.ag("policy", "validate", str(place.path)).returncode == 0
    assert place.ag("policy", "trust").returncode == 0
    assert place.ag("check", "--", "ls").returncode == 75


# --------------------------------------------------------------------------- not a small regular file


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _oversize(path: Path) -> Path:
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse
    return path


def _dev_zero_link(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


HOSTILE = {"fifo": (_fifo, "is a FIFO (named pipe), not a regular file"),
           "directory": (_directory, "is a directory, not a regular file"),
           "oversize": (_oversize, "more than the 1 MiB a policy may be"),
           "symlink to /dev/zero": (_dev_zero_link, "is a character device, not a regular file")}


@pytest.mark.parametrize("kind", HOSTILE, ids=HOSTILE.keys())
def test_a_policy_that_is_not_a_small_regular_file_fails_fast(kind: str, tmp_path: Path,
                                                              fake_bin: Path, marker: Path) -> None:
    make, needle = HOSTILE[kind]
    place = Place("user", tmp_path)
    make(place.path)
    start = time.monotonic()
    refused(place.ag("run", "--", "deployer", "site"), place.path, needle)
    refused(place.ag("check", "--", "ls"), place.path, needle)
    hook_denied(place.hook("deployer site"), place.path, needle)
    assert time.monotonic() - start < DEADLINE
    assert not marker.exists()


def test_dev_zero_given_as_the_policy_fails_fast(tmp_path: Path, fake_bin: Path, marker: Path) -> None:
    needle = "is a character device, not a regular file"
    for args, env in ((["--policy", "/dev/zero"], {}), ([], {"AGENTGATE_POLICY": "/dev/zero"})):
        for cmd in (["run", "--", "deployer", "site"], ["check", "--", "ls"]):
            r = ag(*args, *cmd, env=env, cwd=tmp_path, timeout=DEADLINE)
            refused(r, Path("/dev/zero"), needle)
        payload = json.dumps({"cwd": str(tmp_path), "tool_name": "Bash",
                              "tool_input": {"command": "deployer site"}})
        hook_denied(ag(*args, "hook", "claude-code", input=payload, env=env, timeout=DEADLINE),
                    Path("/dev/zero"), needle)
    assert not marker.exists()


@pytest.mark.parametrize("where", PLACES)
def test_a_fifo_policy_never_hangs_wherever_it_sits(where: str, tmp_path: Path, fake_bin: Path,
                                                    marker: Path) -> None:
    place = Place(where, tmp_path)
    _fifo(place.path)
    needle = HOSTILE["fifo"][1]
    refused(place.ag("run", "--", "deployer", "site"), place.path, needle)
    hook_denied(place.hook("deployer site"), place.path, needle)
    refused(place.ag("policy", "validate"), place.path, needle)
    refused(ag("policy", "validate", str(place.path), timeout=DEADLINE), place.path, needle)
    if where == "repo":
        refused(place.ag("policy", "trust", str(place.path)), place.path, needle)
    assert not marker.exists()


def test_a_broken_user_policy_symlink_is_an_error_not_the_default(tmp_path: Path) -> None:
    place = Place("user", tmp_path)
    place.path.symlink_to(tmp_path / "dotfiles" / "agentgate.toml")
    refused(place.ag("check", "--", "ls"), place.path, "a symlink to a file that does not exist")


def test_a_symlinked_user_policy_is_followed(tmp_path: Path) -> None:
    """Dotfiles managers link the user policy to a file in a repository: that is legitimate."""
    place = Place("user", tmp_path)
    (tmp_path / "dotfiles").mkdir()
    target = tmp_path / "dotfiles" / "agentgate.toml"
    target.write_text(TEST_POLICY.format(extra_settings=""))
    place.path.symlink_to(target)
    r = place.ag("check", "--json", "--", "nuke")
    assert r.returncode == 77, r.stderr
    assert json.loads(r.stdout)["policies"][0] == {
        "path": str(place.path), "sha256": hashlib.sha256(target.read_bytes()).hexdigest(), "kind": "user",
        "trusted": True, "note": ""}


# --------------------------------------------------------------------------- read_policy_bytes


def test_read_policy_bytes_caps_the_size(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b"#" * pol.MAX_POLICY_BYTES)
    assert len(pol.read_policy_bytes(path)) == pol.MAX_POLICY_BYTES
    path.write_bytes(b"#" * (pol.MAX_POLICY_BYTES + 1))
    with pytest.raises(PolicyError, match="more than the 1 MiB"):
        pol.read_policy_bytes(path)


def test_read_policy_bytes_does_not_block_on_a_fifo_with_a_writer(tmp_path: Path) -> None:
    """Even with a writer holding the FIFO open, and data waiting, nothing is read from it."""
    path = _fifo(tmp_path / "p.toml")
    rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    wfd = os.open(path, os.O_WRONLY)
    try:
        os.write(wfd, b'[settings]\ndefault = "allow"\n')
        with pytest.raises(PolicyError) as exc:
            pol.read_policy_bytes(path)
        assert exc.value.exit_code == 78
        assert os.read(rfd, 100) == b'[settings]\ndefault = "allow"\n'  # still unread
    finally:
        os.close(wfd)
        os.close(rfd)


def test_read_policy_bytes_names_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy file not found") as exc:
        pol.read_policy_bytes(tmp_path / "missing.toml")
    assert exc.value.path == str(tmp_path / "missing.toml")
    (tmp_path / "file").write_text("")
    with pytest.raises(PolicyError, match="cannot read policy file: Not a directory") as exc:
        pol.read_policy_bytes(tmp_path / "file" / "policy.toml")
    assert exc.value.message.startswith(f"{tmp_path / 'file' / 'policy.toml'}: ")


# --------------------------------------------------------------------------- regexes that do not compile


@pytest.mark.parametrize("where", PLACES)
def test_a_regex_whose_compile_overflows_is_a_78_naming_the_rule(where: str, tmp_path: Path,
                                                                fake_bin: Path, marker: Path) -> None:
    """`a{99999999999}` makes re.compile raise OverflowError, not re.error: still a load error."""
    place = Place(where, tmp_path)
    place.path.write_text('[[rule]]\nid = "huge"\ndecision = "deny"\nregex = ["a{99999999999}"]\n')
    needle = "rule 'huge': regex 'a{99999999999}' does not compile: OverflowError"
    refused(place.ag("run", "--", "deployer", "site"), place.path, needle)
    refused(place.ag("check", "--", "ls"), place.path, needle)
    refused(place.ag("policy", "validate"), place.path, needle)
    refused(ag("policy", "validate", str(place.path), timeout=DEADLINE), place.path, needle)
    hook_denied(place.hook("deployer site"), place.path, needle)
    assert not marker.exists()


# --------------------------------------------------------------------------- paths that cannot be resolved

LOOP = "a symbolic link that leads back to itself (a loop)"


@pytest.mark.parametrize("where", PLACES)
def test_a_policy_that_is_a_symlink_loop_is_a_78_naming_it(where: str, tmp_path: Path,
                                                           fake_bin: Path, marker: Path) -> None:
    """Path.resolve raises RuntimeError on a loop (not OSError): every command still answers 78."""
    place = Place(where, tmp_path)
    other = place.path.with_name(place.path.name + ".b")
    place.path.symlink_to(other.name)
    other.symlink_to(place.path.name)
    refused(place.ag("run", "--", "deployer", "site"), place.path, LOOP)
    refused(place.ag("check", "--", "ls"), place.path, LOOP)
    refused(place.ag("policy", "validate"), place.path, LOOP)
    hook_denied(place.hook("deployer site"), place.path, LOOP)
    if where == "repo":
        refused(place.ag("policy", "trust"), place.path, LOOP)
        refused(place.ag("policy", "trust", str(place.path)), place.path, LOOP)
    assert not marker.exists()


def test_a_policy_path_under_an_unknown_users_home_is_a_78(tmp_path: Path) -> None:
    given = "~no-such-user-agentgate/policy.toml"
    r = ag("check", "--policy", given, "--", "ls", cwd=tmp_path, timeout=DEADLINE)
    assert r.returncode == 78 and f"{given}: cannot expand ~ in the policy path" in r.stderr, r.stderr


@pytest.mark.parametrize("var", ["AGENTGATE_POLICY", "AGENTGATE_CONFIG_DIR", "AGENTGATE_HOME"])
def test_a_path_variable_under_an_unknown_users_home_is_a_78(var: str, tmp_path: Path) -> None:
    value = "~no-such-user-agentgate/x"
    for cmd in (["check", "--", "ls"], ["run", "--", "true"]):
        r = ag(*cmd, cwd=tmp_path, env={var: value}, timeout=DEADLINE)
        assert r.returncode == 78, (r.returncode, r.stderr)
        assert f"{var}='{value}': cannot expand ~" in r.stderr and "Traceback" not in r.stderr


def test_real_path_and_read_policy_bytes_name_a_loop(tmp_path: Path) -> None:
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop.name)
    for call in (pol.real_path, pol.read_policy_bytes):
        with pytest.raises(PolicyError) as exc:
            call(loop)
        assert exc.value.path == str(loop) and LOOP in exc.value.message
    assert pol.real_path(tmp_path / "missing") == str(tmp_path.resolve() / "missing")


# --------------------------------------------------------------------------- a policy others can change

OTHERS = "another user could change this policy"
RELAXED = '[settings]\ndefault = "allow"\n'
needs_root = pytest.mark.skipif(not IS_ROOT, reason="chown and a second OS user need root")


def _refused_everywhere(place: Place, needle: str) -> None:
    refused(place.ag("run", "--", "deployer", "--prod"), place.path, needle)
    refused(place.ag("check", "--", "ls"), place.path, needle)
    refused(place.ag("policy", "validate"), place.path, needle)
    hook_denied(place.hook("deployer --prod"), place.path, needle)
    if place.where == "repo":
        refused(place.ag("policy", "trust"), place.path, needle)


@needs_root
@pytest.mark.parametrize("where", PLACES)
def test_a_policy_another_user_can_write_is_refused_before_they_relax_it(
        where: str, shared_tmp: Path, other_user: OtherUser, fake_bin: Path, marker: Path) -> None:
    """Red-team 05: a 0666 policy (umask 000, a shared mount). The other user really rewrites
    it to allow everything: nothing ever runs on it."""
    place = Place(where, shared_tmp)
    place.path.write_text(TEST_POLICY.format(extra_settings=""))
    place.path.chmod(0o666)
    needle = f"{OTHERS}: {place.path} is writable by its group and others (mode 0666)"
    _refused_everywhere(place, needle)
    r = other_user.sh(f"printf '{RELAXED}' > {place.path}")
    assert r.returncode == 0, r.stderr
    _refused_everywhere(place, needle)
    assert not marker.exists()
    place.path.write_text(TEST_POLICY.format(extra_settings=""))
    place.path.chmod(0o644)  # fixed: the held command is held again
    assert place.ag("run", "--", "deployer", "--prod").returncode == 75


@needs_root
@pytest.mark.parametrize("where", PLACES)
def test_a_policy_owned_by_another_user_is_refused(where: str, shared_tmp: Path,
                                                  other_user: OtherUser) -> None:
    place = Place(where, shared_tmp)
    place.path.write_text(TEST_POLICY.format(extra_settings=""))
    os.chown(place.path, other_user.uid, other_user.gid)  # 0644, but theirs to rewrite
    _refused_everywhere(place, f"{OTHERS}: {place.path} is owned by {other_user.name} (uid "
                               f"{other_user.uid}), not by you (root)")


@pytest.mark.parametrize("where", PLACES)
@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_policy_in_a_directory_others_can_write_is_refused(where: str, mode: int,
                                                             tmp_path: Path) -> None:
    """Whoever can write the directory can replace the file, however the file itself is set."""
    place = Place(where, tmp_path)
    place.path.write_text(TEST_POLICY.format(extra_settings=""))
    place.path.parent.chmod(mode)
    who = {0o777: "its group and others", 0o775: "its group", 0o757: "others"}[mode]
    _refused_everywhere(place, f"{OTHERS}: {place.path.parent}, a directory on the way, is "
                               f"writable by {who} (mode {mode:04o})")


@pytest.mark.parametrize("where", ["option", "env", "user"])
def test_a_group_writable_policy_file_is_refused_and_names_the_fix(where: str, tmp_path: Path) -> None:
    place = Place(where, tmp_path)
    place.path.write_text(TEST_POLICY.format(extra_settings=""))
    place.path.chmod(0o620)
    r = place.ag("check", "--", "ls")
    refused(r, place.path, f"{place.path} is writable by its group (mode 0620)")
    assert f"chmod go-w {place.path}" in r.stderr


@needs_root
def test_a_link_on_the_way_owned_by_another_user_is_refused(shared_tmp: Path,
                                                           other_user: OtherUser) -> None:
    """In a sticky directory (like /tmp) anyone may own an entry: their link could be re-pointed
    at a policy of theirs at any time. Our own link there, to the same file, is fine."""
    sticky = shared_tmp / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    real = shared_tmp / "policy.toml"
    real.write_text(TEST_POLICY.format(extra_settings=""))
    mine = sticky / "mine.toml"
    mine.symlink_to(real)
    assert ag("--policy", str(mine), "check", "--", "nuke", cwd=shared_tmp).returncode == 77
    r = other_user.sh(f"ln -s {real} {sticky}/theirs.toml")
    assert r.returncode == 0, r.stderr
    r = ag("--policy", str(sticky / "theirs.toml"), "check", "--", "ls", cwd=shared_tmp)
    refused(r, sticky / "theirs.toml", f"{OTHERS}: {sticky / 'theirs.toml'}, a symbolic link on "
                                       f"the way, is owned by {other_user.name}")


@needs_root
def test_another_user_may_use_a_policy_root_owns(shared_tmp: Path, other_user: OtherUser) -> None:
    """Root may change anything anyway: a root-owned policy (say in /etc) is not refused."""
    policy = shared_tmp / "policy.toml"
    policy.write_text(TEST_POLICY.format(extra_settings=""))
    home = shared_tmp / "them"
    home.mkdir()
    os.chown(home, other_user.uid, other_user.gid)
    r = agx("check", "--", "nuke", user=other_user, cwd=shared_tmp,
            env={"AGENTGATE_HOME": str(home / "state"), "AGENTGATE_POLICY": str(policy)})
    assert r.returncode == 77, r.stderr
