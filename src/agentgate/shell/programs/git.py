"""git: aliases, configuration values that name programs, subcommands that run commands."""

from __future__ import annotations

from ..context import EXP, Field, Unclear, wordset
from ..options import run
from .common import renormalized, run_joined, split_words

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker


_GIT_VALUE = wordset("-C -c --git-dir --work-tree --namespace --config-env --super-prefix "
                     "--list-cmds --attr-source")


def _h_git(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``git [global opts] SUB ...``: aliases given with ``-c alias.x=...``, configuration that
    names programs, and the subcommands that run commands (_GIT_RUNS); with global options in
    front the command is reported again without them."""
    i, aliases = _git_globals(an, name, words, cx)
    if i >= len(words):
        return
    sub = words[i].text
    rest = words[i + 1 :]
    alias = aliases.get(sub.lower())
    if alias is None and sub.lower() in an.git_aliases:
        alias = Field(an.git_aliases[sub.lower()])
    if alias is not None:
        return _git_alias(an, name, sub, alias, rest, cx)
    if i > 1:
        return renormalized(an, name, words, i, cx)  # analysed again without the options
    runs = _GIT_RUNS.get(sub)
    if runs is not None:
        runs(an, name, rest, cx)


def _git_globals(an: Walker, name: str, words: list[Field], cx: Cx) -> tuple[int, dict[str, Field]]:
    """Read git's global options: the index of the subcommand, and the aliases they define."""
    aliases: dict[str, Field] = {}
    i, n = 1, len(words)
    while i < n:
        w = words[i]
        t = w.text
        if w.flags & EXP:
            raise Unclear(f"{name}: an option or the subcommand is not literal ({t})")
        if t in _GIT_VALUE:
            if i + 1 < n:
                _git_global_value(an, name, t, words[i + 1], aliases, cx)
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
    return i, aliases


def _git_global_value(an: Walker, name: str, opt: str, v: Field, aliases: dict[str, Field],
                      cx: Cx) -> None:
    """``-c key=value`` / ``--config-env key=VAR``: an alias, or configuration naming a program."""
    key, _eq, val = v.text.partition("=")
    if key.lower().startswith("alias."):
        if opt == "--config-env" or v.flags & EXP:
            raise Unclear(f"{name}: an alias is defined from the environment")
        aliases[key[6:].lower()] = Field(val, v.flags)
    elif opt in ("-c", "--config-env"):
        _git_config(an, name, opt, key, val, v.flags | (EXP if opt == "--config-env" else 0), cx)


def _git_alias(an: Walker, name: str, sub: str, alias: Field, rest: list[Field], cx: Cx) -> None:
    """``git -c alias.x='!cmd' x ARGS`` runs shell text (ARGS as "$@"); other aliases are git."""
    val = alias.text
    if val.startswith("!"):
        code = val[1:] + (' "$@"' if rest else "")
        return an.shell_text(code, alias.flags, f"{name} alias {sub}", cx, (Field(val[1:]), *rest),
                             cx.tail)
    expansion = split_words(Field(val), name, f"alias {sub}")
    an.command([Field(name), *expansion, *rest], cx.wrap(f"{name} alias {sub}"))


def _git_submodule(an: Walker, name: str, rest: list[Field], cx: Cx) -> None:
    """``git submodule foreach TEXT``."""
    for k, w in enumerate(rest):
        if w.text == "foreach":
            tail = [x for x in rest[k + 1 :] if x.text not in ("--recursive", "-q", "--quiet")]
            return run_joined(an, tail, f"{name} submodule foreach", cx)


def _git_rebase(an: Walker, name: str, rest: list[Field], cx: Cx) -> None:
    """``git rebase -x|--exec TEXT``."""
    label = f"{name} rebase --exec"
    for k, w in enumerate(rest):
        t = w.text
        if t in ("-x", "--exec") and k + 1 < len(rest):
            an.shell_text(rest[k + 1].text, rest[k + 1].flags, label, cx)
        elif t.startswith("--exec="):
            an.shell_text(t[7:], w.flags, label, cx)
        elif t.startswith("-x") and len(t) > 2:
            an.shell_text(t[2:], w.flags, label, cx)


def _git_bisect(an: Walker, name: str, rest: list[Field], cx: Cx) -> None:
    """``git bisect run CMD ...``."""
    if rest and rest[0].text == "run":
        run(an, rest, 1, f"{name} bisect run", cx)


_CONFIG_READS = ("--get", "--unset", "--rename", "--remove")
_CONFIG_VALUE = frozenset({"-f", "--file", "--blob", "--type", "--default", "--comment", "--value"})


def _git_config_command(an: Walker, name: str, rest: list[Field], cx: Cx) -> None:
    """``git config [set|add] KEY VALUE``: a program set now runs with later git commands."""
    ops: list[Field] = []
    k = 0
    while k < len(rest):
        t = rest[k].text
        if t.startswith(_CONFIG_READS) or t in ("-l", "--list", "-e", "--edit"):
            return
        if t in _CONFIG_VALUE:
            k += 2
            continue
        if not t.startswith("-"):
            ops.append(rest[k])
        k += 1
    if ops and ops[0].text in ("set", "add"):
        ops = ops[1:]
    elif ops and ops[0].text in ("get", "unset", "list", "edit", "rename-section", "remove-section"):
        return
    if len(ops) >= 2:
        _git_config(an, name, "config", ops[0].text, ops[1].text, ops[1].flags, cx)


_GIT_CMD_KEYS = wordset("core.sshcommand core.pager core.editor sequence.editor diff.external "
                        "core.askpass core.fsmonitor core.alternaterefscommand gpg.program "
                        "interactive.difffilter core.gitproxy web.browser uploadpack.packobjectshook")
_GIT_CMD_SUBKEYS = frozenset({("diff", "command"), ("diff", "textconv"), ("filter", "clean"),
                              ("filter", "smudge"), ("filter", "process"), ("merge", "driver"),
                              ("gpg", "program"), ("difftool", "cmd"), ("mergetool", "cmd"),
                              ("browser", "cmd"), ("browser", "path"), ("man", "cmd"),
                              ("man", "path"), ("remote", "uploadpack"),
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
    elif sec == "alias" and opt == "config" and len(parts) == 2:
        # saved now, it runs with a later git command of this line (``git x``; a chain of
        # aliases is followed there): a shell alias is also analysed now
        if flag & EXP:
            raise Unclear(f"{label}: the alias is not literal")
        an.git_aliases[parts[1]] = val
        if not val.startswith("!"):
            return
        val = val[1:]
    elif sec == "submodule" and last == "update" and len(parts) == 3:
        if not val.startswith("!"):
            return
        val = val[1:]
    elif not (len(parts) == 3 and (sec, last) in _GIT_CMD_SUBKEYS):
        return
    an.shell_text(val, flag, label, cx)


_FILTERS = frozenset({"--env-filter", "--tree-filter", "--index-filter", "--parent-filter",
                      "--msg-filter", "--commit-filter", "--tag-name-filter"})


def _git_filter_branch(an: Walker, name: str, rest: list[Field], cx: Cx) -> None:
    """``git filter-branch --tree-filter TEXT ...``: each filter is shell text git runs."""
    for k, w in enumerate(rest):
        key, eq, val = w.text.partition("=")
        if key in _FILTERS:
            if eq:
                an.shell_text(val, w.flags, f"{name} filter-branch {key}", cx)
            elif k + 1 < len(rest):
                an.shell_text(rest[k + 1].text, rest[k + 1].flags, f"{name} filter-branch {key}", cx)


# the subcommands that run commands, given the words after them
_GIT_RUNS = {"submodule": _git_submodule, "rebase": _git_rebase, "bisect": _git_bisect,
             "config": _git_config_command, "filter-branch": _git_filter_branch}

HANDLERS: dict[str, Handler] = {
    "git": _h_git,
}
