"""Fixes for known vLLM defects, applied in every vLLM process through the `vllm.general_plugins`
entry point (see pyproject.toml)."""

from __future__ import annotations


def register() -> None:
    """Entry point called by vLLM in each process. Filled in by the CPU LoRA fix."""
