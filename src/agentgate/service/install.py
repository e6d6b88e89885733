"""``agentgate service install | status | uninstall``: set up protected mode on this machine.

``install`` (as root) creates the service user and group, a root-owned copy of agentgate and
its dependencies under ``/opt/agentgate`` run by a root-owned interpreter in isolated mode
(``-I -S``: no user site-packages, no ``PYTHON*`` variables), the directories with their owners
and modes, the machine's policy, the approver secret, the service (a systemd unit where systemd
runs, else a detached process), and last, once the service answers, ``client.toml``, which
switches every client on the machine to it. Each step checks what is there before it changes
anything; nothing here prints (the CLI renders the returned :class:`Report`).
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__
from ..errors import ConfigError, UsageError
from ..lean import Record, field
from ..system import (
    CLIENT_BIN,
    CLIENT_FILE,
    ETC,
    LIB,
    POLICY_FILE,
    PREFIX,
    RUN,
    SERVICE_USER,
    SOCKET,
    STATE,
    ClientConfig,
    render_client_file,
)
from . import protocol, secret

UNIT_FILE = "/etc/systemd/system/agentgate.service"
PID_FILE = RUN + "/service.pid"
LOG_FILE = STATE + "/service.log"
MIN_PYTHON = (3, 11)
DIST_NAME = "agentgate-checkpoint"  # pyproject.toml's name
START_TIMEOUT = 15.0


class Report(Record):
    """What install or uninstall did, for the CLI to show."""

    done: list[str] = field(default_factory=list)
    totp_uris: list[str] = field(default_factory=list)  # a new enrolment, to scan (never logged)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise UsageError(f"`agentgate service {what}` must run as root",
                         f"sudo agentgate service {what} ...")


def _run(argv: Sequence[str], what: str) -> None:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"{what} failed: {e}") from None
    if proc.returncode != 0:
        raise ConfigError(f"{what} failed: {' '.join(argv)}: "
                          f"{(proc.stderr or proc.stdout).strip() or f'exit {proc.returncode}'}")


# --------------------------------------------------------------------------- the interpreter


def _root_owned_chain(path: str) -> str | None:
    """Why ``path`` (resolved) is not safe to run as the service, or None: it and every
    directory above it must be root's, writable by root alone, and usable by everyone."""
    real = os.path.realpath(path)
    p = real
    while True:
        try:
            st = os.stat(p)
        except OSError as e:
            return f"{p}: {e.strerror}"
        if st.st_uid != 0 or st.st_mode & 0o022:
            return f"{p} is not root's alone"
        if not st.st_mode & 0o001:
            return f"{p} is not usable by other users"
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


def choose_python(candidates: Sequence[str] | None = None) -> str:
    """A root-owned Python >= 3.11 that every user may run: this one's base interpreter when
    it qualifies (a virtual environment's own is refused: its owner could change it), else the
    system's."""
    if candidates is None:
        base = getattr(sys, "_base_executable", sys.executable)
        candidates = [base, sys.executable, "/usr/bin/python3.13", "/usr/bin/python3.12",
                      "/usr/bin/python3.11", "/usr/bin/python3", "/usr/local/bin/python3"]
    problems = []
    for cand in candidates:
        if not cand or not os.path.exists(cand):
            continue
        why = _root_owned_chain(cand)
        if why is None:
            try:
                out = subprocess.run([cand, "-I", "-S", "-c",
                                      "import sys; print(sys.version_info[0], sys.version_info[1])"],
                                     capture_output=True, text=True, timeout=30).stdout.split()
                version = (int(out[0]), int(out[1]))
            except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
                why = f"{cand} does not run"
            else:
                if version >= MIN_PYTHON:
                    return os.path.realpath(cand)
                why = f"{cand} is Python {version[0]}.{version[1]}"
        problems.append(why)
    raise ConfigError("no root-owned Python 3.11 or newer that every user may run: "
                      + "; ".join(problems),
                      "install one (e.g. apt-get install python3), then run this again")


# --------------------------------------------------------------------------- the code


def _distributions() -> list[object]:
    """agentgate's installed dependencies, transitively, with the extras each one is asked
    for (``pyjwt[crypto]``) and agentgate's own ``mcp``, ``notify`` and ``dashboard`` extras
    when they are installed (the MCP server, notifications and the dashboard the service
    serves, in protected mode); a dependency behind an environment marker or an extra is taken
    when it is installed."""
    import importlib.metadata as md
    import re

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    ours = md.packages_distributions().get("agentgate") or [DIST_NAME]
    own = norm(ours[0])
    seen: dict[str, object] = {}
    done: set[tuple[str, str]] = set()  # (distribution, extra or "") whose requirements are in
    todo: list[tuple[str, frozenset[str], bool]] = [(ours[0], frozenset({"mcp", "notify", "dashboard"}), False)]
    while todo:
        name, extras, optional = todo.pop()
        key = norm(name)
        if key not in seen:
            try:
                seen[key] = md.distribution(name)
            except md.PackageNotFoundError:
                if optional:
                    continue
                raise ConfigError(f"agentgate's dependency {name} is not installed here",
                                  "install agentgate with its dependencies, then run this "
                                  "again") from None
        dist = seen[key]
        for extra in ("", *sorted(extras)):
            if (key, extra) in done:
                continue
            done.add((key, extra))
            for req in dist.requires or []:  # type: ignore[attr-defined]
                wanted = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", req)
                if (wanted.group(1) if wanted else "") != extra:
                    continue
                m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", req)
                if m:
                    asked = frozenset(e.strip() for e in (m.group(2) or "").split(",") if e.strip())
                    todo.append((m.group(1), asked, ";" in req))
    return [d for k, d in seen.items() if k != own]


def _copy_tree(src: str, dst: str) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                    dirs_exist_ok=True)


def install_code(python: str, lib: str = LIB, prefix: str = PREFIX) -> None:
    """A root-owned copy of agentgate and its dependencies in ``lib``, byte-compiled by
    ``python``, replacing an older copy in one rename; and the launcher."""
    import agentgate

    os.makedirs(prefix, mode=0o755, exist_ok=True)
    new = lib + ".new"
    shutil.rmtree(new, ignore_errors=True)
    os.makedirs(new, mode=0o755)
    _copy_tree(os.path.dirname(os.path.realpath(agentgate.__file__)), os.path.join(new, "agentgate"))
    for dist in _distributions():
        base = Path(str(dist.locate_file("")))  # type: ignore[attr-defined]
        for f in dist.files or []:  # type: ignore[attr-defined]
            rel = str(f)
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc") or \
                    rel.startswith("/"):
                continue
            source = base / rel
            if not source.is_file():
                continue
            target = Path(new, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _run([python, "-I", "-S", "-m", "compileall", "-q", new], "byte-compiling the installed code")
    for dirpath, _dirnames, filenames in os.walk(new):
        os.chown(dirpath, 0, 0)
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            os.chown(p, 0, 0, follow_symlinks=False)
            if not os.path.islink(p):
                os.chmod(p, 0o644)
    old = lib + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(lib):
        os.rename(lib, old)
    os.rename(new, lib)
    shutil.rmtree(old, ignore_errors=True)
    os.makedirs(os.path.dirname(CLIENT_BIN), mode=0o755, exist_ok=True)
    _write_root_file(CLIENT_BIN, launcher(python, lib), 0o755)


def launcher(python: str, lib: str = LIB) -> str:
    """The root-owned client and service entry point: isolated mode, only ``lib`` on the path."""
    return (f"#!{python} -IS\n"
            "# agentgate's protected-mode client and service (written by `agentgate service "
            "install`).\n"
            "import sys\n"
            f"sys.path[:0] = [{json.dumps(lib)}]\n"
            "from agentgate.entry import main\n"
            "main()\n")


def _write_root_file(path: str, text: str, mode: int) -> None:
    from ..fileio import replace_atomically

    replace_atomically(Path(path), text.encode(), mode)
    os.chown(path, 0, 0)
    os.chmod(path, mode)


# --------------------------------------------------------------------------- users and dirs


def ensure_user(name: str = SERVICE_USER) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
    try:  # a group of that name left behind (by a userdel, say) becomes the user's group
        grp.getgrnam(name)
        group = ["--gid", name]
    except KeyError:
        group = ["--user-group"]
    _run(["useradd", "--system", *group, "--home-dir", STATE, "--no-create-home",
          "--shell", shell, name], f"creating the system user {name}")
    return pwd.getpwnam(name)


def add_to_group(users: Sequence[str], group: str = SERVICE_USER) -> list[str]:
    added = []
    members = set(grp.getgrnam(group).gr_mem)
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise UsageError(f"--for {user}: no such user") from None
        if user not in members:
            _run(["usermod", "-a", "-G", group, user], f"adding {user} to the group {group}")
            added.append(user)
    return added


def _dir(path: str, uid: int, gid: int, mode: int) -> None:
    if os.path.islink(path):
        raise ConfigError(f"{path} is a symbolic link", "remove it, then run this again")
    os.makedirs(path, mode=mode, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


# --------------------------------------------------------------------------- the policy


def install_policy(source: str | None) -> str:
    """``/etc/agentgate/policy.toml``: kept when present; else a copy of ``source`` (the user's
    policy), else the embedded default. It must load before it is put in place."""
    from .. import policy as pol

    if os.path.exists(POLICY_FILE):
        pol.parse_policy_file(pol.read_policy_bytes(Path(POLICY_FILE)), POLICY_FILE, "system")
        return f"kept the policy {POLICY_FILE}"
    if source is not None:
        data = pol.read_policy_bytes(Path(source))
        what = f"copied {source}"
    else:
        data = pol.embedded_policy_text()
        what = "the embedded default policy"
    pol.parse_policy_file(data, POLICY_FILE, "system")
    _write_root_file(POLICY_FILE, data.decode() if isinstance(data, bytes) else data, 0o644)
    return f"wrote {POLICY_FILE} ({what})"


def invoking_user_policy() -> str | None:
    """The policy of the user who ran sudo, when they have one."""
    user = os.environ.get("SUDO_USER")
    if not user:
        return None
    try:
        home = pwd.getpwnam(user).pw_dir
    except KeyError:
        return None
    path = os.path.join(home, ".config", "agentgate", "policy.toml")
    return path if os.path.isfile(path) else None


# --------------------------------------------------------------------------- the secret


def install_secret(read: Callable[[], str], user: pwd.struct_passwd, reset: bool) -> str:
    path = os.path.join(STATE, secret.KEY_FILE)
    if os.path.exists(path) and not reset:
        return "kept the approver secret (--reset-secret sets a new one)"
    verifier = secret.new_verifier(read())
    secret.write_verifier(STATE, verifier)
    os.chown(path, user.pw_uid, user.pw_gid)  # the service's own, 0600
    attempts = os.path.join(STATE, secret.ATTEMPTS_FILE)
    if os.path.exists(attempts):
        os.unlink(attempts)
    return "set the approver secret"


# --------------------------------------------------------------------------- the service


def systemd_running() -> bool:
    return os.path.isdir("/run/systemd/system") and shutil.which("systemctl") is not None


def service_command(python: str) -> list[str]:
    return [python, "-I", "-S", CLIENT_BIN, "service", "run"]


def service_env() -> dict[str, str]:
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": STATE, "AGENTGATE_HOME": STATE,
            "LANG": "C.UTF-8"}


def unit_text(python: str) -> str:
    cmd = " ".join(service_command(python))
    env = " ".join(f'"{k}={v}"' for k, v in service_env().items())
    return ("[Unit]\nDescription=agentgate service (protected mode)\nAfter=local-fs.target\n\n"
            "[Service]\nType=simple\n"
            f"User={SERVICE_USER}\nGroup={SERVICE_USER}\n"
            f"Environment={env}\nExecStart={cmd}\nRestart=on-failure\nRestartSec=1\n"
            "RuntimeDirectory=agentgate\nRuntimeDirectoryMode=0750\nRuntimeDirectoryPreserve=yes\n"
            "NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n"
            f"ReadWritePaths={STATE} {RUN}\nUMask=0077\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


def running_pid() -> int | None:
    """The detached service's pid, when the pid file names a live agentgate service."""
    try:
        pid = int(Path(PID_FILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"service" in cmdline and CLIENT_BIN.encode() in cmdline else None


def stop_detached(timeout: float = 10.0) -> bool:
    pid = running_pid()
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or running_pid() is None:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.unlink(PID_FILE)
    return True


def start_detached(python: str, user: pwd.struct_passwd) -> int:
    log = os.open(LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.fchown(log, user.pw_uid, user.pw_gid)
    try:
        proc = subprocess.Popen(service_command(python), cwd="/", env=service_env(),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                                start_new_session=True, umask=0o077)
    finally:
        os.close(log)
    _write_root_file(PID_FILE, f"{proc.pid}\n", 0o644)
    return proc.pid


def wait_until_answers(config: ClientConfig, timeout: float = START_TIMEOUT) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with protocol.Connection(config.socket, config.service_uid, 5.0) as conn:
                return conn.ask({"op": "hello"})
        except Exception as e:  # not up yet
            last = e
            time.sleep(0.1)
    log = ""
    with contextlib.suppress(OSError):
        log = Path(LOG_FILE).read_text()[-2000:]
    raise ConfigError(f"the service did not answer within {timeout:.0f} s ({last})"
                      + (f"; its log says:\n{log}" if log else ""),
                      f"see {LOG_FILE} or `journalctl -u agentgate`")


# --------------------------------------------------------------------------- install


def install(*, users: Sequence[str], read_secret: Callable[[], str], reset_secret: bool = False,
            policy_source: str | None = None, totp: bool | None = None) -> Report:
    """Set up protected mode (see the module docstring); returns what was done."""
    _need_root("install")
    report = Report()
    python = choose_python()
    report.done.append(f"interpreter {python} (isolated mode)")
    user = ensure_user()
    report.done.append(f"service user {user.pw_name} (uid {user.pw_uid})")
    added = add_to_group(users)
    if added:
        report.done.append(f"added {', '.join(added)} to the group {SERVICE_USER}")
        report.notes.append(f"{', '.join(added)}: log in again (or run `newgrp {SERVICE_USER}`) "
                            "for the new group to take effect")
    _dir(ETC, 0, 0, 0o755)
    _dir(STATE, user.pw_uid, user.pw_gid, 0o700)
    _dir(RUN, user.pw_uid, user.pw_gid, 0o750)
    install_code(python)
    report.done.append(f"installed agentgate {__version__} into {LIB} (root-owned), the client "
                       f"{CLIENT_BIN}")
    report.done.append(install_policy(policy_source or invoking_user_policy()))
    report.done.append(install_secret(read_secret, user, reset_secret))
    if totp is not None:
        enrolment = secret.new_totp() if totp else None
        secret.write_totp(STATE, enrolment)
        if enrolment is not None:
            os.chown(os.path.join(STATE, secret.TOTP_FILE), user.pw_uid, user.pw_gid)
            report.totp_uris.append(secret.totp_uri(enrolment, os.uname().nodename))
            report.done.append("enrolled a TOTP authenticator: approvals need its code as well")
        else:
            report.done.append("removed the TOTP authenticator: approvals need the passphrase only")
    if systemd_running():
        _write_root_file(UNIT_FILE, unit_text(python), 0o644)
        _run(["systemctl", "daemon-reload"], "systemctl daemon-reload")
        _run(["systemctl", "enable", "agentgate"], "systemctl enable agentgate")
        _run(["systemctl", "restart", "agentgate"], "systemctl restart agentgate")
        report.done.append(f"started the systemd unit agentgate ({UNIT_FILE})")
    else:
        stop_detached()
        pid = start_detached(python, user)
        report.done.append(f"started the service as a detached process (pid {pid}; log {LOG_FILE})")
        report.notes.append("systemd is not running here: start the service at boot yourself, "
                            f"as {SERVICE_USER}: {' '.join(service_command(python))} "
                            f"(with {RUN} owned by {SERVICE_USER}, mode 0750)")
    config = ClientConfig(SOCKET, user.pw_name, user.pw_uid, 30.0)
    wait_until_answers(config)
    _write_root_file(CLIENT_FILE, render_client_file(), 0o644)
    report.done.append(f"wrote {CLIENT_FILE}: every agentgate client on this machine now asks "
                       "the service")
    report.warnings.extend(passwordless_sudo([*users, *filter(None, [os.environ.get("SUDO_USER")])]))
    return report


def passwordless_sudo(users: Sequence[str]) -> list[str]:
    """A warning for each user who can run sudo without a password: no local boundary holds
    against them (they can become root, or the service user)."""
    if shutil.which("sudo") is None:
        return []
    out = []
    for user in dict.fromkeys(users):
        if user == "root":
            continue
        try:
            proc = subprocess.run(["sudo", "-n", "-l", "-U", user], capture_output=True, text=True,
                                  timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if "NOPASSWD" in proc.stdout:
            out.append(f"{user} can run sudo without a password: an agent running as {user} can "
                       "become root and switch protected mode off; require a password "
                       "(remove NOPASSWD) for protected mode to hold")
    return out


# --------------------------------------------------------------------------- uninstall, status


def uninstall(*, purge: bool = False) -> Report:
    """Remove protected mode: the client file first (clients go back to personal mode), then
    the service, the code and the unit; the state (the audit log) stays unless ``purge``."""
    _need_root("uninstall")
    report = Report()
    remove_system_hooks(report)  # first: a hook left pointing at a removed client is no hook
    if os.path.exists(CLIENT_FILE):
        os.unlink(CLIENT_FILE)
        report.done.append(f"removed {CLIENT_FILE}: clients are in personal mode again")
    if os.path.exists(UNIT_FILE):
        subprocess.run(["systemctl", "disable", "--now", "agentgate"], capture_output=True)
        os.unlink(UNIT_FILE)
        subprocess.run(["systemctl", "daemon-reload"], capture_output=True)
        report.done.append("stopped and removed the systemd unit")
    if stop_detached():
        report.done.append("stopped the service")
    for path in (PREFIX, RUN, *((STATE, ETC) if purge else ())):
        if os.path.lexists(path):
            _remove_tree(path)
            report.done.append(f"removed {path}")
    if purge:
        for look_up, tool, what in ((pwd.getpwnam, "userdel", "user"),
                                    (grp.getgrnam, "groupdel", "group")):
            try:
                look_up(SERVICE_USER)
            except KeyError:
                continue
            _run([tool, SERVICE_USER], f"removing the {what} {SERVICE_USER}")
            report.done.append(f"removed the {what} {SERVICE_USER}")
    else:
        report.notes.append(f"kept {STATE} (the audit log and ledger) and {POLICY_FILE}; "
                            "--purge removes them")
    return report


def remove_system_hooks(report: Report, root: str = "/") -> None:
    """Take agentgate's hook out of every agent's machine-wide settings (``hook install
    --system``). Any that cannot be read or written stops the uninstall before the client is
    removed: an agent whose managed hook runs a program that is gone would run unguarded (the
    agents take a hook that cannot start as "go ahead")."""
    from ..integrations.agents import AGENTS
    from ..integrations.install import apply_system, plan_system_uninstall

    for agent in AGENTS.values():
        if agent.system is None or sys.platform not in agent.system.files:
            continue
        try:
            plan = plan_system_uninstall(agent, Path(root))
            if plan.changed:
                apply_system(plan)
                report.done.append(f"took agentgate's hook out of {plan.path}")
        except (ConfigError, UsageError) as e:
            raise ConfigError(f"cannot take agentgate's hook out of {agent.product}'s machine-wide "
                              f"settings: {e.message}; nothing was uninstalled",
                              e.hint or "fix the file, then run this again") from None


def _remove_tree(path: str) -> None:
    """``path`` and everything in it; a mount point (a tmpfs, systemd's runtime directory) is
    emptied and left in place."""
    import errno

    try:
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
            return
        for name in os.listdir(path):
            child = os.path.join(path, name)
            if os.path.isdir(child) and not os.path.islink(child):
                shutil.rmtree(child)
            else:
                os.unlink(child)
        try:
            os.rmdir(path)
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
    except OSError as e:
        raise ConfigError(f"cannot remove {path}: {e.strerror or e}",
                          "remove it by hand, then run this again") from None


def status() -> dict[str, object]:
    """What the service says about itself; raises when it does not answer (or the machine is
    not in protected mode)."""
    from ..system import client_config

    config = client_config()
    if config is None:
        raise ConfigError("this machine is in personal mode (no " + CLIENT_FILE + ")",
                          "sudo agentgate service install sets up protected mode",
                          exit_code=1)
    with protocol.Connection(config.socket, config.service_uid, config.timeout) as conn:
        answer = conn.ask({"op": "status"})
    answer.pop("ok", None)
    return {"mode": "protected", "socket": config.socket, "serviceUser": config.service_user,
            **answer}

