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
                     start_obs: np.ndarray, horizon: int, *, obs_low: np.ndarray, obs_high: np.ndarray,
                     max_disagreement: float | None = None) -> dict[str, np.ndarray]:
    """Roll ``horizon`` steps from each real start state (MBPO, Janner et al. 2019, Alg. 2).

    Args:
        policy: maps obs (B, obs_dim) -> action (B, act_dim) in the surrogate's action scale.
        start_obs: (B, obs_dim) real observations to branch from.
        horizon: steps per branch (>= 1).
        obs_low, obs_high: observation-space bounds; predictions are clipped to them.
        max_disagreement: a branch stops before a step whose ensemble disagreement
            (``surrogate.disagreement``, in observation units) exceeds this; None: no limit.
        surrogate: an :class:`EnsembleSurrogate` or anything with its ``predict`` (and
            ``disagreement`` when ``max_disagreement`` is set), e.g. the combined model.

    Returns:
        Per-branch arrays: ``obs`` (B, H + 1, obs_dim), ``action`` (B, H, act_dim),
        ``reward`` (B, H), ``terminated`` (B,) bool and ``length`` (B,) int. A branch stops
        after its first predicted termination (p > 0.5); entries past ``length`` are
        padding. One branch is one synthetic episode.
    """
    obs = torch.as_tensor(start_obs, dtype=torch.float32)
    low, high = torch.as_tensor(obs_low, dtype=torch.float32), torch.as_tensor(obs_high, dtype=torch.float32)
    n, horizon = len(obs), int(horizon)
    observations = torch.zeros((n, horizon + 1, obs.shape[1]))
    observations[:, 0] = obs
    actions, rewards = None, torch.zeros((n, horizon))
    alive = torch.ones(n, dtype=torch.bool)
    terminated = torch.zeros(n, dtype=torch.bool)
    length = torch.zeros(n, dtype=torch.long)
    for t in range(horizon):
        if not alive.any():
            break
        idx = torch.nonzero(alive).squeeze(1)
        action = policy(obs[idx])
        if max_disagreement is not None:
            trusted = surrogate.disagreement(obs[idx], action) <= max_disagreement
            alive[idx[~trusted]] = False
            idx, action = idx[trusted], action[trusted]
            if not len(idx):
                break
        if actions is None:
            actions = torch.zeros((n, horizon, action.shape[1]))
        next_obs, reward, p_done = surrogate.predict(obs[idx], action, sample=True)
        next_obs = torch.maximum(torch.minimum(next_obs, high), low)
        actions[idx, t], rewards[idx, t], observations[idx, t + 1] = action, reward, next_obs
        length[idx] += 1
        done = p_done > 0.5
        terminated[idx[done]] = True
        alive[idx[done]] = False
        obs = observations[:, t + 1].clone()
    return {
        "obs": observations.numpy(), "action": (actions if actions is not None else torch.zeros((n, horizon, 1))).numpy(),
        "reward": rewards.numpy(), "terminated": terminated.numpy(), "length": length.numpy(),
    }
