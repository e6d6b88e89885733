"""git: aliases, configuration values that name programs, subcommands that run commands."""

from __future__ import annotations

from ..context import Unclear
from ..options import run
from ..syntax import EXP, wordset
from .common import renormalized, run_joined

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker
    from ..syntax import Field


_GIT_VALUE = wordset("-C -c --git-dir --work-tree --namespace --config-env --super-prefix "
                       "--list-cmds --attr-source")


def _h_git(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    aliases: dict[str, tuple[str, int]] = {}
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if f & EXP:
            raise Unclear(f"{name}: an option or the subcommand is not literal ({t})")
        if t in _GIT_VALUE:
            if i + 1 < n:
                v, g = words[i + 1]
                key, _eq, val = v.partition("=")
                if key.lower().startswith("alias."):
                    if t == "--config-env" or g & EXP:
                        raise Unclear(f"{name}: an alias is defined from the environment")
                    aliases[key[6:].lower()] = (val, g)
                elif t in ("-c", "--config-env"):
                    _git_config(an, name, t, key, val, g | (EXP if t == "--config-env" else 0), cx)
            i += 2
            continue
        if t.startswith("--config-env="):
            key = t[13:].partition("=")[0]
            if key.lower().startswith("alias."):
                raise Unclear(f"{name}: an alias is defined from the environment")
            _git_config(an, name, "--config-env", key, "", EXP, cx)
        if not t.startswith("-"):
            break
        i += 1
    if i >= n:
        return
    sub = words[i][0]
    rest = words[i + 1 :]
    if i > 1 and sub.lower() not in aliases:
        return renormalized(an, name, words, i, cx)  # analysed again without the options
    if sub.lower() in aliases:
        val, g = aliases[sub.lower()]
        if val.startswith("!"):
            code = val[1:] + (' "$@"' if rest else "")
            return an.shell_text(code, g, f"{name} alias {sub}", cx, ((val[1:], 0), *rest), cx.tail)
        import shlex

        try:
            expansion = [(w, 0) for w in shlex.split(val)]
        except ValueError as exc:
            raise Unclear(f"{name}: cannot split alias {sub}: {exc}") from None
        return an.command([(name, 0), *expansion, *rest], cx.wrap(f"{name} alias {sub}"))
    if sub == "submodule":
        for k, (t, _f) in enumerate(rest):
            if t == "foreach":
                tail = [w for w in rest[k + 1 :] if w[0] not in ("--recursive", "-q", "--quiet")]
                return run_joined(an, tail, f"{name} submodule foreach", cx)
    elif sub == "rebase":
        for k, (t, f) in enumerate(rest):
            if t in ("-x", "--exec") and k + 1 < len(rest):
                an.shell_text(rest[k + 1][0], rest[k + 1][1], f"{name} rebase --exec", cx)
            elif t.startswith("--exec="):
                an.shell_text(t[7:], f, f"{name} rebase --exec", cx)
            elif t.startswith("-x") and len(t) > 2:
                an.shell_text(t[2:], f, f"{name} rebase --exec", cx)
    elif sub == "bisect" and rest and rest[0][0] == "run":
        run(an, rest, 1, f"{name} bisect run", cx)
    elif sub == "config":  # a program set now runs with later git commands
        ops: list[Field] = []
        k = 0
        while k < len(rest):
            t, f = rest[k]
            if t.startswith(("--get", "--unset", "--rename", "--remove")) or t in ("-l", "--list", "-e", "--edit"):
                return
            if t in ("-f", "--file", "--blob", "--type", "--default", "--comment", "--value"):
                k += 2
                continue
            if not t.startswith("-"):
                ops.append((t, f))
            k += 1
        if ops and ops[0][0] in ("set", "add"):
            ops = ops[1:]
        elif ops and ops[0][0] in ("get", "unset", "list", "edit", "rename-section", "remove-section"):
            return
        if len(ops) >= 2:
            _git_config(an, name, "config", ops[0][0], ops[1][0], ops[1][1], cx)


_GIT_CMD_KEYS = wordset("core.sshcommand core.pager core.editor sequence.editor diff.external "
                     "core.askpass core.fsmonitor core.alternaterefscommand gpg.program "
                     "interactive.difffilter core.gitproxy web.browser uploadpack.packobjectshook")


_GIT_CMD_SUBKEYS = frozenset({("diff", "command"), ("diff", "textconv"), ("filter", "clean"),
                              ("filter", "smudge"), ("filter", "process"), ("merge", "driver"),
                              ("gpg", "program"), ("difftool", "cmd"), ("mergetool", "cmd"),
                              ("browser", "cmd"), ("remote", "uploadpack"),
                              ("remote", "receivepack")})


_BOOLISH = wordset("true false yes no on off 1 0")


def _git_config(an: Walker, name: str, opt: str, key: str, val: str, flag: int, cx: Cx) -> None:
    """A git configuration value that names a program git starts (core.sshCommand, diff.external,
    core.pager, credential.helper, filters, ...): analyse it as the shell text git runs."""
    k = key.lower()
    parts = k.split(".")
    sec, last = parts[0], parts[-1]
    label = f"{name} {opt} {key}"
    if k in ("core.hookspath", "include.path") or (sec == "includeif" and last == "path"):
        raise Unclear(f"{label}: git would run hooks or read configuration from elsewhere")
    if k in _GIT_CMD_KEYS or (sec == "pager" and len(parts) == 2):
        if (k == "core.fsmonitor" or sec == "pager") and val.lower() in _BOOLISH:
            return
    elif sec == "credential" and last == "helper":
        if val.startswith("!"):
            val = val[1:]
        elif val and not val.startswith("/"):
            val = "git credential-" + val
    elif (sec == "submodule" and last == "update" and len(parts) == 3) or (
            sec == "alias" and opt == "config"):  # a shell alias saved now runs later
        if not val.startswith("!"):
            return
        val = val[1:]
    elif not (len(parts) == 3 and (sec, last) in _GIT_CMD_SUBKEYS):
        return
    an.shell_text(val, flag, label, cx)


HANDLERS: dict[str, Handler] = {
    "git": _h_git,
}
