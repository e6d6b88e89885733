"""shell.analyzer: every simple command once, opaque parts for what cannot be followed."""

from __future__ import annotations

from agentgate.shell import analyze_argv, analyze_script
from agentgate.shell.budget import MAX_COMMANDS


def test_a_command_met_twice_is_reported_once_with_both_environments() -> None:
    a = analyze_script("A=1 git push; B=2 git push")
    assert [(c.argv, c.env) for c in a.commands] == [(("git", "push"), ("A=1", "B=2"))]


def test_a_name_with_capitals_is_reported_in_lower_case_too() -> None:
    assert [c.argv for c in analyze_argv(["Git", "push"]).commands] == [("Git", "push"), ("git", "push")]


def test_command_names_that_are_not_known_are_opaque() -> None:
    for text, reason in (("$X a", "comes from a variable"), ("/bin/r? a", "glob pattern"),
                         ("$'r\\x01m' a", "control characters")):
        a = analyze_script(text)
        assert a.commands == () and reason in a.opaque[0].reason, text


def test_an_unknown_program_given_a_command_after_double_dash_has_it_checked() -> None:
    a = analyze_argv(["mywrapper", "--flag", "--", "rm", "-rf", "/"])
    assert [(c.argv, c.via) for c in a.commands][-1] == (("rm", "-rf", "/"), ("-- (after)",))
    assert len(analyze_argv(["grep", "--", "rm"]).commands) == 1  # grep never runs its operands


def test_an_alias_defined_earlier_is_expanded_where_it_is_used() -> None:
    a = analyze_script("alias ll='rm -rf'; ll /")
    assert ("rm", "-rf", "/") in [c.argv for c in a.commands]


def test_the_number_of_commands_is_bounded() -> None:
    a = analyze_script("; ".join(f"c{k}" for k in range(MAX_COMMANDS + 10)))
    assert len(a.commands) <= MAX_COMMANDS
    assert any("too large/too deep" in o.reason for o in a.opaque)


def test_a_parse_error_still_reports_what_parsed_before_it() -> None:
    a = analyze_script("rm -rf / && echo 'unterminated")
    assert [(c.argv, c.via) for c in a.commands] == [(("rm", "-rf", "/"), ("partial parse",))]
    assert a.opaque[0].reason.startswith("cannot parse shell syntax")


# --------------------------------------------------------------------------- working directory

HOME = "/home/u"


def places(text: str, cwd: str | None = "/w/p") -> dict[tuple[str, ...], list[str | None]]:
    """argv -> the directories it is reported in, in order."""
    out: dict[tuple[str, ...], list[str | None]] = {}
    for c in analyze_script(text, cwd, HOME).commands:
        out.setdefault(c.argv, []).append(c.cwd)
    return out


def test_each_command_runs_where_the_literal_cds_before_it_leave_it() -> None:
    assert places("cd /x && rm -rf *")[("rm", "-rf", "*")] == ["/x"]
    assert places("cd .config && rm -rf agentgate")[("rm", "-rf", "agentgate")] == ["/w/p/.config"]
    assert places("cd ~/.local/state && ls")[("ls",)] == [f"{HOME}/.local/state"]
    assert places("cd && ls")[("ls",)] == [HOME]
    assert places("cd $HOME/.config && ls")[("ls",)] == [f"{HOME}/.config"]
    assert places('cd "${HOME}" && ls')[("ls",)] == [HOME]
    assert places("cd ../x/./y/.. && ls")[("ls",)] == ["/w/x"]
    assert places("cd -P //tmp && ls")[("ls",)] == ["/tmp"]
    assert places("cd /a && cd b && cd .. && ls")[("ls",)] == ["/a"]
    assert places("cd /x", cwd=None)[("cd", "/x")] == [None]


def test_a_cd_that_may_fail_leaves_both_directories_possible() -> None:
    assert places("cd /x; ls")[("ls",)] == ["/w/p", "/x"]
    assert places("cd /x || ls")[("ls",)] == ["/w/p"]  # runs only when cd failed
    assert places("cd a; cd b; rm z")[("rm", "z")] == ["/w/p", "/w/p/a", "/w/p/b", "/w/p/a/b"]
    assert places("cd /x && ls; pwd")[("pwd",)] == ["/x", "/w/p"]


def test_unknown_directories() -> None:
    for text in ('cd "$(dirname "$0")" && ls', "cd - && ls", "cd ~bob && ls", "cd $D && ls",
                 "pushd +1 && ls", "cd a b && ls"):
        assert places(text)[("ls",)] == [None], text
    # a cd to a name may follow $CDPATH: unknown when it is set or assigned
    assert places("CDPATH=/s; cd agentgate && ls")[("ls",)] == [None]
    assert places("CDPATH=/s; cd ./agentgate && ls")[("ls",)] == ["/w/p/agentgate"]
    a = analyze_script("cd agentgate && ls", "/w/p", HOME, cdpath=True)
    assert [c.cwd for c in a.commands if c.argv == ("ls",)] == [None]
    # once HOME is assigned, ~ is not the home directory any more
    a = analyze_script("HOME=/t; cd ~ && ls", "/w/p", HOME)
    assert [c.cwd for c in a.commands if c.argv == ("ls",)] == [None] and a.home is None
    assert places("env HOME=/t sh -c 'cd && ls'")[("ls",)] == [None]


def test_subshells_keep_their_cd_and_shell_strings_follow_it() -> None:
    p = places("(cd x && mv agentgate /tmp); ls")
    assert p[("mv", "agentgate", "/tmp")] == ["/w/p/x"] and p[("ls",)] == ["/w/p"]
    assert places("bash -c 'cd x && rm -rf y'")[("rm", "-rf", "y")] == ["/w/p/x"]
    assert places("cd /s && sh -c 'rm -rf agentgate'")[("rm", "-rf", "agentgate")] == ["/s"]
    assert places("eval 'cd /e' && ls")[("ls",)] == ["/w/p", "/e"]


def test_pushd_and_popd_keep_a_stack() -> None:
    p = places("pushd /a && pushd b && popd && ls")
    assert p[("popd",)] == ["/a/b"] and p[("ls",)] == ["/a"]
    assert places("pushd /a && pushd && ls")[("ls",)] == ["/w/p"]  # swaps the top two
    assert places("popd && ls")[("ls",)] == ["/w/p"]  # an empty stack: popd fails


def test_loops_functions_and_sourced_files_leave_the_directory_open() -> None:
    p = places("for i in 1 2; do cd ..; rm -rf agentgate; done")
    assert {"/w/p", "/w", "/", None} <= set(p[("rm", "-rf", "agentgate")])
    p = places("f() { cd /x; rm -rf y; }; f; ls")
    assert p[("rm", "-rf", "y")] == [None, "/x"]  # the body runs wherever f is called
    assert p[("ls",)] == ["/w/p", None]  # and f moved the shell
    assert places(". ./env.sh && ls")[("ls",)] == ["/w/p", None]


def test_the_same_command_in_two_directories_is_two_commands() -> None:
    a = analyze_script("A=1 make; cd /x && B=2 make", "/w/p", HOME)
    assert [(c.argv, c.env, c.cwd) for c in a.commands if c.argv == ("make",)] == [
        (("make",), ("A=1",), "/w/p"), (("make",), ("B=2",), "/x")]


def test_redirections_and_here_documents_are_reported_where_they_open() -> None:
    a = analyze_script("cd /s && echo x > out 2>&1 < \"$IN\"; cat <<'E' >> log\nhi $X\nE", "/w", HOME)
    got = [(r.op, r.target, r.cwd, r.dynamic) for r in a.redirects]
    assert got[:2] == [(">", "out", "/s", False), ("<", "$IN", "/s", True)]
    assert (">>", "log", "/w", False) in got and ("<<", "hi $X\n", "/s", False) in got
