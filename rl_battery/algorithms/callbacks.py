"""RLlib callbacks of every experiment: the battery metrics (METRIC_KEYS,
BALANCING_METRIC_KEYS) of every finished episode, and a seeded replay buffer."""

from __future__ import annotations

import math

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from rl_battery.envs.metrics import BALANCING_METRIC_KEYS, METRIC_KEYS

#: Every key an episode may report (charging and balancing; episode_return once).
REPORTED_KEYS = tuple(dict.fromkeys(METRIC_KEYS + BALANCING_METRIC_KEYS))


class BatteryMetricsCallback(RLlibCallback):
    """Logs ``info["episode_metrics"]`` of an episode's last step as ``env_runners/<key>``
    (mean over the last 100 episodes), e.g. ``env_runners/charge_time_min`` or
    ``env_runners/usable_capacity_Ah``; keys an env does not report are skipped."""

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        infos = episode.get_infos()
        last = infos[-1] if len(infos) else {}
        metrics = last.get("episode_metrics") if isinstance(last, dict) else None
        if not metrics or metrics_logger is None:
            return
        for key in REPORTED_KEYS:
            value = metrics.get(key)
            if value is not None and math.isfinite(value):
                metrics_logger.log_value(key, float(value), reduce="mean", window=100)


#: Stream of the run's seed that the replay buffer samples from (see :func:`seed_replay_buffer`).
REPLAY_STREAM = 2


def seed_replay_buffer(buffer, seed: int | None, stream: int | None = REPLAY_STREAM) -> None:
    """Make ``buffer`` sample from ``numpy.random.default_rng((seed, stream))``, or from
    ``default_rng(seed)`` with ``stream`` None.

    RLlib's ``EpisodeReplayBuffer`` (and ``PrioritizedEpisodeReplayBuffer``) in Ray 2.60
    draws its minibatches from ``np.random.default_rng(seed=None)``, OS entropy, whatever
    ``debugging.seed`` says: two SAC or DQN runs with the same seed learn from different
    batches and drift apart. Nothing happens for ``seed`` None or a buffer without ``rng``.
    The generator's state is not part of RLlib's buffer checkpoint, so a restored run
    samples from the start of the stream again.
    """
    if seed is not None and buffer is not None and hasattr(buffer, "rng"):
        buffer.rng = np.random.default_rng(int(seed) if stream is None else (int(seed), int(stream)))


class SeededReplayCallback(RLlibCallback):
    """Seeds an off-policy algorithm's replay buffer from ``debugging.seed`` once the
    algorithm is built (:func:`seed_replay_buffer`)."""

    def on_algorithm_init(self, *, algorithm, metrics_logger=None, **kwargs) -> None:
        seed_replay_buffer(getattr(algorithm, "local_replay_buffer", None), algorithm.config.seed)
