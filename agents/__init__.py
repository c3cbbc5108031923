"""Who acts: the `Policy` protocol, scripted bots, and (in `agents.serving`) the LLM policy server."""

from agents.policy import ActRequest, ActResponse, Policy

__all__ = ["ActRequest", "ActResponse", "Policy"]
