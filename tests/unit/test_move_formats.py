"""`Game.move_format`: the regular expression of a free-form phase's moves, carried in the infos.

Each home game with a simple free-text phase publishes one; every string that fully matches it
must be a move the game's parser reads (hypothesis draws the strings from the pattern itself),
and xgrammar, which vLLM's structured outputs compile it with, must read it too.
"""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs
from envs.codenames.rules import parse_clue as codenames_clue
from envs.core.formats import either, matches, number_format, say_format, word_format
from envs.signal.rules import parse_clue as signal_clue

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def full_matches(pattern: str):
    return st.from_regex(re.compile(pattern), fullmatch=True)


class Parallel:
    """A parallel env and its latest infos."""

    def __init__(self, env_id: str, **kwargs) -> None:
        self.env = envs.make_parallel(env_id, **kwargs)
        _, self.infos = self.env.reset(seed=0)
        self.agents = list(self.env.agents)
        self.game = self.env.game

    def step(self, actions) -> None:
        *_, self.infos = self.env.step(actions)


# ---------------------------------------------------------------------- builders


def test_format_builders_match_exactly_what_they_say():
    assert matches(number_format(3, 12), "3") and matches(number_format(3, 12), "12")
    assert not any(matches(number_format(3, 12), s) for s in ("2", "13", "03", "", "1 2"))
    assert matches(word_format(2, 4), "abcd") and not matches(word_format(2, 4), "a")
    assert not matches(word_format(2, 4), "Abc")
    say = say_format(5)
    assert matches(say, "[say Hi,u!]") and matches(say, "[say a    ]")
    assert not any(matches(say, s) for s in ("[say  hi]", "[say ]", "[say abcdef]", "[say a]b]"))
    assert matches(either("a", "bc"), "bc") and not matches(either("a", "bc"), "abc")
    with pytest.raises(ValueError):
        number_format(5, 4)


# ---------------------------------------------------------------------- prisoner's dilemma


def test_pd_infos_carry_the_format_in_the_talk_phase_only():
    from envs.prisoners_dilemma.rules import TALK_FORMAT

    env = Parallel("prisoners_dilemma_v0", rounds=2)
    assert all(env.infos[a]["move_format"] == TALK_FORMAT for a in env.agents)
    assert all(not env.infos[a]["legal_moves"] for a in env.agents)
    env.step({a: "[say I will cooperate.]" for a in env.agents})
    for a in env.agents:  # move phase: the legal moves, no format
        assert env.infos[a]["legal_moves"] == ["[cooperate]", "[defect]"]
        assert env.infos[a]["move_format"] is None
    env.step({a: "[cooperate]" for a in env.agents})
    assert all(env.infos[a]["move_format"] == TALK_FORMAT for a in env.agents)
    aec = envs.make("prisoners_dilemma_v0", rounds=1)
    aec.reset(seed=0)
    acting, waiting = aec.agent_selection, next(a for a in aec.agents if a != aec.agent_selection)
    aec.step("[say hi]")
    assert aec.infos[acting]["move_format"] is None  # not acting: nothing to format
    assert aec.infos[waiting]["move_format"] == TALK_FORMAT


@SETTINGS
@given(data=st.data())
def test_every_pd_talk_format_match_parses(data):
    from envs.prisoners_dilemma.rules import TALK_FORMAT, PrisonersDilemma, parse_say

    text = data.draw(full_matches(TALK_FORMAT))
    message = parse_say(text)
    assert message is not None and message == " ".join(text[len("[say ") : -1].split())
    game = PrisonersDilemma(seed=0, rounds=1)
    assert game.parse_move("player_0", text) == message


def test_pd_format_refuses_what_it_should():
    from envs.prisoners_dilemma.rules import TALK_FORMAT

    for text in ("I cooperate", "[say]", "[say  x]", "[say x] ok", "[say " + "a" * 49 + "]"):
        assert not matches(TALK_FORMAT, text), text
    assert matches(TALK_FORMAT, "[say " + "a" * 48 + "]")


# ---------------------------------------------------------------------- the other home games


def phase_formats():
    """(game name, info move_format, reads(text) -> bool) at each free-form phase."""
    out = []
    pd = Parallel("public_goods_v0")
    agent = pd.agents[0]
    out.append(("public_goods talk", pd.infos[agent]["move_format"], _reads(pd, agent)))
    pd.step({a: "[say hi]" for a in pd.agents})
    assert pd.infos[agent]["move_format"] is None and pd.infos[agent]["legal_moves"]

    hs = Parallel("hidden_sum_v0")
    agent = hs.agents[0]
    out.append(("hidden_sum talk", hs.infos[agent]["move_format"], _reads(hs, agent)))
    hs.step({a: "[say hi]" for a in hs.agents})
    out.append(("hidden_sum answer", hs.infos[agent]["move_format"], _reads(hs, agent)))

    neg = envs.make("negotiation_v0")
    neg.reset(seed=0)
    first = neg.agent_selection
    out.append(("negotiation first offer", neg.infos[first]["move_format"], _reads(neg, first)))
    neg.step("[offer " + " ".join("0" for _ in neg.game.state.counts) + "]")
    second = neg.agent_selection
    out.append(("negotiation reply", neg.infos[second]["move_format"], _reads(neg, second)))

    sig = envs.make("signal_v0")
    sig.reset(seed=0)
    speaker = sig.agent_selection
    out.append(("signal clue", sig.infos[speaker]["move_format"], lambda t: bool(signal_clue(t))))
    sig.step("[clue thing]")
    assert sig.infos[sig.agent_selection]["move_format"] is None  # the listener picks from a list

    cn = envs.make("codenames_v0")
    cn.reset(seed=0)
    spymaster = cn.agent_selection
    board = len(cn.game.state.board)

    def reads_clue(text: str) -> bool:
        clue = codenames_clue(text)
        return clue is not None and 1 <= clue[1] <= board and 2 <= len(clue[0]) <= 20

    out.append(("codenames clue", cn.infos[spymaster]["move_format"], reads_clue))
    return out


def _reads(env, agent):
    game = copy.deepcopy(env.game)  # the game as it stands now, not after later steps
    return lambda text: game.parse_move(agent, text) is not None


NAMES = [
    "public_goods talk",
    "hidden_sum talk",
    "hidden_sum answer",
    "negotiation first offer",
    "negotiation reply",
    "signal clue",
    "codenames clue",
]


@pytest.fixture(scope="module")
def phases():
    return {name: (pattern, reads) for name, pattern, reads in phase_formats()}


@pytest.mark.parametrize("name", NAMES)
def test_every_format_match_is_read_by_its_game(phases, name):
    import xgrammar

    pattern, reads = phases[name]
    assert pattern, f"{name}: no move_format"
    xgrammar.Grammar.from_regex(pattern)  # the dialect vLLM compiles

    @SETTINGS
    @given(text=full_matches(pattern))
    def check(text):
        assert reads(text), f"{name}: {text!r} matches {pattern!r} but is not read"

    check()


def test_negotiation_accept_is_in_the_format_only_once_an_offer_stands(phases):
    assert not matches(phases["negotiation first offer"][0], "[accept]")
    assert matches(phases["negotiation reply"][0], "[accept]")


def test_signal_with_clue_choices_lists_them_instead():
    env = envs.make("signal_v0", clue_choices=True)
    env.reset(seed=0)
    info = env.infos[env.agent_selection]
    assert info["legal_moves"] and info["move_format"] is None
