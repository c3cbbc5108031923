"""The league: population of players, matchmaking, ratings and training modes (no torch)."""
