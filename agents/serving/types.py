"""Requests and results of the policy server: the contract between agents, server and learner."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class AdapterRef:
    """One published version of one adapter. `None` in a request means the base model."""

    name: str
    version: int

    @property
    def lora_name(self) -> str:
        """The engine-side name: unique per version, so no cache can confuse two versions."""
        return f"{self.name}@v{self.version}"

    @classmethod
    def parse(cls, lora_name: str) -> AdapterRef:
        name, _, version = lora_name.rpartition("@v")
        if not name or not version.isdigit():
            raise ValueError(f"not an adapter version name: {lora_name!r} (expected 'name@vN')")
        return cls(name, int(version))

    def __str__(self) -> str:
        return self.lora_name


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample. `temperature=0` is greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 32
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass(frozen=True)
class GenerationRequest:
    """One completion to produce from an already tokenised prompt (chat template applied)."""

    prompt_token_ids: tuple[int, ...]
    adapter: AdapterRef | None = None
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    #: Constrain the completion to exactly one of these strings (legal-move decoding), or None.
    choices: tuple[str, ...] | None = None
    #: Constrain the completion to a full match of this regular expression (a free-form phase's
    #: `move_format`), or None. Not together with `choices`.
    pattern: str | None = None


@dataclass(frozen=True)
class GenerationResult:
    text: str
    prompt_token_ids: tuple[int, ...]
    token_ids: tuple[int, ...]
    #: Log-prob of every sampled token under the distribution it was sampled from (temperature and
    #: top-p applied; with `choices` or `pattern`, the distribution masked to the allowed tokens).
    logprobs: tuple[float, ...]
    adapter: AdapterRef | None
    finish_reason: str
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
