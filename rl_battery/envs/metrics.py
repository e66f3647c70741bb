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
    "voltage_violations",
    "temperature_violations",
    "plating_violations",
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
        constraint_violations: steps that broke any constraint of the env (voltage,
            temperature, and plating where ``plating_is_constraint``).
        voltage_violations: steps whose in-step maximum cell voltage exceeded the limit.
        temperature_violations: steps whose in-step maximum cell temperature exceeded the limit.
        plating_violations: steps whose in-step minimum plating indicator fell below the
            plating limit; counted whether or not plating is a constraint (so it can be
            reported for every policy), but only part of ``constraint_violations`` when it is.
        episode_return: sum of rewards.
    """

    charge_time_min: float = 0.0
    final_soc: float = float("nan")
    max_cell_voltage_V: float = float("-inf")
    max_cell_temperature_K: float = float("-inf")
    min_plating_potential_V: float = float("inf")
    constraint_violations: int = 0
    voltage_violations: int = 0
    temperature_violations: int = 0
    plating_violations: int = 0
    episode_return: float = 0.0

    def update(self, record, *, violated: bool, reward: float, voltage: bool = False,
               temperature: bool = False, plating: bool = False) -> None:
        """Fold in one step's :class:`~rl_battery.envs.step_record.StepRecord`; ``violated``
        is whether it broke any constraint, ``voltage``/``temperature``/``plating`` which
        limit it crossed."""
        # Episodes end when the target SOC is reached, so elapsed time is the charge time.
        self.charge_time_min = float(record.time_s) / 60.0
        self.final_soc = float(record.soc)
        self.max_cell_voltage_V = max(self.max_cell_voltage_V, float(record.step_max_cell_voltage_V))
        self.max_cell_temperature_K = max(self.max_cell_temperature_K, float(record.step_max_cell_temperature_K))
        self.min_plating_potential_V = min(self.min_plating_potential_V, float(record.step_min_plating_potential_V))
        self.constraint_violations += int(bool(violated))
        self.voltage_violations += int(bool(voltage))
        self.temperature_violations += int(bool(temperature))
        self.plating_violations += int(bool(plating))
        self.episode_return += float(reward)

    def as_dict(self) -> dict[str, float]:
        return {k: (float(v) if np.isfinite(v) else float("nan")) for k, v in asdict(self).items()}
