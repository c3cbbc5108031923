"""`LearnerActor`, the Ray host of the learner, called in-process: which attributes the driver's
proxy calls remotely and which it fetches as values."""

from __future__ import annotations

from trainers.distributed.cluster import LearnerActor


class _Tokenizer:
    """Callable like a Hugging Face tokenizer."""

    def __call__(self, text: str) -> dict[str, list[int]]:
        return {"input_ids": [len(text)]}


class _Learner:
    def __init__(self) -> None:
        self.tokenizer = _Tokenizer()
        self.adapter_names = ("red", "blue")

    def update(self, adapter: str) -> str:
        return f"updated {adapter}"


def test_methods_are_called_and_callable_values_are_fetched():
    actor = LearnerActor(_Learner)
    assert actor.attribute("update") == (True, None)
    assert actor.call("update", "red") == "updated red"
    is_method, tokenizer = actor.attribute("tokenizer")
    assert not is_method and tokenizer("abc")["input_ids"] == [3]  # the object itself
    assert actor.attribute("adapter_names") == (False, ("red", "blue"))
