"""Package and environment runners: npx, npm exec, pnpm/yarn/bun dlx, uvx, uv run, pipx
run, poetry run, conda run, nix, mise, version managers."""

from __future__ import annotations

from ..options import Opts, opts, parse_opts, run, seen
from ..syntax import EXP, wordset
from .common import renormalized, report_code, run_joined, run_tool, skip_global, tool_name

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Found, Handler, Walker
    from ..syntax import Field


_O_NPX = opts("yqsd", "pcw", lenient=1,
            lf="--yes --no --quiet --silent --ignore-existing --no-install --prefer-offline "
               "--prefer-online --offline --workspaces --no-workspaces --include-workspace-root "
               "--legacy-peer-deps --verbose --global -g",
            la="--package --call --workspace --registry --cache --userconfig --loglevel "
               "--node-options --shell --script-shell")


def _npx_rest(an: Walker, words: list[Field], i: int, found: Found, label: str, cx: Cx) -> None:
    for o, v, f in found:
        if o in ("-c", "--call"):
            return an.shell_text(v, f, f"{label} -c", cx)
    run_tool(an, words, i, label, cx)


def _h_npx(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, found = parse_opts(words, 1, _O_NPX, name)
    _npx_rest(an, words, i, found, name, cx)


_NPM_VALUE = wordset("--prefix -C --workspace -w --registry --userconfig --cache --loglevel "
                       "--globalconfig --tag --otp")


def _h_npm(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i = skip_global(words, _NPM_VALUE)
    if i >= len(words):
        return
    if i > 1:
        return renormalized(an, name, words, i, cx)
    if words[i][0] in ("exec", "x"):
        j, found = parse_opts(words, i + 1, _O_NPX, "npm exec")
        _npx_rest(an, words, j, found, "npm exec", cx)


_PNPM_OWN = wordset("add audit bin c cat-file cat-index config create dedupe deploy doctor env "
                      "fetch find-hash help i import init install install-test it licenses link "
                      "list ln ls outdated pack patch patch-commit patch-remove prune publish rb "
                      "rebuild recursive remove rm root server setup store t test un uninstall "
                      "unlink up update why self-update approve-builds ignored-builds start "
                      "completion")


_PNPM_VALUE = wordset("-C --dir -F --filter --filter-prod --reporter --loglevel --workspace-concurrency")


_O_PNPM_EXEC = opts("crs", "F", lenient=2, lf="--shell-mode --recursive --parallel --silent",
                  la="--package --filter --allow-build --workspace-concurrency --reporter")


def _h_pnpm(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i = skip_global(words, _PNPM_VALUE)
    if i >= len(words):
        return
    if i > 1:
        return renormalized(an, name, words, i, cx)
    sub = words[i][0]
    if sub in ("dlx", "exec", "run", "run-script"):
        j, found = parse_opts(words, i + 1, _O_PNPM_EXEC, f"{name} {sub}")
        if seen(found, "-c", "--shell-mode"):
            return run_joined(an, words[j:], f"{name} {sub} -c", cx)
        run_tool(an, words, j, f"{name} {sub}", cx)
    elif sub not in _PNPM_OWN:
        run_tool(an, words, i, name, cx)


_YARN_VALUE = wordset("--cwd --modules-folder --cache-folder --registry")


_O_YARN_RUN = opts("qT", "p", lenient=2, la="--package")


_YARN_OWN = wordset("add audit autoclean bin cache check config constraints create dedupe explain "
                      "generate-lock-entry global help import info init install licenses link list "
                      "login logout npm outdated owner pack patch patch-commit plugin policies "
                      "publish rebuild remove search set stage tag team test unlink unplug up "
                      "upgrade upgrade-interactive version versions why workspaces")


def _h_yarn(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i = skip_global(words, _YARN_VALUE)
    if i >= len(words):
        return
    if i > 1:
        return renormalized(an, name, words, i, cx)
    sub = words[i][0]
    if sub == "workspace" and i + 2 < len(words):
        return an.command([(name, 0), *words[i + 2 :]], cx.wrap(f"{name} workspace"))
    if sub == "node":
        return an.command([("node", 0), *words[i + 1 :]], cx.wrap(f"{name} node"))
    if sub in ("dlx", "exec", "run"):
        j, _found = parse_opts(words, i + 1, _O_YARN_RUN, f"{name} {sub}")
        return run_tool(an, words, j, f"{name} {sub}", cx)
    if sub not in _YARN_OWN:
        run_tool(an, words, i, name, cx)


_O_BUNX = opts("p", "", lenient=2, la="--package")


_BUN_RUN_VALUE = wordset("--cwd --filter -F --env-file")


_BUN_OWN = wordset("install i add a remove rm update outdated link unlink pm build test init create "
                     "c upgrade publish patch why audit info completions discord help repl")


def _h_bunx(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, _found = parse_opts(words, 1, _O_BUNX, name)
    run_tool(an, words, i, name, cx)


def _h_bun(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if t in ("-e", "--eval", "-p", "--print") and i + 1 < n:
            return report_code(an, name, t, words[i + 1], cx)
        if t.startswith(("--eval=", "--print=")):
            return report_code(an, name, t.split("=", 1)[0], (t.split("=", 1)[1], f), cx)
        if t in ("--cwd", "--filter", "-F", "--config", "-c", "--env-file", "--preload", "-r"):
            i += 2
            continue
        if not t.startswith("-"):
            break
        i += 1
    if i >= n:
        return
    sub = words[i][0]
    if sub == "x":
        j, _found = parse_opts(words, i + 1, _O_BUNX, "bun x")
        run_tool(an, words, j, "bun x", cx)
    elif sub == "exec":
        run_joined(an, words[i + 1 :], "bun exec", cx)
    elif sub == "run":
        j = skip_global([("", 0), *words[i + 1 :]], _BUN_RUN_VALUE)
        run_tool(an, words, i + j, "bun run", cx)
    elif sub not in _BUN_OWN:
        run_tool(an, words, i, name, cx)


_UV_ARGS = ("--from --with --with-editable --with-requirements --python --index --index-url "
            "--extra-index-url --find-links --constraints --overrides --cache-dir --config-file "
            "--directory --project --color --refresh-package --upgrade-package --reinstall-package "
            "--prerelease --resolution --exclude-newer --link-mode --python-preference "
            "--index-strategy --keyring-provider --config-setting --env-file --allow-insecure-host "
            "--default-index --package --extra --group --only-group --no-group --torch-backend")


_O_UV = opts("qvnU", "pfPC", lenient=2, la=_UV_ARGS)


_O_UVRUN = opts("qvnUsm", "pfPC", lenient=2, la=_UV_ARGS, lf="--module --script --gui-script")


def _h_uvx(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, _found = parse_opts(words, 1, _O_UV, name)
    run_tool(an, words, i, name, cx)


def _h_uv(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, _found = parse_opts(words, 1, _O_UV, name)
    if i >= len(words):
        return
    sub = words[i][0]
    if sub == "tool" and i + 1 < len(words) and words[i + 1][0] == "run":
        j, _found = parse_opts(words, i + 2, _O_UV, "uv tool run")
        return run_tool(an, words, j, "uv tool run", cx)
    if sub == "run":
        j, found = parse_opts(words, i + 1, _O_UVRUN, "uv run")
        if seen(found, "-m", "--module"):
            return an.command([("python", 0), ("-m", 0), *words[j:]], cx.wrap("uv run"))
        run_tool(an, words, j, "uv run", cx)


_O_PIPX = opts("eqv", lenient=1, la="--spec --python --pip-args --index-url --backend",
             lf="--no-cache --pypi --path --editable --system-site-packages "
                "--fetch-missing-python --quiet --verbose")


def _h_pipx(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    if len(words) > 1 and words[1][0] == "run":
        i, _found = parse_opts(words, 2, _O_PIPX, "pipx run")
        run_tool(an, words, i, "pipx run", cx)


def _subrunner(subs: str, pre: Opts, post: Opts, operands: int = 0) -> Handler:
    """``TOOL [opts] run [opts] COMMAND...`` (poetry run, bundle exec, conda run, ...)."""
    names = frozenset(subs.split())

    def handler(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
        i, _found = parse_opts(words, 1, pre, name)
        if i >= len(words) or words[i][0] not in names:
            return
        label = f"{name} {words[i][0]}"
        j, _found = parse_opts(words, i + 1, post, label)
        run_tool(an, words, j + operands, label, cx)

    return handler


LENIENT = opts("qvnhV", "CPp", lenient=2, la="--directory --project --manifest-path --cwd")


def _h_nix_shell(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    for k, (t, _f) in enumerate(words):
        if t in ("--run", "--command") and k + 1 < len(words):
            an.shell_text(words[k + 1][0], words[k + 1][1], f"{name} {t}", cx)


def _h_nix(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    for k, (t, _f) in enumerate(words):
        if t in ("-c", "--command"):
            return run(an, words, k + 1, f"{name} {t}", cx)
    ops = [k for k in range(1, len(words)) if not words[k][0].startswith("-")]
    if len(ops) >= 2 and words[ops[0]][0] == "run":  # nix run FLAKE#APP [-- ARGS]: APP's program
        t, f = words[ops[1]]
        if "#" in t and not f & EXP:
            prog = t.split("#", 1)[1].rsplit(".", 1)[-1].strip('"')
            dash = next((k for k in range(ops[1] + 1, len(words)) if words[k][0] == "--"), None)
            args = words[dash + 1 :] if dash is not None else words[ops[1] + 1 :]
            if prog:
                an.command([(prog, 0), *args], cx.wrap(f"{name} run"))


_O_MISE = opts("qvy", "CEj", lenient=2, la="--cd --env --jobs --log-level --profile")


def _h_mise(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, _found = parse_opts(words, 1, _O_MISE, name)
    if i < len(words) and words[i][0] in ("exec", "x"):
        for k in range(i + 1, len(words)):
            t = words[k][0]
            if t == "--":
                return run(an, words, k + 1, f"{name} exec", cx)
            if t in ("-c", "--command") and k + 1 < len(words):
                return an.shell_text(words[k + 1][0], words[k + 1][1], f"{name} exec -c", cx)
            if t.startswith("--command="):
                return an.shell_text(t[10:], words[k][1], f"{name} exec -c", cx)


def _h_corepack(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``corepack pnpm@9 ...``: the rest is that package manager's command."""
    if len(words) > 1 and tool_name(words[1][0]) in ("npm", "npx", "pnpm", "pnpx", "yarn", "yarnpkg"):
        run_tool(an, words, 1, name, cx)


def _h_nvm(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``nvm exec [VERSION] CMD ...``; ``nvm run [VERSION] ARGS`` runs node."""
    if len(words) < 2 or words[1][0] not in ("exec", "run"):
        return
    sub = words[1][0]
    i = 2
    while i < len(words) and (words[i][0] in ("--silent", "--lts") or words[i][0].startswith("--lts=")):
        i += 1
    if i < len(words):
        v = words[i][0]
        if v[:1].isdigit() or (v[:1] == "v" and v[1:2].isdigit()) or v.startswith("lts/") or v in (
                "node", "stable", "unstable", "iojs", "system", "default"):
            i += 1
    if sub == "run":
        return an.command([("node", 0), *words[i:]], cx.wrap(f"{name} run"))
    run(an, words, i, f"{name} exec", cx)


HANDLERS: dict[str, Handler] = {
    "npx": _h_npx,
    "npm": _h_npm,
    "pnpm": _h_pnpm,
    "pnpx": _h_npx,
    "yarn": _h_yarn,
    "bunx": _h_bunx,
    "bun": _h_bun,
    "uvx": _h_uvx,
    "uv": _h_uv,
    "pipx": _h_pipx,
    "poetry": _subrunner("run", LENIENT, opts(lenient=2)),
    "pdm": _subrunner("run", LENIENT, opts("ls", "p", lenient=2, la="--project")),
    "pipenv": _subrunner("run", LENIENT, opts(lenient=2)),
    "rye": _subrunner("run", LENIENT, opts("l", lenient=2, la="--pyproject")),
    "hatch": _subrunner("run", LENIENT, opts(lenient=2)),
    "bundle": _subrunner("exec", LENIENT, opts(lenient=2)),
    "bundler": _subrunner("exec", LENIENT, opts(lenient=2)),
    "conda": _subrunner("run", LENIENT, opts("v", "np", lenient=2, la="--name --prefix --cwd")),
    "mamba": _subrunner("run", LENIENT, opts("v", "np", lenient=2, la="--name --prefix --cwd")),
    "micromamba": _subrunner("run", LENIENT, opts("v", "np", lenient=2, la="--name --prefix --cwd")),
    "pixi": _subrunner("run exec", LENIENT, opts("", "e", lenient=2, la="--environment --manifest-path")),
    "devbox": _subrunner("run", LENIENT, opts("q", "ce", lenient=2, la="--config --env --env-file --environment")),
    "direnv": _subrunner("exec", opts(), opts(), operands=1),
    "nix-shell": _h_nix_shell,
    "nix": _h_nix,
    "mise": _h_mise,
    "corepack": _h_corepack,
    "volta": _subrunner("run", LENIENT, opts(lenient=2, la="--node --npm --pnpm --yarn --env")),
    "fnm": _subrunner("exec", opts(lenient=2, la="--node-dist-mirror --fnm-dir --log-level --arch "
                                                    "--version-file-strategy --shell"),
                          opts(lenient=2, la="--using")),
    "nvm": _h_nvm,
    "asdf": _subrunner("exec", opts(), opts()),
}
