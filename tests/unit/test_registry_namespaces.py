"""Registry: namespaced foreign ids, listing by collection, refused ids, registering your own."""

from __future__ import annotations

import pytest

import envs
from envs import registry


def test_ids_are_checked():
    for good in ("rps_v0", "openspiel/leduc_poker", "textarena/TicTacToe-v0"):
        envs.EnvSpec(id=good, entry_point="x", payoffs=("competitive",), players="2",
                     description="")  # fmt: skip
    for bad in ("Rps", "openspiel/", "OpenSpiel/x", "a/b/c", "textarena/Taboo-v0-city/country"):
        with pytest.raises(ValueError, match="must look like"):
            envs.EnvSpec(id=bad, entry_point="x", payoffs=("competitive",), players="2",
                         description="")  # fmt: skip


def test_listing_by_collection():
    everything = envs.list_envs()
    home, spiel = envs.list_envs(""), envs.list_envs("openspiel")
    arena = envs.list_envs("textarena")
    assert sorted(home + spiel + arena) == everything
    assert "kuhn_poker_v0" in home and "openspiel/kuhn_poker" in spiel
    assert "textarena/KuhnPoker-v0" in arena


def test_refused_ids_say_why_and_unknown_ids_list_their_namespace():
    refused = envs.refused()
    assert "textarena/Wordle-v0" in refused and "openspiel/chess" in refused
    assert not set(refused) & set(envs.list_envs())
    with pytest.raises(KeyError, match="openspiel/kuhn_poker"):
        envs.make("openspiel/kuhn_pokr")


def test_a_user_registers_their_own_game():
    spec = envs.EnvSpec(
        id="my_kuhn_v0", entry_point="envs.kuhn_poker.env", payoffs=("competitive",),
        players="2", description="the home Kuhn under another id",
    )  # fmt: skip
    envs.register(spec)
    try:
        assert "my_kuhn_v0" in envs.list_envs("")
        env = envs.make("my_kuhn_v0")
        env.reset(seed=0)
        assert env.infos[env.agent_selection]["legal_moves"]
    finally:
        del registry._REGISTRY["my_kuhn_v0"]


def test_importing_envs_does_not_import_the_foreign_packages():
    import subprocess
    import sys

    code = "import sys, envs; print(sorted({'pyspiel', 'textarena', 'nltk'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
