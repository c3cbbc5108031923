"""# Team Quiz

| | |
|---|---|
| Import | `envs.make("team_quiz_v0")` / `envs.make_parallel("team_quiz_v0")` |
| Agents | `red_0`, `red_1`, `blue_0`, `blue_1` (and `red_2`, `blue_2` with `team_size=3`) |
| Teams | `red`, `blue`; `<team>_0` is the captain |
| Payoff kinds | `team_battle` |
| Actions | free text; members `[propose <answer>]`, captains `[answer <answer>]` |
| Observation | `{"text": str}`: rules, the questions and what the agent's team said, the prompt |

Both teams answer the same `questions` generated questions with short verifiable answers: arithmetic
("What is 17 + 25?", "What is 53 - 18?", "What is 7 * 8?") and word tasks ("How many letters are in
'banana'?", "What is the first letter of 'orange'?", "What is the last letter of ...?", "Which is
larger, 41 or 14?", "Which is smaller, ...?"). Answers are integers or single letters.

For each question the non-captain members propose, member by member (`red_1`, `blue_1`, `red_2`,
`blue_2`), then the captains answer (`red_0`, then `blue_0`). A team's proposals and its captain's
answer are seen only by that team until both teams have answered; then both answers and the right
answer are shown to everyone. Turn-based: one agent acts at a time.

## Action grammar
Proposers: `[propose <answer>]`; captains: `[answer <answer>]`, anywhere in the text ("I think
[answer 42]"). Case, spaces, surrounding quotes and final punctuation inside the brackets are
ignored, `[propose: 42]` is accepted. Answers are compared normalised: "42", "42.0" and "+42" are
equal, "B" equals "b". Invalid: no such bracket, an empty answer, one over 30 characters, or two
different answers. `infos[agent]["legal_moves"]` lists the two numbers of a `larger` / `smaller`
question (`["[answer 51]", "[answer 76]"]`), so agents can be constrained to them; for the other
kinds it is None (free text). Any well-formed answer stays a valid move.

## Arguments
- `team_size=2`: members per team, 2 or 3.
- `questions=3`: number of questions.
- `kinds=None`: question kinds to draw from (default all): `add`, `sub`, `mul`, `length`, `first`,
  `last`, `larger`, `smaller`.
- `payoff="team_battle"`, `max_cycles` (default 200), `invalid_penalty=0.1`, `max_invalid=3`,
  `render_mode`: as for every game (see `envs.core`).

## Rewards
Raw score: +1 for every member of a team whose final answer is right (per question). Under
`team_battle`, a team's reward is its mean raw score minus the mean over both teams, so a question
is worth +-0.5 when exactly one team gets it right. An invalid move costs its author 0.1 and is
asked again; three invalid moves in a row forfeit: the other team scores every question not yet
resolved.

## infos["view"]
`team`, `role` (`captain` or `member`), `captain`, `question` (text, None once over),
`question_number`, `questions`, `team_proposals` (own team, current question),
`history` (per resolved question: `question`, `answer`, `given` per team, `right` per team).

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.team_quiz.rules import TeamQuiz


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "team_quiz_v0",
        "is_parallelizable": True,
    }
    game_cls = TeamQuiz


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
