"""Programs that run a command as another user: sudo, doas, pkexec, run0, su, runuser, sg."""

from __future__ import annotations

from ..context import Field, Unclear, assigned_name
from ..options import opts, parse_opts, reads_stdin, run, seen, value, wrapper
from .common import run_joined

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker

_SUDO = opts("ABbEeHiKklNnPSsVv", "aCcDgpRrTtUu", optattached="h",
             lf="--askpass --background --bell --edit --help --login --list --non-interactive "
                "--preserve-groups --remove-timestamp --reset-timestamp --set-home --shell "
                "--stdin --validate --version --no-update",
             la="--auth-type --chdir --chroot --close-from --command-timeout --group --host "
                "--login-class --other-user --prompt --role --type --user",
             lo="--preserve-env")


def _h_sudo(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``sudo CMD``; ``sudo -s|-i [CMD]``: the shell runs CMD as shell text (or reads stdin);
    ``sudo -e``: files to edit."""
    i, found = parse_opts(words, 1, _SUDO, name)
    if seen(found, "-e", "--edit"):
        return  # sudoedit: the operands are files
    if not seen(found, "-s", "--shell", "-i", "--login"):
        return run(an, words, i, name, cx)
    while i < len(words) and assigned_name(words[i].text):
        i += 1
    if i >= len(words):
        return reads_stdin(f"{name}'s shell", cx, an, "shell")
    run_joined(an, words[i:], f"{name} -s", cx)


_SU_VALUE = frozenset({"-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w",
                       "--whitelist-environment"})


def _su_command(words: list[Field]) -> Field | None:
    """The shell text of ``su -c TEXT`` (``--command=``, ``-lc``, ...), if one is given."""
    i, n = 1, len(words)
    while i < n:
        w = words[i]
        t = w.text
        if t in ("-c", "--command", "--session-command") and i + 1 < n:
            return words[i + 1]
        for key in ("--command=", "--session-command="):
            if t.startswith(key):
                return Field(t[len(key) :], w.flags)
        if len(t) > 2 and t[0] == "-" and t[1] != "-" and "c" in t:
            k = t.index("c")
            if not any(ch in "gGsw" for ch in t[1:k]):
                if k + 1 < len(t):
                    return Field(t[k + 1 :], w.flags)
                if i + 1 < n:
                    return words[i + 1]
        i += 2 if t in _SU_VALUE else 1
    return None


def _h_su(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``su [opts] [USER] -c TEXT``; without -c the user's shell reads stdin."""
    text = _su_command(words)
    if text is None:
        return reads_stdin(f"{name}'s shell", cx, an, "shell")
    an.shell_text(text.text, text.flags, f"{name} -c", cx)


def _h_sg(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``sg GROUP [-c] TEXT``: TEXT is shell text."""
    rest = [w for w in words[1:] if w.text not in ("-", "-c")]
    if len(rest) >= 2:
        run_joined(an, rest[1:], f"{name} -c", cx)


_RUNUSER = opts("flmpP", "cgGsuw", lf="--fast --login --preserve-environment --pty --help --version",
                la="--command --session-command --group --supp-group --shell --user "
                   "--whitelist-environment")


def _h_runuser(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``runuser -u USER [--] CMD ...`` runs CMD itself; the other forms are su's."""
    try:
        i, found = parse_opts(words, 1, _RUNUSER, name)
    except Unclear:
        return _h_su(an, name, words, cx)
    text = value(found, "-c", "--command", "--session-command")
    if text is not None:
        return an.shell_text(text.value, text.flags, f"{name} -c", cx)
    if seen(found, "-u", "--user"):
        return run(an, words, i, name, cx)
    _h_su(an, name, words, cx)


HANDLERS: dict[str, Handler] = {
    "sudo": _h_sudo,
    "doas": wrapper(opts("nsL", "aCu"), shell_if="-s"),
    "pkexec": wrapper(opts(la="--user", lf="--disable-internal-agent --keep-cwd --help --version")),
    "su": _h_su,
    "runuser": _h_runuser,
    "sg": _h_sg,
    "run0": wrapper(opts("", "upgD", lenient=2,
                         la="--user --group --property --description --slice --nice --chdir "
                            "--setenv --machine --background --unit --shell-prefix")),
}
