"""Interpreters: inline code is reported as code, programs fed on stdin are opaque."""

from __future__ import annotations

from ...lean import Record
from ..context import EXP, Field, Unclear, wordset
from ..options import Opt, reads_stdin
from . import lookup
from .common import joined, report_code, run_tool, script_operand

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker


class _Interp(Record):
    """The options of an interpreter that matter: which take inline code, which a value."""

    code: str = ""  # letters whose argument is inline code
    arg: str = ""  # letters taking the rest of the word or the next word
    rest: str = ""  # letters taking the rest of the word only
    digits: str = ""  # letters taking only the digits after them
    script: str = ""  # letters whose argument is the program file
    long_code: frozenset[str] = frozenset()
    long_arg: frozenset[str] = frozenset()


def _interp(spec: _Interp) -> Handler:
    """An interpreter: inline code is reported as code, stdin programs fed data are opaque."""

    def handler(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
        i, codes, has_script = _interp_options(spec, name, words)
        for code in codes:
            report_code(an, name, code.name, Field(code.value, code.flags), cx)
        if not codes and not has_script:
            _program(an, name, words, i, cx)

    return handler


def _program(an: Walker, name: str, words: list[Field], i: int, cx: Cx) -> None:
    """The interpreter runs the program file ``words[i]``, or its stdin when there is none."""
    if i >= len(words):
        reads_stdin(name, cx, an, "code")
    else:
        script_operand(name, words[i], cx, an=an, kind="code")


def _interp_options(spec: _Interp, name: str, words: list[Field]) -> tuple[int, list[Opt], bool]:
    """Read an interpreter's options: the index of its first operand, the inline code given,
    whether a program file was named by an option."""
    i, n = 1, len(words)
    codes: list[Opt] = []
    has_script = False
    while i < n:
        w = words[i]
        t = w.text
        if t == "--":
            return i + 1, codes, has_script
        if len(t) < 2 or t[0] != "-":
            break
        if w.flags & EXP:
            raise Unclear(f"{name}: an option is not literal ({t})")
        if t.startswith("--"):
            key, eq, val = t.partition("=")
            if key not in spec.long_code:
                i += 2 if key in spec.long_arg and not eq else 1
            elif eq:
                codes.append(Opt(key, val, w.flags))
                i += 1
            else:
                i += _value_after(words, i, key, codes)
            continue
        used, script = _interp_short(spec, words, i, codes)
        has_script = has_script or script
        i += used
    return i, codes, has_script


def _value_after(words: list[Field], i: int, opt: str, codes: list[Opt]) -> int:
    """The code of ``opt`` is the next word (when there is one): the words used."""
    if i + 1 >= len(words):
        return 1
    codes.append(Opt(opt, words[i + 1].text, words[i + 1].flags))
    return 2


def _interp_short(spec: _Interp, words: list[Field], i: int, codes: list[Opt]) -> tuple[int, bool]:
    """Read the short options bundled in ``words[i]``: the words used, and whether one of them
    names the program file."""
    w = words[i]
    t = w.text
    j = 1
    while j < len(t):
        ch = t[j]
        if ch in spec.code or ch in spec.arg or ch in spec.script:
            if j + 1 < len(t):
                if ch in spec.code:
                    codes.append(Opt("-" + ch, t[j + 1 :], w.flags))
                return 1, ch in spec.script
            if ch in spec.code:
                return _value_after(words, i, "-" + ch, codes), ch in spec.script
            return (2 if i + 1 < len(words) else 1), ch in spec.script
        if ch in spec.rest:
            break
        j += 1
        if ch in spec.digits:
            while j < len(t) and "0" <= t[j] <= "9":
                j += 1
    return 1, False


def _h_python(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``python [opts] -c CODE`` (code), ``-m MODULE`` (a module run; ``-m agentgate`` is
    agentgate), ``python FILE``, ``python`` (reads stdin)."""
    i, n = 1, len(words)
    while i < n:
        w = words[i]
        t = w.text
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if w.flags & EXP:
            raise Unclear(f"{name}: an option is not literal ({t})")
        if t.startswith("--"):
            i += 2 if t == "--check-hash-based-pycs" else 1
            continue
        used = _python_short(an, name, words, i, cx)
        if not used:
            return
        i += used
    _program(an, name, words, i, cx)


def _python_short(an: Walker, name: str, words: list[Field], i: int, cx: Cx) -> int:
    """Read python's short options in ``words[i]``: the words used; 0 once ``-c``/``-m`` end
    the options (the code reported, ``-m agentgate`` analysed as agentgate)."""
    w = words[i]
    t = w.text
    for j in range(1, len(t)):
        ch = t[j]
        if ch in "WX":
            return 2 if j + 1 == len(t) else 1
        if ch not in "cm":
            continue
        if j + 1 < len(t):
            val = Field(t[j + 1 :], w.flags)
        elif i + 1 < len(words):
            val = words[i + 1]
        else:
            return 0
        if ch == "c":
            report_code(an, name, "-c", val, cx)
        elif val.text == "agentgate":  # python -m agentgate ...: the same as agentgate ...
            agentgate = lookup("agentgate")
            if agentgate is not None:
                after = i + 2 if j + 1 == len(t) else i + 1
                agentgate(an, "agentgate", [Field("agentgate"), *words[after:]], cx)
        return 0  # -m: an ordinary module run
    return 1


_NODE_CODE = frozenset({"-e", "--eval", "-p", "--print", "-pe", "-ep"})
_NODE_ARG = wordset("-r --require --import --loader --experimental-loader -C --conditions "
                    "--input-type --title --env-file --inspect-port --disable-warning "
                    "--watch-path --redirect-warnings --test-name-pattern --test-reporter "
                    "--test-reporter-destination")


def _h_node(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``node -e|-p CODE`` (code), ``node FILE``, ``node`` (reads stdin)."""
    i, n = 1, len(words)
    codes: list[Opt] = []
    while i < n:
        w = words[i]
        t = w.text
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if w.flags & EXP:
            raise Unclear(f"{name}: an option is not literal ({t})")
        key, eq, val = t.partition("=")
        if key not in _NODE_CODE:
            i += 2 if key in _NODE_ARG and not eq else 1
        elif eq:
            codes.append(Opt(key, val, w.flags))
            i += 1
        else:
            i += _value_after(words, i, key, codes)
    for code in codes:
        report_code(an, name, "-e", Field(code.value, code.flags), cx)
    if not codes:
        _program(an, name, words, i, cx)


_AWK_FILE = frozenset({"-f", "--file", "-E", "--exec"})
_AWK_VALUE = frozenset({"-v", "-F", "--assign", "--field-separator", "-i", "--include", "-l", "--load"})


def _h_awk(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """awk: the program (the first operand, ``-e``/``--source``) is reported as code."""
    i, n = 1, len(words)
    program_file = False
    while i < n:
        w = words[i]
        t = w.text
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if w.flags & EXP:
            raise Unclear(f"{name}: an option is not literal ({t})")
        if t in ("-e", "--source") and i + 1 < n:
            report_code(an, name, t, words[i + 1], cx)
            program_file = True
            i += 2
        elif t.startswith("--source="):
            report_code(an, name, "--source", Field(t[9:], w.flags), cx)
            program_file = True
            i += 1
        elif t in _AWK_FILE or t.startswith(("-f", "--file=", "--exec=")):
            program_file = True
            if t in _AWK_FILE:
                src = words[i + 1] if i + 1 < n else None
            else:
                src = Field(t.split("=", 1)[1] if t.startswith("--") else t[2:], w.flags)
            if src is not None:
                script_operand(name, src, cx, an=an, kind="code")
            i += 2 if t in _AWK_FILE else 1
        else:
            i += 2 if t in _AWK_VALUE else 1
    if not program_file and i < n:
        report_code(an, name, "program", words[i], cx)


_PWSH_VALUE = wordset("executionpolicy ex ep workingdirectory wd windowstyle w inputformat inf if "
                      "outputformat of o configurationname config custompipename settingsfile "
                      "version v")


def _h_pwsh(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """PowerShell: ``-Command TEXT`` (any prefix of it) is code, ``-EncodedCommand`` opaque;
    ``powershell TEXT`` is code too."""
    i, n = 1, len(words)
    while i < n:
        w = words[i]
        if w.flags & EXP:
            raise Unclear(f"{name}: an argument is not literal ({w.text})")
        key = w.text.lower().lstrip("-/")
        if not (w.text[:1] in "-/" and key):
            if name.startswith("powershell"):
                report_code(an, name, "-Command", Field(joined(words[i:]).text, w.flags), cx, always=True)
            return
        if "command".startswith(key):
            rest = words[i + 1 :]
            if not rest or rest[0].text == "-":
                return reads_stdin(name, cx)
            return report_code(an, name, "-Command", joined(rest), cx, always=True)
        if "encodedcommand".startswith(key) or key in ("ec", "e"):
            raise Unclear(f"{name} runs an encoded command")
        if "file".startswith(key):
            return
        i += 2 if key in _PWSH_VALUE else 1
    reads_stdin(name, cx)


def _h_deno(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``deno eval CODE`` (code), ``deno run FILE|npm:TOOL``."""
    if len(words) < 2:
        return
    sub = words[1].text
    rest = [w for w in words[2:] if not w.text.startswith("-")]
    if sub == "eval" and rest:
        report_code(an, name, "eval", rest[0], cx)
    elif sub == "run":
        for k in range(2, len(words)):
            t = words[k].text
            if t.startswith("-") and t != "-":
                continue
            if t.startswith("npm:"):
                return run_tool(an, words, k, f"{name} run", cx)
            return script_operand(name, words[k], cx, an=an, kind="code")


HANDLERS: dict[str, Handler] = {
    "python": _h_python,
    "node": _h_node,
    "nodejs": _h_node,
    "perl": _interp(_Interp(code="eE", arg="IMm", rest="idDx", digits="0lC")),
    "ruby": _interp(_Interp(code="e", arg="rICE", rest="FiWxTK0")),
    "php": _interp(_Interp(code="rBRE", arg="cdztS", script="fF")),
    "lua": _interp(_Interp(code="e", arg="l")),
    "luajit": _interp(_Interp(code="e", arg="lbj")),
    "rscript": _interp(_Interp(code="e", long_code=frozenset({"--eval"}))),
    "r": _interp(_Interp(code="e", arg="f")),
    "julia": _interp(_Interp(code="eE", arg="JLCtp", long_code=frozenset({"--eval", "--print"}))),
    "osascript": _interp(_Interp(code="e", arg="ls")),
    "tclsh": _interp(_Interp()),
    "pwsh": _h_pwsh,
    "powershell": _h_pwsh,
    "powershell.exe": _h_pwsh,
    "pwsh.exe": _h_pwsh,
    "deno": _h_deno,
    "awk": _h_awk,
    "gawk": _h_awk,
    "mawk": _h_awk,
    "nawk": _h_awk,
    "expect": _interp(_Interp(code="c", arg="D", script="f")),
}
