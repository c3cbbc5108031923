"""The transformers + peft backend: same API as the vLLM one, for tests, debugging and machines
without
vLLM. It decodes one request at a time with a KV cache, so it is the exact (and slow) reference."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from agents.serving.adapters import AdapterStore, StoredAdapter
from agents.serving.base import PolicyServer
from agents.serving.choices import ChoiceMask
from agents.serving.formats import FormatMask
from agents.serving.types import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


def process_logits(logits, temperature: float, top_p: float, allowed: list[int] | None):
    """Log-probs of the distribution a token is sampled from: mask (`allowed`: token ids, or
    None for no mask), temperature, then top-p.

    Mirrors vLLM's `processed_logprobs` so both backends report the same numbers.
    """
    import torch

    logits = logits.float()
    if allowed is not None:
        masked = torch.full_like(logits, float("-inf"))
        masked[allowed] = logits[allowed]
        logits = masked
    if temperature > 0:
        logits = logits / temperature
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # keep the smallest prefix whose mass reaches top_p (the first token always stays)
        drop = probs.cumsum(-1) - probs > top_p
        sorted_logits[drop] = float("-inf")
        logits = torch.full_like(logits, float("-inf")).scatter(0, order, sorted_logits)
    return torch.log_softmax(logits, dim=-1)


class HFPolicyServer(PolicyServer):
    backend = "hf"

    def __init__(
        self,
        model: str | Path,
        *,
        store_dir: Path | str | None = None,
        dtype: str = "float32",
        device: str | None = None,
        max_model_len: int = 2048,
        seed: int = 0,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from agents.models import resolve_model

        path = resolve_model(str(model))
        super().__init__(path, AdapterStore(store_dir), max_model_len)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        self.peft = None  # a PeftModel around self.model once the first adapter is loaded
        self.seed = seed
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ adapters
    def _load(self, stored: StoredAdapter) -> None:
        from peft import PeftModel

        with self._lock:
            name = stored.ref.lora_name
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.model, stored.path, adapter_name=name)
                self.peft.eval()
            else:
                self.peft.load_adapter(stored.path, adapter_name=name)

    def _unload(self, stored: StoredAdapter) -> None:
        with self._lock:
            peft = self.peft
            # peft cannot delete its last adapter; a lone one stays loaded but unused.
            name = stored.ref.lora_name
            if peft is not None and name in peft.peft_config and len(peft.peft_config) > 1:
                if peft.active_adapter == name:  # move off it first: peft warns otherwise
                    peft.set_adapter(next(n for n in peft.peft_config if n != name))
                peft.delete_adapter(name)

    def _model_for(self, request: GenerationRequest):
        if request.adapter is None:
            if self.peft is None:
                return self.model, nullcontext()
            return self.peft, self.peft.disable_adapter()
        self.peft.set_adapter(request.adapter.lora_name)
        return self.peft, nullcontext()

    # ------------------------------------------------------------------ generation
    def _mask(self, request: GenerationRequest) -> ChoiceMask | FormatMask | None:
        """The legal-move or format mask of a constrained request (None: unconstrained)."""
        if request.choices:
            return ChoiceMask(self.tokenizer, request.choices)
        if request.pattern is not None:
            vocab_size = self.model.get_output_embeddings().weight.shape[0]
            return FormatMask(self.tokenizer, request.pattern, vocab_size)
        return None

    def _generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        with self._lock:
            return [self._generate_one(i, r) for i, r in enumerate(requests)]

    def _generate_one(self, index: int, request: GenerationRequest) -> GenerationResult:
        import torch

        s = request.sampling
        gen = torch.Generator().manual_seed(s.seed if s.seed is not None else self.seed + index)
        mask = self._mask(request)
        eos = self.tokenizer.eos_token_id
        model, ctx = self._model_for(request)
        ids = torch.tensor([list(request.prompt_token_ids)], device=self.device)
        tokens: list[int] = []
        logprobs: list[float] = []
        finish = "length"
        with torch.inference_mode(), ctx:
            out = model(input_ids=ids, use_cache=True)
            for _ in range(s.max_tokens):
                allowed = mask.allowed(tokens) if mask else None
                logp = process_logits(out.logits[0, -1], s.temperature, s.top_p, allowed).cpu()
                if s.temperature == 0:
                    token = int(torch.argmax(logp))
                else:
                    token = int(torch.multinomial(logp.exp(), 1, generator=gen))
                tokens.append(token)
                logprobs.append(float(logp[token]))
                if token == eos:
                    finish = "stop"
                    break
                step = torch.tensor([[token]], device=self.device)
                out = model(input_ids=step, past_key_values=out.past_key_values, use_cache=True)
        return GenerationResult(
            text=self.tokenizer.decode(tokens, skip_special_tokens=True),
            prompt_token_ids=request.prompt_token_ids,
            token_ids=tuple(tokens),
            logprobs=tuple(logprobs),
            adapter=request.adapter,
            finish_reason=finish,
            choices=request.choices,
            pattern=request.pattern,
        )
