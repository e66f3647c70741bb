"""The one metric vocabulary for callbacks, evaluation and benchmarks (episode-level keys)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Keys of :class:`EpisodeMetrics`, in report order.
METRIC_KEYS = (
    "charge_time_min",
    "final_soc",
    "max_cell_voltage_V",
    "max_cell_temperature_K",
    "min_plating_potential_V",
    "constraint_violations",
    "episode_return",
)


@dataclass
class EpisodeMetrics:
    """Running per-episode metrics, updated once per env step.

    Attributes:
        charge_time_min: time until the target SOC was reached, or the elapsed time if it
            was not (then ``final_soc`` < target tells) [min].
        final_soc: SOC at the last step [-].
        max_cell_voltage_V: highest cell voltage seen over all steps' output points [V].
        max_cell_temperature_K: highest cell temperature seen [K].
        min_plating_potential_V: lowest plating indicator seen [V] (< 0: plating possible).
        constraint_violations: steps in which a voltage or temperature limit was exceeded.
        episode_return: sum of rewards.
    """

    charge_time_min: float = 0.0
    final_soc: float = float("nan")
    max_cell_voltage_V: float = float("-inf")
    max_cell_temperature_K: float = float("-inf")
    min_plating_potential_V: float = float("inf")
    constraint_violations: int = 0
    episode_return: float = 0.0

    def update(self, record, *, violated: bool, reward: float) -> None:
        """Fold in one step's :class:`~rl_battery.envs.step_record.StepRecord`."""
        # Episodes end when the target SOC is reached, so elapsed time is the charge time.
        self.charge_time_min = float(record.time_s) / 60.0
        self.final_soc = float(record.soc)
        self.max_cell_voltage_V = max(self.max_cell_voltage_V, float(record.step_max_cell_voltage_V))
        self.max_cell_temperature_K = max(self.max_cell_temperature_K, float(record.step_max_cell_temperature_K))
        self.min_plating_potential_V = min(self.min_plating_potential_V, float(record.step_min_plating_potential_V))
        self.constraint_violations += int(bool(violated))
        self.episode_return += float(reward)

    def as_dict(self) -> dict[str, float]:
        return {k: (float(v) if np.isfinite(v) else float("nan")) for k, v in asdict(self).items()}
