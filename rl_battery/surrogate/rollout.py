"""Parquet table -> training arrays, and MBPO-style branched rollouts in the surrogate."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import torch

from rl_battery.surrogate.ensemble import EnsembleSurrogate


def transition_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    """Schema-v1 rollout table -> float32 arrays obs, action, reward, next_obs, terminated."""

    def stacked(name):
        col = table.column(name).combine_chunks()
        return np.asarray(col.values.to_numpy(zero_copy_only=False), np.float32).reshape(len(table), -1)

    return {
        "obs": stacked("obs"),
        "action": stacked("action"),
        "reward": table.column("reward").to_numpy().astype(np.float32),
        "next_obs": stacked("next_obs"),
        "terminated": table.column("terminated").to_numpy(zero_copy_only=False).astype(np.float32),
    }


@torch.no_grad()
def branched_rollout(surrogate: EnsembleSurrogate, policy: Callable[[torch.Tensor], torch.Tensor],
                     start_obs: np.ndarray, horizon: int, *, obs_low: np.ndarray, obs_high: np.ndarray) -> dict[str, np.ndarray]:
    """Roll ``horizon`` steps from each real start state (MBPO, Janner et al. 2019, Alg. 2).

    Args:
        policy: maps obs (B, obs_dim) -> action (B, act_dim) in the surrogate's action scale.
        start_obs: (B, obs_dim) real observations to branch from.
        obs_low, obs_high: observation-space bounds; predictions are clipped to them.

    Returns:
        dict of arrays obs, action, reward, next_obs (N, ...) and terminated (N,) bool, N <=
        B * horizon: a branch stops after its first predicted termination (p > 0.5).
    """
    obs = torch.as_tensor(start_obs, dtype=torch.float32)
    low, high = torch.as_tensor(obs_low, dtype=torch.float32), torch.as_tensor(obs_high, dtype=torch.float32)
    out = {k: [] for k in ("obs", "action", "reward", "next_obs", "terminated")}
    for _ in range(int(horizon)):
        if len(obs) == 0:
            break
        action = policy(obs)
        next_obs, reward, p_done = surrogate.predict(obs, action, sample=True)
        next_obs = torch.maximum(torch.minimum(next_obs, high), low)
        done = p_done > 0.5
        for key, value in (("obs", obs), ("action", action), ("reward", reward), ("next_obs", next_obs), ("terminated", done)):
            out[key].append(value.numpy())
        obs = next_obs[~done]
    return {k: (np.concatenate(v) if v else np.zeros((0,))) for k, v in out.items()}
