"""AReaL integration: LoRA League's games as AReaL rollout workflows, its server as AReaL's
rollout backend, and its decoupled loss checked against AReaL's (docs/areal.md).

Needs AReaL installed beside the stack: `bash scripts/install.sh cpu areal` (AReaL without its
pins, plus what it needs to import; `integrations/areal/requirements.txt`).

>>> from integrations.areal import Bot, GameWorkflow, episodes
>>> workflow = GameWorkflow("kuhn_poker_v0", gconfig, tokenizer, opponent=Bot("strong"))
>>> trajectories = engine.rollout_batch(episodes(8), workflow)  # a RemotevLLMEngine
"""

from integrations.areal.logging_guard import import_areal, kept_logging

import_areal()  # first: from here on AReaL's getLogger keeps our logging

from integrations.areal.loss import NO_CAP, areal_loss_kwargs  # noqa: E402
from integrations.areal.opponents import Bot, Frozen, Opponent, SelfPlay  # noqa: E402
from integrations.areal.serving import (  # noqa: E402
    areal_lora_name,
    serve_for_areal,
    withdraw_from_areal,
)
from integrations.areal.workflow import (  # noqa: E402
    EpisodeRecord,
    GameWorkflow,
    episodes,
    with_stop_tokens,
)

__all__ = [
    "NO_CAP",
    "Bot",
    "EpisodeRecord",
    "Frozen",
    "GameWorkflow",
    "Opponent",
    "SelfPlay",
    "areal_lora_name",
    "areal_loss_kwargs",
    "episodes",
    "import_areal",
    "kept_logging",
    "serve_for_areal",
    "with_stop_tokens",
    "withdraw_from_areal",
]
