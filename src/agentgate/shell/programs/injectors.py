"""Secret and environment injectors that run a command: dotenv, op, doppler, aws-vault,
env-cmd, cross-env, sops."""

from __future__ import annotations

from ..context import INPUT_WORD, Unclear, merge_env
from ..options import opts, parse_opts, run, seen
from ..syntax import EXP, assigned_name
from .common import reads_stdin, run_joined

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker
    from ..syntax import Field


def _h_dotenv(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """python-dotenv ``dotenv [-f F] run [--override] CMD`` and dotenv-cli ``dotenv [-e F] [--] CMD``."""
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if f & EXP:
            raise Unclear(f"{name}: an option or the command is not literal ({t})")
        if t == "--":
            return run(an, words, i + 1, name, cx)
        if t == "run":
            j, _found = parse_opts(words, i + 1, opts(lenient=2), f"{name} run")
            return run(an, words, j, f"{name} run", cx)
        if t in ("list", "get", "set", "unset"):
            return
        if t in ("-f", "--file", "-e", "--export", "-q", "--quote", "-v", "-p", "-c"):
            i += 2
        elif t.startswith("-"):
            i += 1
        else:
            return run(an, words, i, name, cx)


_O_SECRETS = opts("", "pc", lenient=2,
                la="--account --config --encoding --session --format --env-file --project --token "
                   "--fallback --mount --mount-format --mount-template --mount-max-reads "
                   "--name-transformer --command --scope --configuration --api-host "
                   "--dashboard-host --fallback-passphrase --passphrase --dynamic-ttl")


def _h_secrets_run(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``op [plugin] run [opts] -- CMD`` (1Password), ``doppler run [opts] -- CMD`` (also
    ``--command 'shell text'``)."""
    i, _found = parse_opts(words, 1, _O_SECRETS, name)
    if i + 1 < len(words) and words[i][0] == "plugin" and words[i + 1][0] == "run":
        i += 1
    if i >= len(words) or words[i][0] != "run":
        return
    j, found = parse_opts(words, i + 1, _O_SECRETS, f"{name} run")
    for o, v, f in found:
        if o == "--command":
            return an.shell_text(v, f, f"{name} run --command", cx)
    run(an, words, j, f"{name} run", cx)


_O_AWS_VAULT = opts("njs", "dt", lenient=2,
                  la="--duration --region --mfa-token --backend --keychain --prompt --pass-dir "
                     "--pass-cmd --pass-prefix --file-dir --secret-service-collection")


def _h_aws_vault(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``aws-vault exec [opts] PROFILE [opts] [--] [CMD ...]`` (no CMD: the user's shell)."""
    i, _found = parse_opts(words, 1, _O_AWS_VAULT, name)
    if i >= len(words) or words[i][0] != "exec":
        return
    label = f"{name} exec"
    j, _found = parse_opts(words, i + 1, _O_AWS_VAULT, label)
    if j >= len(words):
        return
    k, _found = parse_opts(words, j + 1, _O_AWS_VAULT, label)
    if k >= len(words):
        return reads_stdin(f"{name}'s shell", cx, an, "shell")
    run(an, words, k, label, cx)


_O_ENV_CMD = opts("hvx", "fer", lenient=1, la="--file --environments --rc-file",
                lf="--fallback --no-override --silent --use-shell --expand-envs --verbose --help "
                   "--version")


def _h_env_cmd(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, found = parse_opts(words, 1, _O_ENV_CMD, name)
    if seen(found, "--use-shell"):
        return run_joined(an, words[i:], f"{name} --use-shell", cx)
    run(an, words, i, name, cx)


def _h_cross_env(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``cross-env A=1 CMD ARGS``; ``cross-env-shell A=1 'shell text'``."""
    if name == "cross-env":
        return run(an, words, 1, name, cx)
    k = 1
    while k < len(words) and assigned_name(words[k][0]):
        k += 1
    env = merge_env(cx.env, [t for t, _ in words[1:k]])
    run_joined(an, words[k:], name, cx.with_env(env, cx.stdin, cx.feed))


def _h_sops(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``sops exec-env FILE 'shell text'`` / ``sops exec-file FILE 'shell text with {}'``."""
    for k, (t, _f) in enumerate(words):
        if t in ("exec-env", "exec-file"):
            ops = [w for w in words[k + 1 :] if not w[0].startswith("-")]
            if len(ops) >= 2:
                text = ops[1][0].replace("{}", f'"{INPUT_WORD}"')
                an.shell_text(text, ops[1][1], f"{name} {t}", cx)
            return


HANDLERS: dict[str, Handler] = {
    "dotenv": _h_dotenv,
    "op": _h_secrets_run,
    "doppler": _h_secrets_run,
    "aws-vault": _h_aws_vault,
    "env-cmd": _h_env_cmd,
    "cross-env": _h_cross_env,
    "cross-env-shell": _h_cross_env,
    "sops": _h_sops,
}
