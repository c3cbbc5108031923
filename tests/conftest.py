from __future__ import annotations

import envs

ENV_IDS = envs.list_envs()
