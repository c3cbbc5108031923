"""A tiny chat model built on the spot: own byte-level BPE tokenizer, a few million parameters.

Tests and smoke runs use it so that vLLM and transformers load a real model folder in seconds, with
no
download. The weights are random but deterministic (seeded) and initialised so that greedy decoding
has
clear margins between the top tokens (wide embeddings) while the residual stream stays small (narrow
layers): two correct implementations then agree on every greedy token and on log-probs to about
1e-5,
which is what the engine-vs-transformers tests compare.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from agents.models.cache import atomic_build

log = logging.getLogger(__name__)

TINY_MODEL_NAME = "tiny-chat"
TINY_VERSION = 2  # part of the cache folder name: bump whenever the recipe changes
EMBEDDING_STD = 0.2  # wide embeddings and output head: clear margins between the top tokens
LAYER_STD = 0.05  # narrow inner layers: a small residual stream keeps fp32 round-off near 1e-5
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 2048


_CORPUS = """
You are player_0. You play a game against player_1. Both players move at the same time. Each round
you win
scores +1, each round you lose scores -1, a tie scores 0. Answer with exactly one move in brackets.
Round 1 of 5. Your move: [rock], [paper] or [scissors]? I play [paper]. player_1 wins the round.
Your card is the King. You may [check] or [bet]; facing a bet, [call] or [fold]. The pot has 2
chips.
Pool: 3 books, 2 hats, 1 ball. Your values: book 2, hat 1, ball 2. I propose [offer 1 2 0]. I
[accept].
Send a one-line message: [say I will cooperate if you do]. Then choose [cooperate] or [defect].
Contribute to the public pot: [contribute 5]. The pot is multiplied by 1.6 and shared equally.
Your numbers are 3 and 7. What is the total of all numbers? [answer 42]. Teammates propose:
[propose 17].
The target is apple. Give a one-word clue: [clue fruit]. Listeners pick a word: [pick apple].
Spymaster, give a clue and a number: [clue animal 2]. Guesser: [guess tiger] or [pass].
Board: A1 B2 C3, X to move. Place your mark: [B2]. What is 17 + 25? How many letters are in banana?
The game is over. Your score: 1. Wait for the other players. History: invalid move, forfeits.
system user assistant The answer is 4. What is 2+2? Answer briefly. Yes no maybe think first.
"""


def _corpus() -> list[str]:
    """Tokenizer training text: fixed, so the tokenizer (and the cached model) never drifts."""
    lines = [line for line in _CORPUS.splitlines() if line]
    lines.extend(f"{i} {i + 1} {i * 7}" for i in range(200))
    return lines


def build_tokenizer(out_dir: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return len(tok.get_vocab())


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """Write a tiny Llama chat model (config, safetensors, tokenizer) into `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = build_tokenizer(out_dir)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        initializer_range=EMBEDDING_STD,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for param in model.model.layers.parameters():
            if param.dim() == 2:
                param.normal_(0.0, LAYER_STD)
    model.generation_config.eos_token_id = 2
    model.save_pretrained(out_dir, safe_serialization=True)
    (out_dir / "lora_league.json").write_text(json.dumps({"kind": "tiny", "seed": seed}))
    return out_dir


def tiny_model_path(cache_dir: Path, seed: int = 0) -> Path:
    """The tiny model's folder in `cache_dir`, built once (safe under concurrent callers)."""
    return atomic_build(
        cache_dir / f"{TINY_MODEL_NAME}-v{TINY_VERSION}-s{seed}",
        lambda d: build_tiny_model(d, seed),
    )
