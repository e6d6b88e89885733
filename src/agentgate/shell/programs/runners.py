"""Package and environment runners: npx, npm exec, pnpm/yarn/bun dlx, uvx, uv run, pipx
run, poetry run, conda run, nix, mise, version managers."""

from __future__ import annotations

from ..context import EXP, Field, wordset
from ..options import Opt, Opts, opts, parse_opts, run, seen, value
from .common import renormalized, report_code, run_joined, run_tool, skip_global, tool_name

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker


def tool_runner(spec: Opts) -> Handler:
    """``RUNNER [opts] TOOL ARGS`` (uvx, bunx): TOOL runs, without its version."""

    def handler(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
        i, _found = parse_opts(words, 1, spec, name)
        run_tool(an, words, i, name, cx)

    return handler


def subrunner(subs: str, pre: Opts, post: Opts, operands: int = 0) -> Handler:
    """``TOOL [opts] run [opts] COMMAND...`` (poetry run, bundle exec, conda run, ...)."""
    names = frozenset(subs.split())

    def handler(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
        i, _found = parse_opts(words, 1, pre, name)
        if i >= len(words) or words[i].text not in names:
            return
        label = f"{name} {words[i].text}"
        j, _found = parse_opts(words, i + 1, post, label)
        run_tool(an, words, j + operands, label, cx)

    return handler


_NPX = opts("yqsd", "pcw", lenient=1,
            lf="--yes --no --quiet --silent --ignore-existing --no-install --prefer-offline "
               "--prefer-online --offline --workspaces --no-workspaces --include-workspace-root "
               "--legacy-peer-deps --verbose --global -g",
            la="--package --call --workspace --registry --cache --userconfig --loglevel "
               "--node-options --shell --script-shell")


def _npx_rest(an: Walker, words: list[Field], i: int, found: list[Opt], label: str, cx: Cx) -> None:
    """What npx (or npm exec) runs: ``-c TEXT`` is shell text, else the tool at ``i``."""
    text = value(found, "-c", "--call")
    if text is not None:
        return an.shell_text(text.value, text.flags, f"{label} -c", cx)
    run_tool(an, words, i, label, cx)


def _h_npx(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``npx [opts] TOOL ARGS``, ``npx -c TEXT``."""
    i, found = parse_opts(words, 1, _NPX, name)
    _npx_rest(an, words, i, found, name, cx)


_NPM_VALUE = wordset("--prefix -C --workspace -w --registry --userconfig --cache --loglevel "
                     "--globalconfig --tag --otp -c --call --node-options --shell --script-shell "
                     "--package --include --omit --access --scope --before --cpu --os")


def _npm_call(t: str) -> bool:
    """``--call`` or the abbreviation of it npm accepts (``--cal``; ``--ca`` is another option)."""
    return len(t) > 4 and "--call".startswith(t) and "=" not in t


def _h_npm(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``npm exec|x ...`` is npx; ``npm [global opts] SUB`` is reported again without them.
    npm reads its options anywhere before ``--``: ``npm -c TEXT exec`` runs TEXT, as does
    ``--call``, an abbreviation of it (``--cal``) or ``--call=TEXT``."""
    i = skip_global([Field("--call") if _npm_call(w.text) else w for w in words], _NPM_VALUE)
    if i >= len(words):
        return
    if words[i].text in ("exec", "exe", "x"):
        for k in range(1, len(words)):
            key, eq, val = words[k].text.partition("=")
            if key == "--":
                break
            if key == "-c" or _npm_call(key):
                text = Field(val, words[k].flags) if eq else (words[k + 1] if k + 1 < len(words) else None)
                if text is not None:
                    return an.shell_text(text.text, text.flags, "npm exec -c", cx)
    if i > 1:
        return renormalized(an, name, words, i, cx)
    if words[i].text in ("exec", "exe", "x"):
        j, found = parse_opts(words, i + 1, _NPX, "npm exec")
        _npx_rest(an, words, j, found, "npm exec", cx)


# subcommands of pnpm's own: any other word runs a tool (``pnpm vercel``)
_PNPM_OWN = wordset("add audit bin c cat-file cat-index config create dedupe deploy doctor env "
                    "fetch find-hash help i import init install install-test it licenses link "
                    "list ln ls outdated pack patch patch-commit patch-remove prune publish rb "
                    "rebuild recursive remove rm root server setup store t test un uninstall "
                    "unlink up update why self-update approve-builds ignored-builds start "
                    "completion")
_PNPM_VALUE = wordset("-C --dir -F --filter --filter-prod --reporter --loglevel "
                      "--workspace-concurrency")
_PNPM_EXEC = opts("crs", "F", lenient=2, lf="--shell-mode --recursive --parallel --silent",
                  la="--package --filter --allow-build --workspace-concurrency --reporter")


def _h_pnpm(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``pnpm dlx|exec|run TOOL``, ``pnpm exec -c TEXT``, ``pnpm TOOL``."""
    i = skip_global(words, _PNPM_VALUE)
    if i >= len(words):
        return
    if i > 1:
        return renormalized(an, name, words, i, cx)
    sub = words[i].text
    if sub in ("dlx", "exec", "run", "run-script"):
        j, found = parse_opts(words, i + 1, _PNPM_EXEC, f"{name} {sub}")
        if seen(found, "-c", "--shell-mode"):
            return run_joined(an, words[j:], f"{name} {sub} -c", cx)
        run_tool(an, words, j, f"{name} {sub}", cx)
    elif sub not in _PNPM_OWN:
        run_tool(an, words, i, name, cx)


_YARN_VALUE = wordset("--cwd --modules-folder --cache-folder --registry")
_YARN_RUN = opts("qT", "p", lenient=2, la="--package")
_YARN_OWN = wordset("add audit autoclean bin cache check config constraints create dedupe explain "
                    "generate-lock-entry global help import info init install licenses link list "
                    "login logout npm outdated owner pack patch patch-commit plugin policies "
                    "publish rebuild remove search set stage tag team test unlink unplug up "
                    "upgrade upgrade-interactive version versions why workspaces")


def _h_yarn(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``yarn dlx|exec|run TOOL``, ``yarn workspace W CMD``, ``yarn node ...``, ``yarn TOOL``."""
    i = skip_global(words, _YARN_VALUE)
    if i >= len(words):
        return
    if i > 1:
        return renormalized(an, name, words, i, cx)
    sub = words[i].text
    if sub == "workspace" and i + 2 < len(words):
        return an.command([Field(name), *words[i + 2 :]], cx.wrap(f"{name} workspace"))
    if sub == "node":
        return an.command([Field("node"), *words[i + 1 :]], cx.wrap(f"{name} node"))
    if sub in ("dlx", "exec", "run"):
        j, _found = parse_opts(words, i + 1, _YARN_RUN, f"{name} {sub}")
        return run_tool(an, words, j, f"{name} {sub}", cx)
    if sub not in _YARN_OWN:
        run_tool(an, words, i, name, cx)


_BUNX = opts("p", "", lenient=2, la="--package")
_BUN_RUN_VALUE = wordset("--cwd --filter -F --env-file")
_BUN_OWN = wordset("install i add a remove rm update outdated link unlink pm build test init create "
                   "c upgrade publish patch why audit info completions discord help repl")
_BUN_VALUE = wordset("--cwd --filter -F --config -c --env-file --preload -r")


def _bun_globals(an: Walker, name: str, words: list[Field], cx: Cx) -> int:
    """Skip bun's options: the index of its subcommand (``len(words)`` after ``-e CODE``, which
    is reported as code)."""
    i, n = 1, len(words)
    while i < n:
        w = words[i]
        if w.text in ("-e", "--eval", "-p", "--print") and i + 1 < n:
            report_code(an, name, w.text, words[i + 1], cx)
            return n
        if w.text.startswith(("--eval=", "--print=")):
            opt, _eq, code = w.text.partition("=")
            report_code(an, name, opt, Field(code, w.flags), cx)
            return n
        if not w.text.startswith("-"):
            return i
        i += 2 if w.text in _BUN_VALUE else 1
    return i


def _h_bun(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``bun -e CODE``, ``bun x|run TOOL``, ``bun exec TEXT``, ``bun TOOL``."""
    i = _bun_globals(an, name, words, cx)
    if i >= len(words):
        return
    sub = words[i].text
    if sub == "x":
        j, _found = parse_opts(words, i + 1, _BUNX, "bun x")
        run_tool(an, words, j, "bun x", cx)
    elif sub == "exec":
        run_joined(an, words[i + 1 :], "bun exec", cx)
    elif sub == "run":
        j = skip_global([Field(""), *words[i + 1 :]], _BUN_RUN_VALUE)
        run_tool(an, words, i + j, "bun run", cx)
    elif sub not in _BUN_OWN:
        run_tool(an, words, i, name, cx)


_UV_ARGS = ("--from --with --with-editable --with-requirements --python --index --index-url "
            "--extra-index-url --find-links --constraints --overrides --cache-dir --config-file "
            "--directory --project --color --refresh-package --upgrade-package --reinstall-package "
            "--prerelease --resolution --exclude-newer --link-mode --python-preference "
            "--index-strategy --keyring-provider --config-setting --env-file --allow-insecure-host "
            "--default-index --package --extra --group --only-group --no-group --torch-backend")


_UV = opts("qvnU", "pfPC", lenient=2, la=_UV_ARGS)
_UV_RUN = opts("qvnUsm", "pfPC", lenient=2, la=_UV_ARGS, lf="--module --script --gui-script")


def _h_uv(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``uv run [opts] TOOL|-m MODULE``, ``uv tool run TOOL``."""
    i, _found = parse_opts(words, 1, _UV, name)
    if i >= len(words):
        return
    sub = words[i].text
    if sub == "tool" and i + 1 < len(words) and words[i + 1].text == "run":
        j, _found = parse_opts(words, i + 2, _UV, "uv tool run")
        return run_tool(an, words, j, "uv tool run", cx)
    if sub == "run":
        j, found = parse_opts(words, i + 1, _UV_RUN, "uv run")
        if seen(found, "-m", "--module"):
            return an.command([Field("python"), Field("-m"), *words[j:]], cx.wrap("uv run"))
        run_tool(an, words, j, "uv run", cx)


_PIPX = opts("eqv", lenient=1, la="--spec --python --pip-args --index-url --backend",
             lf="--no-cache --pypi --path --editable --system-site-packages "
                "--fetch-missing-python --quiet --verbose")


def _h_pipx(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``pipx run [opts] TOOL``."""
    if len(words) > 1 and words[1].text == "run":
        i, _found = parse_opts(words, 2, _PIPX, "pipx run")
        run_tool(an, words, i, "pipx run", cx)


_LENIENT = opts("qvnhV", "CPp", lenient=2, la="--directory --project --manifest-path --cwd")
_ANY = opts(lenient=2)


def _h_nix_shell(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``nix-shell --run|--command TEXT``."""
    for k, w in enumerate(words):
        if w.text in ("--run", "--command") and k + 1 < len(words):
            an.shell_text(words[k + 1].text, words[k + 1].flags, f"{name} {w.text}", cx)


def _h_nix(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``nix develop -c CMD``, ``nix run FLAKE#APP [-- ARGS]`` (APP's program)."""
    for k, w in enumerate(words):
        if w.text in ("-c", "--command"):
            return run(an, words, k + 1, f"{name} {w.text}", cx)
    ops = [k for k in range(1, len(words)) if not words[k].text.startswith("-")]
    if len(ops) >= 2 and words[ops[0]].text == "run":
        t, f = words[ops[1]].text, words[ops[1]].flags
        if "#" in t and not f & EXP:
            prog = t.split("#", 1)[1].rsplit(".", 1)[-1].strip('"')
            dash = next((k for k in range(ops[1] + 1, len(words)) if words[k].text == "--"), None)
            args = words[dash + 1 :] if dash is not None else words[ops[1] + 1 :]
            if prog:
                an.command([Field(prog), *args], cx.wrap(f"{name} run"))


_MISE = opts("qvy", "CEj", lenient=2, la="--cd --env --jobs --log-level --profile")


def _h_mise(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``mise exec|x [TOOLS] -- CMD``, ``mise exec -c TEXT``."""
    i, _found = parse_opts(words, 1, _MISE, name)
    if i < len(words) and words[i].text in ("exec", "x"):
        for k in range(i + 1, len(words)):
            t = words[k].text
            if t == "--":
                return run(an, words, k + 1, f"{name} exec", cx)
            if t in ("-c", "--command") and k + 1 < len(words):
                return an.shell_text(words[k + 1].text, words[k + 1].flags, f"{name} exec -c", cx)
            if t.startswith("--command="):
                return an.shell_text(t[10:], words[k].flags, f"{name} exec -c", cx)


def _h_corepack(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``corepack pnpm@9 ...``: the rest is that package manager's command."""
    if len(words) > 1 and tool_name(words[1].text) in ("npm", "npx", "pnpm", "pnpx", "yarn", "yarnpkg"):
        run_tool(an, words, 1, name, cx)


def _h_nvm(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``nvm exec [VERSION] CMD ...``; ``nvm run [VERSION] ARGS`` runs node."""
    if len(words) < 2 or words[1].text not in ("exec", "run"):
        return
    sub = words[1].text
    i = 2
    while i < len(words) and (words[i].text in ("--silent", "--lts") or words[i].text.startswith("--lts=")):
        i += 1
    if i < len(words):
        v = words[i].text
        if v[:1].isdigit() or (v[:1] == "v" and v[1:2].isdigit()) or v.startswith("lts/") or v in (
                "node", "stable", "unstable", "iojs", "system", "default"):
            i += 1
    if sub == "run":
        return an.command([Field("node"), *words[i:]], cx.wrap(f"{name} run"))
    run(an, words, i, f"{name} exec", cx)


_CONDA_RUN = opts("v", "np", lenient=2, la="--name --prefix --cwd")

HANDLERS: dict[str, Handler] = {
    "npx": _h_npx,
    "pnpx": _h_npx,
    "npm": _h_npm,
    "pnpm": _h_pnpm,
    "yarn": _h_yarn,
    "bun": _h_bun,
    "bunx": tool_runner(_BUNX),
    "uvx": tool_runner(_UV),
    "uv": _h_uv,
    "pipx": _h_pipx,
    "corepack": _h_corepack,
    # TOOL [opts] SUBCOMMAND [opts] COMMAND
    "poetry": subrunner("run", _LENIENT, _ANY),
    "pdm": subrunner("run", _LENIENT, opts("ls", "p", lenient=2, la="--project")),
    "pipenv": subrunner("run", _LENIENT, _ANY),
    "rye": subrunner("run", _LENIENT, opts("l", lenient=2, la="--pyproject")),
    "hatch": subrunner("run", _LENIENT, _ANY),
    "bundle": subrunner("exec", _LENIENT, _ANY),
    "bundler": subrunner("exec", _LENIENT, _ANY),
    "conda": subrunner("run", _LENIENT, _CONDA_RUN),
    "mamba": subrunner("run", _LENIENT, _CONDA_RUN),
    "micromamba": subrunner("run", _LENIENT, _CONDA_RUN),
    "pixi": subrunner("run exec", _LENIENT, opts("", "e", lenient=2, la="--environment --manifest-path")),
    "devbox": subrunner("run", _LENIENT, opts("q", "ce", lenient=2,
                                                la="--config --env --env-file --environment")),
    "direnv": subrunner("exec", opts(), opts(), operands=1),
    "volta": subrunner("run", _LENIENT, opts(lenient=2, la="--node --npm --pnpm --yarn --env")),
    "fnm": subrunner("exec", opts(lenient=2, la="--node-dist-mirror --fnm-dir --log-level --arch "
                                               "--version-file-strategy --shell"),
                     opts(lenient=2, la="--using")),
    "asdf": subrunner("exec", opts(), opts()),
    "nix-shell": _h_nix_shell,
    "nix": _h_nix,
    "mise": _h_mise,
    "nvm": _h_nvm,
}
