"""The exact Kuhn policy table read from a real learner (tiny model, random adapter)."""

from __future__ import annotations

import pytest

from envs.kuhn_poker.theory import exploitability, info_sets
from trainers.learn.learner import Learner, LearnerConfig, LoRASettings
from trainers.learn.probe import kuhn_policy_table, move_probabilities, prompt_after


def test_kuhn_policy_table_covers_every_info_set_with_its_legal_moves(tiny_model):
    learner = Learner(tiny_model, ["main"], LoRASettings(rank=4, alpha=8), LearnerConfig())
    table = kuhn_policy_table(learner, "main", learner.tokenizer)
    assert list(table) == info_sets()
    for key, probs in table.items():
        facing_bet = key.split(":")[1] in ("b", "cb")
        assert set(probs) == ({"[call]", "[fold]"} if facing_bet else {"[check]", "[bet]"})
        assert sum(probs.values()) == pytest.approx(1.0)
        assert all(0 < p < 1 for p in probs.values())
    assert 0 <= float(exploitability(table)) <= 11 / 24 + 1  # a valid policy: it evaluates
    # The table's entry is the probe of that info set's own prompt: the card reaches the model.
    _, info, prompt = prompt_after("kuhn_poker_v0", 0, ["[check]", "[bet]"], learner.tokenizer)
    key = info["view"]["info_set"]
    again = move_probabilities(learner, "main", prompt, info["legal_moves"], learner.tokenizer)
    assert again == pytest.approx(table[key])
