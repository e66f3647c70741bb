"""RLlib callback that reports the battery metrics (METRIC_KEYS) of every finished episode."""

from __future__ import annotations

import math

from ray.rllib.callbacks.callbacks import RLlibCallback

from rl_battery.envs.metrics import METRIC_KEYS


class BatteryMetricsCallback(RLlibCallback):
    """Logs ``info["episode_metrics"]`` of an episode's last step as ``env_runners/<key>``
    (mean over the last 100 episodes), e.g. ``env_runners/charge_time_min``."""

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        infos = episode.get_infos()
        last = infos[-1] if len(infos) else {}
        metrics = last.get("episode_metrics") if isinstance(last, dict) else None
        if not metrics or metrics_logger is None:
            return
        for key in METRIC_KEYS:
            value = metrics.get(key)
            if value is not None and math.isfinite(value):
                metrics_logger.log_value(key, float(value), reduce="mean", window=100)
