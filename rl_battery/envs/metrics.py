"""The one metric vocabulary for callbacks, evaluation and benchmarks (episode-level keys)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

def stopped_short(final_soc: float, target_soc: float) -> bool:
    """The charge ended below the target SOC (the safety cut-off or the step limit ended
    it); 1e-3 of slack for the solver's last step."""
    return bool(final_soc < target_soc - 1e-3)


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
    "surface_violations",
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
        surface_violations: steps whose in-step maximum graphite surface stoichiometry
            exceeded the cell env's ``surface_stoichiometry_limit`` (0 where no such limit
            is set, and in the pack env); part of ``constraint_violations``.
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
    surface_violations: int = 0
    episode_return: float = 0.0

    def update(self, record, *, violated: bool, reward: float, voltage: bool = False,
               temperature: bool = False, plating: bool = False, surface: bool = False) -> None:
        """Fold in one step's :class:`~rl_battery.envs.step_record.StepRecord`; ``violated``
        is whether it broke any constraint, ``voltage``/``temperature``/``plating``/``surface``
        which limit it crossed."""
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
        self.surface_violations += int(bool(surface))
        self.episode_return += float(reward)

    def as_dict(self) -> dict[str, float]:
        return {k: (float(v) if np.isfinite(v) else float("nan")) for k, v in asdict(self).items()}


#: Profile phases the balancing SOC variance is split by, in the order of the profile current's
#: sign (< 0, 0, > 0); ``soc_variance_<phase>`` are the metric keys.
SOC_VARIANCE_PHASES = ("discharge", "rest", "charge")
#: Episode metric keys of the passive-balancing env (:class:`BalancingMetrics`), report order.
BALANCING_METRIC_KEYS = (
    "usable_capacity_Ah",
    "usable_discharge_Ah",
    "usable_charge_Ah",
    "soc_variance_mean",
    *(f"soc_variance_{phase}" for phase in SOC_VARIANCE_PHASES),
    "soc_spread_final",
    "switch_count",
    "shunt_energy_Wh",
    "blocked_switches",
    "episode_return",
)


@dataclass
class BalancingMetrics:
    """Running per-episode metrics of the passive-balancing env, updated once per step.

    Attributes:
        usable_capacity_Ah: charge the pack delivered plus took at its terminals while every
            cell was inside its SOC and voltage window [Ah] (the load of a profile phase is
            cut when the first cell reaches a cut-off; ``usable_discharge_Ah`` +
            ``usable_charge_Ah``).
        usable_discharge_Ah, usable_charge_Ah: its discharge and charge parts [Ah].
        soc_variance_mean: variance of the cell SOCs across cells, averaged over the steps [-].
        soc_variance_discharge, soc_variance_rest, soc_variance_charge: the parts of
            ``soc_variance_mean`` from the steps whose profile current discharges (< 0), rests
            (0) or charges (> 0): each is the sum of those steps' variances over all the
            episode's steps, so the three add up to ``soc_variance_mean`` and say in which
            phase the imbalance lies (a drive cycle's regenerative steps count as charge).
        soc_spread_final: max - min cell SOC at the last step [-].
        switch_count: shunt switch changes (on->off and off->on), summed over cells.
        shunt_energy_Wh: energy dissipated in the shunts [Wh].
        blocked_switches: shunt switch-ons the env refused (cell at its lower SOC limit, or
            the lowest cell during discharge).
        episode_return: sum of rewards.
    """

    usable_capacity_Ah: float = 0.0
    usable_discharge_Ah: float = 0.0
    usable_charge_Ah: float = 0.0
    soc_variance_mean: float = 0.0
    soc_variance_discharge: float = 0.0
    soc_variance_rest: float = 0.0
    soc_variance_charge: float = 0.0
    soc_spread_final: float = float("nan")
    switch_count: int = 0
    shunt_energy_Wh: float = 0.0
    blocked_switches: int = 0
    episode_return: float = 0.0
    steps: int = 0
    #: Variance summed over the discharge, rest and charge steps.
    _variance_sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0], repr=False)

    def update(self, record, *, switch_changes: int, reward: float) -> None:
        """Fold in one step's :class:`~rl_battery.envs.step_record.BalancingStepRecord`."""
        soc = np.asarray(record.cell_soc)
        delivered = abs(record.pack_current_A) * record.dt_s / 3600.0
        if record.pack_current_A < 0:
            self.usable_discharge_Ah += delivered
        else:
            self.usable_charge_Ah += delivered
        self.usable_capacity_Ah = self.usable_discharge_Ah + self.usable_charge_Ah
        self.steps += 1
        self._variance_sums[int(np.sign(record.profile_current_A)) + 1] += float(soc.var())
        for phase, total in zip(SOC_VARIANCE_PHASES, self._variance_sums):
            setattr(self, f"soc_variance_{phase}", total / self.steps)
        self.soc_variance_mean = sum(self._variance_sums) / self.steps
        self.soc_spread_final = float(soc.max() - soc.min())
        self.switch_count += int(switch_changes)
        self.shunt_energy_Wh += float(np.sum(record.shunt_energy_Wh))
        self.blocked_switches += int(record.blocked_switches)
        self.episode_return += float(reward)

    def as_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in BALANCING_METRIC_KEYS}
