"""The error every model lookup raises when a name cannot be turned into a local model folder."""

from __future__ import annotations


class ModelNotFoundError(ValueError):
    """A model name that resolves to no usable local folder; the message says what was tried."""
