"""The exact Kuhn policy table read from a real learner (tiny model, random adapter)."""

from __future__ import annotations

import pytest

from envs.kuhn_poker.theory import exploitability, info_sets
from trainers.learn.learner import Learner, LearnerConfig, LoRASettings
from trainers.learn.probe import kuhn_policy_table, move_probabilities, prompt_after


def test_kuhn_policy_table_covers_every_info_set_with_its_legal_moves(tiny_model):
    learner = Learner(
        tiny_model,
        ["main"],
        LoRASettings(lora_rank=4, lora_alpha=8),
        LearnerConfig(learner_dtype="float32", kl_coef=0.0),
    )
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
    # The table scores all 12 info sets in one batch: the same values to fp32 summation order.
    assert again == pytest.approx(table[key], rel=1e-5)


def test_quiz_captain_probe_names_the_right_answer_and_reads_the_learner(tiny_model):
    import re

    from trainers.learn.probe import quiz_captain_decisions, quiz_captain_score

    learner = Learner(
        tiny_model,
        ["main"],
        LoRASettings(lora_rank=4, lora_alpha=8),
        LearnerConfig(learner_dtype="float32", kl_coef=0.0),
    )
    decisions = quiz_captain_decisions(learner.tokenizer, 8)
    assert len(decisions) == 8
    for d in decisions:
        text = learner.tokenizer.decode(d.prompt)
        kind, a, b = re.findall(r"Which is (larger|smaller), (\d+) or (\d+)\?", text)[-1]
        best = max(int(a), int(b)) if kind == "larger" else min(int(a), int(b))
        assert d.moves[d.right] == f"[answer {best}]" and len(d.moves) == 2
        number = d.moves[d.proposed].removeprefix("[answer ").removesuffix("]")
        assert text.count(f"red_1 proposes {number}.") == 1  # the teammate's real proposal
    assert {d.proposed == d.right for d in decisions} == {True, False}  # proposals are random
    assert decisions == quiz_captain_decisions(learner.tokenizer, 8)  # held-out set is fixed
    score = quiz_captain_score(learner, "main", learner.tokenizer, decisions)
    probs = [
        move_probabilities(learner, "main", d.prompt, d.moves, learner.tokenizer) for d in decisions
    ]
    right = [p[d.moves[d.right]] for p, d in zip(probs, decisions, strict=True)]
    copy = [p[d.moves[d.proposed]] for p, d in zip(probs, decisions, strict=True)]
    assert score.p_right == pytest.approx(sum(right) / 8)
    assert score.p_copy == pytest.approx(sum(copy) / 8)
    assert score.greedy == sum(p > 0.5 for p in right)
