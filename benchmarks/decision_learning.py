"""How many updates does one decision need? A two-move decision of a home game, learned in
isolation (transformers + peft, no engine, no league) by supervised cross-entropy on the right
move (`--mode ce`) or by policy gradient from the exact reward of each sampled decision
(`--mode pg`: +1 right, 0 wrong, batch-mean baseline). It separates "RL needs more signal" from
"the trainer is slow": the same prompts, the same LoRA, the same decision the trainer samples.

    python benchmarks/decision_learning.py --mode ce                     # the supervised yardstick
    python benchmarks/decision_learning.py --mode pg --temperature 2     # what self-play sees
    python benchmarks/decision_learning.py --task kuhn_card --mode ce    # can it read its card?
    python benchmarks/decision_learning.py --mode pg --model tiny --steps 2 --batch 4   # plumbing

Tasks (`--task`): `quiz`, the red captain's first answer in `team_quiz_v0` to "Which is
larger/smaller, a or b?" (rules, question and the teammate's proposal, drawn at random); and
`kuhn_card`, a Kuhn poker decision holding the J or the K (the first move, or the answer to a
bet), whose right move is the one every equilibrium plays with that card (K: bet or call; J:
check, or fold to a bet): a policy that ignores its card stays at 0.5. Prompts are the env's own,
rendered with the model's chat template as the rollout renders them. The policy is the
constrained one: the two moves share their tokens up to the first token that differs, where the
model's logits over those two tokens (divided by the temperature) give the move probabilities;
every later token of a move is forced. Printed every `--eval-every` steps on `--held-out` fixed
decisions: the mean probability of the right move (`p_right`), greedy accuracy with its 95%
Wilson interval, and the probability of the move listed first (`p_first`; near 0 or 1 means the
policy collapsed onto one move whatever the question or card).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's packages win

import envs
from agents.conversation import Conversation, user_turn_text
from trainers.intervals import wilson_interval
from trainers.learn.adapters import wrap
from trainers.learn.probe import completion_ids, quiz_captain_decision
from trainers.learn.settings import LoRASettings

# prompt ids up to the divergence, the two divergence tokens, which is right, and (the chat
# before the move, the two moves) for `--mode targets`
Decision = tuple[list[int], tuple[int, int], int, tuple[list[int], tuple[str, str]]]


def captain_decision(tokenizer, rng: np.random.Generator, seed: int) -> Decision:
    """The red captain's first decision of a fresh quiz (`probe.quiz_captain_decision`, the
    other players' moves drawn at random): its prompt up to the first differing token of the
    two legal moves, those two tokens, and which of them is right (0 or 1)."""
    d = quiz_captain_decision(tokenizer, seed, lambda n: int(rng.integers(n)))
    return _at_divergence(tokenizer, d.prompt, d.moves, d.right)


def kuhn_decision(tokenizer, rng: np.random.Generator, seed: int) -> Decision:
    """A Kuhn poker decision holding the J or the K: the first move (check or bet) or the answer
    to a bet (fold or call), its chat rendered as the rollout renders it. The right move is the
    one every equilibrium plays with that card: with the K bet or call, with the J check first
    and fold to a bet. Learning it asks one thing of the model: to act on the card it holds."""
    while True:
        env = envs.make("kuhn_poker_v0")
        env.reset(seed=seed)
        facing_bet = bool(rng.integers(2))
        if facing_bet:
            env.step("[bet]")  # player_0 opens; player_1 decides
        info = env.infos[env.agent_selection]
        card = info["view"]["card"]
        if card != "Q":
            prompt = Conversation(tokenizer).add_user(user_turn_text(info, first=True))
            moves = info["legal_moves"]
            aggressive = moves.index("[call]" if facing_bet else "[bet]")
            right = aggressive if card == "K" else 1 - aggressive
            return _at_divergence(tokenizer, prompt, moves, right)
        seed += 10**6  # a Q: deal again


def _at_divergence(tokenizer, prompt: list[int], moves: list[str], right: int) -> Decision:
    a, b = (completion_ids(tokenizer, m) for m in moves)  # as the learner spells a move
    k = next(i for i in range(min(len(a), len(b))) if a[i] != b[i])
    return [*prompt, *a[:k]], (a[k], b[k]), right, (list(prompt), tuple(moves))


TASKS = {"quiz": captain_decision, "kuhn_card": kuhn_decision}
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")


def move_logprobs(model, batch: list[Decision], temperature: float, pad_id: int) -> torch.Tensor:
    """(batch, 2) log-probabilities of the two moves under the constrained policy."""
    width = max(len(d[0]) for d in batch)
    ids = torch.full((len(batch), width), pad_id)
    mask = torch.zeros_like(ids)
    for i, (prompt, *_) in enumerate(batch):  # left-pad: the last position predicts
        ids[i, width - len(prompt) :] = torch.tensor(prompt)
        mask[i, width - len(prompt) :] = 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        last = model(input_ids=ids, attention_mask=mask).logits[:, -1].float()
    rows = torch.arange(len(batch))
    pair = torch.stack([last[rows, [d[1][j] for d in batch]] for j in (0, 1)], dim=1)
    return torch.log_softmax(pair / temperature, dim=-1)


def target_batch(tokenizer, batch: list[Decision], args) -> list:
    """The trainer's q-target samples for `batch` (`trainers.learn.targets.target_samples`): each
    decision's two moves valued `args.gap` apart, as the counterfactual values of the quiz are."""
    from trainers.learn.targets import DecisionPoint, target_samples

    class Values:  # the right move `gap` above the other, as a critic answers
        def __init__(self) -> None:
            self.q: dict[tuple[str, str], float] = {}

        def action_value(self, role, state, move):
            return self.q.get((state, move))

        def baseline(self, role, state):
            return 0.0

    values, points = Values(), []
    for i, (_, _, right, (chat, moves)) in enumerate(batch):
        for j, move in enumerate(moves):
            values.q[(str(i), move)] = args.gap if j == right else 0.0
        points.append(DecisionPoint("captain", str(i), tuple(chat), moves, None, 1))
    return target_samples(points, values, tokenizer, 1.0, args.target_temperature)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--task", choices=sorted(TASKS), default="quiz",
                   help="quiz: the captain's comparison; kuhn_card: act on one's card")  # fmt: skip
    p.add_argument("--mode", choices=("ce", "pg", "targets"), default="pg",
                   help="targets: the trainer's own Learner.update on its q-target samples, "
                   "the right move valued --gap above the other")  # fmt: skip
    p.add_argument("--gap", type=float, default=0.5, help="targets: value of right minus wrong")
    p.add_argument("--target-temperature", type=float, default=0.2, help="targets: softmax T")
    p.add_argument("--model", default="default")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lora-plus-ratio", type=float, default=1.0,
                   help="targets: LoRA+, the B matrices at lr * ratio")  # fmt: skip
    p.add_argument("--batch", type=int, default=16, help="decisions per update")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--targets", choices=("attention", "all"), default="attention",
                   help="LoRA on q/k/v/o (the trainer default) or every linear layer")  # fmt: skip
    p.add_argument("--entropy-coef", type=float, default=0.0, help="pg: bonus on move entropy")
    p.add_argument("--held-out", type=int, default=64)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agents.models import resolve_model

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    lora = LoRASettings()  # the trainer's adapter shape (r16, alpha 32, q/k/v/o)
    if args.targets == "all":
        lora = LoRASettings(lora_target_modules=(*lora.lora_target_modules, *MLP_MODULES))
    if args.mode == "targets":  # the trainer's learner: its loss, masks, clipping and dtype
        from trainers.learn.learner import Learner, LearnerConfig

        config = LearnerConfig(lr=args.lr, temperature=args.temperature, kl_coef=0.0,
                               track_kl=False, learner_dtype="bfloat16",
                               lora_plus_ratio=args.lora_plus_ratio)  # fmt: skip
        learner = Learner(path, ["decision"], lora, config, seed=args.seed)
        model = learner.peft
        model.set_adapter("decision")
    else:
        base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        model = wrap(base, ["decision"], lora, args.seed, args.model)
        params = [q for q in model.parameters() if q.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    seeds = iter(range(10**6))
    make = TASKS[args.task]
    held = [make(tokenizer, rng, next(seeds)) for _ in range(args.held_out)]

    def evaluate(step: int, start: float) -> None:
        with torch.no_grad():
            probs = torch.cat(
                [
                    move_logprobs(model, held[i : i + 16], args.temperature, pad_id).exp()
                    for i in range(0, len(held), 16)
                ]
            )
        right = torch.tensor([d[2] for d in held])
        rows = torch.arange(len(held))
        greedy = int((probs.argmax(1) == right).sum())
        low, high = wilson_interval(greedy, len(held))
        print(f"{step:5d} {probs[rows, right].mean():8.3f} {greedy / len(held):7.3f} "
              f"[{low:.2f}, {high:.2f}] {probs[:, 0].mean():8.3f} {time.time() - start:7.0f}",
              flush=True)  # fmt: skip

    print(f"task {args.task}, mode {args.mode}, T {args.temperature}, lr {args.lr}, "
          f"batch {args.batch}, LoRA r16 on {args.targets}, LoRA+ {args.lora_plus_ratio}, "
          f"entropy {args.entropy_coef}")  # fmt: skip
    print(" step  p_right  greedy  95% interval  p_first  seconds")
    start = time.time()
    evaluate(0, start)
    for step in range(1, args.steps + 1):
        batch = [make(tokenizer, rng, next(seeds)) for _ in range(args.batch)]
        if args.mode == "targets":
            learner.update("decision", target_batch(tokenizer, batch, args))
            model.set_adapter("decision")
            if step % args.eval_every == 0 or step == args.steps:
                evaluate(step, start)
            continue
        logp = move_logprobs(model, batch, args.temperature, pad_id)
        right = torch.tensor([d[2] for d in batch])
        rows = torch.arange(len(batch))
        if args.mode == "ce":
            loss = -logp[rows, right].mean()
        else:
            chosen = torch.multinomial(logp.exp().detach(), 1).squeeze(1)
            reward = (chosen == right).float()
            entropy = -(logp.exp() * logp).sum(1).mean()
            loss = -((reward - reward.mean()) * logp[rows, chosen]).mean()
            loss = loss - args.entropy_coef * entropy
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps:
            evaluate(step, start)


if __name__ == "__main__":
    main()
