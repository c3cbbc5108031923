"""`FormatMask` on the tiny model's real tokenizer: the tokens it allows are exactly those that
keep the text a prefix of a match (checked by a scan of the vocabulary with the `regex`
package's partial matching), then only the end of sequence; and the requests that carry a
pattern, from the agent through the HF server's checks and decoding."""

from __future__ import annotations

import pytest
import regex
import torch

from agents.serving import formats
from agents.serving.formats import FormatMask, check_pattern, max_chars
from envs.core.formats import say_format
from envs.prisoners_dilemma.rules import TALK_FORMAT

OFFER = r"(?:\[offer (?:3|2|1|0) (?:1|0)\])|(?:\[accept\])"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from agents.models.tiny import build_tokenizer

    folder = tmp_path_factory.mktemp("tok")
    build_tokenizer(folder)
    return AutoTokenizer.from_pretrained(folder)


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def scan_allowed(tokenizer, pattern: str, generated: list[int]) -> list[int]:
    """The mask's definition: every non-special token after which the text can still become a
    full match, and the end-of-sequence token once it is one."""
    special = set(tokenizer.all_special_ids)
    allowed = [
        t
        for t in range(len(tokenizer))
        if t not in special
        and regex.fullmatch(pattern, tokenizer.decode([*generated, t]), partial=True)
    ]
    if regex.fullmatch(pattern, tokenizer.decode(generated)):
        allowed.append(tokenizer.eos_token_id)
    return sorted(allowed)


@pytest.mark.parametrize(
    "pattern, text",
    [
        (TALK_FORMAT, "[say I will cooperate if you do.]"),
        (TALK_FORMAT, "[say " + "a" * 48 + "]"),
        (OFFER, "[offer 2 1]"),
        (OFFER, "[accept]"),
        (say_format(3), "[say ok!]"),
    ],
)
def test_format_mask_equals_a_scan_of_the_vocabulary(tokenizer, pattern, text):
    mask = FormatMask(tokenizer, pattern)
    ids = encode(tokenizer, text)
    for k in range(len(ids) + 1):
        assert mask.allowed(ids[:k]) == scan_allowed(tokenizer, pattern, ids[:k]), ids[:k]
    assert mask.allowed(ids) == [tokenizer.eos_token_id]  # a complete match: only the end
    assert mask.is_complete(ids) and not mask.is_complete(ids[:-1])


def test_rows_are_the_mask_before_each_token_and_off_format_tokens_raise(tokenizer):
    mask = FormatMask(tokenizer, TALK_FORMAT)
    ids = [*encode(tokenizer, "[say hi there]"), tokenizer.eos_token_id]
    rows = mask.rows(ids)
    assert rows.shape == (len(ids), len(tokenizer)) and rows.dtype == torch.bool
    for k, token in enumerate(ids):
        assert rows[k].nonzero().flatten().tolist() == mask.allowed(ids[:k])
        assert rows[k, token]  # every token of a match was allowed where it stands
    with pytest.raises(ValueError, match="leaves the format"):
        mask.allowed(encode(tokenizer, "I play"))
    assert mask.allowed([]) == scan_allowed(tokenizer, TALK_FORMAT, [])  # usable after an error


def test_a_padded_model_vocabulary_masks_the_padding(tokenizer):
    size = len(tokenizer) + 37
    row = FormatMask(tokenizer, TALK_FORMAT, vocab_size=size).row([])
    assert row.shape == (size,) and not row[len(tokenizer) :].any()


def test_grammars_are_compiled_once_per_tokenizer_and_pattern(tokenizer):
    FormatMask(tokenizer, OFFER)
    before = formats._compiled.cache_info()
    FormatMask(tokenizer, OFFER)
    after = formats._compiled.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses


def test_bad_patterns_are_value_errors_and_bounds_are_read():
    for bad in ("(", "a{3,", "[say", "x\x00"):
        with pytest.raises(ValueError):
            check_pattern(bad)
    check_pattern(TALK_FORMAT)
    assert max_chars(TALK_FORMAT) == len("[say ]") + 48
    assert max_chars(OFFER) == len("[offer 3 1]")
    assert max_chars("[a-z]+") is None


# ---------------------------------------------------------------------- requests


def test_the_hf_server_decodes_inside_the_format_and_refuses_bad_requests(hf_server):
    from agents.serving import GenerationRequest, RequestError, SamplingSettings
    from agents.serving.base import room_for_choices
    from envs.core.formats import matches

    tok = hf_server.tokenizer
    prompt = tuple(
        encode(tok, "<|im_start|>user\nSay something.<|im_end|>\n<|im_start|>assistant\n")
    )
    sampling = SamplingSettings(temperature=1.0, max_tokens=4)
    request = GenerationRequest(prompt, None, sampling, pattern=TALK_FORMAT)
    assert room_for_choices(request).sampling.max_tokens == len("[say ]") + 48 + 1
    unbounded = GenerationRequest(prompt, None, sampling, pattern="[a-z]+")
    assert room_for_choices(unbounded) == unbounded
    outs = hf_server.generate([request] * 3)
    for out in outs:
        assert matches(TALK_FORMAT, out.text) and out.finish_reason == "stop", out.text
        assert out.pattern == TALK_FORMAT and out.token_ids[-1] == tok.eos_token_id
    both = GenerationRequest(prompt, None, sampling, choices=("[a]",), pattern=TALK_FORMAT)
    with pytest.raises(RequestError, match="not both"):
        hf_server.generate([both])
    with pytest.raises(RequestError, match="not a regular expression"):
        hf_server.generate([GenerationRequest(prompt, None, sampling, pattern="[say (")])


def test_a_constrained_agent_asks_for_the_format_only_where_no_moves_are_listed(hf_server):
    from agents.llm_agent import LLMAgent
    from agents.policy import ActRequest

    talk = {"legal_moves": [], "move_format": TALK_FORMAT, "turn_prompt": "Talk."}
    move = {"legal_moves": ["[cooperate]", "[defect]"], "move_format": None, "turn_prompt": "Go."}
    constrained = LLMAgent("a", hf_server, constrained=True)
    free = LLMAgent("b", hf_server, constrained=False)
    request = constrained.build_request(ActRequest("player_0", "", talk))
    assert request.pattern == TALK_FORMAT and request.choices is None
    request = constrained.build_request(ActRequest("player_0", "", move))
    assert request.pattern is None and request.choices == ("[cooperate]", "[defect]")
    assert free.build_request(ActRequest("player_0", "", talk)).pattern is None
    (response,) = constrained.act([ActRequest("player_1", "", talk)])
    (turn,) = constrained.conversation(0, "player_1").turns
    assert turn.pattern == TALK_FORMAT and turn.choices is None and turn.text == response.text
