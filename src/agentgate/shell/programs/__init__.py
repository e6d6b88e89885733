"""What each program runs: one module per family, found through one table, loaded on first use.

:data:`FAMILIES` is the table: which programs each family module knows. A family module is a
plain module with a ``HANDLERS`` dict (program name -> handler, see :mod:`..options` for the
protocol); it is imported the first time the analysis meets one of its programs, so a command
line pays only for the families it uses. :func:`lookup` is the only way in.
"""

from __future__ import annotations

import functools

from ..context import wordset

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..options import Handler

# family module -> the programs it knows (lower case, as the analyzer looks them up); python,
# python3.12, pypy3 and the like are the interpreters' "python" (see lookup)
FAMILIES = {
    "privilege": "sudo doas pkexec run0 su runuser sg",
    "wrappers": "env nice ionice nohup timeout time command builtin exec ! stdbuf setsid "
                "chronic caffeinate unbuffer taskset chroot torsocks proxychains proxychains4 "
                "fakeroot dbus-run-session valgrind strace ltrace ssh-agent flock watch busybox "
                "systemd-run unshare nsenter setpriv prlimit chrt cgexec numactl chpst firejail "
                "flatpak-spawn xvfb-run faketime catchsegv daemonize gdb entr ip agentgate",
    "fanout": "xargs find fd fdfind parallel sem",
    "shells": "sh bash zsh dash ksh mksh fish ash yash posh rbash ksh93 pdksh oksh loksh csh "
              "tcsh eval source . trap alias hash shift set export declare typeset local "
              "readonly read script at batch",
    "interpreters": "python node nodejs perl ruby php lua luajit rscript r julia osascript "
                    "tclsh pwsh powershell powershell.exe pwsh.exe deno awk gawk mawk nawk "
                    "expect",
    "sed": "sed gsed",
    "runners": "npx npm pnpm pnpx yarn bunx bun uvx uv pipx poetry pdm pipenv rye hatch bundle "
               "bundler conda mamba micromamba pixi devbox direnv nix-shell nix mise corepack "
               "volta fnm nvm asdf",
    "injectors": "dotenv op doppler aws-vault env-cmd cross-env cross-env-shell sops",
    "remote": "ssh rsync",
    "multiplexers": "tmux screen",
    "git": "git",
    "terraform": "terraform tofu",
    "tools": "vi vim nvim gvim view ex rvim vimdiff emacs emacsclient ed red sqlite3 make gmake "
             "tar gtar bsdtar zip crontab scp sftp capsh",
}

# Programs that run shell text or code given as words (sh -c, python -c, su -c, ssh host CMD):
# found as a word of a program the gate does not know, they are analysed from there too (the
# backstop; a program an ask or deny rule names is found by the policy itself).
RUNS_TEXT = wordset("sh bash zsh dash ksh mksh fish ash yash posh rbash ksh93 pdksh oksh loksh "
                    "csh tcsh eval python node nodejs perl ruby php lua luajit rscript julia "
                    "osascript tclsh pwsh powershell deno sudo doas pkexec run0 su runuser ssh "
                    "tmux screen")

# Environment variables whose value is a command other programs start (git, less, man, sudo,
# xdg-open, ...): an assignment to one anywhere is analysed as shell text.
COMMAND_VARS = {
    **dict.fromkeys(wordset("GIT_SSH_COMMAND GIT_SSH GIT_EXTERNAL_DIFF GIT_PAGER PAGER GIT_EDITOR "
                            "EDITOR VISUAL GIT_SEQUENCE_EDITOR GIT_ASKPASS SSH_ASKPASS "
                            "SUDO_ASKPASS SUDO_EDITOR GIT_PROXY_COMMAND MANPAGER SYSTEMD_PAGER "
                            "npm_config_call NPM_CONFIG_CALL npm_config_shell NPM_CONFIG_SHELL "
                            "npm_config_script_shell NPM_CONFIG_SCRIPT_SHELL"), "sh"),
    "LESSOPEN": "lessopen", "LESSCLOSE": "lessopen", "BROWSER": "browser",
    "GIT_CONFIG_PARAMETERS": "opaque", "GIT_CONFIG_COUNT": "opaque",
}
# Programs that never run their operands: "-- WORDS" after them is not a command.
NO_EXEC = wordset("echo printf grep egrep fgrep rg ag ack ls cat rm cp mv mkdir rmdir touch chmod "
                  "chown chgrp ln head tail wc sort uniq cut tr diff cmp test [ basename dirname "
                  "realpath readlink stat file du df kill pkill pgrep printenv getopt jq yq "
                  "unzip gzip gunzip tee less more which type true false : cd pushd popd "
                  "mktemp install shred truncate man info whatis whereis apropos tldr help comm "
                  "join paste nl fold fmt column strings od xxd hexdump base64 md5sum sha1sum "
                  "sha256sum sha512sum")

# Interpreters also installed under a versioned name (perl5.36, tclsh8.6, ruby3.2, bash5.2):
# the name without its version is looked up (python's spellings are in lookup).
_VERSIONED = frozenset(("perl", "ruby", "tclsh", "wish", "lua", "luajit", "php", "node", "bash",
                        "zsh", "ksh", "pypy", "python", "julia", "gawk", "sqlite"))


@functools.cache
def _index() -> dict[str, str]:
    """Program -> family module, from FAMILIES (built at the first lookup, not at import)."""
    return {name: family for family, names in FAMILIES.items() for name in names.split()}


@functools.cache
def _handlers(family: str) -> dict[str, Handler]:
    module = __import__(f"{__name__}.{family}", fromlist=["HANDLERS"])
    handlers: dict[str, Handler] = module.HANDLERS
    return handlers


def lookup(name: str) -> Handler | None:
    """The handler of program ``name`` (lower case), or None when no family knows it."""
    key = name
    family = _index().get(name)
    if family is None:
        key = unversioned(name)
        if key.startswith("pypy"):
            key = "python"
        family = _index().get(key) if key != name else None
    return None if family is None else _handlers(family)[key]


def unversioned(name: str) -> str:
    """``perl5.36`` -> ``perl``, ``python3.11`` -> ``python``, ``tclsh8.6`` -> ``tclsh``,
    ``pypy3`` -> ``pypy``; any other name as it is."""
    stem = name.rstrip("0123456789.")
    if stem != name and stem in _VERSIONED and name[len(stem)] != ".":
        return stem
    if stem != name and stem.endswith("-") and stem[:-1] in _VERSIONED:  # python-3.11
        return stem[:-1]
    return name
