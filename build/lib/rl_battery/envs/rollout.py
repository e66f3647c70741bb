"""Roll one episode of any policy on an rl_battery env (baselines, checkpoints, benchmarks)."""

from __future__ import annotations

from typing import Callable

import numpy as np

#: A policy: (observation, info of the last step) -> action in the env's action space.
Policy = Callable[[np.ndarray, dict], np.ndarray]


def schedule_policy(env, currents_A) -> Policy:
    """A policy that replays a current schedule [A], one current per env step (the last one
    repeats if the episode runs on); a new episode (``time_s == 0``) starts it again."""
    currents = np.asarray(currents_A, dtype=float).reshape(-1)
    base = env.unwrapped

    def act(obs, info):
        k = min(int(round(info["time_s"] / base.settings.dt_s)), currents.size - 1)
        return base.current_to_action(currents[k])

    return act


def run_episode(env, act: Policy, *, initial_soc: float | None = None, seed: int | None = None,
                on_step: Callable[[dict], None] | None = None) -> dict[str, float]:
    """Roll one episode with ``act(obs, info) -> action``; return the env's episode metrics.

    Args:
        env: an rl_battery env (wrapped or not): fast charging or passive balancing.
        act: the policy; it sees the info of the last reset/step (a stateful baseline calls
            its own ``reset`` when ``info["time_s"] == 0``, or is reset by the caller).
        initial_soc: start SOC (else the env's own ``initial_soc`` setting); fast-charging envs only.
        seed: passed to ``env.reset``.
        on_step: receives every info dict (the reset's too), with ``info["reward"]`` added.

    Returns:
        ``env.unwrapped.episode_metrics`` (keys :data:`rl_battery.envs.METRIC_KEYS`, or
        :data:`rl_battery.envs.BALANCING_METRIC_KEYS` for passive balancing).
    """
    options = None if initial_soc is None else {"initial_soc": initial_soc}
    obs, info = env.reset(seed=seed, options=options)
    if on_step:
        on_step(dict(info, reward=0.0))
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(act(obs, info))
        if on_step:
            on_step(dict(info, reward=reward))
        done = terminated or truncated
    return env.unwrapped.episode_metrics


def record_episode(env, act: Policy, *, initial_soc: float | None = None,
                   seed: int | None = None) -> tuple[np.ndarray, list[dict], dict[str, float]]:
    """:func:`run_episode`, keeping what it saw.

    Returns:
        (observations (T + 1, obs_dim): at reset and after each of the T steps; the T + 1
        info dicts, each with ``reward`` added; the episode metrics).
    """
    observations, infos = [], []

    def recording(obs, info):
        observations.append(np.asarray(obs, np.float32))
        return act(obs, info)

    metrics = run_episode(env, recording, initial_soc=initial_soc, seed=seed, on_step=infos.append)
    observations.append(np.asarray(env.unwrapped.last_observation, np.float32))
    return np.stack(observations), infos, metrics
