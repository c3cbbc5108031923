"""Game theory of prisoners_dilemma_v0: the dilemma, the payoff mix, Axelrod's tournaments.

A note on Axelrod: in a plain round robin against {tit_for_tat, always_cooperate, always_defect,
random}, always_defect scores MORE than tit_for_tat (it feeds on always_cooperate and random, and
loses only a little to tit_for_tat); that is checked below with hand-computed values. Axelrod's
result is the ecological tournament (Axelrod 1984, ch. 2): strategies reproduce in proportion to
their scores, the exploitable ones die out, and then tit_for_tat takes over while always_defect
starves.
"""

from __future__ import annotations

import numpy as np
import pytest

import envs
from agents.arena import play_episode
from agents.scripted import make_bot
from envs.prisoners_dilemma.rules import COOPERATE, DEFECT, MATRIX, P, R, S, T, round_scores

ENV = "prisoners_dilemma_v0"
STRATEGIES = ("tit_for_tat", "always_cooperate", "always_defect", "random")
ROUNDS = 5
RANDOM_SEEDS = 40


def match(kind0: str, kind1: str, seed: int = 0, **kwargs) -> dict[str, float]:
    seats = {
        "player_0": make_bot(ENV, kind0, seed=seed),
        "player_1": make_bot(ENV, kind1, seed=10_000 + seed),
    }
    return play_episode(ENV, seats, seed=seed, **kwargs).raw_scores


def test_the_matrix_is_a_prisoners_dilemma():
    assert T > R > P > S
    assert 2 * R > T + S  # alternating exploitation does not beat mutual cooperation
    assert MATRIX[(COOPERATE, DEFECT)] == (S, T) and MATRIX[(DEFECT, COOPERATE)] == (T, S)


@pytest.mark.parametrize("theirs", [COOPERATE, DEFECT])
def test_defect_is_dominant_in_one_round(theirs):
    assert round_scores(DEFECT, theirs)[0] > round_scores(COOPERATE, theirs)[0]
    assert round_scores(theirs, DEFECT)[1] > round_scores(theirs, COOPERATE)[1]


def test_mutual_cooperation_beats_mutual_defection():
    coop = match("always_cooperate", "always_cooperate", rounds=ROUNDS)
    defect = match("always_defect", "always_defect", rounds=ROUNDS)
    assert coop == pytest.approx({"player_0": 0.6 * ROUNDS, "player_1": 0.6 * ROUNDS})
    assert defect == pytest.approx({"player_0": 0.2 * ROUNDS, "player_1": 0.2 * ROUNDS})
    assert sum(coop.values()) > sum(defect.values())


@pytest.mark.parametrize("seed", range(3))
def test_payoff_mix_extremes(seed):
    seats = lambda: {  # noqa: E731
        "player_0": make_bot(ENV, "tit_for_tat", seed=seed),
        "player_1": make_bot(ENV, "random", seed=seed + 1),
    }
    selfish = play_episode(ENV, seats(), seed=seed, mix=1.0)
    assert selfish.returns == pytest.approx(selfish.raw_scores)
    shared = play_episode(ENV, seats(), seed=seed, mix=0.0)
    mean = sum(shared.raw_scores.values()) / 2
    assert shared.returns == pytest.approx({"player_0": mean, "player_1": mean})


def test_mix_applies_to_every_step():
    env = envs.make_parallel(ENV, mix=0.0)
    env.reset(seed=0)
    env.step({a: "[say hi]" for a in env.agents})
    _, rewards, *_ = env.step({"player_0": "[defect]", "player_1": "[cooperate]"})
    assert rewards == pytest.approx({"player_0": 0.5, "player_1": 0.5})
    env.set_mix(1.0)
    env.step({a: "[say hi]" for a in env.agents})
    _, rewards, *_ = env.step({"player_0": "[defect]", "player_1": "[cooperate]"})
    assert rewards == pytest.approx({"player_0": 1.0, "player_1": 0.0})


def score_matrix(rounds: int = ROUNDS) -> np.ndarray:
    """A[i, j]: mean raw score of strategy i against strategy j, played in the env."""
    a = np.zeros((len(STRATEGIES), len(STRATEGIES)))
    for i, mine in enumerate(STRATEGIES):
        for j, theirs in enumerate(STRATEGIES):
            stochastic = "random" in (mine, theirs)
            seeds = range(RANDOM_SEEDS if stochastic else 1)
            a[i, j] = np.mean([match(mine, theirs, s, rounds=rounds)["player_0"] for s in seeds])
    return a


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    return score_matrix()


def test_deterministic_matches_by_hand(matrix):
    tft, allc, alld = (
        STRATEGIES.index(k) for k in ("tit_for_tat", "always_cooperate", "always_defect")
    )
    n = ROUNDS
    assert matrix[tft, tft] == pytest.approx(0.6 * n)
    assert matrix[tft, allc] == pytest.approx(0.6 * n)
    assert matrix[tft, alld] == pytest.approx(0.0 + 0.2 * (n - 1))  # suckered once, then retaliates
    assert matrix[alld, tft] == pytest.approx(1.0 + 0.2 * (n - 1))
    assert matrix[alld, allc] == pytest.approx(1.0 * n)
    assert matrix[allc, alld] == pytest.approx(0.0)


def test_tit_for_tat_never_outscores_its_opponent_and_always_defect_never_trails(matrix):
    tft, alld = STRATEGIES.index("tit_for_tat"), STRATEGIES.index("always_defect")
    assert np.all(matrix[tft, :] <= matrix[:, tft] + 0.05)  # random entries are sampled
    assert np.all(matrix[alld, :] >= matrix[:, alld] - 1e-9)


def test_plain_round_robin_favours_always_defect(matrix):
    totals = dict(zip(STRATEGIES, matrix.sum(axis=1), strict=True))
    # Expected by hand (per 5 rounds, /5 scale): tit_for_tat 3+3+0.8+2.1 = 8.9; always_defect
    # 1.8+5+1+3 = 10.8. The random entries are sampled, hence the tolerance.
    assert totals["tit_for_tat"] == pytest.approx(8.9, abs=0.4)
    assert totals["always_defect"] == pytest.approx(10.8, abs=0.4)


def test_ecological_tournament_tit_for_tat_takes_over(matrix):
    share = np.full(len(STRATEGIES), 1 / len(STRATEGIES))
    for _ in range(300):  # discrete replicator dynamics: grow in proportion to the score earned
        fitness = matrix @ share
        share = share * fitness / (share @ fitness)
    shares = dict(zip(STRATEGIES, share, strict=True))
    assert shares["tit_for_tat"] > 0.95
    assert shares["always_defect"] < 0.01
    assert shares["tit_for_tat"] > shares["always_defect"]
