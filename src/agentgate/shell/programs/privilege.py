"""Programs that run a command as another user: sudo, doas, pkexec, run0, su, runuser, sg."""

from __future__ import annotations

from ..context import Unclear
from ..options import opts, parse_opts, run, seen, wrapper
from ..syntax import assigned_name
from .common import reads_stdin

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker
    from ..syntax import Field


_O_SUDO = opts("ABbEeHiKklNnPSsVv", "aCcDgpRrTtUu", optattached="h",
             lf="--askpass --background --bell --edit --help --login --list --non-interactive "
                "--preserve-groups --remove-timestamp --reset-timestamp --set-home --shell "
                "--stdin --validate --version --no-update",
             la="--auth-type --chdir --chroot --close-from --command-timeout --group --host "
                "--login-class --other-user --prompt --role --type --user",
             lo="--preserve-env")


def _h_sudo(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, found = parse_opts(words, 1, _O_SUDO, name)
    if seen(found, "-e", "--edit"):
        return  # sudoedit: the operands are files
    if seen(found, "-s", "--shell", "-i", "--login"):
        rest = words[i:]
        while rest and assigned_name(rest[0][0]):
            rest = rest[1:]
        if not rest:
            return reads_stdin(f"{name}'s shell", cx, an, "shell")
        flag = 0
        for _, f in rest:
            flag |= f
        an.shell_text(" ".join(t for t, _ in rest), flag, f"{name} -s", cx)
        return
    run(an, words, i, name, cx)


_O_DOAS = opts("nsL", "aCu")


def _h_doas(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, found = parse_opts(words, 1, _O_DOAS, name)
    if seen(found, "-s") and i >= len(words):
        return reads_stdin(f"{name}'s shell", cx, an, "shell")
    run(an, words, i, name, cx)


def _h_su(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if t in ("-c", "--command", "--session-command") and i + 1 < n:
            return an.shell_text(words[i + 1][0], words[i + 1][1], f"{name} -c", cx)
        for key in ("--command=", "--session-command="):
            if t.startswith(key):
                return an.shell_text(t[len(key) :], f, f"{name} -c", cx)
        if len(t) > 2 and t[0] == "-" and t[1] != "-" and "c" in t:
            k = t.index("c")
            if not any(ch in "gGsw" for ch in t[1:k]):
                if k + 1 < len(t):
                    return an.shell_text(t[k + 1 :], f, f"{name} -c", cx)
                if i + 1 < n:
                    return an.shell_text(words[i + 1][0], words[i + 1][1], f"{name} -c", cx)
        if t in ("-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment"):
            i += 1
        i += 1
    reads_stdin(f"{name}'s shell", cx, an, "shell")


def _h_sg(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    rest = [w for w in words[1:] if w[0] not in ("-", "-c")]
    if len(rest) >= 2:
        flag = 0
        for _, f in rest[1:]:
            flag |= f
        an.shell_text(" ".join(t for t, _ in rest[1:]), flag, f"{name} -c", cx)


_O_RUNUSER = opts("flmpP", "cgGsuw", lf="--fast --login --preserve-environment --pty --help --version",
                la="--command --session-command --group --supp-group --shell --user "
                   "--whitelist-environment")


def _h_runuser(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``runuser -u USER [--] CMD ...`` runs CMD itself; the other forms are su's."""
    try:
        i, found = parse_opts(words, 1, _O_RUNUSER, name)
    except Unclear:
        return _h_su(an, name, words, cx)
    for o, v, f in found:
        if o in ("-c", "--command", "--session-command"):
            return an.shell_text(v, f, f"{name} -c", cx)
    if seen(found, "-u", "--user"):
        return run(an, words, i, name, cx)
    _h_su(an, name, words, cx)


HANDLERS: dict[str, Handler] = {
    "sudo": _h_sudo,
    "doas": _h_doas,
    "pkexec": wrapper(opts(la="--user", lf="--disable-internal-agent --keep-cwd --help --version")),
    "su": _h_su,
    "runuser": _h_runuser,
    "sg": _h_sg,
    "run0": wrapper(opts("", "upgD", lenient=2,
                            la="--user --group --property --description --slice --nice --chdir "
                               "--setenv --machine --background --unit --shell-prefix")),
}
