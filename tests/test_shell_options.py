"""shell.options: reading a command's options from its option table; wrappers made of one."""

from __future__ import annotations

import pytest

from agentgate.shell import analyze_argv, analyze_script
from agentgate.shell.context import EXP, SPLIT, Field, Unclear
from agentgate.shell.options import Opts, opts, parse_opts, seen, value

SPEC = opts("ab", "uC", lf="--all --quiet", la="--user --chdir", lo="--color", optattached="h")


def read(*words: str, flags: dict[int, int] | None = None, spec: Opts = SPEC) -> tuple[str, list[tuple[str, str]]]:
    fs = [Field(w, (flags or {}).get(k, 0)) for k, w in enumerate(("prog", *words))]
    i, found = parse_opts(fs, 1, spec, "prog")
    return " ".join(w.text for w in fs[i:]), [(o.name, o.value) for o in found]


def test_short_options_bundled_attached_and_separate() -> None:
    assert read("-ab", "-uroot", "-C", "/tmp", "cmd", "-a") == (
        "cmd -a", [("-a", ""), ("-b", ""), ("-u", "root"), ("-C", "/tmp")])
    assert read("-hx", "cmd") == ("cmd", [("-h", "x")])  # an optional value must be attached
    assert read("-h", "cmd") == ("cmd", [("-h", "")])


def test_long_options() -> None:
    assert read("--user=bob", "--chdir", "/x", "--all", "--color", "--color=auto", "run") == (
        "run", [("--user", "bob"), ("--chdir", "/x"), ("--all", ""), ("--color", ""), ("--color", "auto")])


def test_double_dash_and_a_lone_dash_end_the_options() -> None:
    assert read("-a", "--", "-b") == ("-b", [("-a", "")])
    assert read("-", "x") == ("- x", [])


def test_a_missing_value_leaves_no_operand() -> None:
    assert read("-u") == ("", [])
    assert read("--user") == ("", [])


@pytest.mark.parametrize("words", [("-x", "cmd"), ("--nope", "cmd"), ("-ax", "cmd")])
def test_an_unknown_option_is_unclear(words: tuple[str, ...]) -> None:
    with pytest.raises(Unclear, match="unrecognised option"):
        read(*words)


def test_lenient_tables_accept_unknown_long_options() -> None:
    assert read("--x=1", "cmd", spec=opts(lenient=1)) == ("cmd", [("--x", "1")])
    with pytest.raises(Unclear):
        read("--x", "cmd", spec=opts(lenient=1))
    assert read("--x", "cmd", spec=opts(lenient=2)) == ("cmd", [("--x", "")])


def test_numeric_options() -> None:
    assert read("-5", "cmd", spec=opts(numeric=True)) == ("cmd", [("-n", "5")])
    assert read("--10", "cmd", spec=opts(numeric=True)) == ("cmd", [("-n", "10")])


def test_words_known_only_at_run_time() -> None:
    with pytest.raises(Unclear, match="not literal"):
        read("$X", "cmd", flags={1: EXP})
    with pytest.raises(Unclear, match="may split"):
        read("-u", "$U", flags={2: SPLIT})


def test_seen_and_value() -> None:
    _i, found = parse_opts([Field(w) for w in ("prog", "-a", "--user=x", "cmd")], 1, SPEC, "prog")
    assert seen(found, "-b", "-a") and not seen(found, "-b")
    opt = value(found, "-u", "--user")
    assert opt is not None and opt.value == "x"
    assert value(found, "-C") is None


def argvs(argv: list[str]) -> list[tuple[str, ...]]:
    return [c.argv for c in analyze_argv(argv).commands]


def test_a_wrapper_runs_the_rest_after_its_options_and_operands() -> None:
    assert argvs(["timeout", "-s", "KILL", "5", "rm", "x"])[-1] == ("rm", "x")
    assert argvs(["chroot", "/srv", "sh"])[-1] == ("sh",)


def test_none_if_options_make_a_wrapper_run_nothing() -> None:
    assert argvs(["command", "-v", "rm"]) == [("command", "-v", "rm")]
    assert argvs(["command", "-p", "rm"]) == [("command", "-p", "rm"), ("rm",)]


def test_shell_if_options_start_the_users_shell_without_a_command() -> None:
    a = analyze_script("doas -s <<< 'rm -rf /'")  # the shell reads the here-string
    assert ("rm", "-rf", "/") in [c.argv for c in a.commands]
    assert [o.kind for o in analyze_script("echo x | unshare -r").opaque] == ["unparseable"]
    assert analyze_script("echo x | doas ls").opaque == ()
