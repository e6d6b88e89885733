"""Protected mode carries an action's attributes: the agent's `agentgate verify --attr` goes to
the service, which decides the condition, binds the grant to the attributes and shows them to
the human. The machine (a private mount namespace, the real service) is test_protected's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_protected import POLICY, Machine, machine  # noqa: F401 - the module's fixture

from agentgate.system import CLIENT_BIN, POLICY_FILE

pytestmark = pytest.mark.usefixtures("machine")

ACTION_RULE = """
[[rule]]
id = "big-payment"
decision = "ask"
reason = "Payments over 100 need a human."
actions = ["payment"]
condition = "amount > 100"
match = ["payment amount=4000 vendor=acme"]
not_match = ["payment amount=5 vendor=acme"]
"""


def test_the_service_decides_and_binds_an_actions_attributes(machine: Machine) -> None:  # noqa: F811
    Path(POLICY_FILE).write_text(POLICY + ACTION_RULE)  # root's policy, read per request

    def pay(amount: str, vendor: str = "acme") -> tuple[int, dict[str, object]]:
        r = machine.as_agent(CLIENT_BIN, "verify", "--json", "payment", "--attr",
                             f"amount={amount}", "--attr", f"vendor={vendor}")
        return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {"stderr": r.stderr}

    assert pay("5")[0] == 0
    code, held = pay("4000")
    assert code == 75 and held["rule"] == "big-payment", held
    rid = str(held["approvalId"])
    shown = machine.root("show", rid)
    assert "payment amount=4000 vendor=acme" in shown.stdout, shown.stdout
    r = machine.approve(rid)
    assert r.returncode == 0, r.stderr
    assert pay("40000")[0] == 75
    assert pay("4000", "globex")[0] == 75
    code, done = pay("4000")
    assert code == 0 and done["approvalId"] == rid, done
    assert pay("4000")[0] == 75
