"""integrations.rewrite: each agent's own rewriting of a shell command before it runs it (the
gate judges the result). Gemini CLI's cases are upstream's (shell-utils.test.ts), then the
corners of its regex and of shell-quote's parse; tests/test_real_gemini.py compares thousands
more with the installed bundle's function."""

from __future__ import annotations

import pytest

from agentgate.integrations.rewrite import gemini

UPSTREAM = [
    ('sh -c "ls -l"', "ls -l"),
    ('  bash  -c  "ls -l"  ', "ls -l"),
    ("zsh -c ls -l", "ls -l"),
    ('cmd.exe /c "dir"', "dir"),
    ('powershell.exe -NoProfile -Command "Get-ChildItem"', "Get-ChildItem"),
    ('powershell.exe -Command "Get-ChildItem"', "Get-ChildItem"),
    ('pwsh -NoProfile -Command "Get-ChildItem"', "Get-ChildItem"),
    ("ls -l", "ls -l"),
    ('bash -c "hg commit -m \\"title\n\nbody\\""', 'hg commit -m "title\n\nbody"'),
]

CORNERS = [
    ("bash -c 'vercel deploy --prod'", "vercel deploy --prod"),  # single quotes: just dropped
    ("/usr/bin/bash -c 'vercel --prod'", "vercel --prod"),  # any directory before the name
    ("BASH -c vercel --prod", "vercel --prod"),  # case-insensitive, unquoted rest as is
    ('bash -C "a \\"b\\""', 'a \\"b\\"'),  # -C matches, but only "-c" reads the quotes
    ('sh -c "${HOME}x"', "$HOMEx"),  # shell-quote keeps variables as $NAME, without braces
    ('sh -c "a $?x b"', "a $? b"),  # ... and skips the character after a special one
    ('sh -c "a" "b"', 'a" "b'),  # two words: the outer quotes dropped instead
    ('sh -c "${}"', "${}"),  # shell-quote throws: the outer quotes dropped
    ('sh -c "a #b"', "a #b"),  # quoted: no comment
    ("sh -c 'a' ; vercel --prod", "'a' ; vercel --prod"),  # not quoted end to end: kept
    ("env sh -c 'x'", "env sh -c 'x'"),  # only at the start
    ("\u017fh -c 'x'", "\u017fh -c 'x'"),  # no Unicode case folding (JavaScript without u)
    ("\ufeffsh -c 'x'", "x"),  # JavaScript's whitespace, not Python's
    ("sh -c\x1c'x'", "sh -c\x1c'x'"),
    ("  vercel --prod \u3000", "vercel --prod"),  # trimmed as String.prototype.trim
]


@pytest.mark.parametrize(("command", "runs"), UPSTREAM + CORNERS)
def test_gemini_runs(command: str, runs: str) -> None:
    assert gemini(command) == runs
