"""Spaces for text games.

gymnasium's `Text` space only accepts characters from its charset (letters and digits by default),
so a
sentence such as "I'll play [rock]." is outside it. `FreeText` keeps `Text`'s length bounds and
sampling
but accepts any `str`: language agents answer in free text, and the env parses it.
"""

from __future__ import annotations

from typing import Any

from gymnasium import spaces

MAX_ACTION_CHARS = 4_096
MAX_OBSERVATION_CHARS = 200_000


class FreeText(spaces.Text):
    """A `gymnasium.spaces.Text` whose `contains()` accepts any string within the length bounds."""

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"FreeText({self.min_length}, {self.max_length})"


def text_action_space() -> FreeText:
    return FreeText(max_length=MAX_ACTION_CHARS, min_length=0)


def text_observation_space() -> spaces.Dict:
    return spaces.Dict({"text": FreeText(max_length=MAX_OBSERVATION_CHARS, min_length=0)})
