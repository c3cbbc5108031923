"""Game theory of public_goods_v0, checked with the rules on enumerated cases.

With 1 < r < n, full contribution maximises the group's score, while contributing nothing maximises
one's own score whatever the others do (a dominant strategy): the social dilemma.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from agents.arena import play_episode
from agents.scripted import make_bot
from envs.public_goods.rules import PublicGoods

# (num_players, endowment, multiplier): every contribution profile is enumerated.
CASES = [(3, 3, 2.0), (3, 4, 1.2), (4, 2, 1.6), (4, 3, 3.9), (5, 2, 2.5)]


def one_round(num_players: int, endowment: int, multiplier: float, profile) -> dict[str, float]:
    """Raw scores of a one-round game where player i contributes profile[i], played by the rules."""
    game = PublicGoods(
        seed=0, num_players=num_players, rounds=1, endowment=endowment, multiplier=multiplier
    )
    for a in game.agents:
        game.submit(a, "[say hello]")
    for a, c in zip(game.agents, profile, strict=True):
        assert game.submit(a, f"[contribute {c}]").valid
    assert game.over
    return game.scores


@pytest.mark.parametrize(("n", "e", "r"), CASES)
def test_full_contribution_uniquely_maximises_the_group_score(n, e, r):
    group = {}
    for profile in itertools.product(range(e + 1), repeat=n):
        scores = one_round(n, e, r, profile)
        group[profile] = np.mean(list(scores.values()))
        # Closed form: the group mean rises linearly with the mean contribution.
        assert group[profile] == pytest.approx(1 + (r - 1) * np.mean(profile) / e)
    best = max(group, key=group.get)
    assert best == (e,) * n
    assert group[best] == pytest.approx(r)
    assert sorted(group.values())[-2] < r - 1e-9  # the maximum is unique
    assert group[(0,) * n] == pytest.approx(1.0)


@pytest.mark.parametrize(("n", "e", "r"), CASES)
def test_free_riding_is_dominant_for_own_score(n, e, r):
    for i in range(n):
        for others in itertools.product(range(e + 1), repeat=n - 1):
            own = []
            for c in range(e + 1):
                profile = (*others[:i], c, *others[i:])
                own.append(one_round(n, e, r, profile)[f"player_{i}"])
            # Each coin put in returns only r / n < 1 to its giver: own score falls strictly.
            assert np.all(np.diff(own) < 0)
            assert np.diff(own) == pytest.approx(np.full(e, (r / n - 1) / e))


def test_lone_free_rider_among_full_contributors():
    n, e, r = 4, 10, 1.6
    scores = one_round(n, e, r, (0, e, e, e))
    assert scores["player_0"] == pytest.approx(1 + r * (n - 1) / n)
    assert scores["player_1"] == pytest.approx(r * (n - 1) / n)


def _returns(kinds: dict[str, str], payoff: str, mix: float = 0.5) -> dict[str, float]:
    seats = {a: make_bot("public_goods_v0", k, seed=i) for i, (a, k) in enumerate(kinds.items())}
    return play_episode("public_goods_v0", seats, seed=0, payoff=payoff, mix=mix).returns


def test_payoff_kinds_reward_the_dilemma_as_expected():
    everyone = {f"player_{i}": "strong" for i in range(4)}
    one_rider = {**everyone, "player_0": "free_rider"}
    # Selfish rewards (mix = 1): the free rider earns more than the contributors ...
    selfish = _returns(one_rider, "mixed", mix=1.0)
    assert selfish["player_0"] == pytest.approx(3 * (1 + 1.6 * 3 / 4))
    assert selfish["player_0"] > selfish["player_1"]
    # ... and more than it would by contributing too; the group earns less with it.
    assert selfish["player_0"] > _returns(everyone, "mixed", mix=1.0)["player_0"]
    coop_all = _returns(everyone, "cooperative")
    coop_rider = _returns(one_rider, "cooperative")
    assert coop_all["player_0"] == pytest.approx(3 * 1.6)
    assert coop_rider["player_0"] < coop_all["player_0"]
