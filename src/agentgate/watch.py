"""`agentgate watch`: a live full-screen view of pending requests and recent decisions, with keys
to approve, deny and open details.

Every decision goes through agentgate.commands' approve and deny, the very bodies the CLI's
commands use, so protected mode works the same (the approver secret, and the authenticator code
when one is enrolled, are asked for here without echo). The view polls the gate every
:data:`POLL` seconds; nothing here keeps state of its own beyond what is on screen.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from . import commands
from .errors import EXIT_REFUSED, AgentgateError, UsageError
from .ledger import MAX_USES
from .output import approved_text, command_text, describe_request, fmt_duration, format_event, safe

if TYPE_CHECKING:
    from rich.console import RenderableType

    from .gate import RequestView
    from .ledger import Request

POLL = 0.4  # seconds between looks at the ledger: a change shows within a second
RECENT_EVERY = 1.0  # seconds between reads of the audit log's tail
RECENT = 12  # decisions shown
DECISIONS = ["approval_requested", "approved", "human_denied", "revoked", "grant_consumed",
             "expired", "retracted"]
REVOCABLE = ("approved", "human_denied")  # the events whose decision `revoke` can take back
KEYS = "up/down or j/k select · a approve · d deny · r revoke · enter details · q quit"

UP, DOWN, ENTER, ESC, BACKSPACE = "\x1b[A", "\x1b[B", "\r", "\x1b", "\x7f"


class Cancelled(Exception):
    """The human pressed Esc at a prompt."""


SHOWN = 240  # characters of a command or directory the list and a question show
SHOWN_LINE = 480  # of any other line on the main view
SHOWN_DETAILS = 3000  # of a line of the details view


def clipped(text: str, limit: int = SHOWN, more: str = "enter shows more") -> str:
    """``text`` with its middle cut when it is longer than ``limit``, saying how much: both
    ends stay in view (a long word cannot push what changes the command, such as a trailing
    ``--prod``, off the screen), and so does the question under them."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} …[{len(text) - 2 * half} characters cut: {more}]… {text[-half:]}"


def _lines_clipped(text: str, limit: int, more: str = "enter shows more") -> str:
    return "\n".join(clipped(ln, limit, more) for ln in text.split("\n"))


def split_keys(data: str) -> list[str]:
    """Keystrokes from one read: an arrow's escape sequence stays whole; a lone ESC is Esc."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        if data.startswith(("\x1b[", "\x1bO"), i) and i + 2 < len(data):
            keys.append("\x1b[" + data[i + 2])
            i += 3
            continue
        c = data[i]
        keys.append(ENTER if c == "\n" else BACKSPACE if c == "\b" else c)
        i += 1
    return keys


class Screen:
    """What the view shows: the pending requests, the selection, recent decisions, and the line
    at the bottom (a prompt, a result or an error)."""

    def __init__(self) -> None:
        self.pending: list[Request] = []
        self.now = 0.0
        self.recent: list[dict[str, Any]] = []
        self.selected = 0
        self.details: RequestView | None = None
        self.prompt: str | None = None  # a question waiting for an answer
        self.typed = ""
        self.hidden = False
        self.message = ""
        self.problem = ""  # why the last look at the gate failed

    def current(self) -> Request | None:
        if not self.pending:
            return None
        self.selected = max(0, min(self.selected, len(self.pending) - 1))
        return self.pending[self.selected]

    def move(self, step: int) -> None:
        if self.pending:
            self.selected = max(0, min(self.selected + step, len(self.pending) - 1))

    def set_pending(self, reqs: list[Request], now: float) -> None:
        keep = self.current()
        self.pending, self.now = reqs, now
        ids = [r.id for r in reqs]
        if keep is not None and keep.id in ids:
            self.selected = ids.index(keep.id)

    def render(self) -> RenderableType:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        if self.details is not None:
            body: RenderableType = Panel(Text(_lines_clipped(
                _details_text(self.details), SHOWN_DETAILS,
                f"`agentgate show {self.details.request.id}` prints all")),
                                         title=f"request {self.details.request.id}",
                                         subtitle="esc, enter or q: back")
            return _Fit(body, self._footer())
        table = Table(box=None, pad_edge=False, expand=True, header_style="bold")
        for col, ratio in (("", None), ("ID", None), ("AGE", None), ("AGENT", None),
                           ("RULE", None), ("COMMAND", 3), ("CWD", 2)):
            table.add_column(col, ratio=ratio, overflow="fold")
        for i, r in enumerate(self.pending):
            mark = ">" if i == self.selected else " "
            cells = (mark, r.id, fmt_duration(self.now - r.created_at), safe(r.agent),
                     safe(r.rule or "-"), clipped(command_text(r)), clipped(safe(r.cwd)))
            table.add_row(*(Text(c) for c in cells), style="reverse" if i == self.selected else None)
        pending: RenderableType = table if self.pending else Text("no pending requests")
        count = str(len(self.pending))
        if self.problem:
            pending, count = Text(f"cannot read the gate: {self.problem}"), "?"
        current = self.current()
        parts: list[RenderableType] = [Panel(pending, title=f"pending ({count})")]
        if current is not None:
            parts.append(Panel(Text(_lines_clipped(describe_request(current, self.now), SHOWN_LINE)),
                               title="selected"))
        recent = Text("\n".join(clipped(format_event(ev), SHOWN_LINE)
                                for ev in reversed(self.recent)) or "none yet")
        parts.append(Panel(recent, title="recent decisions (newest first)"))
        return _Fit(Group(*parts), self._footer())

    def _footer(self) -> RenderableType:
        from rich.text import Text

        if self.prompt is not None:
            shown = "*" * len(self.typed) if self.hidden else safe(self.typed)
            return Text(f"{self.prompt}{shown}_", style="bold")
        lines = [KEYS]
        if self.message:
            lines.insert(0, self.message)
        return Text("\n".join(lines))


class _Fit:
    """``body`` above ``footer``, cut at the bottom of the body when both do not fit the
    terminal: the keys, and above all a question being asked, are always on the screen."""

    def __init__(self, body: RenderableType, footer: RenderableType) -> None:
        self.body, self.footer = body, footer

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.segment import Segment

        height = options.height or console.height
        free = options.update(height=None)
        foot = console.render_lines(self.footer, free, pad=False, new_lines=False)
        body = console.render_lines(self.body, free, pad=False, new_lines=False)
        for line in [*body[:max(0, height - len(foot))], *foot[-height:]]:
            yield from line
            yield Segment.line()


def _details_text(view: RequestView) -> str:
    from .output import fmt_time

    out = [describe_request(view.request, view.now), "", "history"]
    for h in view.request.history:
        extra = ", ".join(f"{k}={v}" for k, v in h.items() if k not in ("at", "event") and v is not None)
        out.append(f"  {fmt_time(h['at'])}  {h['event']}" + (f"  ({safe(extra)})" if extra else ""))
    return "\n".join(out)


class Watch:
    """The loop: read keys, act, look at the gate, draw."""

    def __init__(self, fd: int, draw: Callable[[RenderableType], None]) -> None:
        self.fd = fd
        self.draw = draw
        self.screen = Screen()
        self.done = False
        self._next_look = 0.0
        self._next_recent = 0.0
        self._seen: tuple[int, int] | None = None  # the audit log's size and mtime, last read
        self._typed: list[str] = []  # keys read but not yet taken

    # -- the gate --------------------------------------------------------------------------

    def look(self, force: bool = False) -> None:
        t = time.monotonic()
        if not force and t < self._next_look:
            return
        self._next_look = t + POLL
        try:
            found = commands.pending()
            changed = [r.id for r in found.requests] != [r.id for r in self.screen.pending]
            self.screen.set_pending(found.requests, found.now or time.time())
            seen = audit_seen()
            if force or changed or (t >= self._next_recent and (seen is None or seen != self._seen)):
                self._next_recent, self._seen = t + RECENT_EVERY, seen
                self.screen.recent = recent_decisions(RECENT)
            self.screen.problem = ""
        except AgentgateError as e:  # nothing stale stays on screen to act on
            self.screen.problem = e.message + (f" ({e.hint})" if e.hint else "")
            self.screen.set_pending([], 0.0)

    def approve(self) -> None:
        req = self.screen.current()
        if req is None:
            return
        grant = self.grant(req)
        done = commands.approve(req.id, grant,
                                lambda view, what: self.confirm(view, "Approve", f" {what}", "approved"),
                                secret=self.secret, code=self.code)
        self.screen.message = approved_text(done.request, done.now)

    def grant(self, req: Request) -> commands.Grant:
        """What the approval allows, as `approve` takes it: once, ``--uses N`` (within
        ``--ttl``), or ``--for DURATION``; read by commands.Grant.build, so the bounds and the
        messages are the CLI's."""
        how = self.ask(f"Approve {clipped(command_text(req))}: o (enter) once · n a number of runs "
                       "· f any number of runs for a while · esc cancel ", single=True).lower()
        if how in ("o", ENTER):
            return commands.Grant.build(None, None, None)
        if how == "n":
            count = self.ask(f"Runs (--uses, 1 to {MAX_USES}): ", digits=True)
            if not count:
                raise UsageError(f"--uses takes 1 to {MAX_USES}: type a number")
            within = self.ask("Within (--ttl; enter: the policy's approval_ttl; e.g. 30m): ")
            return commands.Grant.build(within.strip() or None, int(count), None)
        if how == "f":
            span = self.ask("For how long (--for; e.g. 30m, 2h): ").strip()
            if not span:
                raise UsageError("--for takes a duration, e.g. 30m, 2h")
            return commands.Grant.build(None, None, span)
        raise Cancelled

    def secret(self) -> str:
        return self.ask("Approver secret: ", hidden=True)

    def code(self) -> str:
        return self.ask("Authenticator code: ")

    def confirm(self, view: RequestView, before: str, after: str, verb: str) -> None:
        """The CLI's rule: the request is shown (selected, in the panel), the default answer
        is No."""
        if view.request.id in [r.id for r in self.screen.pending]:
            self.screen.selected = [r.id for r in self.screen.pending].index(view.request.id)
        answer = self.ask(f"{before} {clipped(command_text(view.request))}{after}? [y/N] ",
                          single=True)
        if answer.lower() != "y":
            raise AgentgateError(f"not {verb}", exit_code=EXIT_REFUSED)

    def deny(self) -> None:
        req = self.screen.current()
        if req is None:
            return
        reason = self.ask(f"Deny {clipped(command_text(req))}: reason for the agent (enter: none, "
                          "esc: cancel): ")
        # typing the reason was the confirmation: Esc cancels it, as "no" would
        done = commands.deny(req.id, reason.strip() or None, lambda view, *_: None)
        self.screen.message = f"denied {done.id}."

    def revoke(self) -> None:
        """Take back a grant or a denial: its id asked for, the newest revocable one offered."""
        offer = next((str(ev["id"]) for ev in reversed(self.screen.recent)
                      if ev.get("event") in REVOCABLE and ev.get("id")), "")
        rid = self.ask("Revoke the grant or denial of request (enter: this id, esc: cancel): ",
                       typed=offer).strip()
        if not rid:
            raise Cancelled
        done = commands.revoke(rid, lambda view, *_: self.confirm(view, "Revoke the decision on",
                                                                   "", "revoked"),
                               secret=self.secret, code=self.code)
        self.screen.message = f"revoked {done.id}: the next try asks a human again."

    def details(self) -> None:
        req = self.screen.current()
        if req is not None:
            self.screen.details = commands.show(req.id)

    # -- keys ------------------------------------------------------------------------------

    def keys(self, timeout: float) -> Iterator[str]:
        """The keys typed so far (waiting up to ``timeout`` for one). Those a prompt did not
        take before it returned stay queued for the next: typing ahead loses nothing."""
        if not self._typed:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return
            data = os.read(self.fd, 256)
            if not data:
                self.done = True
                return
            self._typed.extend(split_keys(data.decode("utf-8", "replace")))
        while self._typed:
            yield self._typed.pop(0)

    def ask(self, prompt: str, *, hidden: bool = False, single: bool = False,
            typed: str = "", digits: bool = False) -> str:
        """A line typed at the bottom of the screen (one key when ``single``; only digits
        when ``digits``), starting as ``typed``; Esc cancels. The view keeps updating while it
        waits."""
        s = self.screen
        s.prompt, s.typed, s.hidden, s.message = prompt, typed, hidden, ""
        try:
            while not self.done:
                self.look()
                self.draw(s.render())
                for k in self.keys(POLL):
                    if k == ESC:
                        raise Cancelled
                    if single:
                        return k
                    if k == ENTER:
                        return s.typed
                    if k == BACKSPACE:
                        s.typed = s.typed[:-1]
                    elif len(k) == 1 and (k.isdecimal() if digits else k.isprintable()):
                        s.typed += k
            raise Cancelled
        finally:
            s.prompt, s.typed, s.hidden = None, "", False

    def press(self, key: str) -> None:
        s = self.screen
        if s.details is not None:
            if key in (ESC, ENTER, "q"):
                s.details = None
            return
        actions: dict[str, Callable[[], None]] = {
            "a": self.approve, "d": self.deny, "r": self.revoke, ENTER: self.details,
        }
        if key in (UP, "k"):
            s.move(-1)
        elif key in (DOWN, "j"):
            s.move(1)
        elif key in ("q", "\x03"):
            self.done = True
        elif key in actions:
            s.message = ""
            try:
                actions[key]()
            except Cancelled:
                s.message = "cancelled."
            except AgentgateError as e:
                s.message = e.message + (f" ({e.hint})" if e.hint else "")
            self.look(force=True)

    def loop(self) -> None:
        self.look(force=True)
        while not self.done:
            self.draw(self.screen.render())
            for k in self.keys(POLL):
                self.press(k)
                if self.done:
                    break
            self.look()


def audit_seen() -> tuple[int, int] | None:
    """The local audit log's size and mtime (it is re-read only when they change); None in
    protected mode, where the log is the service's, or when it cannot be looked at."""
    from .backend import protected_quietly
    from .paths import StatePaths

    if protected_quietly():
        return None
    try:
        st = os.stat(StatePaths.default().audit)
    except (OSError, AgentgateError):
        return None
    return st.st_size, st.st_mtime_ns


def recent_decisions(n: int) -> list[dict[str, Any]]:
    """The last ``n`` decision events of the audit log (the service's, in protected mode)."""
    found = commands.log(since=None, until=None, events=DECISIONS, request_id=None, rule=None,
                         agent=None, tail=n, progress=commands.no_progress)
    return [ev for _, ev in found]


def watch() -> None:
    """Run the view on this terminal until q (or Ctrl-C)."""
    commands.refuse_when_gated("watch")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise AgentgateError("`agentgate watch` needs a terminal",
                             "run it in a terminal; scripts use `agentgate pending --json`",
                             exit_code=EXIT_REFUSED)
    import termios
    import tty

    from rich.console import Console
    from rich.live import Live

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    console = Console(highlight=False)
    try:
        tty.setcbreak(fd)
        with Live(console=console, screen=True, auto_refresh=False, transient=True) as live:
            view = Watch(fd, lambda r: live.update(r, refresh=True))
            with contextlib.suppress(KeyboardInterrupt):
                view.loop()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
