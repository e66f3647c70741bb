"""Open-loop prediction error of a surrogate on real episodes: one step and k steps ahead.

A k-step prediction starts from a real observation and applies the real actions that
followed, feeding the ensemble-mean prediction back in (no real observation in between), as
the synthetic rollouts and a multi-step planner would. Errors are measured on real data the
surrogate has not been fitted on (MBRL scores each iteration's new episodes before the refit).
"""

from __future__ import annotations

import numpy as np
import torch

from rl_battery.surrogate.ensemble import EnsembleSurrogate


def open_loop_errors(surrogate: EnsembleSurrogate, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray,
                     episode_id: np.ndarray, step_index: np.ndarray, *, horizons=(1, 5, 10),
                     dims: np.ndarray | None = None) -> dict[str, float]:
    """Root-mean-square error of k-step open-loop predictions, for each k in ``horizons``.

    Args:
        obs, action, next_obs: (N, obs_dim), (N, act_dim), (N, obs_dim) real transitions.
        episode_id, step_index: (N,) each transition's episode and index in it; a k-step
            window needs k consecutive steps of one episode (rows may come in any order).
        horizons: the k's (>= 1).
        dims: observation indices to score (default all), e.g. the constrained ones.

    Returns:
        ``{"k{k}_rmse": error in the observation's units, "k{k}_windows": count}``; the error
        is NaN where no window of that length exists.
    """
    order = np.lexsort((np.asarray(step_index), np.asarray(episode_id)))
    obs, action, next_obs = (np.asarray(a, np.float32)[order] for a in (obs, action, next_obs))
    episode_id, step_index = np.asarray(episode_id)[order], np.asarray(step_index)[order]
    dims = np.arange(obs.shape[1]) if dims is None else np.asarray(dims)
    # remaining[i]: consecutive steps of one episode from row i on (including row i).
    follows = (episode_id[1:] == episode_id[:-1]) & (step_index[1:] == step_index[:-1] + 1)
    remaining = np.ones(len(obs), int)
    for i in range(len(obs) - 2, -1, -1):
        if follows[i]:
            remaining[i] = remaining[i + 1] + 1
    result = {}
    for k in horizons:
        k = int(k)
        if k < 1:
            raise ValueError(f"horizons must be >= 1, got {k}")
        starts = np.nonzero(remaining >= k)[0]
        result[f"k{k}_windows"] = int(len(starts))
        if not len(starts):
            result[f"k{k}_rmse"] = float("nan")
            continue
        state = torch.as_tensor(obs[starts])
        for j in range(k):
            state, _, _ = surrogate.predict(state, torch.as_tensor(action[starts + j]), sample=False)
        error = state.numpy()[:, dims] - next_obs[starts + k - 1][:, dims]
        result[f"k{k}_rmse"] = float(np.sqrt(np.mean(error**2)))
    return result
