"""What connects agentgate to the agents: their hook adapters (hooks.py), `hook install`
(install.py), the MCP server (mcp.py), and every agent's data in one place (agents.py).

Empty on purpose: the built-in guard reads agents.py from below the gate, and importing this
package must cost it nothing.
"""
