"""Interpreters: inline code is reported as code, programs fed on stdin are opaque."""

from __future__ import annotations

from ...lean import Record
from ..context import Unclear
from ..syntax import EXP, wordset
from . import lookup
from .common import reads_stdin, report_code, run_tool, script_operand

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker
    from ..syntax import Field


class _Interp(Record):
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
        i, n = 1, len(words)
        codes: list[tuple[str, Field]] = []
        has_script = False
        while i < n:
            t, f = words[i]
            if t == "--":
                i += 1
                break
            if len(t) < 2 or t[0] != "-":
                break
            if f & EXP:
                raise Unclear(f"{name}: an option is not literal ({t})")
            if t.startswith("--"):
                key, eq, val = t.partition("=")
                if key in spec.long_code:
                    if eq:
                        codes.append((key, (val, f)))
                    elif i + 1 < n:
                        i += 1
                        codes.append((key, words[i]))
                elif key in spec.long_arg and not eq:
                    i += 1
                i += 1
                continue
            j = 1
            while j < len(t):
                ch = t[j]
                if ch in spec.code or ch in spec.arg or ch in spec.script:
                    arg: Field | None = None
                    if j + 1 < len(t):
                        arg = (t[j + 1 :], f)
                    elif i + 1 < n:
                        i += 1
                        arg = words[i]
                    if ch in spec.code and arg is not None:
                        codes.append(("-" + ch, arg))
                    has_script = has_script or ch in spec.script
                    break
                if ch in spec.rest:
                    break
                j += 1
                if ch in spec.digits:
                    while j < len(t) and "0" <= t[j] <= "9":
                        j += 1
            i += 1
        if codes:
            for opt, code in codes:
                report_code(an, name, opt, code, cx)
            return
        if has_script:
            return
        if i >= n:
            reads_stdin(name, cx, an, "code")
        else:
            script_operand(name, words[i], cx, an=an, kind="code")

    return handler


def _h_python(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if f & EXP:
            raise Unclear(f"{name}: an option is not literal ({t})")
        if t.startswith("--"):
            i += 2 if t == "--check-hash-based-pycs" else 1
            continue
        j = 1
        while j < len(t):
            ch = t[j]
            if ch in "cm":
                if j + 1 < len(t):
                    val: Field = (t[j + 1 :], f)
                elif i + 1 < n:
                    val = words[i + 1]
                else:
                    return
                if ch == "c":
                    report_code(an, name, "-c", val, cx)
                elif val[0] == "agentgate":  # python -m agentgate ...: the same as agentgate ...
                    after = i + 2 if j + 1 == len(t) else i + 1
                    agentgate = lookup("agentgate")
                    if agentgate is not None:
                        agentgate(an, "agentgate", [("agentgate", 0), *words[after:]], cx)
                return  # -m: an ordinary module run
            if ch in "WX":
                if j + 1 == len(t):
                    i += 1
                break
            j += 1
        i += 1
    if i >= n:
        reads_stdin(name, cx, an, "code")
    else:
        script_operand(name, words[i], cx, an=an, kind="code")


_NODE_CODE = frozenset({"-e", "--eval", "-p", "--print", "-pe", "-ep"})


_NODE_ARG = wordset("-r --require --import --loader --experimental-loader -C --conditions "
                      "--input-type --title --env-file --inspect-port --disable-warning "
                      "--watch-path --redirect-warnings --test-name-pattern --test-reporter "
                      "--test-reporter-destination")


def _h_node(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, n = 1, len(words)
    codes: list[Field] = []
    while i < n:
        t, f = words[i]
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if f & EXP:
            raise Unclear(f"{name}: an option is not literal ({t})")
        key, eq, val = t.partition("=")
        if key in _NODE_CODE:
            if eq:
                codes.append((val, f))
            elif i + 1 < n:
                i += 1
                codes.append(words[i])
        elif key in _NODE_ARG and not eq:
            i += 1
        i += 1
    if codes:
        for c in codes:
            report_code(an, name, "-e", c, cx)
    elif i >= n:
        reads_stdin(name, cx, an, "code")
    else:
        script_operand(name, words[i], cx, an=an, kind="code")


def _h_awk(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, n = 1, len(words)
    program_file = False
    while i < n:
        t, f = words[i]
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if f & EXP:
            raise Unclear(f"{name}: an option is not literal ({t})")
        if t in ("-e", "--source") and i + 1 < n:
            report_code(an, name, t, words[i + 1], cx)
            program_file = True
            i += 2
            continue
        if t.startswith("--source="):
            report_code(an, name, "--source", (t[9:], f), cx)
            program_file = True
        elif t in ("-f", "--file", "-E", "--exec") or t.startswith(("-f", "--file=", "--exec=")):
            program_file = True
            i += 1 if t not in ("-f", "--file", "-E", "--exec") else 2
            continue
        elif t in ("-v", "-F", "--assign", "--field-separator", "-i", "--include", "-l", "--load"):
            i += 1
        i += 1
    if not program_file and i < n:
        report_code(an, name, "program", words[i], cx)


def _h_pwsh(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if f & EXP:
            raise Unclear(f"{name}: an argument is not literal ({t})")
        key = t.lower().lstrip("-/")
        if t[:1] in "-/" and key:
            if "command".startswith(key):
                rest = words[i + 1 :]
                if not rest or rest[0][0] == "-":
                    return reads_stdin(name, cx)
                flag = 0
                for _, g in rest:
                    flag |= g
                return report_code(an, name, "-Command", (" ".join(w for w, _ in rest), flag), cx)
            if "encodedcommand".startswith(key) or key in ("ec", "e"):
                raise Unclear(f"{name} runs an encoded command")
            if "file".startswith(key):
                return
            if key in ("executionpolicy", "ex", "ep", "workingdirectory", "wd", "windowstyle", "w",
                       "inputformat", "inf", "if", "outputformat", "of", "o", "configurationname",
                       "config", "custompipename", "settingsfile", "version", "v"):
                i += 1
            i += 1
            continue
        if name.startswith("powershell"):
            return report_code(an, name, "-Command", (" ".join(w for w, _ in words[i:]), f), cx)
        return
    reads_stdin(name, cx)


def _h_deno(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    if len(words) < 2:
        return
    sub = words[1][0]
    rest = [w for w in words[2:] if not w[0].startswith("-")]
    if sub == "eval" and rest:
        report_code(an, name, "eval", rest[0], cx)
    elif sub == "run":
        for k in range(2, len(words)):
            t, f = words[k]
            if t.startswith("-") and t != "-":
                continue
            if t.startswith("npm:"):
                return run_tool(an, words, k, f"{name} run", cx)
            return script_operand(name, (t, f), cx, an=an, kind="code")


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
