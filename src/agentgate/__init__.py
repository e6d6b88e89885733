"""agentgate: a fail-closed, human-in-the-loop checkpoint in front of an AI agent's commands."""

__version__ = "0.1.0"
