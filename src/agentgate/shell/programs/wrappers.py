"""Programs that run the rest of their argv, mostly after options (nice, timeout, env,
strace, unshare, systemd-run, ...): their option tables, and the few that need more."""

from __future__ import annotations

from ..context import EXP, SPLIT, Field, Unclear, assigned_name
from ..options import Opt, opts, parse_opts, run, seen, value, wrapper
from .common import report_code, run_joined

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker

_ENV = opts("i0v", "uCSa", lf="--ignore-environment --null --debug --list-signal-handling --help "
                              "--version",
            la="--unset --chdir --split-string --argv0",
            lo="--block-signal --default-signal --ignore-signal")


def _h_env(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``env [opts] [NAME=value...] CMD``; ``env -S 'STRING'`` splits STRING into words."""
    i = 1
    while True:
        i, found = parse_opts(words, i, _ENV, name)
        split = [o for o in found if o.name in ("-S", "--split-string")]
        if split:
            return _h_env(an, name, [Field("env"), *_split_strings(split), *words[i:]],
                          cx.wrap("env -S"))
        if i < len(words) and words[i].text == "-":  # a lone '-' means -i
            i += 1
            continue
        # GNU env stops at the first NAME=value; reading on is stricter (and harmless)
        j = i
        while j < len(words) and assigned_name(words[j].text):
            j += 1
        if not (i < j < len(words) and words[j].text.startswith("-")):
            break
        i = j
    run(an, words, i, name, cx)


def _split_strings(split: list[Opt]) -> list[Field]:
    """The words of ``env -S`` strings, split like the shell would (unquoted)."""
    import shlex

    out: list[Field] = []
    for o in split:
        if o.flags & EXP:
            raise Unclear("env -S: the string is not literal")
        try:
            toks = shlex.split(o.value)
        except ValueError as exc:
            raise Unclear(f"env -S: cannot split the string: {exc}") from None
        out.extend(Field(t, EXP if "$" in t else 0) for t in toks)
    return out


_FLOCK = opts("sexunoFvh", "wEc", lf="--shared --exclusive --unlock --nonblock --nb --close "
                                     "--no-fork --verbose --help",
              la="--timeout --wait --conflict-exit-code --command")


def _h_flock(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``flock [opts] FILE CMD ...`` or ``flock [opts] FILE -c TEXT``."""
    i, found = parse_opts(words, 1, _FLOCK, name)
    text = value(found, "-c", "--command")
    if text is not None:
        return an.shell_text(text.value, text.flags, f"{name} -c", cx)
    if i >= len(words):
        return
    if words[i].flags & SPLIT:
        raise Unclear(f"{name}: the lock file may split into several words")
    i += 1
    if i < len(words) and words[i].text in ("-c", "--command"):
        if i + 1 < len(words):
            an.shell_text(words[i + 1].text, words[i + 1].flags, f"{name} -c", cx)
        return
    if i < len(words):
        run(an, words, i, name, cx)


_WATCH = opts("bcCeghprtwx", "nq", optattached="d",
              lf="--beep --color --no-color --errexit --chgexit --precise --no-rerun --no-title "
                 "--no-wrap --no-linewrap --exec --help --version",
              la="--interval --equexit", lo="--differences")


def _h_watch(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``watch CMD ARGS`` runs them joined as shell text (``sh -c``); ``watch -x`` directly."""
    i, found = parse_opts(words, 1, _WATCH, name)
    if seen(found, "-x", "--exec"):
        return run(an, words, i, name, cx)
    run_joined(an, words[i:], f"{name} (sh -c)", cx)


def _h_busybox(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``busybox APPLET ARGS``."""
    if len(words) > 1 and not words[1].text.startswith("-"):
        run(an, words, 1, name, cx)


def _h_gdb(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``gdb [opts] --args PROG ARGS``; ``-ex CMD`` debugger commands are reported as code."""
    for k, w in enumerate(words):
        key, eq, val = w.text.lstrip("-").partition("=")
        if w.text.startswith("-") and key in ("ex", "eval-command", "iex", "init-eval-command"):
            if eq:
                report_code(an, name, "-ex", Field(val, w.flags), cx, always=True)
            elif k + 1 < len(words):
                report_code(an, name, "-ex", words[k + 1], cx, always=True)
        elif w.text in ("--args", "-args"):
            return run(an, words, k + 1, f"{name} --args", cx)


_ENTR = opts("acdnprsz")


def _h_entr(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``entr [-acdnprsz] CMD ARGS`` (/_ is the changed file); with -s, CMD is shell text."""
    i, found = parse_opts(words, 1, _ENTR, name)
    if i >= len(words):
        return
    if seen(found, "-s"):
        return an.shell_text(words[i].text, words[i].flags, f"{name} -s", cx)
    cmd = [Field(w.text, w.flags | EXP) if w.text == "/_" else w for w in words[i:]]
    an.command(cmd, cx.wrap(name, stdin=False, tail=False))


def _h_ip(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``ip [opts] netns exec NAME CMD ...`` and ``ip vrf exec NAME CMD ...``."""
    for k in range(1, len(words) - 2):
        if words[k].text in ("netns", "net", "vrf") and words[k + 1].text in ("exec", "exe", "ex", "e"):
            return run(an, words, k + 3, f"{name} {words[k].text} exec", cx)


def _h_agentgate(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``agentgate [--policy P] run [--json] [--agent N] [--] CMD``: CMD runs under another gate
    (maybe with another policy), so this gate checks it too."""
    i, n = 1, len(words)
    while i < n and words[i].text.startswith("--policy"):
        i += 2 if words[i].text == "--policy" else 1
    if i >= n or words[i].text != "run":
        return
    i += 1
    while i < n:
        t = words[i].text
        if t == "--":
            i += 1
            break
        if t == "--agent":
            i += 2
        elif t.startswith("-"):
            i += 1
        else:
            break
    run(an, words, i, "agentgate run", cx)


HANDLERS: dict[str, Handler] = {
    "env": _h_env,
    "nice": wrapper(opts(args="n", la="--adjustment", lf="--help --version", numeric=True)),
    "ionice": wrapper(opts("tpPuhV", "cn", lf="--ignore --pid --pgid --uid --help --version",
                           la="--class --classdata"), none_if="-p -P -u --pid --pgid --uid"),
    "nohup": wrapper(opts(lf="--help --version")),
    "timeout": wrapper(opts("vpf", "sk", lf="--preserve-status --foreground --verbose --help --version",
                            la="--signal --kill-after"), operands=1),
    "time": wrapper(opts("pvaq", "fo", lf="--portability --verbose --append --quiet --help --version",
                         la="--format --output")),
    "command": wrapper(opts("pvV"), none_if="-v -V"),  # -v/-V only look a name up
    "builtin": wrapper(opts()),
    "exec": wrapper(opts("cl", "a")),
    "!": wrapper(None),
    "stdbuf": wrapper(opts(args="ioe", la="--input --output --error", lf="--help --version")),
    "setsid": wrapper(opts("cfwhV", lf="--ctty --fork --wait --help --version")),
    "chronic": wrapper(opts("evh")),
    "caffeinate": wrapper(opts("dimsu", "tw")),
    "unbuffer": wrapper(opts("p")),
    "taskset": wrapper(opts("acpV", lf="--all-tasks --cpu-list --pid --help --version"),
                       operands=1, none_if="-p --pid"),
    "chroot": wrapper(opts(la="--userspec --groups", lf="--skip-chdir --help --version"), operands=1),
    "torsocks": wrapper(opts("diq", "uapP", lenient=1, lf="--shell --isolate --quiet --debug")),
    "proxychains": wrapper(opts("q", "f")),
    "proxychains4": wrapper(opts("q", "f")),
    "fakeroot": wrapper(opts("uhv", "lisb", la="--lib --faked", lf="--unknown-is-real --version --help")),
    "dbus-run-session": wrapper(opts(lenient=1, la="--config-file --dbus-daemon")),
    "valgrind": wrapper(opts("vqh", lenient=2)),
    "strace": wrapper(opts("cCdDfFhiknqrtTvVwxyYzZ", "abeEIoOpPsSuUX", lenient=1)),
    "ltrace": wrapper(opts("bcCfhiLrStTV", "aAeEFlnopsuwx", lenient=1)),
    "ssh-agent": wrapper(opts("cDdks", "aEPt")),
    "flock": _h_flock,
    "watch": _h_watch,
    "busybox": _h_busybox,
    "systemd-run": wrapper(opts("dGhqPrStv", "CEHMpu", lenient=2,
                                lf="--user --system --scope --remain-after-exit --send-sighup --pty "
                                   "--pipe --quiet --wait --collect --same-dir --shell --no-block "
                                   "--no-ask-password --slice-inherit --on-clock-change "
                                   "--on-timezone-change --verbose --help --version",
                                la="--unit --property --description --slice --service-type --uid "
                                   "--gid --nice --working-directory --setenv --on-active --on-boot "
                                   "--on-startup --on-unit-active --on-unit-inactive --on-calendar "
                                   "--timer-property --path-property --socket-property --host "
                                   "--machine --capsule")),
    # no command: the user's shell
    "unshare": wrapper(opts("frchV", "RwSG", optattached="muinpUCT", lenient=1,
                            lf="--fork --map-root-user --map-current-user --map-auto --keep-caps "
                               "--help --version",
                            la="--propagation --setgroups --root --wd --setuid --setgid "
                               "--monotonic --boottime --map-user --map-group --map-users "
                               "--map-groups",
                            lo="--mount --uts --ipc --net --pid --user --cgroup --time "
                               "--kill-child --mount-proc"), shell_if="*"),
    "nsenter": wrapper(opts("aFZhV", "tSGW", optattached="muinpCUTrw", lenient=1,
                            lf="--all --preserve-credentials --no-fork --follow-context --help "
                               "--version",
                            la="--target --setuid --setgid --wdns",
                            lo="--mount --uts --ipc --net --pid --cgroup --user --time --root "
                               "--wd"), shell_if="*"),
    "setpriv": wrapper(opts("dhV", lenient=1,
                            lf="--dump --nnp --no-new-privs --clear-groups --keep-groups "
                               "--init-groups --reset-env --help --version",
                            la="--ambient-caps --inh-caps --bounding-set --ruid --euid --rgid --egid "
                               "--reuid --regid --groups --securebits --pdeathsig --selinux-label "
                               "--apparmor-profile --landlock-access --landlock-rule "
                               "--seccomp-filter"), none_if="-d --dump"),
    "prlimit": wrapper(opts("hV", "po", optattached="cdefilmnqrstuvxy",
                            lf="--noheadings --raw --verbose --help --version", la="--pid --output",
                            lo="--core --data --nice --fsize --sigpending --memlock --rss --nofile "
                               "--msgqueue --rtprio --stack --cpu --nproc --as --locks --rttime"),
                       none_if="-p --pid"),
    "chrt": wrapper(opts("bdfiorRavhV", "TPD",
                         lf="--batch --deadline --fifo --idle --other --rr --reset-on-fork "
                            "--all-tasks --verbose --help --version",
                         la="--sched-runtime --sched-period --sched-deadline"),
                    operands=1, none_if="-p --pid -m --max"),
    "cgexec": wrapper(opts("h", "g", lf="--sticky")),
    "numactl": wrapper(opts("alsHbv", "ipmNCPw", lenient=1,
                            lf="--all --localalloc --show --hardware --balancing --verbose",
                            la="--interleave --preferred --membind --cpunodebind --physcpubind "
                               "--weighted-interleave"), none_if="-s --show -H --hardware"),
    "chpst": wrapper(opts("vP012", "uUbe/nlLmdopfc")),
    "firejail": wrapper(opts(lenient=2)),
    "flatpak-spawn": wrapper(opts(lenient=2)),
    "xvfb-run": wrapper(opts("adhl", "efnpsw", lf="--auto-servernum --auto-display --help --listen-tcp",
                             la="--error-file --auth-file --server-num --xauth-protocol "
                                "--server-args --wait")),
    "faketime": wrapper(opts("mf", lf="--exclude-monotonic --help --version", la="--date-prog"),
                        operands=1),
    "catchsegv": wrapper(opts()),
    "daemonize": wrapper(opts("av", "ceEloOpu")),
    "gdb": _h_gdb,
    "entr": _h_entr,
    "ip": _h_ip,
    "agentgate": _h_agentgate,
}
