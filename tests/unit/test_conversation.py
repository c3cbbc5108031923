"""Growing chats: token ids only ever extend, and the learner's mask covers the agent's tokens."""

from __future__ import annotations

import pytest

from agents.conversation import Conversation, user_turn_text
from agents.serving.choices import ChoiceMask


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from agents.models.tiny import build_tokenizer

    folder = tmp_path_factory.mktemp("tok")
    build_tokenizer(folder)
    return AutoTokenizer.from_pretrained(folder)


def test_chat_extends_token_by_token_and_matches_the_template(tokenizer):
    chat = Conversation(tokenizer)
    first = chat.add_user(user_turn_text({"rules": "Rules.", "turn_prompt": "Move?"}, True))
    eos = tokenizer.eos_token_id
    move = tokenizer("[rock]", add_special_tokens=False)["input_ids"] + [eos]
    chat.add_completion(move, [0.0] * len(move), "[rock]")
    second = chat.add_user(
        user_turn_text({"new_events": ["You won."], "turn_prompt": "Move?"}, False)
    )
    assert second[: len(first)] == first
    assert second[len(first) : len(first) + len(move)] == move
    rendered = tokenizer.apply_chat_template(
        chat.messages, tokenize=False, add_generation_prompt=True
    )
    assert tokenizer.decode(second) == rendered
    mask = chat.completion_mask()
    assert [t for t, m in zip(chat.token_ids, mask, strict=True) if m] == move


def test_completion_cut_by_length_still_closes_the_turn(tokenizer):
    chat = Conversation(tokenizer)
    chat.add_user("hi")
    partial = tokenizer("[ro", add_special_tokens=False)["input_ids"]  # no end-of-turn token
    chat.add_completion(partial, [0.0] * len(partial), "[ro")
    ids = chat.add_user("again")
    rendered = tokenizer.apply_chat_template(
        chat.messages, tokenize=False, add_generation_prompt=True
    )
    assert tokenizer.decode(ids) == rendered


def test_a_copied_chat_goes_on_without_touching_the_original(tokenizer):
    chat = Conversation(tokenizer, system_prompt="Be brief.")
    chat.add_user("Move?")
    move = tokenizer("[rock]", add_special_tokens=False)["input_ids"]
    chat.add_completion(move, [0.0] * len(move), "[rock]")
    before = (list(chat.token_ids), [dict(m) for m in chat.messages], list(chat.turns))
    twin = chat.copy()
    assert twin.token_ids == chat.token_ids and twin.messages == chat.messages
    twin.add_user("Again?")
    twin.add_completion(move, [0.0] * len(move), "[rock]")
    assert (chat.token_ids, chat.messages, chat.turns) == before
    assert [m["role"] for m in twin.messages].count("system") == 1
    assert chat.add_user("Again?") == twin.token_ids[: -len(move)]


def test_user_turn_text_has_rules_once():
    info = {"rules": "R", "new_events": ["e1", "e2"], "turn_prompt": "P"}
    assert user_turn_text(info, first=True) == "R\n\ne1\ne2\n\nP"
    assert user_turn_text(info, first=False) == "e1\ne2\n\nP"


def test_choice_mask_allows_exactly_the_prefixes(tokenizer):
    mask = ChoiceMask(tokenizer, ["[rock]", "[paper]"])
    first = mask.allowed([])
    texts = {tokenizer.decode([t]) for t in first}
    assert texts and all("[rock]".startswith(t) or "[paper]".startswith(t) for t in texts)
    rock = tokenizer("[rock]", add_special_tokens=False)["input_ids"]
    assert mask.allowed(rock) == [tokenizer.eos_token_id]
    assert mask.is_complete(rock)
    with pytest.raises(ValueError):
        ChoiceMask(tokenizer, [])


def _scan_allowed(tokenizer, choices, generated):
    """The mask's definition, by a scan of the whole vocabulary: the tokens whose text starts
    what is left of a choice, and the end-of-sequence token once a choice is complete."""
    text = tokenizer.decode(list(generated), skip_special_tokens=True)
    rests = [c[len(text) :] for c in choices if c.startswith(text) and len(c) > len(text)]
    special = set(tokenizer.all_special_ids)
    allowed = [
        t
        for t in range(len(tokenizer))
        if t not in special
        and (s := tokenizer.decode([t]))
        and any(r.startswith(s) for r in rests)
    ]
    return allowed + ([tokenizer.eos_token_id] if text in choices else [])


@pytest.mark.parametrize(
    "choices",
    [
        ["[rock]", "[paper]", "[scissors]"],
        ["[answer 51]", "[answer 76]"],
        ["[propose 9]", "[propose 19]"],
        ["[bet]", "[check]", "[call]", "[fold]"],
        ["[answer 7]", "[answer 7]"],
        ["a", "ab", "abc"],
    ],
)
def test_choice_mask_equals_a_scan_of_the_vocabulary(tokenizer, choices):
    mask = ChoiceMask(tokenizer, choices)
    prefixes = [[]]
    for choice in choices:
        ids = tokenizer(choice, add_special_tokens=False)["input_ids"]
        prefixes += [ids[:k] for k in range(1, len(ids) + 1)]
    prefixes.append(tokenizer("[zzz", add_special_tokens=False)["input_ids"])  # off every choice
    for generated in prefixes:
        assert mask.allowed(generated) == _scan_allowed(tokenizer, choices, generated)
