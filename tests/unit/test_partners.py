"""Partner bots in cooperative modes (`partners`, `partner_share`): who gets a partner, when, and
which configs are refused. The rollout side (a bot answering the copies) is in
tests/integration/test_move_values.py."""

from __future__ import annotations

from collections import Counter

import pytest

from trainers.config import TrainerConfig
from trainers.league.fixtures import Fixtures
from trainers.league.matchmaking import make_matchmaker
from trainers.league.population import League, LeagueConfig
from trainers.league.publishing import LEARNER
from trainers.selfplay import SelfPlayTrainer

AGENTS = ["player_0", "player_1"]
TEAMS = {a: a for a in AGENTS}  # signal: each player its own team


def fixtures(partners=("strong",), seed=0) -> tuple[Fixtures, League]:
    league = League(LeagueConfig())
    league.add_learner(LEARNER, adapter=LEARNER, version=0)
    made = Fixtures(AGENTS, TEAMS, "agent", False, make_matchmaker("uniform"), seed, partners)
    return made, league


def bot_seats(matches) -> list[str]:
    """The agent seated by a bot in each match ('' where none)."""
    out = []
    for m in matches:
        bots = [a for a, s in m.seats.items() if s.bot is not None]
        assert len(bots) <= 1
        out.append(bots[0] if bots else "")
    return out


def test_every_match_of_share_one_has_one_partner_in_a_random_seat():
    made, league = fixtures()
    matches = made.make(league, 200, partner_share=1.0)
    seated = Counter(bot_seats(matches))
    assert set(seated) == set(AGENTS) and all(n > 70 for n in seated.values())
    for m in matches:
        (bot,) = (s for s in m.seats.values() if s.bot is not None)
        assert (bot.bot, bot.player, bot.learning) == ("strong", "bot:strong", False)
        (mine,) = (s for s in m.seats.values() if s.adapter is not None)
        assert mine.learning and mine.player == LEARNER


def test_a_share_gives_about_that_many_partners():
    made, league = fixtures()
    with_partner = sum(bool(b) for b in bot_seats(made.make(league, 400, partner_share=0.25)))
    assert 60 <= with_partner <= 140  # 100 expected; +-4 sd


def test_evaluation_matches_and_share_zero_have_none_and_draw_the_same_matches():
    made, league = fixtures()
    plain, league0 = fixtures(partners=())
    assert bot_seats(made.make(league, 50, learning=False, partner_share=1.0)) == [""] * 50
    assert bot_seats(made.make(league, 50, partner_share=0.0)) == [""] * 50
    # No partner draws were made: the matchmaking RNG and the seeds are where a run without
    # partners has them.
    plain.make(league0, 100)
    assert made.state_dict() == plain.state_dict()


def test_the_share_is_constant_or_moves_linearly_to_its_end():
    config = TrainerConfig.build(
        env_id="signal_v0", env_kwargs={"clue_choices": True}, mode="cooperative", share="agent",
        bots=(), partners=("strong",), partner_share=0.8, iterations=5, model="tiny",
    )  # fmt: skip
    constant = SelfPlayTrainer(config)
    assert [constant.partner_share(step) for step in range(1, 6)] == pytest.approx([0.8] * 5)
    falling = SelfPlayTrainer(config.replace(partner_share_end=0.0))
    shares = [falling.partner_share(step) for step in range(1, 6)]
    assert shares == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0])
    no_partners = SelfPlayTrainer(config.replace(partners=()))
    assert no_partners.partner_share(1) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env_id": "signal_v0", "mode": "cooperative", "bots": (), "partners": ("zzz",)},
         "no partners"),
        ({"env_id": "kuhn_poker_v0", "mode": "competitive", "partners": ("strong",)},
         "use bots"),
        ({"env_id": "signal_v0", "mode": "cooperative", "bots": (), "partners": ("strong",),
          "partner_share": 1.5}, "partner_share must"),
        ({"env_id": "signal_v0", "mode": "cooperative", "bots": (), "partners": ("strong",),
          "partner_share_end": -0.5}, "partner_share_end must"),
    ],
)  # fmt: skip
def test_bad_partner_configs_fail_with_what_to_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig.from_dict(kwargs)
