"""shell.parser: text to the typed tree, bounded by a Budget, with no idea what programs do."""

from __future__ import annotations

import pytest

from agentgate.shell.budget import MAX_DEPTH, Bound, Budget
from agentgate.shell.parser import ParseError, Parser
from agentgate.shell.syntax import (
    AndOr,
    Compound,
    Func,
    Lit,
    Node,
    Param,
    Pipe,
    ProcSubst,
    Simple,
    Subst,
)


def parse(text: str) -> list[Node]:
    return Parser(text, Budget()).parse()


def only_simple(text: str) -> Simple:
    nodes = parse(text)
    assert len(nodes) == 1 and isinstance(nodes[0], Simple)
    return nodes[0]


def test_words_are_made_of_typed_parts() -> None:
    nd = only_simple("""sudo a'b'"c $X" $(date) <(ls) `id` ${Y:-z} $'\\x41'""")
    w0, w1, w2, w3, w4, w5, w6 = nd.words
    assert w0.plain == "sudo"  # a program is one more word: the parser knows none
    assert [type(p) for p in w1.parts] == [Lit, Lit, Lit, Param]
    assert [(p.text, p.quoted) for p in w1.parts] == [("a", False), ("b", True), ("c ", True), ("$X", True)]
    assert isinstance(w1.parts[3], Param) and w1.parts[3].name == "X"
    subst = w2.parts[0]
    assert isinstance(subst, Subst) and subst.text == "$(date)" and subst.subs[0].label == "$()"
    assert isinstance(subst.subs[0].nodes[0], Simple)
    assert isinstance(w3.parts[0], ProcSubst) and w3.parts[0].subs[0].label == "<()"
    assert isinstance(w4.parts[0], Subst) and w4.parts[0].subs[0].label == "``"
    assert isinstance(w5.parts[0], Subst) and w5.parts[0].text == "${Y:-z}"  # not a plain parameter
    assert w6.lit == "A"  # $'...' decoded


def test_assignments_redirections_and_lists() -> None:
    nodes = parse("X=1 Y=2 cmd a >out 2>&1 && b || c | d; (e) & f() { g; }")
    first = nodes[0]
    assert isinstance(first, AndOr) and first.ops == ["", "&&", "||"]
    simple = first.cmds[0]
    assert isinstance(simple, Simple)
    assert [a.assign for a in simple.assigns] == ["X", "Y"]
    assert [w.lit for w in simple.words] == ["cmd", "a"]
    assert [(r.op, r.fd, r.target.lit) for r in simple.redirs] == [(">", "", "out"), (">&", "2", "1")]
    assert isinstance(first.cmds[2], Pipe)
    sub = nodes[1]
    assert isinstance(sub, Compound) and sub.label == "( )"
    assert isinstance(nodes[2], Func) and nodes[2].name == "f"


def test_the_background_and_every_simple_command_are_recorded() -> None:
    p = Parser("a & b $(c `d`)", Budget())
    nodes = p.parse()
    assert id(nodes[0]) in p.bg and id(nodes[1]) not in p.bg
    assert sorted(nd.words[0].lit or "" for nd in p.done) == ["a", "b", "c", "d"]


def test_a_here_document_is_read_after_its_line() -> None:
    nd = only_simple("cat <<EOF\nhello $USER\nEOF")
    hd = nd.redirs[0].heredoc
    assert hd is not None and hd.body == "hello $USER\n" and hd.word is not None
    assert [type(p) for p in hd.word.parts] == [Lit, Param, Lit]
    quoted = only_simple("cat <<'EOF'\n$x\nEOF").redirs[0].heredoc
    assert quoted is not None and quoted.word is None  # a quoted delimiter: the body is literal


def test_compound_commands_keep_the_commands_inside() -> None:
    for text in ("if a; then b; elif c; then d; else e; fi", "while a; do b; done",
                 "for x in 1 2; do b; done", "case $x in a|b) c ;; *) d ;; esac", "{ a; b; }",
                 "[[ -n $x ]]", "(( x + 1 ))"):
        nodes = parse(text)
        assert len(nodes) == 1 and isinstance(nodes[0], Compound), text


@pytest.mark.parametrize("text", ["echo 'x", 'echo "x', "echo $(x", "(a", "a )", "if a; then b",
                                  "case x in", "echo ${x", "for 1 in a; do b; done", "echo $'x",
                                  "f() g", "a ;; b"])
def test_what_does_not_parse_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


def test_nesting_is_bounded() -> None:
    with pytest.raises(Bound, match="nested deeper"):
        parse("$(" * (MAX_DEPTH + 1) + ")" * (MAX_DEPTH + 1))
    parse("$(" * (MAX_DEPTH - 2) + "x" + ")" * (MAX_DEPTH - 2))


def test_cpu_time_is_bounded_by_the_budget() -> None:
    spent = Budget(seconds=0.0)  # already used up: the parser stops at its next clock reading
    with pytest.raises(Bound, match="ms of CPU"):
        Parser("a; " * 50, spent).parse()
    Parser("a; " * 50, Budget()).parse()
