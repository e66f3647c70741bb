"""RLlib callback that reports the battery metrics (METRIC_KEYS, BALANCING_METRIC_KEYS) of every finished episode."""

from __future__ import annotations

import math

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
