"""Who acts: the `Policy` protocol, scripted bots, and the LLM policy server (`agents.serving`)."""

from agents.policy import ActRequest, ActResponse, Policy

__all__ = ["ActRequest", "ActResponse", "Policy"]
