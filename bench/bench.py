"""What the gate costs: start-up overhead, policy evaluation, history, big logs, parallel runs.

    .venv/bin/python bench/bench.py            # the full run (1,000,000 events; about 3 minutes)
    .venv/bin/python bench/bench.py --quick    # smaller sizes, for a smoke test
    .venv/bin/python bench/bench.py --only-human  # pending, show, log --tail 5 (issue 12)
    .venv/bin/python bench/bench.py --only-hooks --runs 40  # each agent's hook call (issue 11)
    git archive 3ad6e02 | tar -x -C /tmp/old   # part 1 against older code, interleaved:
    .venv/bin/python bench/bench.py --only-overhead --runs 40 --against /tmp/old/src
    sudo .venv/bin/python bench/bench.py --protected  # protected mode's client (issue 10)

Everything runs in a temporary directory against the installed console script, with the
embedded default policy. Python byte-code is cached in that directory (PYTHONPYCACHEPREFIX) so
that every variant runs from compiled modules, as an installed package does, whatever
PYTHONDONTWRITEBYTECODE says. Prints one table per part; the targets come from issue 5.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from agentgate import policy as pol
from agentgate import shell
from agentgate.audit import GENESIS, AuditLog, line_hash, now_iso
from agentgate.ledger import CONSUMED, DENIED, EXPIRED, Ledger, make_request
from agentgate.paths import StatePaths

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AGENTGATE = str(BIN / "agentgate")
PYTHON = str(BIN / "python")


# --------------------------------------------------------------------------- helpers


class Env:
    """A private HOME/state/pycache for the console script, the embedded default policy."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "config"
        self.config.mkdir(parents=True)
        self.work = root / "work"
        self.work.mkdir()
        self.base = {k: v for k, v in os.environ.items()
                     if not k.startswith("AGENTGATE_") and k != "PYTHONDONTWRITEBYTECODE"}
        self.base.update({"PYTHONPYCACHEPREFIX": str(root / "pycache"),
                          "AGENTGATE_CONFIG_DIR": str(self.config), "HOME": str(root)})

    def env(self, state: Path, **extra: str) -> dict[str, str]:
        return {**self.base, "AGENTGATE_HOME": str(state), **extra}


# `agentgate ARGS` that reports its own peak RSS (VmHWM) on exit. ru_maxrss from wait4 would not
# do: a child created by fork or vfork starts with its parent's high-water mark, so it shows
# the size of whoever started it (this script, or pytest) rather than its own.
PEAK_PROBE = """\
import atexit, sys
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("\\nVmHWM " + line.split()[1] + "\\n")
atexit.register(_hwm)
from agentgate.entry import main
sys.argv = ["agentgate", *sys.argv[1:]]
main()
"""


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path,
          stdin: bytes | None = None) -> tuple[float, int, float]:
    """(wall seconds, exit code, CPU seconds: user + system) of one process; ``stdin`` is fed to
    it (else /dev/null)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    code = subprocess.run(argv, env=env, cwd=cwd, input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, code, cpu


def timed_peak(args: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, int, int]:
    """(wall seconds, exit code, peak RSS KiB) of `agentgate ARGS`."""
    t0 = time.perf_counter()
    r = subprocess.run([PYTHON, "-c", PEAK_PROBE, *args], env=env, cwd=cwd, check=False,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    peak = int(r.stderr.rsplit(b"VmHWM ", 1)[1].split()[0])
    return wall, r.returncode, peak


def round_robin(cmds: dict[str, tuple[Sequence[str], dict[str, str], int]], cwd: Path,
                runs: int, warmup: int = 3, *,
                stdin: dict[str, bytes | Callable[[int], bytes]] | None = None,
                cpu: dict[str, float] | None = None) -> dict[str, float]:
    """Median wall time of each (argv, env, expected exit code), taking the commands in turn so
    that a change of load on the machine hits them all alike. ``stdin`` gives some commands
    their input (or a function of the round's number that makes it); ``cpu``, when given,
    receives each command's median CPU time."""
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    cpus: dict[str, list[float]] = {name: [] for name in cmds}
    for n in range(warmup + runs):
        for name, (argv, env, expect) in cmds.items():
            data = (stdin or {}).get(name)
            wall, code, used = timed(argv, env, cwd, data(n) if callable(data) else data)
            assert code == expect, (argv, code)
            if n >= warmup:
                walls[name].append(wall)
                cpus[name].append(used)
    if cpu is not None:
        cpu.update({name: statistics.median(c) for name, c in cpus.items()})
    return {name: statistics.median(w) for name, w in walls.items()}


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}\n")
    for n, r in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    sys.stdout.flush()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --------------------------------------------------------------------------- big state


def write_big_log(state: Path, events: int, max_bytes: int = 64 * 1024 * 1024) -> int:
    """A rolled, correctly chained audit log of ``events`` realistic lines, written directly."""
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    rng = random.Random(1)
    agents = ["claude-code", "codex", "cursor", "gemini", "ci-bot"]
    commands = [["git", "status"], ["npm", "test"], ["make", "build"], ["pytest", "-q"],
                ["ls", "-la"], ["vercel", "--prod"], ["terraform", "apply"], ["rm", "-rf", "/"]]
    t0 = time.time() - 30 * 86400
    step = 30 * 86400 / events
    prev, seq, size, files = GENESIS, 0, 0, 0
    out = open(state / "audit.jsonl", "wb")  # noqa: SIM115 - rolled below
    try:
        for i in range(events):
            cmd = rng.choice(commands)
            ev = "allowed" if i % 2 == 0 else "exited"
            if cmd[0] in ("vercel", "terraform"):
                ev = rng.choice(["approval_requested", "approved", "grant_consumed"])
            elif cmd[0] == "rm":
                ev = "denied"
            line = {"ts": now_iso(t0 + i * step), "seq": seq + 1, "event": ev,
                    "kind": "argv", "argv": cmd, "cwd": "/home/dev/project",
                    "user": "dev", "host": "laptop", "pid": 10000 + i % 5000,
                    "policy": "a" * 64, "agent": rng.choice(agents),
                    "rule": None if ev in ("allowed", "exited") else "prod-deploy",
                    "decision": "allow", "prev": prev}
            if ev in ("approval_requested", "approved", "grant_consumed"):
                line["id"] = f"apr_{i:010d}"
            raw = json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()
            prev, seq = line_hash(raw), seq + 1
            out.write(raw + b"\n")
            size += len(raw) + 1
            if size >= max_bytes:
                out.close()
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t0 + i * step))
                os.replace(state / "audit.jsonl", state / f"audit-{stamp}.jsonl")
                out = open(state / "audit.jsonl", "wb")  # noqa: SIM115
                size, files = 0, files + 1
    finally:
        out.close()
    # the head, as the writer records it (log verify fails a log whose head is missing)
    head = state / "audit.head"
    head.write_text(json.dumps({"seq": seq, "sha256": prev}))
    for p in (head, *state.glob("audit*.jsonl")):
        p.chmod(0o600)
    return files + 1


def write_big_ledger(state: Path, finished: int) -> None:
    """A ledger holding ``finished`` requests that ended within the retention period."""
    rng = random.Random(2)
    with Ledger(StatePaths(state)).locked() as st:
        for i in range(finished):
            req = make_request(fp=f"{i:064x}", kind="argv", argv=["vercel", "--prod", str(i)],
                               cwd="/home/dev/project", rule="prod-deploy",
                               reason="Production deploys need a human.", agent="claude-code",
                               now=st.now - rng.uniform(0, 5 * 86400), request_ttl=86400)
            req.status = rng.choice([CONSUMED, CONSUMED, EXPIRED, DENIED])
            req.finished_at = req.created_at + 60
            if req.status == DENIED:
                req.expires_at = req.created_at + 60  # the denial no longer holds
            st.add(req)


# --------------------------------------------------------------------------- parts


OWN, RUN = "agentgate --policy own.toml run -- true", "agentgate run -- true"
HOOK = "agentgate hook claude-code (Bash `ls -la`)"


def _gate_commands(env: Env, src: Path | None, tag: str
                   ) -> tuple[dict[str, tuple[Sequence[str], dict[str, str], int]], dict[str, bytes]]:
    """The three gate commands of part 1, run with the code of ``src`` (another checkout's
    ``src``, first on PYTHONPATH; None: the installed code), their names ending in ``tag``."""
    e = env.env(env.root / f"state-overhead{tag}", **({"PYTHONPATH": str(src)} if src else {}))
    own = env.root / f"own-policy{tag}.toml"  # the starter policy, edited: read with tomllib
    starter = ((src / "agentgate" / "policies.example.toml").read_bytes() if src
               else pol.embedded_policy_text())
    own.write_bytes(starter + b"\n# my own copy\n")
    hook_input = json.dumps({"session_id": "bench", "hook_event_name": "PreToolUse",
                             "tool_name": "Bash", "tool_input": {"command": "ls -la"},
                             "cwd": str(env.work)}).encode()
    return {RUN + tag: ([AGENTGATE, "run", "--", "true"], e, 0),
            OWN + tag: ([AGENTGATE, "--policy", str(own), "run", "--", "true"], e, 0),
            HOOK + tag: ([AGENTGATE, "hook", "claude-code"], e, 0)}, {HOOK + tag: hook_input}


def part_overhead(env: Env, runs: int, against: Path | None = None) -> dict[str, float]:
    """Part 1; with ``against`` (another checkout's ``src``, e.g. an older commit's) its gate
    commands too, taken in the same round robin, named "... (against)"."""
    cmds, stdin = _gate_commands(env, None, "")
    if against is not None:
        more, more_stdin = _gate_commands(env, against, " (against)")
        cmds.update(more)
        stdin.update(more_stdin)
    cmds["python -c pass"] = ([PYTHON, "-c", "pass"], env.env(env.root / "state-overhead"), 0)
    cmds["true"] = (["true"], env.base, 0)
    cpu: dict[str, float] = {}
    results = round_robin(cmds, env.work, runs, stdin=stdin, cpu=cpu)
    py = results["python -c pass"]

    def run_of(k: str) -> str:  # the `run -- true` of the same code
        return RUN + (" (against)" if k.endswith(" (against)") else "")

    table(f"1. Gate overhead (median of {runs} runs)",
          ["command", "median", "x python -c pass", "x true", "x run -- true", "CPU",
           "CPU x run -- true"],
          [(k, ms(v), f"{v / py:.2f}", f"{v / results['true']:.1f}",
            f"{v / results[run_of(k)]:.2f}", ms(cpu[k]), f"{cpu[k] / cpu[run_of(k)]:.2f}")
           for k, v in results.items()])
    return results


# The hook input each pinned agent sends for one shell call, as captured from the real CLIs
# (Claude Code 2.1.197 and 2.1.332, Codex 0.171.0, Gemini CLI 0.61.0): the conformance tests
# check these keys against what each agent sends (tests/test_real_codex.py, test_real_gemini.py).
def hook_payload(agent: str, cwd: Path, n: int, command: str = "ls -la") -> dict[str, object]:
    """Call ``n`` of a session: every call its own session and tool-use id, as the agent's are
    (nothing learnt from an earlier call with the same ids can be reused)."""
    sid = f"0000bench-{n:04d}-4000-8000-000000000000"
    if agent == "claude-code":
        return {"session_id": sid, "transcript_path": f"{cwd}/.claude/projects/w/{sid}.jsonl",
                "cwd": str(cwd), "prompt_id": f"prompt-{n}", "permission_mode": "bypassPermissions",
                "effort": {"level": "high"}, "hook_event_name": "PreToolUse", "tool_name": "Bash",
                "tool_input": {"command": command, "description": "List the files"},
                "tool_use_id": f"toolu_bench_{n}"}
    if agent == "codex":
        return {"session_id": sid, "turn_id": f"turn-{n}",
                "transcript_path": f"{cwd}/.codex/sessions/rollout-{sid}.jsonl", "cwd": str(cwd),
                "hook_event_name": "PreToolUse", "model": "gpt-5", "permission_mode": "bypassPermissions",
                "tool_name": "Bash", "tool_input": {"command": command},
                "tool_use_id": f"call_bench_{n}"}
    if agent == "gemini":
        return {"session_id": sid, "transcript_path": f"{cwd}/.gemini/tmp/w/chats/session-{sid}.jsonl",
                "cwd": str(cwd), "hook_event_name": "BeforeTool",
                "timestamp": now_iso(time.time()), "tool_name": "run_shell_command",
                "tool_input": {"command": command}}
    raise ValueError(agent)


HOOK_AGENTS = ("claude-code", "codex", "gemini")


def part_hooks(env: Env, runs: int) -> dict[str, float]:
    """Part 1d: one hook call of each agent for a shell call of `ls -la`, with the input that
    agent sends, every call a new tool call, taken in turn with `run -- true`."""
    e = env.env(env.root / "state-hooks")
    cmds: dict[str, tuple[Sequence[str], dict[str, str], int]] = {
        RUN: ([AGENTGATE, "run", "--", "true"], e, 0)}
    stdin: dict[str, bytes | Callable[[int], bytes]] = {}
    for agent in HOOK_AGENTS:
        name = f"agentgate hook {agent}"
        cmds[name] = ([AGENTGATE, "hook", agent], e, 0)
        stdin[name] = lambda n, agent=agent: json.dumps(hook_payload(agent, env.work, n)).encode()
    cmds["python -c pass"] = ([PYTHON, "-c", "pass"], e, 0)
    cpu: dict[str, float] = {}
    results = round_robin(cmds, env.work, runs, warmup=3, stdin=stdin, cpu=cpu)
    log = env.root / "state-hooks" / "audit.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    for agent in HOOK_AGENTS:  # each call was judged, and allowed, as that agent's
        assert sum(1 for ev in events if ev["event"] == "allowed" and ev.get("agent") == agent
                   and ev.get("argv") == ["ls -la"]) == 3 + runs, agent
    table(f"1d. Per-call hook latency, each agent's own input (median of {runs} runs)",
          ["command", "median", "x run -- true", "CPU", "CPU x run -- true"],
          [(k, ms(v), f"{v / results[RUN]:.2f}", ms(cpu[k]), f"{cpu[k] / cpu[RUN]:.2f}")
           for k, v in results.items()])
    return results


def phase_profile(env: Env) -> None:
    """Where one `run` spends its time, measured inside the process (median of 15)."""
    probe = r"""
import time; T = [time.perf_counter()]
def mark(): T.append(time.perf_counter())
import gc, os, sys
import re; mark()
import agentgate.entry; mark()
gc.disable()  # as agentgate.hotpath.run_command does
import agentgate.shell; mark()
import agentgate.policy; mark()
import agentgate.gate, agentgate.backend; mark()
import agentgate.runner, agentgate.subjects; mark()
from agentgate.gate import Gate, Subject
from agentgate.policy import load_policy
from agentgate.paths import StatePaths, current_dir
from agentgate.runner import run
paths = StatePaths.default(); cwd = current_dir()
policy = load_policy(None, cwd, paths); mark()
gate = Gate(policy, paths); outcome = gate.authorize(Subject("argv", ("true",), cwd), "b"); mark()
run(["true"]); mark()
gate.record_exit(outcome, 0, "b"); mark()
print(" ".join(f"{(b - a) * 1000:.3f}" for a, b in zip(T, T[1:])))
"""
    names = ["import re (the console script's own)", "import agentgate.entry (+output, lean)",
             "import agentgate.shell (+agentgate.lean)", "import agentgate.policy",
             "import agentgate.gate, backend, ledger, audit, guard",
             "import agentgate.runner, subjects",
             "load the embedded policy (pre-parsed, examples validated)",
             "authorize (flock + audit append)", "spawn and wait `true`",
             "record the exit (flock + append)"]
    e = env.env(env.root / "state-overhead")
    samples = []
    for _ in range(15):
        out = subprocess.run([PYTHON, "-c", probe], env=e, cwd=env.work, capture_output=True,
                             text=True, check=True).stdout
        samples.append([float(x) for x in out.split()])
    rows = [(n, f"{statistics.median(s[i] for s in samples):.1f} ms") for i, n in enumerate(names)]
    total = sum(statistics.median(s[i] for s in samples) for i in range(len(names)))
    rows.append(("total inside the interpreter", f"{total:.1f} ms"))
    table("1b. Where `agentgate run -- true` spends its time (in-process, median of 15)",
          ["phase", "time"], rows)


def _corpus() -> list[str | list[str]]:
    path = REPO / "tests" / "test_corpus.py"
    spec = importlib.util.spec_from_file_location("corpus", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [cmd for cmd, _ in mod.CORPUS]


def generated_policy(n: int, wild: bool = True) -> str:
    """n rules over many programs: literal subcommands, ``**`` patterns, alternatives, and (with
    ``wild``) a few wildcard-program rules and regexes, which no index can skip: every command
    is checked against those."""
    parts = ['version = 1\n[settings]\ndefault = "allow"\n']
    for i in range(n):
        prog = f"tool{i % 250}"
        kind = i % 20 if wild else 2 + i % 18
        if kind == 0:
            cmds, match = [f'"** --danger-{i}"'], f"anything --danger-{i}"
        elif kind == 1:
            cmds, match = [], f"{prog} zap{i}"
            parts.append(f'[[rule]]\nid = "r{i}"\ndecision = "deny"\nregex = ["^{prog} zap{i}( |$)"]\n'
                         f'match = ["{match}"]\n')
            continue
        elif kind < 8:
            cmds, match = [f'"{prog} sub{i} ** --prod"'], f"{prog} sub{i} x --prod"
        elif kind < 14:
            cmds, match = [f'"{{{prog},{prog}-cli}} deploy{i}"'], f"{prog}-cli deploy{i}"
        else:
            cmds, match = [f'"{prog} ** -f{i % 10} ** target{i}"'], f"{prog} a -f{i % 10} b target{i}"
        decision = ("allow", "ask", "deny")[i % 3]
        parts.append(f'[[rule]]\nid = "r{i}"\ndecision = "{decision}"\n'
                     f'commands = [{", ".join(cmds)}]\nmatch = ["{match}"]\n')
    return "\n".join(parts)


def _time_check(policy: pol.Policy, cmd: str | list[str], reps: int) -> float:
    """Microseconds per evaluation, the shell analysis included: a command line as a hook sends
    it, an argv as `run` does, from a project directory below the home directory."""
    where = ("/home/u/app", "/home/u")
    check: Callable[[], object] = (
        (lambda: policy.decide(shell.analyze_script(cmd, *where))) if isinstance(cmd, str)
        else (lambda: policy.decide(shell.analyze_argv(cmd, *where))))
    check()
    t0 = time.perf_counter_ns()
    for _ in range(reps):
        check()
    return (time.perf_counter_ns() - t0) / reps / 1000


def part_policy(corpus: list[str | list[str]], reps: int) -> None:
    policies = {
        "embedded default": pol.parse_policy(pol.embedded_policy_text(), "<embedded>"),
        "generated, 1,000 rules": pol.parse_policy(generated_policy(1000), "<generated>"),
        "1,000 rules, all program-named": pol.parse_policy(generated_policy(1000, wild=False), "<generated>"),
    }
    rows = []
    for name, policy in policies.items():
        per_cmd = sorted(_time_check(policy, cmd, reps) for cmd in corpus)
        rows.append((name, len(policy.rules), len(corpus), f"{statistics.median(per_cmd):.1f} us",
                     f"{per_cmd[int(len(per_cmd) * 0.95)]:.1f} us", f"{per_cmd[-1]:.1f} us"))
    text = generated_policy(1000).encode()
    t0 = time.perf_counter()
    pol.parse_policy_file(text, "<generated>")
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    pol.parse_policy_file(text, "<generated>", check_examples=False)
    cached = time.perf_counter() - t0
    table("2. Policy evaluation (per command, shell analysis included)",
          ["policy", "rules", "commands", "median", "p95", "max"], rows)
    print(f"\nLoading the 1,000-rule policy: {ms(full)} with its 1,000 inline examples, "
          f"{ms(cached)} once that content is known to pass them (`<state>/validated/`).")


def part_history(env: Env, events: int, finished: int, runs: int) -> tuple[Path, float]:
    empty, big = env.root / "state-empty", env.root / "state-big"
    t0 = time.perf_counter()
    files = write_big_log(big, events)
    write_big_ledger(big, finished)
    gen = time.perf_counter() - t0
    ask = ["vercel", "--prod"]  # asks under the default policy; repeats find the pending request
    rows = []
    for label, argv, code in (("allowed: run -- true", ["true"], 0),
                              ("held: run -- vercel --prod (pending)", ask, 75)):
        cmds = {name: ([AGENTGATE, "run", "--", *argv], env.env(state), code)
                for name, state in (("empty", empty), ("big", big))}
        for cmd, e, _ in cmds.values():
            timed(cmd, e, env.work)  # opens the request if needed
        walls = round_robin(cmds, env.work, runs)
        rows.append((label, ms(walls["empty"]), ms(walls["big"]), f"{walls['big'] / walls['empty']:.2f}"))
    size = sum(p.stat().st_size for p in big.glob("audit*.jsonl"))
    table(f"3. History: {events:,} audit events in {files} files ({size / 2**20:.0f} MiB) and a "
          f"ledger of {finished:,} finished requests ({(big / 'ledger.json').stat().st_size / 2**20:.1f} MiB) "
          f"vs an empty state dir (median of {runs}; generated in {gen:.1f} s)",
          ["command", "empty", "big history", "ratio"], rows)
    return big, gen



def part_human(env: Env, state: Path, events: int, runs: int) -> dict[str, float]:
    """A human's quick looks (issue 12: at most 5x `python -c pass` each), on the state of part
    3 (a big audit log and ledger) with three pending requests: `pending`, `show ID` and `log
    --tail 5` (read from the end of the log), interleaved with `python -c pass`."""
    e = env.env(state)
    rids = []
    for n in range(3):
        r = subprocess.run([AGENTGATE, "run", "--json", "--", "vercel", "--prod", f"site{n}"],
                           env=e, cwd=env.work, capture_output=True, text=True, check=False)
        assert r.returncode == 75, r.stderr
        rids.append(json.loads(r.stdout)["approvalId"])
    words = {"pending": ["pending"], "show ID": ["show", rids[0]], "log --tail 5":
             ["log", "--tail", "5"], "pending --json": ["pending", "--json"]}
    cmds: dict[str, tuple[Sequence[str], dict[str, str], int]] = {
        f"agentgate {k}": ([AGENTGATE, *v], e, 0) for k, v in words.items()}
    cmds["python -c pass"] = ([PYTHON, "-c", "pass"], e, 0)
    results = round_robin(cmds, env.work, runs)
    py = results["python -c pass"]
    size = sum(p.stat().st_size for p in state.glob("audit*.jsonl"))
    table(f"1c. A human's quick looks, on {events:,} audit events ({size / 2**20:.0f} MiB) and "
          f"the ledger of part 3 (median of {runs} runs; target: at most 5x python -c pass)",
          ["command", "median", "x python -c pass"],
          [(k, ms(v), f"{v / py:.2f}") for k, v in results.items()])
    return results


def part_log(env: Env, state: Path, events: int) -> None:
    e = env.env(state)
    rows = []
    cases = [
        ("log --json --event denied", ["log", "--json", "--event", "denied"], 0),
        ("log --json --id apr_0000000050 (byte pre-filter)", ["log", "--json", "--id", "apr_0000000050"], 0),
        ("log --json --since 1d (timestamps)", ["log", "--json", "--since", "1d"], 0),
        ("log --agent ci-bot --tail 20", ["log", "--agent", "ci-bot", "--tail", "20"], 0),
        ("log summary --json", ["log", "summary", "--json"], 0),
        ("log verify", ["log", "verify"], 0),
    ]
    for label, args, code in cases:
        wall, rc, rss = timed_peak(args, e, env.work)
        assert rc == code, (args, rc)
        rows.append((label, f"{wall:.2f} s", f"{rss / 1024:.0f} MiB"))
    table(f"4. Reading {events:,} events (one run each; peak RSS of the process, VmHWM)",
          ["command", "time", "peak memory"], rows)


def part_parallel(env: Env, workers: int, per_worker: int) -> None:
    state = env.root / "state-parallel"
    e = env.env(state)
    timed([AGENTGATE, "run", "--", "true"], e, env.work)
    timed([AGENTGATE, "run", "--", "vercel", "--prod"], e, env.work)
    failures: list[str] = []

    def worker(w: int) -> None:
        for i in range(per_worker):
            argv = ["vercel", "--prod"] if i % 10 == 9 else ["true"]
            r = subprocess.run([AGENTGATE, "run", "--", *argv], env=e, cwd=env.work,
                               stdin=subprocess.DEVNULL, capture_output=True, check=False)
            if r.returncode != (75 if argv[0] == "vercel" else 0):
                failures.append(f"worker {w} run {i}: exit {r.returncode} {r.stderr[-200:]!r}")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    total = workers * per_worker
    ledger = Ledger(StatePaths(state)).read_only()
    verify = AuditLog(state / "audit.jsonl").verify()
    table(f"5. Throughput: {workers} parallel workers x {per_worker} runs (1 in 10 held for approval)",
          ["runs", "wall", "runs/s", "failures", "ledger loads", "requests", "chain verifies", "lines"],
          [(total, f"{wall:.1f} s", f"{total / wall:.1f}", len(failures), "yes",
            len(ledger.requests), "yes" if verify.ok else f"NO: {verify.problem}", verify.lines)])
    for f in failures[:5]:
        print("  ", f)


PROTECTED_DIRS = ("/etc/agentgate", "/opt/agentgate", "/var/lib/agentgate", "/run/agentgate")
PROTECTED_POLICY = """version = 1
[settings]
default = "allow"
[[rule]]
id = "prod"
decision = "ask"
commands = ["vercel ** --prod **"]
"""


def part_protected(runs: int) -> None:
    """Protected mode's client: `run -- true` and a hook call through the service, against
    `python -c pass`. As root, in a private mount namespace (tmpfs over the machine-wide
    directories: the machine itself stays as it is), with the real `service install`."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("\n## protected mode\n\nskipped: needs root and unshare(1)")
        return
    subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                    __file__, "--protected-inside", "--runs", str(runs)], check=True)


def _protected_inside(runs: int) -> None:
    from agentgate.system import CLIENT_BIN, RUN

    for d in PROTECTED_DIRS:
        os.makedirs(d, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d], check=True)
    work = Path(tempfile.mkdtemp(prefix="agentgate-bench-protected-"))
    policy = work / "policy.toml"
    policy.write_text(PROTECTED_POLICY)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8"}
    try:
        r = subprocess.run([AGENTGATE, "service", "install", "--secret-stdin", "--policy-file",
                            str(policy)], input=b"bench passphrase\n", capture_output=True)
        assert r.returncode == 0, r.stderr.decode()
        client_python = Path(CLIENT_BIN).read_text().splitlines()[0][2:].split()[0]
        hook = json.dumps({"session_id": "s", "hook_event_name": "PreToolUse",
                           "tool_name": "Bash", "cwd": str(work),
                           "tool_input": {"command": "ls -la"}}).encode()
        cmds = {"python -c pass": ([PYTHON, "-c", "pass"], env, 0),
                "client's python -c pass": ([client_python, "-c", "pass"], env, 0),
                "run -- true": ([CLIENT_BIN, "run", "--", "true"], env, 0),
                "hook claude-code": ([CLIENT_BIN, "hook", "claude-code"], env, 0)}
        cpu: dict[str, float] = {}
        t = round_robin(cmds, work, runs, stdin={"hook claude-code": hook}, cpu=cpu)
        base, own = t["python -c pass"], t["client's python -c pass"]
        table(f"protected mode: the client through the service ({runs} runs each, interleaved; "
              f"the client runs {client_python} -I -S)",
              ["command", "wall", "x python -c pass", f"x {Path(client_python).name} -c pass",
               "CPU"],
              [[name, ms(v), f"{v / base:.2f}x", f"{v / own:.2f}x", ms(cpu[name])]
               for name, v in t.items()])
    finally:
        pid = Path(RUN, "service.pid")
        if pid.exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid.read_text()), signal.SIGTERM)
        subprocess.run([AGENTGATE, "service", "uninstall", "--purge"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--runs", type=int, help="runs per command in parts 1 and 3 (10 quick, 40)")
    ap.add_argument("--against", type=Path, metavar="SRC",
                    help="part 1 also with the code in SRC (another checkout's src/, e.g. from "
                         "`git archive`), in the same round robin")
    ap.add_argument("--only-overhead", action="store_true", help="part 1 alone")
    ap.add_argument("--only-hooks", action="store_true",
                    help="part 1d alone: each agent's hook call with its own input")
    ap.add_argument("--only-human", action="store_true",
                    help="part 1c alone: pending, show and log --tail 5 on a big state")
    ap.add_argument("--protected", action="store_true",
                    help="protected mode's client alone (as root, in a private mount namespace)")
    ap.add_argument("--protected-inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.protected_inside:
        _protected_inside(args.runs or 40)
        return
    events, finished, runs = (50_000, 1_000, 10) if args.quick else (1_000_000, 10_000, 40)
    runs = args.runs or runs
    workers, per_worker = (4, 10) if args.quick else (8, 100)
    root = Path(tempfile.mkdtemp(prefix="agentgate-bench-"))
    print(f"# agentgate benchmark ({'quick' if args.quick else 'full'})")
    print(f"python {sys.version.split()[0]} on {os.uname().sysname} {os.uname().machine}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; state in {root}")
    try:
        if args.protected:
            part_protected(runs)
            return
        env = Env(root)
        if args.only_hooks:
            part_hooks(env, runs)
            return
        if args.only_human:
            big = root / "state-big"
            write_big_log(big, events)
            write_big_ledger(big, finished)
            part_human(env, big, events, runs)
            return
        part_overhead(env, runs, args.against)
        if not args.only_overhead:
            part_hooks(env, runs)
            phase_profile(env)
            part_policy(_corpus(), 20 if args.quick else 50)
            big, _ = part_history(env, events, finished, runs)
            part_human(env, big, events, runs)
            part_log(env, big, events)
            part_parallel(env, workers, per_worker)
            part_protected(runs)
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
