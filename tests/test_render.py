"""What a human is shown before approving must be what will run: no terminal tricks."""

from __future__ import annotations

import json

from conftest import ag

from agentgate.output import safe


def test_safe_escapes_terminal_tricks() -> None:
    assert safe("a\rb\x1b[2Kc") == "a\\rb\\x1b[2Kc"
    assert safe("x\u202ey") == "x\\u202ey"
    assert safe("\udcff") == "\\xff"
    assert safe("plain text [red]ok[/red]") == "plain text [red]ok[/red]"


def test_approve_prompt_and_pending_show_the_real_command(policy_file: object) -> None:
    sneaky = "deployer --prod #\r\x1b[2Kecho harmless-looking"
    r = ag("run", "--json", "--", "sh", "-c", sneaky)
    assert r.returncode == 75, r.stderr
    rid = json.loads(r.stdout)["approvalId"]
    shown = ag("approve", rid).stderr  # refuses (no terminal) after showing the request
    assert "\x1b" not in shown and "\r" not in shown
    assert "deployer --prod #\\r\\x1b[2Kecho harmless-looking" in shown
    listing = ag("pending").stdout
    assert "\x1b" not in listing and "\\x1b[2K" in listing
    assert ag("run", "--", "sh", "-c", "deployer --prod # [red]x[/red]").returncode == 75
    assert "# [red]x[/red]" in ag("pending").stdout  # rich markup in a command is shown as text
