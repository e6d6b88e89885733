"""Protected mode: the agentgate service that owns the policy, the ledger and the audit log as
its own OS user, and what its clients say to it.

- :mod:`.protocol`: the wire format (one JSON object per line on a Unix socket), the peer's
  credentials, and the approval proof.
- :mod:`.secret`: the approver secret (a memory-hard scrypt key) and the lockout after wrong
  secrets.
- :mod:`.server`: ``agentgate service run``, the loop that answers clients with a local gate.
- :mod:`.install`: ``agentgate service install | status | uninstall``.
"""
