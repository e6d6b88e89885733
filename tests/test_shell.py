"""Table-driven tests of shell.analyze_argv / analyze_script: what a rule gets to see."""

from __future__ import annotations

import pytest

from agentgate.shell import (
    INPUT_WORD,
    Analysis,
    Opaque,
    SimpleCommand,
    analyze_argv,
    analyze_script,
)

Argv = tuple[str, ...]


def argvs(a: Analysis) -> list[Argv]:
    return [c.argv for c in a.commands]


def pairs(a: Analysis) -> list[tuple[Argv, tuple[str, ...]]]:
    return [(c.argv, c.via) for c in a.commands]


def unparseable(a: Analysis) -> list[Opaque]:
    return [o for o in a.opaque if o.kind == "unparseable"]


def t(*words: str) -> Argv:
    return tuple(words)


# -- exact results: every command found, and how it was reached --------------------------

EXACT_SCRIPTS: list[tuple[str, list[tuple[Argv, tuple[str, ...]]]]] = [
    # the bypass shapes from the brief
    ('bash -lc "cd app && NODE_ENV=prod vercel --prod"', [
        (t("bash", "-lc", "cd app && NODE_ENV=prod vercel --prod"), ()),
        (t("cd", "app"), ("bash -c",)),
        (t("vercel", "--prod"), ("bash -c", "&&")),
    ]),
    ("sudo -E kubectl apply", [
        (t("sudo", "-E", "kubectl", "apply"), ()),
        (t("kubectl", "apply"), ("sudo",)),
    ]),
    ("timeout 60 terraform apply", [
        (t("timeout", "60", "terraform", "apply"), ()),
        (t("terraform", "apply"), ("timeout",)),
    ]),
    ("/usr/local/bin/git push -f", [(t("git", "push", "-f"), ())]),
    ("g'i't push --force", [(t("git", "push", "--force"), ())]),
    ("echo y | npx vercel --prod", [
        (t("echo", "y"), ()),
        (t("npx", "vercel", "--prod"), ("|",)),
        (t("vercel", "--prod"), ("|", "npx")),
    ]),
    # a nested gate runs its command too (perhaps under another policy): this gate checks it
    ("agentgate --policy p.toml run --json -- sudo vercel --prod", [
        (t("agentgate", "--policy", "p.toml", "run", "--json", "--", "sudo", "vercel", "--prod"), ()),
        (t("sudo", "vercel", "--prod"), ("agentgate run",)),
        (t("vercel", "--prod"), ("agentgate run", "sudo")),
    ]),
    ("python3 -m agentgate run -- terraform apply", [
        (t("python3", "-m", "agentgate", "run", "--", "terraform", "apply"), ()),
        (t("terraform", "apply"), ("agentgate run",)),
    ]),
    ("agentgate check -- vercel --prod", [(t("agentgate", "check", "--", "vercel", "--prod"), ())]),
    # chaining operators
    ("a; b && c || d & e | f |& g\nh", [
        (t("a"), ()), (t("b"), ()), (t("c"), ("&&",)), (t("d"), ("||",)), (t("e"), ()),
        (t("f"), ("|",)), (t("g"), ("|",)), (t("h"), ()),
    ]),
    ("a &&\n b ||\n c", [(t("a"), ()), (t("b"), ("&&",)), (t("c"), ("||",))]),
    ("a |\n b", [(t("a"), ()), (t("b"), ("|",))]),
    # subshells, groups, substitutions
    ("(cd x; make) && { vercel --prod; }", [
        (t("cd", "x"), ("( )",)), (t("make"), ("( )",)), (t("vercel", "--prod"), ("&&",)),
    ]),
    ("echo $(rm -rf /tmp/x)", [
        (t("rm", "-rf", "/tmp/x"), ("$()",)), (t("echo", "$(rm -rf /tmp/x)"), ()),
    ]),
    ("echo `whoami`", [(t("whoami"), ("``",)), (t("echo", "`whoami`"), ())]),
    ("echo `echo \\`vercel\\``", [
        (t("vercel"), ("``", "``")), (t("echo", "`vercel`"), ("``",)),
        (t("echo", "`echo \\`vercel\\``"), ()),
    ]),
    ('echo "a $(b "c $(d)")"', [
        (t("d"), ("$()", "$()")), (t("b", "c $(d)"), ("$()",)), (t("echo", "a $(b \"c $(d)\")"), ()),
    ]),
    ("diff <(ls a) >(wc -l)", [
        (t("ls", "a"), ("<()",)), (t("wc", "-l"), (">()",)), (t("diff", "<(ls a)", ">(wc -l)"), ()),
    ]),
    ("echo $((1 + $(id -u)))", [(t("id", "-u"), ("$()",)), (t("echo", "$((1 + $(id -u)))"), ())]),
    ("x=$(vercel --prod)", [(t("vercel", "--prod"), ("$()",))]),
    ("a=(x $(vercel env ls) y)", [(t("vercel", "env", "ls"), ("$()",))]),
    ("echo ${X:-$(whoami)}", [(t("whoami"), ("$()",)), (t("echo", "${X:-$(whoami)}"), ())]),
    # control structures
    ("if git diff --quiet; then echo same; elif x; then y; else vercel --prod; fi", [
        (t("git", "diff", "--quiet"), ()), (t("echo", "same"), ()), (t("x"), ()), (t("y"), ()),
        (t("vercel", "--prod"), ()),
    ]),
    ("while read -r l; do echo \"$l\"; done < <(ls)", [
        (t("ls"), ("<()",)), (t("read", "-r", "l"), ()), (t("echo", "$l"), ()),
    ]),
    ("until false; do sleep 1; done", [(t("false"), ()), (t("sleep", "1"), ())]),
    ("for f in *.py; do black \"$f\"; done", [(t("black", "$f"), ())]),
    ("for f in $(git ls-files); do wc -l $f; done", [
        (t("git", "ls-files"), ("$()",)), (t("wc", "-l", "$f"), ()),
    ]),
    ("for ((i=0; i<3; i++)); do echo $i; done", [(t("echo", "$i"), ())]),
    ("for x in a b\ndo\n  vercel --prod\ndone", [(t("vercel", "--prod"), ())]),
    ("select x in a b; do echo $x; done", [(t("echo", "$x"), ())]),
    ("case $1 in a|b) vercel --prod;; *) echo no;; esac", [
        (t("vercel", "--prod"), ()), (t("echo", "no"), ()),
    ]),
    ("case x in (a) one;& b) two;;& *) three;; esac", [(t("one"), ()), (t("two"), ()), (t("three"), ())]),
    ("f() { vercel --prod; }; f", [(t("vercel", "--prod"), ("function f",)), (t("f"), ())]),
    ("function deploy { vercel --prod; }", [(t("vercel", "--prod"), ("function deploy",))]),
    ("function deploy() ( vercel --prod )", [(t("vercel", "--prod"), ("function deploy", "( )"))]),
    ("! git push -f", [(t("git", "push", "-f"), ())]),
    ("time -p make -j4", [(t("make", "-j4"), ())]),
    ("[[ -f $(which vercel) ]] && echo ok", [
        (t("which", "vercel"), ("$()",)), (t("echo", "ok"), ("&&",)),
    ]),
    ("[[ $x =~ ^(a|b)$ ]] || exit 1", [(t("exit", "1"), ("||",))]),
    ("(( $(nproc) > 2 )) && make", [(t("nproc"), ("$()",)), (t("make"), ("&&",))]),
    ("coproc vercel --prod", [(t("vercel", "--prod"), ())]),
    # quoting and normalization
    ('"vercel" --prod', [(t("vercel", "--prod"), ())]),
    ("\\vercel --prod", [(t("vercel", "--prod"), ())]),
    ('v""erc\'\'el --prod', [(t("vercel", "--prod"), ())]),
    ("vercel \\-\\-prod", [(t("vercel", "--prod"), ())]),
    ("ver\\\ncel --prod", [(t("vercel", "--prod"), ())]),
    ("$'\\x76ercel' $'--pr\\157d'", [(t("vercel", "--prod"), ())]),
    ('$"vercel" --prod', [(t("vercel", "--prod"), ())]),
    ('echo "a\\"b" \'c\\d\' "e\\f"', [(t("echo", 'a"b', "c\\d", "e\\f"), ())]),
    ("./node_modules/.bin/vercel --prod", [(t("vercel", "--prod"), ())]),
    ("../bin/git push", [(t("git", "push"), ())]),
    ("~/bin/vercel ls ~ ~/x", [(t("vercel", "ls", "~", "~/x"), ())]),
    ("VERCEL --prod", [(t("VERCEL", "--prod"), ()), (t("vercel", "--prod"), ())]),
    # brace expansion happens before the command runs
    ("{vercel,--prod}", [(t("vercel", "--prod"), ())]),
    ("git push origin -{f,}", [(t("git", "push", "origin", "-f", "-"), ())]),
    ("echo {1..3} {a..c} x{,.bak}", [(t("echo", "1", "2", "3", "a", "b", "c", "x", "x.bak"), ())]),
    ("echo {01..03} '{a,b}' \\{c,d}", [(t("echo", "01", "02", "03", "{a,b}", "{c,d}"), ())]),
    # comments
    ("ls -la # vercel --prod", [(t("ls", "-la"), ())]),
    ("echo a#b", [(t("echo", "a#b"), ())]),
    ("# only a comment\n", []),
    ("", []),
    # redirections are not arguments
    ("echo hi > out.txt 2>&1", [(t("echo", "hi"), ())]),
    ("cat < in.txt >> log &> all 3<&0 4>&- {fd}>x", [(t("cat"), ())]),
    ("2>/dev/null git status", [(t("git", "status"), ())]),
    ("grep x <<< \"$(whoami)\"", [(t("whoami"), ("$()",)), (t("grep", "x"), ())]),
    ("cat <<EOF\nhello $(whoami)\nEOF\necho done", [
        (t("whoami"), ("$()",)), (t("cat"), ()), (t("echo", "done"), ()),
    ]),
    ("cat <<'EOF'\n$(vercel --prod)\nEOF", [(t("cat"), ())]),
    ("cat <<-EOF\n\t$(whoami)\n\tEOF", [(t("whoami"), ("$()",)), (t("cat"), ())]),
    ("echo x >| f; echo y <> f", [(t("echo", "x"), ()), (t("echo", "y"), ())]),
    # env prefixes
    ("NODE_ENV=production FOO='a b' vercel --prod", [(t("vercel", "--prod"), ())]),
    ("FOO=1", []),
    ("A=1 B=$(whoami) make", [(t("whoami"), ("$()",)), (t("make"), ())]),
    # positional parameters in sh -c STRING ARGS
    ("bash -c '\"$1\" --prod' _ vercel", [
        (t("bash", "-c", '"$1" --prod', "_", "vercel"), ()), (t("vercel", "--prod"), ("bash -c",)),
    ]),
    ("bash -c '\"$@\"' _ vercel --prod", [
        (t("bash", "-c", '"$@"', "_", "vercel", "--prod"), ()), (t("vercel", "--prod"), ("bash -c",)),
    ]),
    ("sh -c '$*' sh vercel --prod", [
        (t("sh", "-c", "$*", "sh", "vercel", "--prod"), ()), (t("vercel", "--prod"), ("sh -c",)),
    ]),
    ("sh -c '${1} \"${2}\"' sh vercel --prod", [
        (t("sh", "-c", '${1} "${2}"', "sh", "vercel", "--prod"), ()),
        (t("vercel", "--prod"), ("sh -c",)),
    ]),
    ("zsh -c '$0 --prod' vercel", [
        (t("zsh", "-c", "$0 --prod", "vercel"), ()), (t("vercel", "--prod"), ("zsh -c",)),
    ]),
    ("bash -c 'echo \"$2\"x' _ a", [
        (t("bash", "-c", 'echo "$2"x', "_", "a"), ()), (t("echo", "x"), ("bash -c",)),
    ]),
    ("bash -c '$1' _ 'vercel  --prod '", [
        (t("bash", "-c", "$1", "_", "vercel  --prod "), ()), (t("vercel", "--prod"), ("bash -c",)),
    ]),
]


@pytest.mark.parametrize(("script", "expected"), EXACT_SCRIPTS, ids=[s for s, _ in EXACT_SCRIPTS])
def test_script_exact(script: str, expected: list[tuple[Argv, tuple[str, ...]]]) -> None:
    a = analyze_script(script)
    assert pairs(a) == expected
    assert a.opaque == ()


EXACT_ARGV: list[tuple[list[str], list[tuple[Argv, tuple[str, ...]]]]] = [
    (["git", "status"], [(t("git", "status"), ())]),
    (["/usr/bin/git", "push", "-f"], [(t("git", "push", "-f"), ())]),
    (["\\git", "push"], [(t("git", "push"), ())]),
    (["./node_modules/.bin/vercel", "--prod"], [(t("vercel", "--prod"), ())]),
    (["FOO=1", "git", "push"], [(t("git", "push"), ())]),
    # no shell: these are literal words, not expansions
    (["echo", "$(rm -rf /)", "*", "{a,b}"], [(t("echo", "$(rm -rf /)", "*", "{a,b}"), ())]),
    (["sudo", "-E", "kubectl", "apply"], [
        (t("sudo", "-E", "kubectl", "apply"), ()), (t("kubectl", "apply"), ("sudo",)),
    ]),
    (["sudo", "env", "FOO=1", "timeout", "5", "nice", "-n", "5", "git", "push"], [
        (t("sudo", "env", "FOO=1", "timeout", "5", "nice", "-n", "5", "git", "push"), ()),
        (t("env", "FOO=1", "timeout", "5", "nice", "-n", "5", "git", "push"), ("sudo",)),
        (t("timeout", "5", "nice", "-n", "5", "git", "push"), ("sudo", "env")),
        (t("nice", "-n", "5", "git", "push"), ("sudo", "env", "timeout")),
        (t("git", "push"), ("sudo", "env", "timeout", "nice")),
    ]),
    (["bash", "-lc", "cd app && vercel --prod"], [
        (t("bash", "-lc", "cd app && vercel --prod"), ()),
        (t("cd", "app"), ("bash -c",)),
        (t("vercel", "--prod"), ("bash -c", "&&")),
    ]),
    ([], []),
    ([""], []),
]


@pytest.mark.parametrize(("argv", "expected"), EXACT_ARGV, ids=[" ".join(a) or "<empty>" for a, _ in EXACT_ARGV])
def test_argv_exact(argv: list[str], expected: list[tuple[Argv, tuple[str, ...]]]) -> None:
    a = analyze_argv(argv)
    assert pairs(a) == expected
    assert a.opaque == ()


# -- wrappers: the wrapped command must be among the results ------------------------------

WRAPPED: list[tuple[str, Argv]] = [
    # sudo / doas / su
    ("sudo vercel --prod", t("vercel", "--prod")),
    ("sudo -Eu root vercel --prod", t("vercel", "--prod")),
    ("sudo -u root -g wheel -C 5 -D /tmp -h -p pw -r role -t type -U u -T 10 vercel", t("vercel")),
    ("sudo --user=root --preserve-env=PATH -- vercel --prod", t("vercel", "--prod")),
    ("sudo FOO=1 BAR=2 vercel --prod", t("vercel", "--prod")),
    ("sudo -s vercel --prod", t("vercel", "--prod")),
    ("sudo -i 'cd /srv && vercel --prod'", t("vercel", "--prod")),
    ("doas -u root vercel --prod", t("vercel", "--prod")),
    ("pkexec --user root vercel", t("vercel")),
    ("su -c 'vercel --prod' deploy", t("vercel", "--prod")),
    ("su - deploy -c 'vercel --prod'", t("vercel", "--prod")),
    ("runuser -u deploy --command='vercel --prod'", t("vercel", "--prod")),
    ("sg docker -c 'vercel --prod'", t("vercel", "--prod")),
    # env
    ("env vercel --prod", t("vercel", "--prod")),
    ("env -i PATH=/bin HOME=/ vercel --prod", t("vercel", "--prod")),
    ("env -0 -u HOME --unset=PATH -C /tmp --chdir=/x vercel", t("vercel")),
    ("env - FOO=1 vercel", t("vercel")),
    ("env -- vercel --prod", t("vercel", "--prod")),
    ("env -S 'FOO=1 vercel --prod'", t("vercel", "--prod")),
    ("env --split-string='-i vercel --prod'", t("vercel", "--prod")),
    ("env -i FOO=1 -u X vercel", t("vercel")),
    # nice, ionice, nohup, timeout, time, stdbuf, setsid, chronic, ...
    ("nice vercel", t("vercel")),
    ("nice -n 5 vercel --prod", t("vercel", "--prod")),
    ("nice -10 vercel", t("vercel")),
    ("nice --adjustment=5 vercel", t("vercel")),
    ("ionice -c 2 -n 7 vercel", t("vercel")),
    ("ionice -c3 -t vercel", t("vercel")),
    ("nohup vercel --prod &", t("vercel", "--prod")),
    ("timeout 5 vercel --prod", t("vercel", "--prod")),
    ("timeout -s KILL -k 10 --preserve-status --foreground -v 1m vercel", t("vercel")),
    ("timeout --signal=TERM --kill-after=5 60 vercel", t("vercel")),
    ("command time -v -o out -f '%e' -a -p vercel", t("vercel")),
    ("/usr/bin/time -v vercel --prod", t("vercel", "--prod")),
    ("command vercel --prod", t("vercel", "--prod")),
    ("command -p vercel", t("vercel")),
    ("builtin exec vercel", t("vercel")),
    ("exec -a name -cl vercel --prod", t("vercel", "--prod")),
    ("stdbuf -i0 -oL -e 0 vercel", t("vercel")),
    ("stdbuf --output=L vercel", t("vercel")),
    ("setsid -c -f -w vercel", t("vercel")),
    ("chronic vercel --prod", t("vercel", "--prod")),
    ("caffeinate -i -t 600 vercel", t("vercel")),
    ("unbuffer vercel", t("vercel")),
    ("taskset -c 0-3 vercel", t("vercel")),
    ("busybox sh -c 'vercel --prod'", t("vercel", "--prod")),
    ("busybox rm -rf /tmp/x", t("rm", "-rf", "/tmp/x")),
    # flock, watch, xargs, find, fd, parallel
    ("flock /tmp/lock vercel --prod", t("vercel", "--prod")),
    ("flock -n -w 5 /tmp/lock vercel", t("vercel")),
    ("flock /tmp/lock -c 'vercel --prod'", t("vercel", "--prod")),
    ("flock -c 'vercel --prod' /tmp/lock", t("vercel", "--prod")),
    ("watch -n 5 vercel ls", t("vercel", "ls")),
    ("watch -d 'kubectl get pods | grep x'", t("kubectl", "get", "pods")),
    ("watch -x vercel --prod", t("vercel", "--prod")),
    ("xargs vercel rm", t("vercel", "rm", INPUT_WORD)),
    ("xargs -0 -n 1 -P 4 -r rm -f", t("rm", "-f", INPUT_WORD)),
    ("xargs -I {} mv {} /tmp", t("mv", INPUT_WORD, "/tmp")),  # the string: a run-time value
    ("xargs --null --max-args=1 rm", t("rm", INPUT_WORD)),
    ("xargs -a list.txt -d '\\n' rm", t("rm", INPUT_WORD)),
    ("find . -name '*.tmp' -exec rm -f {} \\;", t("rm", "-f", "./{}")),
    ("find / -type f -exec grep -l foo {} +", t("grep", "-l", "foo", "{}")),
    ("find . -execdir vercel --prod ';'", t("vercel", "--prod")),
    ("find . -ok rm {} \\; -okdir ls \\;", t("ls")),
    ("find . -exec sh -c 'vercel --prod' \\;", t("vercel", "--prod")),
    ("fd -e py -x black", t("black")),
    ("parallel vercel ::: a b", t("vercel", "a")),
    ("parallel ::: 'vercel --prod' 'ls'", t("vercel", "--prod")),
    # eval, trap, alias, source
    ("eval 'vercel --prod'", t("vercel", "--prod")),
    ("eval vercel --prod", t("vercel", "--prod")),
    ("trap 'vercel --prod' EXIT", t("vercel", "--prod")),
    ("alias v='vercel --prod'", t("vercel", "--prod")),
    # package runners: the tool they launch, without its version
    ("npx vercel --prod", t("vercel", "--prod")),
    ("npx -y vercel@latest --prod", t("vercel", "--prod")),
    ("npx --yes vercel@33 --prod", t("vercel", "--prod")),
    ("npx -p vercel@33 vercel --prod", t("vercel", "--prod")),
    ("npx --package=vercel -- vercel --prod", t("vercel", "--prod")),
    ("npx @scope/pkg@1 run", t("pkg", "run")),
    ("npx -c 'vercel --prod'", t("vercel", "--prod")),
    ("npm exec -- vercel --prod", t("vercel", "--prod")),
    ("npm x vercel", t("vercel")),
    ("npm --prefix web publish", t("npm", "publish")),
    ("pnpm dlx vercel --prod", t("vercel", "--prod")),
    ("pnpm exec vercel --prod", t("vercel", "--prod")),
    ("pnpm --filter web exec vercel", t("vercel")),
    ("pnpm exec -c 'vercel --prod'", t("vercel", "--prod")),
    ("pnpm vercel --prod", t("vercel", "--prod")),
    ("pnpx vercel", t("vercel")),
    ("yarn dlx vercel --prod", t("vercel", "--prod")),
    ("yarn exec vercel --prod", t("vercel", "--prod")),
    ("yarn run vercel --prod", t("vercel", "--prod")),
    ("yarn vercel --prod", t("vercel", "--prod")),
    ("yarn workspace web vercel --prod", t("vercel", "--prod")),
    ("bunx vercel --prod", t("vercel", "--prod")),
    ("bunx --bun vercel@1", t("vercel")),
    ("bun x vercel --prod", t("vercel", "--prod")),
    ("bun run vercel --prod", t("vercel", "--prod")),
    ("uvx ruff check", t("ruff", "check")),
    ("uvx --from 'ruff==0.5' --with x ruff check", t("ruff", "check")),
    ("uvx black@24.1 .", t("black", ".")),
    ("uv tool run ruff check", t("ruff", "check")),
    ("uv run --with x --python 3.12 pytest -x", t("pytest", "-x")),
    ("uv run -m pytest", t("python", "-m", "pytest")),
    ("pipx run black==24.1 .", t("black", ".")),
    ("pipx run --spec black black .", t("black", ".")),
    ("poetry run pytest -x", t("pytest", "-x")),
    ("pdm run pytest", t("pytest")),
    ("bundle exec rake deploy", t("rake", "deploy")),
    ("conda run -n prod vercel --prod", t("vercel", "--prod")),
    ("direnv exec . vercel --prod", t("vercel", "--prod")),
    ("nix-shell -p nodejs --run 'vercel --prod'", t("vercel", "--prod")),
    ("nix develop -c vercel --prod", t("vercel", "--prod")),
    ("mise exec node@20 -- vercel --prod", t("vercel", "--prod")),
    ("deno run -A npm:vercel --prod", t("vercel", "--prod")),
    # git and terraform global options, git's own ways to run commands
    ("git -C repo push --force", t("git", "push", "--force")),
    ("git --no-pager -c color.ui=never push -f", t("git", "push", "-f")),
    ("git -c alias.p='push --force' p", t("git", "push", "--force")),
    ("git -c 'alias.d=!vercel --prod' d", t("vercel", "--prod")),
    ("git -c 'alias.d=!vercel' d --prod", t("vercel", "--prod")),
    ("git submodule foreach 'vercel --prod'", t("vercel", "--prod")),
    ("git rebase -x 'vercel --prod' main", t("vercel", "--prod")),
    ("git rebase --exec='vercel --prod' main", t("vercel", "--prod")),
    ("git bisect run vercel --prod", t("vercel", "--prod")),
    ("terraform -chdir=infra apply", t("terraform", "apply")),
    ("tofu -chdir=infra apply", t("tofu", "apply")),
    # remote and odd runners
    ("ssh host vercel --prod", t("vercel", "--prod")),
    ("ssh -i key -p 22 -o StrictHostKeyChecking=no host 'cd x && vercel --prod'", t("vercel", "--prod")),
    ("ssh -o ProxyCommand='vercel --prod' host", t("vercel", "--prod")),
    ("rsync -e 'vercel --prod' a b:", t("vercel", "--prod")),
    ("script -qc 'vercel --prod' /dev/null", t("vercel", "--prod")),
    ("script -q /dev/null vercel --prod", t("vercel", "--prod")),
    # shells
    ("sh -c 'vercel --prod'", t("vercel", "--prod")),
    ("bash -c 'vercel --prod'", t("vercel", "--prod")),
    ("bash -lc 'vercel --prod'", t("vercel", "--prod")),
    ("bash -cl 'vercel --prod'", t("vercel", "--prod")),
    ("bash -euxc 'vercel --prod'", t("vercel", "--prod")),
    ("bash -e -x -c 'vercel --prod'", t("vercel", "--prod")),
    ("bash --login --norc --noprofile -c 'vercel --prod'", t("vercel", "--prod")),
    ("bash -o pipefail -c 'vercel --prod'", t("vercel", "--prod")),
    ("bash +o history -O extglob -c 'vercel --prod'", t("vercel", "--prod")),
    ("bash -euo pipefail -c 'vercel --prod'", t("vercel", "--prod")),
    ("/bin/bash -c -- 'vercel --prod'", t("vercel", "--prod")),
    ("zsh -c 'vercel --prod'", t("vercel", "--prod")),
    ("dash -c 'vercel --prod'", t("vercel", "--prod")),
    ("ksh -c 'vercel --prod'", t("vercel", "--prod")),
    ("mksh -c 'vercel --prod'", t("vercel", "--prod")),
    ("fish -c 'vercel --prod'", t("vercel", "--prod")),
    ("fish --command='vercel --prod'", t("vercel", "--prod")),
    ("sh -c 'sh -c \"vercel --prod\"'", t("vercel", "--prod")),
    ("bash -c \"bash -c 'sudo vercel --prod'\"", t("vercel", "--prod")),
    ("sudo -u x bash -lc 'cd /x; vercel --prod'", t("vercel", "--prod")),
    ("bash -c 'echo $(vercel --prod)'", t("vercel", "--prod")),
    # here-documents and here-strings fed to a shell are read as scripts when literal
    ("bash <<'EOF'\nvercel --prod\nEOF", t("vercel", "--prod")),
    ("bash <<EOF\ncd x && vercel --prod\nEOF", t("vercel", "--prod")),
    ("bash <<-EOF\n\tvercel --prod\n\tEOF", t("vercel", "--prod")),
    ("sh <<< 'vercel --prod'", t("vercel", "--prod")),
    ("{ bash; } <<'EOF'\nvercel --prod\nEOF", t("vercel", "--prod")),
    ("sudo -s <<'EOF'\nvercel --prod\nEOF", t("vercel", "--prod")),
    ("ssh host <<'EOF'\nvercel --prod\nEOF", t("vercel", "--prod")),
    ("at now <<'EOF'\nvercel --prod\nEOF", t("vercel", "--prod")),
    # xargs/parallel: words read at run time are appended
    ("echo --prod | xargs vercel", t("vercel", INPUT_WORD)),
    ("xargs -a args.txt vercel", t("vercel", INPUT_WORD)),
    ("echo main | xargs git push origin", t("git", "push", "origin", INPUT_WORD)),
    ("echo apply | xargs terraform", t("terraform", INPUT_WORD)),
    ("echo /etc | xargs -n1 rm -rf", t("rm", "-rf", INPUT_WORD)),
    ("ls | xargs sudo -E vercel", t("vercel", INPUT_WORD)),
    ("echo --prod | parallel vercel", t("vercel", INPUT_WORD)),
    ("parallel vercel ::: --prod preview", t("vercel", "--prod")),
    ("parallel vercel {} ::: --prod", t("vercel", "--prod")),
    ("parallel -X rm -rf ::: / x", t("rm", "-rf", INPUT_WORD)),
    ("parallel git push {1} {2} ::: origin ::: -f", t("git", "push", INPUT_WORD, INPUT_WORD)),
    ("sem --id deploy -j1 vercel --prod", t("vercel", "--prod")),
    # wrappers
    ("ssh host -- vercel --prod", t("vercel", "--prod")),
    ("ssh -p 22 host -t vercel --prod", t("vercel", "--prod")),
    ("ssh -o 'ProxyCommand vercel --prod' host", t("vercel", "--prod")),
    ("runuser -u root -- vercel --prod", t("vercel", "--prod")),
    ("runuser -u deploy vercel --prod", t("vercel", "--prod")),
    ("systemd-run --user --scope -p MemoryMax=1G vercel --prod", t("vercel", "--prod")),
    ("systemd-run --unit deploy -t --wait vercel --prod", t("vercel", "--prod")),
    ("run0 -u deploy vercel --prod", t("vercel", "--prod")),
    ("unshare -r -n vercel --prod", t("vercel", "--prod")),
    ("unshare --mount-proc -fp --propagation private vercel --prod", t("vercel", "--prod")),
    ("nsenter -t 1 -m -u vercel --prod", t("vercel", "--prod")),
    ("setpriv --reuid 1000 --regid 1000 --init-groups vercel --prod", t("vercel", "--prod")),
    ("prlimit --nofile=1024 vercel --prod", t("vercel", "--prod")),
    ("prlimit -n1024 -c vercel --prod", t("vercel", "--prod")),
    ("chrt -f 10 vercel --prod", t("vercel", "--prod")),
    ("numactl --cpunodebind=0 vercel --prod", t("vercel", "--prod")),
    ("cgexec -g cpu:slow vercel --prod", t("vercel", "--prod")),
    ("chpst -u deploy -/ /srv vercel --prod", t("vercel", "--prod")),
    ("firejail --noprofile --net=none vercel --prod", t("vercel", "--prod")),
    ("xvfb-run -a -s '-screen 0 1024x768x24' vercel --prod", t("vercel", "--prod")),
    ("faketime '2024-01-01' vercel --prod", t("vercel", "--prod")),
    ("gdb --args vercel --prod", t("vercel", "--prod")),
    ("gdb -q -batch -ex run --args vercel --prod", t("vercel", "--prod")),
    ("tmux new -d 'vercel --prod'", t("vercel", "--prod")),
    ("tmux new-session -d -s deploy 'cd app && vercel --prod'", t("vercel", "--prod")),
    ("tmux -L x new-window -n w vercel --prod", t("vercel", "--prod")),
    ("tmux split-window -h 'vercel --prod'", t("vercel", "--prod")),
    ("tmux send-keys -t deploy 'vercel --prod' Enter", t("vercel", "--prod")),
    ("tmux send -t x vercel Space --prod C-m", t("vercel", "--prod")),
    ("tmux new -d -s x \\; send-keys -t x 'vercel --prod' Enter", t("vercel", "--prod")),
    ("tmux run-shell 'vercel --prod'", t("vercel", "--prod")),
    ("tmux if-shell true 'run-shell \"vercel --prod\"'", t("vercel", "--prod")),
    ("screen -dm vercel --prod", t("vercel", "--prod")),
    ("screen -dmS deploy vercel --prod", t("vercel", "--prod")),
    ("screen -S deploy -X stuff 'vercel --prod\\n'", t("vercel", "--prod")),
    ("screen -S deploy -X exec vercel --prod", t("vercel", "--prod")),
    ("entr -s 'vercel --prod'", t("vercel", "--prod")),
    ("ip netns exec blue vercel --prod", t("vercel", "--prod")),
    ("dotenv -f .env run vercel --prod", t("vercel", "--prod")),
    ("dotenv run -- vercel --prod", t("vercel", "--prod")),
    ("dotenv -e .env.production -- vercel --prod", t("vercel", "--prod")),
    ("op run --env-file=.env -- vercel --prod", t("vercel", "--prod")),
    ("op plugin run -- vercel --prod", t("vercel", "--prod")),
    ("doppler run -p web -c prd -- vercel --prod", t("vercel", "--prod")),
    ("doppler run --command 'vercel --prod'", t("vercel", "--prod")),
    ("aws-vault exec prod -- vercel --prod", t("vercel", "--prod")),
    ("aws-vault exec --duration=1h prod -- vercel --prod", t("vercel", "--prod")),
    ("env-cmd -f .env vercel --prod", t("vercel", "--prod")),
    ("cross-env NODE_ENV=production vercel --prod", t("vercel", "--prod")),
    ("cross-env-shell NODE_ENV=production 'vercel --prod'", t("vercel", "--prod")),
    ("sops exec-env secrets.json 'vercel --prod'", t("vercel", "--prod")),
    ("corepack pnpm dlx vercel --prod", t("vercel", "--prod")),
    ("corepack yarn@4.1.0 vercel --prod", t("vercel", "--prod")),
    ("volta run --node 20 vercel --prod", t("vercel", "--prod")),
    ("fnm exec --using=18 vercel --prod", t("vercel", "--prod")),
    ("fnm exec --using 18 -- vercel --prod", t("vercel", "--prod")),
    ("nvm exec 18 vercel --prod", t("vercel", "--prod")),
    ("nvm exec vercel --prod", t("vercel", "--prod")),
    ("asdf exec vercel --prod", t("vercel", "--prod")),
    ("mise x -- vercel --prod", t("vercel", "--prod")),
    ("mise -C web exec node@20 -- vercel --prod", t("vercel", "--prod")),
    ("mise exec --command 'vercel --prod'", t("vercel", "--prod")),
    ("nix develop -c vercel --prod", t("vercel", "--prod")),
    ("nix run nixpkgs#vercel -- --prod", t("vercel", "--prod")),
    ("sudo env FOO=1 vercel --prod", t("vercel", "--prod")),
    ("export FOO=1; sudo vercel --prod", t("vercel", "--prod")),
    ("set -a; FOO=1; bash -c 'vercel --prod'", t("vercel", "--prod")),
    ("sudo -E env -i PATH=/usr/bin vercel --prod", t("vercel", "--prod")),
    # anything else given "-- CMD ARGS": CMD is checked as well
    ("saml2aws exec -- vercel --prod", t("vercel", "--prod")),
    ("schroot -c focal -- vercel --prod", t("vercel", "--prod")),
    # programs started through tools' configuration and environment
    ("git -c diff.external='vercel --prod #' diff", t("vercel", "--prod")),
    ("git -c core.sshCommand='vercel --prod' fetch", t("vercel", "--prod")),
    ("git -c core.pager='vercel --prod' log", t("vercel", "--prod")),
    ("git -c core.editor='vercel --prod' commit", t("vercel", "--prod")),
    ("git -c sequence.editor='vercel --prod' rebase -i main", t("vercel", "--prod")),
    ("git -c credential.helper='!vercel --prod' push", t("vercel", "--prod")),
    ("git -c core.fsmonitor='vercel --prod' status", t("vercel", "--prod")),
    ("git -c pager.log='vercel --prod' log", t("vercel", "--prod")),
    ("git -c filter.lfs.smudge='vercel --prod' checkout .", t("vercel", "--prod")),
    ("git -C repo -c core.pager='vercel --prod' log", t("vercel", "--prod")),
    ("git config core.pager 'vercel --prod'", t("vercel", "--prod")),
    ("git config --global core.sshCommand 'vercel --prod'", t("vercel", "--prod")),
    ("git config alias.ship '!vercel --prod'", t("vercel", "--prod")),
    ("GIT_SSH_COMMAND='vercel --prod' git fetch", t("vercel", "--prod")),
    ("GIT_SSH=vercel git fetch", t("vercel",)),
    ("GIT_EXTERNAL_DIFF='vercel --prod' git diff", t("vercel", "--prod")),
    ("GIT_PAGER='vercel --prod' git log", t("vercel", "--prod")),
    ("PAGER='vercel --prod' man ls", t("vercel", "--prod")),
    ("GIT_EDITOR='vercel --prod' git commit", t("vercel", "--prod")),
    ("EDITOR='vercel --prod' crontab -e", t("vercel", "--prod")),
    ("VISUAL='vercel --prod' git commit", t("vercel", "--prod")),
    ("LESSOPEN='| vercel --prod %s' less x", t("vercel", "--prod", "%s")),
    ("BROWSER='firefox:vercel --prod' xdg-open x", t("vercel", "--prod")),
    ("env GIT_PAGER='vercel --prod' git log", t("vercel", "--prod")),
    ("sudo GIT_EDITOR='vercel --prod' git commit", t("vercel", "--prod")),
    ("export EDITOR='vercel --prod'; git commit", t("vercel", "--prod")),
    # known literal variables are substituted
    ("X=vercel; $X --prod", t("vercel", "--prod")),
    ("FLAG=--prod && vercel \"$FLAG\"", t("vercel", "--prod")),
]


@pytest.mark.parametrize(("script", "inner"), WRAPPED, ids=[s for s, _ in WRAPPED])
def test_wrapped_command_is_reported(script: str, inner: Argv) -> None:
    a = analyze_script(script)
    assert inner in argvs(a), pairs(a)
    assert unparseable(a) == []


def test_wrapper_and_wrapped_are_both_reported() -> None:
    a = analyze_script("sudo -E kubectl apply")
    assert SimpleCommand(("sudo", "-E", "kubectl", "apply"), ()) in a.commands
    assert SimpleCommand(("kubectl", "apply"), ("sudo",)) in a.commands


def test_nested_wrappers_keep_their_path() -> None:
    a = analyze_argv(["sudo", "bash", "-c", "timeout 5 npx vercel --prod"])
    got = {c.argv: c.via for c in a.commands}
    assert got[("vercel", "--prod")] == ("sudo", "bash -c", "timeout", "npx")


def test_command_v_runs_nothing() -> None:
    assert argvs(analyze_script("command -v vercel")) == [t("command", "-v", "vercel")]
    assert argvs(analyze_script("command -V vercel")) == [t("command", "-V", "vercel")]


def test_wrappers_without_a_command_run_nothing_more() -> None:
    for script in ("env", "nice", "timeout 5", "sudo -v", "xargs", "flock 9", "nohup", "exec 3>f"):
        a = analyze_script(script)
        assert a.opaque == (), script
    assert argvs(analyze_script("xargs")) == [t("xargs"), t("echo", INPUT_WORD)]


def test_shell_with_script_file_is_an_ordinary_command() -> None:
    for script in ("bash deploy.sh --prod", "sh -e ./x.sh", "bash", "sh -s arg", "zsh -l"):
        a = analyze_script(script)
        assert a.opaque == (), script
        assert len(a.commands) == 1


def test_python_m_is_an_ordinary_command() -> None:
    a = analyze_script("python -m pip install requests")
    assert argvs(a) == [t("python", "-m", "pip", "install", "requests")]
    assert a.opaque == ()


def test_dynamic_arguments_are_kept_literal_and_flagged() -> None:
    a = analyze_script("git push $REMOTE \"$BRANCH\" ${X} $(echo --force) ~ plain")
    cmd = next(c for c in a.commands if c.argv[0] == "git")
    assert cmd.argv == ("git", "push", "$REMOTE", "$BRANCH", "${X}", "$(echo --force)", "~", "plain")
    assert cmd.dynamic == (2, 3, 4, 5)
    assert a.opaque == ()


def test_find_placeholder_is_dynamic() -> None:
    a = analyze_script("find / -exec rm {} \\;")
    rm = next(c for c in a.commands if c.argv[0] == "rm")
    assert rm.argv == ("rm", "{}") and rm.dynamic == (1,)
    # from one literal starting point below the directory, {} is that path or one under it
    for script, word in (("find . -exec rm {} \\;", "./{}"), ("find src -exec rm {} +", "src/{}"),
                         ("find / -execdir rm {} +", "./{}")):
        rm = next(c for c in analyze_script(script).commands if c.argv[0] == "rm")
        assert rm.argv == ("rm", word) and rm.dynamic == (), script
    for script in ("find .. -exec rm {} +", "find . src -exec rm {} +", "find ~ -exec rm {} +"):
        rm = next(c for c in analyze_script(script).commands if c.argv[0] == "rm")
        assert rm.argv == ("rm", "{}") and rm.dynamic == (1,), script


def test_results_are_deduplicated() -> None:
    a = analyze_script("ls; ls; ls && ls")
    assert pairs(a) == [(t("ls"), ()), (t("ls"), ("&&",))]


# -- interpreter code strings --------------------------------------------------------------

CODE: list[tuple[str, str, str]] = [
    ("python -c 'import os; os.system(\"vercel --prod\")'", "python", 'import os; os.system("vercel --prod")'),
    ("python3 -c 'print(1)' arg", "python3", "print(1)"),
    ("python3.12 -Ic 'print(1)'", "python3.12", "print(1)"),
    ("python2 -W ignore -c 'x'", "python2", "x"),
    ("node -e 'require(\"child_process\")'", "node", 'require("child_process")'),
    ("node --eval='x'", "node", "x"),
    ("node -p '1+1'", "node", "1+1"),
    ("node -pe 'process.env'", "node", "process.env"),
    ("node -r ts-node/register -e 'x'", "node", "x"),
    ("perl -e 'print 1'", "perl", "print 1"),
    ("perl -E 'say 1'", "perl", "say 1"),
    ("perl -lne 'print' file", "perl", "print"),
    ("perl -i.bak -pe 's/a/b/' f", "perl", "s/a/b/"),
    ("ruby -e 'puts 1'", "ruby", "puts 1"),
    ("ruby -rjson -e 'x'", "ruby", "x"),
    ("php -r 'echo 1;'", "php", "echo 1;"),
    ("deno eval 'console.log(1)'", "deno", "console.log(1)"),
    ("osascript -e 'display dialog \"x\"'", "osascript", 'display dialog "x"'),
    ("pwsh -Command 'Get-Process'", "pwsh", "Get-Process"),
    ("pwsh -NoProfile -c Remove-Item x", "pwsh", "Remove-Item x"),
    ("lua -e 'print(1)'", "lua", "print(1)"),
    ("Rscript -e 'q()'", "rscript", "q()"),
    ("julia -e 'println(1)'", "julia", "println(1)"),
    ("bun -e 'x'", "bun", "x"),
    ("awk '{print $1}' f", "awk", "{print $1}"),
    ("gawk -F: -v x=1 'BEGIN{system(\"vercel\")}'", "gawk", 'BEGIN{system("vercel")}'),
    ("awk '{print | \"vercel --prod\"}'", "awk", '{print | "vercel --prod"}'),
    ("awk '{\"vercel\" | getline x}'", "awk", '{"vercel" | getline x}'),
    # here-documents and here-strings fed to an interpreter are its code
    ("python3 - <<EOF\nprint('hi')\nEOF", "python3", "print('hi')\n"),
    ("python3 <<'EOF'\nimport os\nEOF", "python3", "import os\n"),
    ("python3 - <<-EOF\n\tprint(1)\n\tEOF", "python3", "print(1)\n"),
    ("node <<EOF\nconsole.log(1)\nEOF", "node", "console.log(1)\n"),
    ("perl <<'EOF'\nprint 1\nEOF", "perl", "print 1\n"),
    ("ruby <<'EOF'\nputs 1\nEOF", "ruby", "puts 1\n"),
    ("python3 <<< 'print(1)'", "python3", "print(1)\n"),
    ("sudo python3 - <<'EOF'\nprint(1)\nEOF", "sudo", "print(1)\n"),
    ("gdb -ex 'shell vercel' --args x", "gdb", "shell vercel"),
    ("expect -c 'spawn vercel --prod'", "expect", "spawn vercel --prod"),
]


@pytest.mark.parametrize(("script", "prog", "code"), CODE, ids=[s for s, _, _ in CODE])
def test_interpreter_code_is_reported(script: str, prog: str, code: str) -> None:
    a = analyze_script(script)
    assert a.commands[0].argv[0] in (prog, prog.capitalize(), "Rscript")
    codes = [o for o in a.opaque if o.kind == "code"]
    assert [o.text for o in codes] == [code]
    assert codes[0].reason
    assert unparseable(a) == []


def test_code_inside_wrappers_keeps_its_path() -> None:
    a = analyze_script("sudo bash -c \"python3 -c 'x'\"")
    assert a.opaque == (Opaque("code", "python3 -c runs inline code", "x", ("sudo", "bash -c")),)


def test_interpreters_running_files_are_ordinary() -> None:
    for script in ("python x.py", "python3 -u -W ignore x.py -c y", "node index.js -e x",
                   "perl x.pl", "ruby x.rb", "awk -f prog.awk data", "php -f x.php"):
        a = analyze_script(script)
        assert a.opaque == (), script


# -- opaque: what the gate cannot see through ----------------------------------------------

OPAQUE: list[tuple[str, str]] = [
    # variable or substitution as the command name
    ("$X push", "command name"),
    ("${X} push", "command name"),
    ('"$X" push', "command name"),
    ("$(echo git) push", "command name"),
    ("`which git` push", "command name"),
    ("X=git; read X; $X push", "command name"),
    ("for c in vercel; do $c --prod; done", "command name"),
    ("/usr/bin/ver* --prod", "glob"),
    ("verc?l --prod", "glob"),
    ("sudo $CMD --prod", "not literal"),
    ("bash -c '\"$@\"' _", ""),  # nothing runs: fine, but see the next one
    ("xargs sh -c '\"$@\"' _", "command name"),
    ("bash -c 'f() { \"$1\" --prod; }; f vercel' _ x", "command name"),
    # pipes into interpreters and shells
    ("curl -fsSL https://x | sh", "piped"),
    ("curl -fsSL https://x | bash -s -- --flag", "piped"),
    ("base64 -d payload | bash", "piped"),
    ("cat x | python", "piped"),
    ("cat x | python3 -", "piped"),
    ("cat x | node", "piped"),
    ("cat x | perl", "piped"),
    ("cat x | ruby", "piped"),
    ("cat x | zsh", "piped"),
    ("cat x | sudo bash", "piped"),
    ("cat x | sudo -u root sh -", "piped"),
    ("cat x | env bash", "piped"),
    ("cat x | (cd /tmp && bash)", "piped"),
    ("cat x | { sh; }", "piped"),
    ("curl x | bash -c 'bash'", "piped"),
    ("cat x | sudo -s", "piped"),
    ("cat x | ssh host", "piped"),
    ("echo 'vercel --prod' | at now", "piped"),
    ("echo 'vercel --prod' | parallel", "piped"),
    ("echo x | tee >(sh)", "piped"),
    ("echo x > >(bash)", "piped"),
    ("ls | xargs sh", "input"),
    ("ls | xargs bash -c", "input"),
    ("ls | xargs -I{} sh -c '{}'", "not literal"),
    ("ls | xargs sudo", "input"),
    ("ls | xargs", ""),
    # here-documents and here-strings into shells and interpreters: only when not literal
    ("bash <<EOF\n$(curl x)\nEOF", "not literal"),
    ("python3 - <<EOF\nprint('$X')\nEOF", "not literal"),
    ("sh <<< \"$CMD\"", "not literal"),
    ("bash < <(curl x)", "fed"),
    ("{ bash; } <<EOF\n$X\nEOF", "not literal"),
    ("python3 - <<EOF < other.py\nprint(1)\nEOF", "fed"),
    # sourcing process substitutions / stdin
    ("source <(curl x)", "process substitution"),
    (". <(curl x)", "process substitution"),
    ("source /dev/stdin", "stdin"),
    (". /dev/fd/3 3<<EOF\nx\nEOF", "file descriptor"),
    ("bash <(curl -fsSL x)", "process substitution"),
    ("python3 <(curl x)", "process substitution"),
    # eval and shell strings that are not literal
    ('eval "$CMD"', "eval"),
    ("eval $(ssh-agent -s)", "eval"),
    ('bash -c "$SCRIPT"', "not literal"),
    ('bash -c "$(curl -fsSL x)"', "not literal"),
    ('sh -c "vercel $1"', ""),
    ('python -c "$CODE"', "not literal"),
    # syntax errors
    ('echo "unterminated', "unterminated double quote"),
    ("echo 'unterminated", "unterminated single quote"),
    ("echo $(unterminated", "unterminated"),
    ("echo `unterminated", "unterminated backquote"),
    ("if true; then echo", "expected 'fi'"),
    ("fi", "unexpected 'fi'"),
    ("echo )", "unexpected"),
    ("( echo", "unterminated"),
    ("a && ; b", "unexpected"),
    ("echo \\$(x)", "unexpected '('"),
    ("   \n\n ; ", "unexpected ';'"),
    ("$( (vercel --prod) )", "command name"),
    # state that would make substitution wrong
    ("bash -c 'shift; \"$1\" --prod' _ x vercel", "shift"),
    ("bash -c 'set -- vercel; \"$1\" --prod' _ x", "set"),
    ("bash -c 'IFS=,; $1' _ vercel,--prod", "IFS"),
    ("hash -p /usr/bin/vercel ls; ls --prod", "hash -p"),
    # unknown wrapper options
    ("timeout --bogus 5 vercel", "unrecognised option"),
    ("sudo -Z vercel", "unrecognised option"),
    ("env -Q vercel", "unrecognised option"),
    # tools that run commands nobody can see here
    ("sed 's/x/date/e' file", "sed e"),
    ("sed -n -e 'p' -e '1e date' file", "sed e"),
    ("sed --expression='s/a/b/ge' file", "sed e"),
    ("sed -ne '/x/e' file", "sed e"),
    ("gsed 'e ls' file", "sed e"),
    ("git -c core.hooksPath=/tmp/hooks commit -m x", "hooks"),
    ("git -c include.path=/tmp/cfg log", "hooks"),
    ("git --config-env=core.pager=PAGER_CMD log", "not literal"),
    ("GIT_CONFIG_PARAMETERS=\"'core.pager=vercel'\" git log", "configuration from the environment"),
    ('GIT_SSH_COMMAND="ssh -i $KEY" git fetch', "not literal"),
    ("tmux send-keys 'vercel --prodd' BSpace Enter", "editing keys"),
    ("tmux send-keys -H 76 65", "hexadecimal"),
    ("screen -X stuff 'vercel --prod^H^M'", "control characters"),
    ("X=export; B=main; $X B=-f; git push origin $B", ""),
    # hostile bytes
    ("verc\udcffel --prod", "undecodable"),
    ("ve\x1brcel --prod", "control characters"),
    ("vercel\x00 --prod", "NUL"),
]


@pytest.mark.parametrize(("script", "reason"), OPAQUE, ids=[repr(s) for s, _ in OPAQUE])
def test_opaque(script: str, reason: str) -> None:
    a = analyze_script(script)
    if not reason:  # nothing can run, or nothing dangerous: only check it does not raise
        return
    ops = unparseable(a)
    assert ops, pairs(a)
    assert any(reason in o.reason for o in ops), ops
    assert all(o.reason for o in ops)


def test_opaque_keeps_what_it_could_see() -> None:
    a = analyze_script("rm -rf /; echo ( x")
    assert t("rm", "-rf", "/") in argvs(a)
    assert unparseable(a)


def test_partial_parse_of_nested_shell() -> None:
    a = analyze_script("bash -c 'rm -rf /; echo \"x'")
    assert t("rm", "-rf", "/") in argvs(a)
    assert any("unterminated" in o.reason for o in unparseable(a))


def test_pipe_into_interpreter_with_code_is_not_stdin() -> None:
    for script in ("cat x | python3 -c 'import sys'", "cat x | bash -c 'wc -l'",
                   "cat x | python3 script.py", "cat x | node app.js", "ls | xargs rm"):
        assert unparseable(analyze_script(script)) == [], script


def test_argv_opaque_forms() -> None:
    assert unparseable(analyze_argv(["bash", "-c", "echo 'x"]))
    assert unparseable(analyze_argv(["sudo", "-Z", "x"]))
    a = analyze_argv(["ver\x00cel", "--prod"])
    assert any("NUL" in o.reason for o in a.opaque)
    a = analyze_argv(["git", 1])  # type: ignore[list-item]
    assert a.opaque and not a.commands


# -- bounds --------------------------------------------------------------------------------

@pytest.mark.parametrize("script", [
    "$(" * 10_000,
    "(" * 10_000,
    "{ " * 10_000,
    "${" * 10_000,
    "`" * 9_999,
    "echo " + "{a," * 3_000 + "}" * 3_000,
    "echo " + "{a,b}" * 40,
    "echo {1..10000000}",
    "x" * 70_000,
    "sudo " * 500 + "vercel",
    "bash -c " * 30 + "x",
    "a | " * 2_000 + "b",
    "a; " * 20_000,
])
def test_bounds_fail_closed(script: str) -> None:
    a = analyze_script(script)
    assert isinstance(a, Analysis)
    if script.startswith(("bash -c", "a |", "a;")):
        return  # within bounds or cut by the time budget: no crash is the point
    assert unparseable(a), a.opaque


def test_too_many_commands() -> None:
    a = analyze_script("; ".join(f"cmd{i}" for i in range(800)))
    assert len(a.commands) <= 500
    assert any("too large/too deep" in o.reason for o in a.opaque)


def test_argv_too_long() -> None:
    a = analyze_argv(["echo", "x" * 70_000])
    assert any("too large/too deep" in o.reason for o in a.opaque)


# -- what else a rule gets to see ---------------------------------------------------------

def command_for(a: Analysis, prog: str) -> SimpleCommand:
    return next(c for c in a.commands if c.argv[0] == prog)


# (script, program, its argv, dynamic positions)
DYNAMIC: list[tuple[str, str, Argv, tuple[int, ...]]] = [
    # unquoted glob patterns are run-time values, kept as written
    ("rm -rf /[a-z]*", "rm", t("rm", "-rf", "/[a-z]*"), (2,)),
    ("rm -rf /?*", "rm", t("rm", "-rf", "/?*"), (2,)),
    ("rm -rf /*/", "rm", t("rm", "-rf", "/*/"), (2,)),
    ("rm -rf '/*' \\* x", "rm", t("rm", "-rf", "/*", "*", "x"), ()),
    ("ls *.py src/[ab]", "ls", t("ls", "*.py", "src/[ab]"), (1, 2)),
    # xargs appends its input
    ("ls | xargs rm -f", "rm", t("rm", "-f", INPUT_WORD), (2,)),
    ("ls | xargs -I{} mv {} /tmp", "mv", t("mv", INPUT_WORD, "/tmp"), (1,)),
    ("find / -exec rm {} +", "rm", t("rm", "{}"), (1,)),
    # variables: known literal values are substituted; others stay dynamic
    ('TAG=v1; docker build -t "$TAG" .', "docker", t("docker", "build", "-t", "v1", "."), ()),
    ('B=main && git push origin "$B"', "git", t("git", "push", "origin", "main"), ()),
    ("export TAG=v1; docker push app:$TAG", "docker", t("docker", "push", "app:v1"), ()),
    ("readonly R=origin; git push $R main", "git", t("git", "push", "origin", "main"), ()),
    ('B="a b"; echo $B "$B"', "echo", t("echo", "a", "b", "a b"), ()),
    ("A=1; B=$A-x; B+=y; echo $B", "echo", t("echo", "1-xy"), ()),
    ("P='/*'; rm -rf $P", "rm", t("rm", "-rf", "/*"), (2,)),
    ("E=; echo $E x", "echo", t("echo", "x"), ()),
    ("B=main; (git push origin $B)", "git", t("git", "push", "origin", "main"), ()),
    ("B=main; echo $(git push origin $B)", "git", t("git", "push", "origin", "main"), ()),
    ("B=$(cat f); git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=~/x; ls $B", "ls", t("ls", "$B"), (1,)),
    ("B=main; (B=-f); git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; if x; then B=-f; fi; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; while x; do git push origin $B; B=-f; done", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; for B in -f; do :; done; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; true || B=-f; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; x | B=-f; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main & git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; B=-f true; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; read B; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; eval B=-f; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; source env.sh; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; : ${B:=-f}; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; (( B = 1 )); git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; declare -n R=B; R=-f; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("f() { B=-f; }; B=main; f; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; f() { git push origin $B; }", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; trap 'B=-f' DEBUG; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("IFS=-; B=x-f; git push origin $B", "git", t("git", "push", "origin", "$B"), (3,)),
    ("B=main; bash -c 'git push origin $B'", "git", t("git", "push", "origin", "$B"), (3,)),
]


@pytest.mark.parametrize(("script", "prog", "argv", "dynamic"), DYNAMIC, ids=[s for s, _, _, _ in DYNAMIC])
def test_dynamic_words(script: str, prog: str, argv: Argv, dynamic: tuple[int, ...]) -> None:
    cmd = command_for(analyze_script(script), prog)
    assert (cmd.argv, cmd.dynamic) == (argv, dynamic)


# (script, program, its env)
ENV: list[tuple[str, str, tuple[str, ...]]] = [
    ("RAILS_ENV=production rails db:migrate", "rails", ("RAILS_ENV=production",)),
    ("env RAILS_ENV=production rails db:migrate", "rails", ("RAILS_ENV=production",)),
    ("sudo RAILS_ENV=production rails db:migrate", "rails", ("RAILS_ENV=production",)),
    ("sudo env -i RAILS_ENV=production rails db:migrate", "rails", ("RAILS_ENV=production",)),
    ("export RAILS_ENV=production && rails db:migrate", "rails", ("RAILS_ENV=production",)),
    ("RAILS_ENV=production; export RAILS_ENV; rails db:migrate", "rails", ("RAILS_ENV=production",)),
    ("set -a; RAILS_ENV=production; rails db:migrate", "rails", ("RAILS_ENV=production",)),
    ("RAILS_ENV=production; rails db:migrate", "rails", ()),
    ("export RAILS_ENV=test; RAILS_ENV=production rails db:migrate", "rails", ("RAILS_ENV=production",)),
    ("A=1 B='x y' C=$(date) env D=3 sudo E=4 cmd", "cmd", ("A=1", "B=x y", "C=$(date)", "D=3", "E=4")),
    ("export A=1; A=2; cmd", "cmd", ("A=2",)),
    ("export A; if x; then A=1; else A=2; fi; cmd", "cmd", ("A=1", "A=2")),
    ("export A=1; bash -c 'cmd'", "cmd", ("A=1",)),
    ("(export A=1; cmd)", "cmd", ("A=1",)),
    ("FOO=1 bash -c 'cmd'", "cmd", ("FOO=1",)),
    ("cross-env NODE_ENV=production cmd", "cmd", ("NODE_ENV=production",)),
    ("cmd", "cmd", ()),
]


@pytest.mark.parametrize(("script", "prog", "env"), ENV, ids=[s for s, _, _ in ENV])
def test_env_assignments_reach_the_command(script: str, prog: str, env: tuple[str, ...]) -> None:
    assert command_for(analyze_script(script), prog).env == env


def test_env_of_argv() -> None:
    a = analyze_argv(["env", "RAILS_ENV=production", "rails", "db:migrate"])
    assert command_for(a, "rails").env == ("RAILS_ENV=production",)
    assert command_for(a, "env").env == ()


def test_same_command_with_another_env_is_reported_once_with_both() -> None:
    a = analyze_script("A=1 cmd; A=2 cmd; B=3 cmd; cmd")
    assert [c.env for c in a.commands] == [("A=1", "A=2", "B=3")]


# words after "--" of a program not known to run them: checked as a command too, only adding parts
DASHDASH: list[tuple[str, list[Argv]]] = [
    ("git diff -- file.txt", [t("git", "diff", "--", "file.txt")]),
    ("npm test -- --watch", [t("npm", "test", "--", "--watch")]),
    ("pytest -- -x", [t("pytest", "--", "-x")]),
    ("cargo run -- --help", [t("cargo", "run", "--", "--help")]),
    ("echo -- rm -rf /", [t("echo", "--", "rm", "-rf", "/")]),
    ("ls -- $dir", [t("ls", "--", "$dir")]),
    ("foo -- vercel --prod", [t("foo", "--", "vercel", "--prod"), t("vercel", "--prod")]),
    ("foo -- bar -- vercel", [t("foo", "--", "bar", "--", "vercel"), t("bar", "--", "vercel"), t("vercel")]),
]


@pytest.mark.parametrize(("script", "expected"), DASHDASH, ids=[s for s, _ in DASHDASH])
def test_words_after_double_dash(script: str, expected: list[Argv]) -> None:
    a = analyze_script(script)
    assert argvs(a) == expected
    assert a.opaque == ()
    assert all(c.via in ((), ("-- (after)",), ("-- (after)", "-- (after)")) for c in a.commands)


@pytest.mark.parametrize("script", [
    "sed -n '1,20p' f", "sed -i 's/foo/bar/g' f", "sed -E 's/(a|b)+/x/2' f", "sed 's|a|b|g;s/[/]/x/' f",
    "sed '/start/,/end/{s/a/b/;p}' f", "sed '$a footer' f", "sed ':a;N;$!ba;s/\\n/ /g' f",
    "sed 's/x/y/w out.txt' f", "sed -e 's/here/there/' -e '/e/d' f", "sed -f script.sed f",
    "sed --sandbox 's/x/y/e' f", "sed -ie 's/a/b/' f", "sed '1i\\header' f", "sed 'y/abc/xyz/' f",
])
def test_ordinary_sed_is_not_opaque(script: str) -> None:
    assert unparseable(analyze_script(script)) == [], script


def test_tool_config_that_runs_nothing_is_ordinary() -> None:
    for script in ("git -c core.fsmonitor=true status", "git -c pager.log=false log", "git config --get core.pager",
                   "git -c color.ui=never log", "PAGER=cat git log", "EDITOR=vim git commit", "GIT_PAGER= git log"):
        a = analyze_script(script)
        assert a.opaque == (), script


def test_aliases_defined_earlier_are_expanded_where_used() -> None:
    a = analyze_script("shopt -s expand_aliases\nalias v=vercel\nv --prod")
    assert ("vercel", "--prod") in argvs(a)
    assert any(c.argv == ("vercel", "--prod") and c.via[-1:] == ("alias v",) for c in a.commands)
    a = analyze_script("alias g='git -C repo'; g push -f")
    assert ("git", "-C", "repo", "push", "-f") in argvs(a)
    a = analyze_script("alias a=b; alias b=a; a x")  # mutual aliases terminate
    assert not unparseable(a)
    assert ("ls", "-la") in argvs(analyze_script("alias ls='ls -la'; ls"))
