"""Policy loading, validation and matching (no subprocesses)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentgate import policy as pol
from agentgate import shell
from agentgate.errors import PolicyError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "policies.example.toml"


def check(policy: pol.Policy, command: str | list[str], cwd: str = "/srv/app",
          home: str = "/home/u") -> pol.Evaluation:
    """The policy's decision for a command line (a string) or an argv, analysed as the gate does."""
    if isinstance(command, str):
        return policy.decide(shell.analyze_script(command, cwd, home))
    return policy.decide(shell.analyze_argv(command, cwd, home))


def P(text: str) -> pol.Pattern:
    return pol.Pattern.compile(text)


def matches(pattern: str, argv: str | list[str]) -> bool:
    words = argv.split() if isinstance(argv, str) else argv
    return P(pattern).matches(pol.normalize_argv(words))


# --------------------------------------------------------------------------- pattern semantics


@pytest.mark.parametrize(("pattern", "argv", "expected"), [
    ("git push", "git push origin main", True),         # a prefix is enough
    ("git push", "git", False),
    ("git push", "git pull", False),
    ("git", "git", True),
    ("vercel ** --prod", "vercel --prod", True),       # ** matches zero words
    ("vercel ** --prod", "vercel deploy --yes --prod", True),
    ("vercel ** --prod", "vercel deploy --preview", False),
    ("vercel ** --prod", "vercel --prod --debug", True),
    ("** --prod", "anything at all --prod", True),
    ("**", "ls", True),
    ("git push *", "git push", False),                  # a glob word needs a word
    ("git push o*", "git push origin", True),
    ("git push o?igin", "git push origin", True),
    ("git push [ab]", "git push a", True),
    ("git push [ab]", "git push c", False),
    ("git push o*", "git push x/origin", False),
    ("{terraform,tofu} apply", "tofu apply", True),
    ("{terraform,tofu} apply", "terraform plan", False),
    ("rm ** -r ** /", "rm -rf /", True),               # single-letter flags match clusters
    ("rm ** -r ** /", "rm -fr /", True),
    ("rm ** -r ** /", "rm -f -r /", True),
    ("rm ** -r ** /", "rm -f /", False),
    ("rm ** {-r,--recursive} ** /", "rm --recursive --force /", True),
    ("rm ** -r ** /", "rm --remove /", False),         # long options are not clusters
    ("kubectl ** --context prod", "kubectl --context=prod apply", True),  # --a=b is two words
    ("kubectl ** --context=prod", "kubectl --context prod apply", True),
    ("kubectl ** --context prod", "kubectl --context=staging apply", False),
    ("/usr/bin/git push", "git push", True),          # a pattern's program is a basename too
    ("git 'commit message'", ["git", "commit message"], True),  # quotes group a pattern word
    ("git *", "git -C x", True),
])
def test_pattern_semantics(pattern: str, argv: str | list[str], expected: bool) -> None:
    assert matches(pattern, argv) is expected


def test_pattern_with_many_stars_is_fast() -> None:
    import time

    p = P("a ** b ** c ** d ** e ** f ** zz")
    argv = ["a"] + ["b", "c", "d", "e", "f"] * 40
    t = time.perf_counter()
    assert not p.matches(argv)
    assert time.perf_counter() - t < 1.0


# --------------------------------------------------------------------------- decisions


POLICY = """
version = 1
[settings]
default = "allow"
[[rule]]
id = "deploy"
decision = "ask"
reason = "Deploys need a human."
commands = ["vercel ** --prod"]
match = ["vercel --prod"]
not_match = ["vercel"]
[[rule]]
id = "vercel-ok"
decision = "allow"
commands = ["vercel"]
[[rule]]
id = "nuke"
decision = "deny"
reason = "Never."
commands = ["vercel ** --nuke"]
[[rule]]
id = "re"
decision = "ask"
regex = ["^curl .*--upload-file"]
"""


@pytest.fixture
def policy() -> pol.Policy:
    return pol.parse_policy(POLICY)


def test_strictest_rule_wins(policy: pol.Policy) -> None:
    ev = check(policy, ["vercel", "--prod"])
    assert ev.decision == "ask"
    assert ev.rule == "deploy"
    assert ev.parts[0].rules == ("deploy", "vercel-ok")
    ev = check(policy, ["vercel", "--prod", "--nuke"])
    assert (ev.decision, ev.rule, ev.reason) == ("deny", "nuke", "Never.")


def test_allow_rule_and_default(policy: pol.Policy) -> None:
    assert check(policy, ["vercel", "ls"]).decision == "allow"
    ev = check(policy, ["ls", "-la"])
    assert (ev.decision, ev.rule, ev.source) == ("allow", None, "default")


def test_regex_rule(policy: pol.Policy) -> None:
    assert check(policy, ["curl", "-sS", "--upload-file", "x", "http://h"]).decision == "ask"
    assert check(policy, ["curl", "http://h"]).decision == "allow"


def test_default_deny_and_ask() -> None:
    p = pol.parse_policy('version = 1\n[settings]\ndefault = "deny"\n')
    assert check(p, ["ls"]).decision == "deny"
    p = pol.parse_policy('[settings]\ndefault = "ask"\n')
    assert check(p, ["ls"]).decision == "ask"


def test_actions_and_resources() -> None:
    p = pol.parse_policy("""
[[rule]]
id = "prod"
decision = "ask"
actions = ["deploy_*"]
resources = ["vercel.com", "*.prod.example.com"]
""")
    assert p.check_action("deploy_production", "vercel.com").decision == "ask"
    assert p.check_action("deploy_production", "api.prod.example.com").decision == "ask"
    assert p.check_action("deploy_production", "staging.example.com").decision == "allow"
    assert p.check_action("read_logs", "vercel.com").decision == "allow"
    assert p.check_action("deploy_production").decision == "ask"  # unknown resource: restrict


def test_allow_rule_with_resources_needs_a_resource() -> None:
    p = pol.parse_policy("""
[settings]
default = "ask"
[[rule]]
id = "staging-ok"
decision = "allow"
actions = ["deploy"]
resources = ["staging.*"]
""")
    assert p.check_action("deploy", "staging.example.com").decision == "allow"
    assert p.check_action("deploy").decision == "ask"


def test_index_keeps_large_policies_correct() -> None:
    rules = "\n".join(
        f'[[rule]]\nid = "r{i}"\ndecision = "ask"\ncommands = ["tool{i} deploy"]\n' for i in range(1000))
    p = pol.parse_policy(rules + '[[rule]]\nid = "any"\ndecision = "deny"\ncommands = ["* --nuke"]\n')
    assert check(p, ["tool999", "deploy"]).rule == "r999"
    assert check(p, ["tool5", "build"]).decision == "allow"
    assert check(p, ["tool5", "--nuke"]).decision == "deny"
    assert len(p._index["tool500"]) == 1


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("text", "needle"), [
    ('version = 2\n', "unsupported policy version"),
    ('[[rule]]\ndecision = "ask"\ncommands = ["x"]\n', "has no 'id'"),
    ('[[rule]]\nid = "a"\ncommands = ["x"]\n', "'decision' must be one of"),
    ('[[rule]]\nid = "a"\ndecision = "maybe"\ncommands = ["x"]\n', "'decision' must be one of"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\ncommands = ["x"]\n[[rule]]\nid = "a"\ndecision = "ask"\ncommands = ["y"]\n',
     "duplicate rule id"),
    ('[settings]\napproval_ttl = "30 minutes"\n', "bad duration"),
    ('[settings]\napproval_ttl = 30\n', "duration must be a string"),
    ('[settings]\nrequest_ttl = "0s"\n', "bad duration"),
    ('[settings]\ndefault = "yes"\n', "settings.default must be one of"),
    ('[settings]\nunparseable = "allow"\n', "never 'allow'"),
    ('[settings]\ncolour = "red"\n', "unknown key(s) in [settings]: colour"),
    ('wat = 1\n', "unknown top-level key(s): wat"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\ncommands = ["x"]\ncomand = ["y"]\n', "unknown key(s): comand"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\n', "needs 'commands', 'regex' or 'actions'"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\ncommands = "x"\n', "'commands' must be a list"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\ncommands = ["x"]\nmatch = "x"\n', "'match' must be a list"),
    ('version = true\n', "unsupported policy version"),
    ('version = 1.0\n', "unsupported policy version"),
    ('[settings]\napproval_ttl = "99999999999999999999d"\n', "longer than a year"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\nregex = ["(a+)+$"]\n', "exponential time"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\nregex = ["^(x|y?z?)*w"]\n', "exponential time"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\ncommands = ["x"]\nnot_match = ["x --y"]\n', "listed in 'not_match' but"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\ncommands = [1]\n', "list of non-empty strings"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\ncommands = ["x \'unclosed"]\n', "does not split into words"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\nregex = ["(unclosed"]\n', "does not compile"),
    ('[[rule]]\nid = "a"\ndecision = "ask"\nresources = ["x"]\ncommands = ["x"]\n', "'resources' needs 'actions'"),
    ('rule = 3\n', "array of tables"),
    ('[[rule]\n', "TOML syntax error"),
    (b'version = 1\n# \xff\n', "not UTF-8"),
])
def test_invalid_policies_fail_with_file_rule_and_reason(text: str | bytes, needle: str) -> None:
    with pytest.raises(PolicyError) as exc:
        pol.parse_policy(text, "/etc/x/policy.toml")
    msg = exc.value.message
    assert needle in msg
    assert msg.startswith("/etc/x/policy.toml")
    assert exc.value.exit_code == 78
    if isinstance(text, str) and 'id = "a"' in text:
        assert "rule 'a'" in msg  # names the rule


@pytest.mark.parametrize(("regex", "needle"), [
    ("a{99999999999}", "OverflowError: the repetition number is too large"),
    ("x{4294967296}y", "OverflowError"),
    ("(" * 5000 + "a" + ")" * 5000, "RecursionError"),
    ("a{2,1}", "min repeat greater than max repeat"),
])
def test_a_regex_that_fails_to_compile_in_any_way_is_a_load_error(regex: str, needle: str) -> None:
    """re.compile raises more than re.error (a huge count overflows, deep nesting recurses):
    each is a 78 naming the file, the rule and the regex, never an internal error."""
    with pytest.raises(PolicyError) as exc:
        pol.parse_policy(f'[[rule]]\nid = "big"\ndecision = "deny"\nregex = ["{regex}"]\n',
                         "/etc/x/policy.toml")
    assert exc.value.exit_code == 78
    assert exc.value.message.startswith("/etc/x/policy.toml: rule 'big': regex ")
    assert "does not compile" in exc.value.message and needle in exc.value.message


SAYS_NOTHING = ["", "  \n\t\n", "# only a comment\n# and another\n", "version = 1\n",
                "version = 1\n[settings]\n", "rule = []\n",
                '[settings]\napproval_ttl = "5m"\nunparseable = "deny"\n']


@pytest.mark.parametrize("kind", ["explicit", "env", "user"])
@pytest.mark.parametrize("text", SAYS_NOTHING)
def test_a_policy_without_rules_or_default_is_an_error(text: str, kind: str) -> None:
    """An empty or truncated policy must not replace the embedded default with "allow all"."""
    with pytest.raises(PolicyError) as exc:
        pol.parse_policy_file(text, "/etc/x/policy.toml", kind)
    assert exc.value.message.startswith("/etc/x/policy.toml: ")
    assert "would allow every command" in exc.value.message
    assert 'default = "allow"' in (exc.value.hint or "")
    assert exc.value.exit_code == 78


def test_allow_all_must_be_said_explicitly() -> None:
    p = pol.parse_policy('[settings]\ndefault = "allow"\n', "/etc/x/policy.toml")
    assert check(p, ["rm", "-rf", "/"]).decision == "allow"
    one_rule = pol.parse_policy('[[rule]]\nid = "a"\ndecision = "deny"\ncommands = ["x"]\n')
    assert check(one_rule, ["x"]).decision == "deny"


@pytest.mark.parametrize("text", SAYS_NOTHING[:-1])
def test_a_repo_policy_with_nothing_in_it_is_an_error(text: str) -> None:
    with pytest.raises(PolicyError) as exc:
        pol.parse_policy_file(text, "/r/.agentgate.toml", "repo")
    assert exc.value.message == ("/r/.agentgate.toml: the repo-local policy has no [[rule]] and no "
                                 "[settings], so it says nothing")


def test_a_repo_policy_may_hold_settings_only() -> None:
    """It adds to the policy in force (once trusted), so settings alone are a real change."""
    pf = pol.parse_policy_file(SAYS_NOTHING[-1], "/r/.agentgate.toml", "repo")
    assert pf.rules == () and pf.explicit == {"approval_ttl", "unparseable"}


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("1D", 86400),
])
def test_durations(text: str, seconds: int) -> None:
    assert pol.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "-5m", "1.5h", "1w", "5 m x", "0m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        pol.parse_duration(text)


def _unescaped_by_regex(glob: str) -> str | None:
    """What pattern words made of a glob before: literal when it matched this regex, with each
    bracketed character unbracketed."""
    if re.fullmatch(r"(?:[^*?\[\]]|\[[^\]]\])*", glob) is None:
        return None
    return re.sub(r"\[([^\]])\]", r"\1", glob)


@given(st.text(alphabet="ab/[]*?!^-", max_size=10))
def test_a_glob_of_bracketed_characters_is_the_word_it_spells(glob: str) -> None:
    from agentgate.policy.patterns import _unescaped

    assert _unescaped(glob) == _unescaped_by_regex(glob)


def _regex_duration(text: str) -> int | None:
    """What parse_duration answered when it read the parts with the regex (\\d+)([smhd])."""
    t = text.strip().lower()
    pos, total = 0, 0
    for m in re.finditer(r"(\d+)([smhd])", t):
        if m.start() != pos:
            break
        total += int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        pos = m.end()
    if not t or pos != len(t) or total <= 0 or total > pol.MAX_DURATION:
        return None
    return total


@given(st.text(alphabet="0123456789\u0663smhdSMHDx .-", max_size=12))
def test_durations_are_read_as_the_regex_read_them(text: str) -> None:
    try:
        got: int | None = pol.parse_duration(text)
    except ValueError:
        got = None
    assert got == _regex_duration(text)


# --------------------------------------------------------------------------- merging


def _pf(text: str, path: str, trusted: bool) -> pol.PolicyFile:
    pf = pol.parse_policy_file(text, path, "repo")
    src = pol.Source(path, pf.source.sha256, "repo", trusted)
    return pol.PolicyFile(pf.settings, pf.rules, pf.explicit, src)


REPO = """
[settings]
default = "allow"
approval_ttl = "5m"
[[rule]]
id = "repo-allow-deploy"
decision = "allow"
commands = ["vercel"]
[[rule]]
id = "repo-deny-curl"
decision = "deny"
commands = ["curl"]
"""


def test_untrusted_repo_policy_only_restricts() -> None:
    primary = pol.parse_policy_file('[settings]\ndefault = "ask"\n[[rule]]\nid = "ls"\ndecision = "allow"\ncommands = ["ls"]\n', "user")
    p = pol.combine(primary, [_pf(REPO, "/r/.agentgate.toml", trusted=False)])
    assert check(p, ["curl", "x"]).decision == "deny"     # restrictions apply
    assert check(p, ["vercel"]).decision == "ask"        # its allow rule is ignored
    assert p.settings.default == "ask"                       # its default is ignored
    assert p.settings.approval_ttl == 1800                   # its settings are ignored
    assert [s.trusted for s in p.sources] == [True, False]


def test_trusted_repo_policy_merges_strictest() -> None:
    primary = pol.parse_policy_file('[settings]\ndefault = "ask"\n', "user")
    p = pol.combine(primary, [_pf(REPO, "/r/.agentgate.toml", trusted=True)])
    assert check(p, ["vercel"]).decision == "allow"      # a trusted allow rule applies
    assert p.settings.default == "ask"                       # but cannot loosen the default
    assert p.settings.approval_ttl == 300                    # shorter lifetime wins
    assert check(p, ["curl"]).decision == "deny"


# --------------------------------------------------------------------------- the shipped policy


def test_example_policy_loads_and_is_the_packaged_default() -> None:
    text = EXAMPLE.read_bytes()
    assert pol.embedded_policy_text() == text
    p = pol.parse_policy(text, str(EXAMPLE))
    assert p.settings.default == "allow"
    assert p.settings.approval_ttl == 1800
    assert len(p.rules) >= 8


def _example_rules() -> list[dict[str, object]]:
    return tomllib.loads(EXAMPLE.read_text())["rule"]


@pytest.mark.parametrize("rule", _example_rules(), ids=lambda r: str(r["id"]))
def test_every_example_rule_holds_through_its_examples(rule: dict[str, object]) -> None:
    p = pol.parse_policy(EXAMPLE.read_bytes(), str(EXAMPLE))
    assert rule["match"] and rule["not_match"], "every shipped rule carries examples"
    if "actions" in rule:  # examples are "ACTION [RESOURCE] [key=value ...]"
        for key, expected in (("match", True), ("not_match", False)):
            for ex in rule[key]:  # type: ignore[attr-defined]
                a = pol.loader.action_example(str(ex))
                ev = p.check_action(a.action, a.resource, a.attributes, agent=a.agent, now=a.now)
                assert (rule["id"] in ev.parts[0].rules) is expected, ex
                if expected:
                    assert pol.RANK[ev.decision] >= pol.RANK[str(rule["decision"])], ex
        return
    for ex in rule["match"]:  # type: ignore[union-attr]
        ev = check(p, str(ex))
        assert rule["id"] in {r for part in ev.parts for r in part.rules}, ex
        assert ev.decision == rule["decision"] or pol.RANK[ev.decision] > pol.RANK[str(rule["decision"])], ex
    for ex in rule["not_match"]:  # type: ignore[union-attr]
        ev = check(p, str(ex))
        assert rule["id"] not in {r for part in ev.parts for r in part.rules}, ex


@pytest.mark.parametrize(("cmd", "decision"), [
    ("ls -la", "allow"),
    ("git status", "allow"),
    ("npm test", "allow"),
    ("vercel --prod", "ask"),
    ("terraform apply", "ask"),
    ("git push --force origin feature", "ask"),
    ("git push origin main", "ask"),
    ("npm publish", "ask"),
    ("rm -rf /", "deny"),
    ("rm -rf ~", "deny"),
    ("agentgate approve apr_x", "deny"),
])
def test_default_policy_decisions(cmd: str, decision: str) -> None:
    p = pol.parse_policy(EXAMPLE.read_bytes(), str(EXAMPLE))
    assert check(p, cmd).decision == decision


# --------------------------------------------------------------------------- run-time values


@pytest.mark.parametrize(("cmd", "decision", "rule"), [
    ('vercel $(echo --prod)', "ask", "prod-deploy"),            # the flag comes from a substitution
    ('vercel --pr$X', "ask", "prod-deploy"),
    ('B=main; git push origin "$B"', "ask", "git-push-protected"),
    ("kubectl --context=$CTX apply -f x.yaml", "ask", "kube-prod-change"),
    ('rm -rf "$DIR"', "ask", "rm-root-or-home"),                # a possible deny needs a human
    ("rm -rf $HOME", "deny", "rm-root-or-home"),                # a literal match is a match
    ('rm -rf "$TMP/build/x"', "allow", None),                   # its shape cannot be / or ~
    ("find . -name '*.pyc' -exec rm {} +", "allow", None),      # {} is a path, never a flag
    ('git commit -m "$MSG"', "allow", None),                    # one word cannot be `push ... main`
    ("npm install $PKG", "allow", None),        # a literal subcommand came first: not `npm publish`
    ('docker build -t "$TAG" .', "allow", None),  # after an option: its value, not `--push`
    ("echo --prod | xargs vercel", "ask", "prod-deploy"),  # xargs appends words read at run time
    ('kubectl logs "$POD" --context prod', "allow", None),
    ("terraform $CMD", "ask", "infra-apply"),   # the subcommand itself is unknown
    ('rm -rf "$TMP/build"', "allow", None),
    ('cd "$DIR" && npm test', "allow", None),
    ("echo $HOME", "allow", None),
])
def test_words_known_only_at_run_time(cmd: str, decision: str, rule: str | None) -> None:
    p = pol.parse_policy(EXAMPLE.read_bytes(), str(EXAMPLE))
    ev = check(p, cmd)
    assert (ev.decision, ev.rule) == (decision, rule)


def test_possible_deny_follows_settings_unparseable() -> None:
    text = EXAMPLE.read_text().replace('unparseable = "ask"', 'unparseable = "deny"')
    p = pol.parse_policy(text)
    assert check(p, 'rm -rf "$DIR"').decision == "deny"
    assert check(p, 'vercel $(echo --prod)').decision == "ask"  # a possible ask stays ask


@pytest.mark.parametrize(("word", "value", "fits"), [
    ("/[a-z]*", "/etc", True), ("/?*", "/etc", True), ("/?*", "/tmp/x", False),
    ("$D/*", "/etc/x", True), ("/[!e]*", "/etc", False), ("x*", "x/y", False),
])
def test_shape_of_a_run_time_word(word: str, value: str, fits: bool) -> None:
    assert bool(pol.unknown_shape(word).fullmatch(value)) is fits


def test_bracketed_characters_are_literal_words() -> None:
    assert matches("rm ** /[*]", ["rm", "-rf", "/*"])
    assert not matches("rm ** /[*]", ["rm", "-rf", "/tmp"])


# --------------------------------------------------------------------------- the pre-parsed starter policy

PREPARSED = Path(pol.loader.PACKAGE_DIR) / pol.PREPARSED_NAME
REGENERATE = "UPDATE_PREPARSED=1 .venv/bin/python -m pytest -q tests/test_policy.py -k preparsed"


def _preparse(data: bytes) -> str:
    doc = {"generated": f"tomllib's reading of policies.example.toml, by: {REGENERATE}",
           "sha256": hashlib.sha256(data).hexdigest(), "toml": tomllib.loads(data.decode())}
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def test_preparsed_starter_policy_is_what_tomllib_reads() -> None:
    """Byte for byte the JSON of tomllib's result: json tells 1 from 1.0 and true from 1, and
    refuses dates, so reading it back gives the very values (and types) tomllib gives."""
    data = pol.embedded_policy_text()
    assert data == EXAMPLE.read_bytes()
    expected = _preparse(data)
    if os.environ.get("UPDATE_PREPARSED") == "1":
        PREPARSED.write_text(expected, encoding="utf-8")
    assert PREPARSED.read_text(encoding="utf-8") == expected, f"stale; regenerate with: {REGENERATE}"


def _summary(pf: pol.PolicyFile) -> object:
    return (pf.settings, pf.explicit, pf.source, [
        (r.id, r.decision, r.reason, [p.text for p in r.patterns], [x.pattern for x in r.regex],
         r.actions, r.resources, r.match, r.not_match, r.condition) for r in pf.rules])


def test_preparsed_is_used_only_for_the_same_content(monkeypatch: pytest.MonkeyPatch) -> None:
    data = pol.embedded_policy_text()
    assert pol.preparsed(hashlib.sha256(data).hexdigest()) is not None
    fast = pol.parse_policy_file(data, "p")
    monkeypatch.setattr(pol.loader, "preparsed", lambda digest: None)
    assert _summary(pol.parse_policy_file(data, "p")) == _summary(fast)
    monkeypatch.undo()
    edited = data.replace(b'id = "prod-deploy"', b'id = "prod-deploy-2"')
    assert pol.preparsed(hashlib.sha256(edited).hexdigest()) is None
    assert any(r.id == "prod-deploy-2" for r in pol.parse_policy_file(edited, "p").rules)
    with pytest.raises(PolicyError, match="TOML syntax error"):
        pol.parse_policy_file(data + b"\n[[rule]\n", "p")


@pytest.mark.parametrize(("cmd", "decision"), [
    ("RAILS_ENV=production rails db:migrate", "ask"),
    ("export RAILS_ENV=production; bundle exec rails db:migrate", "ask"),
    ("env RAILS_ENV=production rails db:migrate", "ask"),
    ("RAILS_ENV=test rails db:migrate", "allow"),
    ("BRANCH=main git status", "allow"),  # an assignment is one word, not `main`
])
def test_environment_assignments_are_matched_as_trailing_words(cmd: str, decision: str) -> None:
    p = pol.parse_policy(EXAMPLE.read_bytes(), str(EXAMPLE))
    assert check(p, cmd).decision == decision


@pytest.mark.parametrize(("cmd", "decision"), [
    ("cd / && rm -rf *", "deny"),
    ("cd ~ && rm -rf .", "deny"),
    ("cd && rm -rf *", "deny"),
    ("(cd /; rm -rf *)", "deny"),
    ("cd /etc && rm -rf ./*", "deny"),
    ("cd / && cd tmp/build && rm -rf *", "allow"),   # a relative cd follows the known one
    ("cd build && rm -rf *", "allow"),               # the directory is not known: no guess
    ("cd ~/proj && rm -rf ./dist", "allow"),
    ("cd / && ls *", "allow"),
])
def test_relative_paths_after_a_literal_cd(cmd: str, decision: str) -> None:
    p = pol.parse_policy(EXAMPLE.read_bytes(), str(EXAMPLE))
    assert check(p, cmd).decision == decision


def test_anchored_regex_rules_are_indexed_by_program() -> None:
    p = pol.parse_policy('[[rule]]\nid = "a"\ndecision = "ask"\nregex = ["^curl .*--upload-file"]\n'
                         '[[rule]]\nid = "b"\ndecision = "ask"\nregex = ["^git(hub)? x"]\n')
    assert [r.id for r in p._index["curl"]] == ["a"] and [r.id for r in p._wild] == ["b"]
    assert check(p, ["curl", "--upload-file", "f", "h"]).rule == "a"
    assert check(p, ["github", "x"]).rule == "b"  # unanchored to one name: checked for all


def test_action_rule_examples_are_checked() -> None:
    ok = '[[rule]]\nid = "a"\ndecision = "ask"\nactions = ["deploy_*"]\nresources = ["*.prod"]\n'
    pol.parse_policy(ok + 'match = ["deploy_web x.prod"]\nnot_match = ["deploy_web x.dev", "read x.prod"]\n')
    with pytest.raises(PolicyError, match="listed in 'match'"):
        pol.parse_policy(ok + 'match = ["read x.prod"]\n')
    monday_10am = time.mktime((2026, 12, 7, 10, 0, 0, 0, 0, -1))  # local time: working hours
    starter = pol.parse_policy(EXAMPLE.read_bytes())
    assert starter.check_action("deploy_production", "vercel.com", now=monday_10am).decision == "ask"


# --------------------------------------------------------------------------- regexes that could hang

SLOW = ".*.*.*.*X"  # polynomial: no static check refuses it, and 20,000 characters take hours
LONG = "a" * 20_000
FAST_ENOUGH = 5.0  # seconds of wall time for what the 0.1 s CPU budget stops (a shared machine)


@pytest.mark.parametrize("regex", [
    "(.|.)*X", "(a|a)*b", "(?:ab|cd)+", "((a|b)c)*", "(x(a|b))+", "(a|b){2,}", "(a|b){3}",
    "(a|b){,5}", "^git (push|pull)+ ",
])
def test_a_repeated_group_of_alternatives_is_refused(regex: str) -> None:
    with pytest.raises(PolicyError) as exc:
        pol.parse_policy(f'[[rule]]\nid = "alt"\ndecision = "deny"\nregex = ["{regex}"]\n', "/p.toml")
    assert exc.value.message.startswith("/p.toml: rule 'alt': regex ")
    assert "repeats a group of alternatives (|)" in exc.value.message
    assert "exponential time" in exc.value.message
    assert "character class" in (exc.value.hint or "") and exc.value.exit_code == 78


@pytest.mark.parametrize("regex", ["(a+)+", "(a*b)*", "(x?){2,}", "(a+){10}", "((a+)b)+",
                                   "(?:[a-z]+ )*x"])
def test_a_repeated_group_that_repeats_is_refused(regex: str) -> None:
    with pytest.raises(PolicyError, match="repeats a group that itself repeats"):
        pol.parse_policy(f'[[rule]]\nid = "n"\ndecision = "deny"\nregex = ["{regex}"]\n')


@pytest.mark.parametrize("regex", [
    "(a|b)?x", "(a|b)c*", "(a|b){1}", "(a|b){0,1}", "(a){2}", "(ab)+", "[(|)]*", "\\\\(a|b\\\\)*",
    "[^]|]*(x)+", "x{}", "(a|b){}", "^rm (.+ )?(-[a-zA-Z]*[rR][a-zA-Z]*|--r[a-z]*) (.+ )?(/[^/ ]+)",
])
def test_harmless_groups_and_alternatives_load(regex: str) -> None:
    pol.parse_policy(f'[[rule]]\nid = "ok"\ndecision = "deny"\nregex = ["{regex}"]\n')


def test_the_budget_stops_a_runaway_search_and_puts_the_signal_state_back() -> None:
    import signal
    import time

    from agentgate.policy.regexes import SearchBudget

    def theirs(signum: int, frame: object) -> None:
        raise AssertionError("the previous handler must not be called")

    previous = signal.signal(signal.SIGVTALRM, theirs)
    try:
        start = time.monotonic()
        with SearchBudget(0.1) as budget:
            assert budget.search(re.compile("a"), "xa") is True  # arms, and leaves time
            assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)  # stopped in between
            assert budget.left > 0
            assert budget.search(re.compile(SLOW), LONG) is None  # stopped: no answer
            assert budget.left == 0.0
            assert budget.search(re.compile("a"), "a") is None  # the budget is for all searches
        assert time.monotonic() - start < FAST_ENOUGH
        assert budget.timed is None  # closed
        assert signal.getsignal(signal.SIGVTALRM) is theirs
        assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
    finally:
        signal.signal(signal.SIGVTALRM, previous)


def test_fast_searches_do_not_use_the_budget_up_and_a_stray_signal_is_harmless() -> None:
    import os
    import signal

    from agentgate.policy.regexes import SearchBudget

    rx = re.compile(r"^rm (.+ )?-[a-z]*r")
    with SearchBudget(0.1) as budget:
        for _ in range(2000):
            assert budget.search(rx, "rm -rf /tmp/x") is True
        os.kill(os.getpid(), signal.SIGVTALRM)  # between searches: noted, never raised
        assert budget.search(rx, "rm -rf /tmp/x") is True
        assert budget.search(rx, "ls") is False
    assert budget.undecided == []


def test_someone_elses_virtual_timer_is_left_running() -> None:
    import signal

    from agentgate.policy.regexes import UNTIMED_MAX_TEXT, SearchBudget

    previous = signal.signal(signal.SIGVTALRM, lambda *_: None)
    signal.setitimer(signal.ITIMER_VIRTUAL, 1000.0)
    try:
        with SearchBudget() as budget:
            assert budget.search(re.compile("a"), "a") is True
            assert budget.timed is False
            assert budget.search(re.compile("a"), "a" * (UNTIMED_MAX_TEXT + 1)) is None
        assert signal.getitimer(signal.ITIMER_VIRTUAL)[0] > 900  # still theirs, still running
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def test_off_the_main_thread_no_timer_is_armed_and_long_text_fails_closed() -> None:
    """Only the main thread may set signal handlers: a decision in a worker thread (verify()
    under asyncio.to_thread, say) relies on the static checks and the length cap."""
    import signal
    import threading

    from agentgate.policy.regexes import UNTIMED_MAX_TEXT

    p = pol.parse_policy(f'[[rule]]\nid = "slow"\ndecision = "deny"\nregex = ["{SLOW}"]\n'
                         '[[rule]]\nid = "echo"\ndecision = "allow"\nregex = ["^echo "]\n'
                         '[settings]\ndefault = "ask"\n')
    handler = signal.getsignal(signal.SIGVTALRM)
    out: dict[str, pol.Evaluation] = {}

    def decide() -> None:
        out["short"] = check(p, ["echo", "X"])
        out["long"] = check(p, ["echo", "b" * (UNTIMED_MAX_TEXT + 1)])

    t = threading.Thread(target=decide)
    t.start()
    t.join(FAST_ENOUGH)
    assert not t.is_alive()
    assert (out["short"].decision, out["short"].rule) == ("deny", "slow")  # searched: it matched
    assert (out["long"].decision, out["long"].rule) == ("deny", "slow")  # not searched: strictest
    assert "outside the main thread" in out["long"].reason
    assert signal.getsignal(signal.SIGVTALRM) is handler


def test_a_regex_out_of_time_fails_closed_in_the_decision() -> None:
    import time

    rules = (f'[[rule]]\nid = "slow-deny"\ndecision = "deny"\nreason = "No X."\nregex = ["{SLOW}"]\n'
             f'[[rule]]\nid = "slow-allow"\ndecision = "allow"\nregex = ["^echo {SLOW}"]\n'
             '[[rule]]\nid = "echo-ask"\ndecision = "ask"\ncommands = ["echo"]\n')
    p = pol.parse_policy(rules + '[settings]\ndefault = "allow"\n')
    start = time.monotonic()
    ev = check(p, ["echo", LONG])
    assert time.monotonic() - start < FAST_ENOUGH
    assert (ev.decision, ev.rule) == ("deny", "slow-deny")
    assert ev.reason.startswith("The regex of rule 'slow-deny' ran out of time on this command")
    assert "counts as matching (fail closed): No X." in ev.reason
    assert "slow-allow" not in ev.parts[0].rules  # an allow rule that ran out does not match
    # an allow rule out of time never allows: the default (ask) decides
    p = pol.parse_policy(f'[[rule]]\nid = "a"\ndecision = "allow"\nregex = ["{SLOW}"]\n'
                         '[settings]\ndefault = "ask"\n')
    assert (check(p, ["echo", LONG]).decision, check(p, ["echo", LONG]).rule) == ("ask", None)
    assert check(p, ["echo", "X"]).decision == "allow"  # with time to answer, it matches
    # a rule that matched for certain gives its own reason, beside one that ran out
    p = pol.parse_policy(f'[[rule]]\nid = "a"\ndecision = "deny"\nregex = ["{SLOW}"]\n'
                         '[[rule]]\nid = "b"\ndecision = "deny"\nreason = "No echo."\ncommands = ["echo"]\n')
    ev = check(p, ["echo", LONG])
    assert (ev.decision, ev.rule, ev.reason) == ("deny", "b", "No echo.")


def test_an_example_the_regex_cannot_answer_in_time_is_a_load_error() -> None:
    text = (f'[[rule]]\nid = "slow"\ndecision = "deny"\nregex = ["{SLOW}"]\n'
            f'not_match = ["echo {LONG}"]\n')
    with pytest.raises(PolicyError) as exc:
        pol.parse_policy(text, "/p.toml")
    assert exc.value.message.startswith("/p.toml: rule 'slow': on the example 'echo aaaa")
    assert "in 'not_match', the regex ran out of time" in exc.value.message
