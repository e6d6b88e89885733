"""Secret and environment injectors that run a command: dotenv, op, doppler, aws-vault,
env-cmd, cross-env, sops."""

from __future__ import annotations

from ..context import EXP, INPUT_WORD, Unclear, assigned_name, merge_env
from ..options import opts, parse_opts, reads_stdin, run, seen, value, wrapper
from .common import run_joined

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx, Field
    from ..options import Handler, Walker

_DOTENV_VALUE = frozenset({"-f", "--file", "-e", "--export", "-q", "--quote", "-v", "-p", "-c"})
_ANY = opts(lenient=2)


def _h_dotenv(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """python-dotenv ``dotenv [-f F] run [--override] CMD`` and dotenv-cli ``dotenv [-e F] [--] CMD``."""
    i, n = 1, len(words)
    while i < n:
        t = words[i].text
        if words[i].flags & EXP:
            raise Unclear(f"{name}: an option or the command is not literal ({t})")
        if t == "--":
            return run(an, words, i + 1, name, cx)
        if t == "run":
            j, _found = parse_opts(words, i + 1, _ANY, f"{name} run")
            return run(an, words, j, f"{name} run", cx)
        if t in ("list", "get", "set", "unset"):
            return
        if not t.startswith("-"):
            return run(an, words, i, name, cx)
        i += 2 if t in _DOTENV_VALUE else 1


_SECRETS = opts("", "pc", lenient=2,
                la="--account --config --encoding --session --format --env-file --project --token "
                   "--fallback --mount --mount-format --mount-template --mount-max-reads "
                   "--name-transformer --command --scope --configuration --api-host "
                   "--dashboard-host --fallback-passphrase --passphrase --dynamic-ttl")


def _h_secrets_run(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``op [plugin] run [opts] -- CMD`` (1Password), ``doppler run [opts] -- CMD`` (also
    ``--command 'shell text'``)."""
    i, _found = parse_opts(words, 1, _SECRETS, name)
    if i + 1 < len(words) and words[i].text == "plugin" and words[i + 1].text == "run":
        i += 1
    if i >= len(words) or words[i].text != "run":
        return
    j, found = parse_opts(words, i + 1, _SECRETS, f"{name} run")
    text = value(found, "--command")
    if text is not None:
        return an.shell_text(text.value, text.flags, f"{name} run --command", cx)
    run(an, words, j, f"{name} run", cx)


_AWS_VAULT = opts("njs", "dt", lenient=2,
                  la="--duration --region --mfa-token --backend --keychain --prompt --pass-dir "
                     "--pass-cmd --pass-prefix --file-dir --secret-service-collection")


def _h_aws_vault(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``aws-vault exec [opts] PROFILE [opts] [--] [CMD ...]`` (no CMD: the user's shell)."""
    i, _found = parse_opts(words, 1, _AWS_VAULT, name)
    if i >= len(words) or words[i].text != "exec":
        return
    label = f"{name} exec"
    j, _found = parse_opts(words, i + 1, _AWS_VAULT, label)
    if j >= len(words):
        return
    k, _found = parse_opts(words, j + 1, _AWS_VAULT, label)
    if k >= len(words):
        return reads_stdin(f"{name}'s shell", cx, an, "shell")
    run(an, words, k, label, cx)


_ENV_CMD = opts("hvx", "fer", lenient=1, la="--file --environments --rc-file",
                lf="--fallback --no-override --silent --use-shell --expand-envs --verbose --help "
                   "--version")


def _h_env_cmd(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``env-cmd [opts] CMD``; with ``--use-shell`` the command is shell text."""
    i, found = parse_opts(words, 1, _ENV_CMD, name)
    if seen(found, "--use-shell"):
        return run_joined(an, words[i:], f"{name} --use-shell", cx)
    run(an, words, i, name, cx)


def _h_cross_env_shell(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``cross-env-shell A=1 'shell text'``."""
    k = 1
    while k < len(words) and assigned_name(words[k].text):
        k += 1
    env = merge_env(cx.env, [w.text for w in words[1:k]])
    run_joined(an, words[k:], name, cx.with_env(env, cx.stdin, cx.feed))


def _h_sops(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``sops exec-env FILE 'shell text'`` / ``sops exec-file FILE 'shell text with {}'``."""
    for k, w in enumerate(words):
        if w.text in ("exec-env", "exec-file"):
            ops = [x for x in words[k + 1 :] if not x.text.startswith("-")]
            if len(ops) >= 2:
                text = ops[1].text.replace("{}", f'"{INPUT_WORD}"')
                an.shell_text(text, ops[1].flags, f"{name} {w.text}", cx)
            return


HANDLERS: dict[str, Handler] = {
    "dotenv": _h_dotenv,
    "op": _h_secrets_run,
    "doppler": _h_secrets_run,
    "aws-vault": _h_aws_vault,
    "env-cmd": _h_env_cmd,
    "cross-env": wrapper(None),  # cross-env A=1 CMD ARGS
    "cross-env-shell": _h_cross_env_shell,
    "sops": _h_sops,
}
