"""Properties of shell analysis: it never raises, wrapping never hides a command, bounds hold."""

from __future__ import annotations

import os
import shlex
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from agentgate.shell import INPUT_WORD, Analysis, analyze_argv, analyze_script

FAST = settings(max_examples=200, deadline=None)

RESERVED = {"if", "then", "elif", "else", "fi", "do", "done", "case", "esac", "while", "until",
            "for", "select", "function", "time", "in", "coproc"}

names = st.one_of(
    st.sampled_from(["git", "vercel", "kubectl", "terraform", "rm", "ls", "make", "npm", "cat",
                     "sudo", "env", "timeout", "xargs", "bash", "python3", "echo", "grep"]),
    st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True),
).filter(lambda n: n not in RESERVED)
args = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
argvs = st.tuples(names, st.lists(args.filter(lambda a: a not in (";", "+") and "{}" not in a),
                                  max_size=5)).map(lambda t: [t[0], *t[1]])

# wrappers as argv prefixes (what `agentgate run --` would receive)
WRAPPERS: list[list[str]] = [
    ["sudo"], ["sudo", "-E"], ["sudo", "-u", "root", "--"], ["doas"], ["env"], ["env", "-i", "A=1"],
    ["nice", "-n", "5"], ["ionice", "-c2"], ["nohup"], ["timeout", "5"], ["timeout", "-s", "KILL", "1m"],
    ["/usr/bin/time", "-p"], ["command"], ["builtin"], ["exec"], ["stdbuf", "-oL"], ["setsid"],
    ["chronic"], ["flock", "/tmp/lock"], ["xargs"], ["xargs", "-0", "-n", "1"],
    ["find", ".", "-exec"], ["busybox"], ["caffeinate"], ["unbuffer"],
    ["systemd-run", "--user", "--scope"], ["unshare", "-r", "-n"], ["setpriv", "--nnp"],
    ["prlimit", "--nofile=64"], ["xvfb-run", "-a"], ["gdb", "--args"], ["screen", "-dmS", "x"],
    ["runuser", "-u", "root", "--"], ["chrt", "-f", "10"], ["chpst", "-u", "x"], ["dotenv", "run"],
    ["op", "run", "--"], ["doppler", "run", "--"], ["aws-vault", "exec", "p", "--"],
    ["volta", "run"], ["fnm", "exec", "--using=18"], ["nvm", "exec", "18"], ["asdf", "exec"],
    ["mise", "exec", "--"], ["nix", "develop", "-c"], ["unknown-wrapper", "--"],
]


def normalized(argv: list[str]) -> tuple[str, ...]:
    return analyze_argv(argv).commands[0].argv


def present(a: Analysis, argv: tuple[str, ...]) -> bool:
    return argv in [c.argv for c in a.commands]


def wrapped(prefix: list[str], argv: list[str]) -> tuple[str, ...]:
    """What the wrapper runs: xargs appends the words it reads."""
    inner = normalized(argv)
    return (*inner, INPUT_WORD) if prefix[0] == "xargs" else inner


@FAST
@given(st.text(max_size=300))
def test_any_text_is_analysed_without_raising(text: str) -> None:
    a = analyze_script(text)
    assert isinstance(a, Analysis)
    assert all(o.kind in ("unparseable", "code") and o.reason for o in a.opaque)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_are_analysed_without_raising(data: bytes) -> None:
    text = os.fsdecode(data) if os.name != "nt" else data.decode("utf-8", "surrogateescape")
    assert isinstance(analyze_script(text), Analysis)
    assert isinstance(analyze_argv(text.split(" ")), Analysis)


@FAST
@given(st.lists(st.text(max_size=20), max_size=8))
def test_any_argv_is_analysed_without_raising(argv: list[str]) -> None:
    assert isinstance(analyze_argv(argv), Analysis)


@FAST
@given(st.lists(st.sampled_from(["$(", "`", "'", '"', "(", ")", "{", "}", "${", "<<", "|", ";",
                                 "&&", "\\", "\n", " ", "x", "sh -c ", "$((", "[[", "]]", "if ",
                                 "then ", "fi", "case ", " in ", "esac", "<(", "#", "$'", "*"]),
                max_size=60).map("".join))
def test_shell_like_soup_is_analysed_without_raising(text: str) -> None:
    assert isinstance(analyze_script(text), Analysis)


@FAST
@given(st.sampled_from(WRAPPERS), argvs)
def test_argv_wrappers_keep_the_inner_command(prefix: list[str], argv: list[str]) -> None:
    tail = [";"] if prefix[0] == "find" else []
    assert present(analyze_argv([*prefix, *argv, *tail]), wrapped(prefix, argv))


@FAST
@given(st.sampled_from(WRAPPERS), argvs)
def test_script_wrappers_keep_the_inner_command(prefix: list[str], argv: list[str]) -> None:
    tail = " \\;" if prefix[0] == "find" else ""
    script = f"{shlex.join(prefix)} {shlex.join(argv)}{tail}"
    assert present(analyze_script(script), wrapped(prefix, argv))


SHELLS = ["sh -c", "bash -c", "bash -lc", "bash -euxc", "zsh -c", "dash -c", "bash -o pipefail -c",
          "sudo bash -c", "env bash -c", "eval", "npx -c", "flock /tmp/l -c", "su -c"]


@FAST
@given(st.sampled_from(SHELLS), argvs)
def test_shell_strings_keep_the_inner_command(shell: str, argv: list[str]) -> None:
    script = f"{shell} {shlex.quote(shlex.join(argv))}"
    assert present(analyze_script(script), normalized(argv))
    assert present(analyze_argv([*shlex.split(shell), shlex.join(argv)]), normalized(argv))


@FAST
@given(st.sampled_from(["&&", "||", ";", "|", "&", "\n", "|&"]), st.booleans(), argvs)
def test_chaining_keeps_the_inner_command(op: str, first: bool, argv: list[str]) -> None:
    cmd = shlex.join(argv)
    script = f"{cmd} {op} echo done" if first else f"echo start {op} {cmd}"
    assert present(analyze_script(script), normalized(argv))


@FAST
@given(st.sampled_from(["( {} )", "{{ {}; }}", "echo $({})", "echo `{}`", "diff <({}) x",
                        "if true; then {}; fi", "for x in a; do {}; done", "f() {{ {}; }}",
                        "! {}", "time {}", "X=1 {}", "{} > /dev/null 2>&1", "echo \"$({})\"",
                        "export X=1; {}", "set -a; X=1 && {}", "X=1; sudo {}"]),
       argvs)
def test_structures_keep_the_inner_command(shape: str, argv: list[str]) -> None:
    cmd = shlex.join(argv)
    if "`" in shape:
        cmd = cmd.replace("\\", "\\\\").replace("`", "\\`").replace("$", "\\$")
    assert present(analyze_script(shape.format(cmd)), normalized(argv))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["$(", "(", "{ ", "${", "\"$(", "<(", "$((", "x && (", "`(", "if x; then ",
                        "x | (", "{a,"]),
       st.integers(min_value=25, max_value=10_000))
def test_deep_nesting_returns_promptly_and_opaque(opener: str, n: int) -> None:
    start = time.perf_counter()
    a = analyze_script("echo " + opener * n + "}" * n if opener == "{a," else opener * n)
    assert time.perf_counter() - start < 1.0
    assert any(o.kind == "unparseable" for o in a.opaque)
