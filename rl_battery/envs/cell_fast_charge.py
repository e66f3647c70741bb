"""`CellFastCharge-v0`: fast charging of one PyBaMM SPMe cell under voltage, temperature and
lithium-plating limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium as gym
import numpy as np

from rl_battery.envs.charging import (
    OBS_BOUND,
    TEMPERATURE_OFFSET_K,
    TEMPERATURE_SCALE_K,
    VOLTAGE_OFFSET_V,
    VOLTAGE_SCALE_V,
    FastChargeEnv,
)
from rl_battery.envs.settings import ChargingSettings
from rl_battery.envs.step_record import StepRecord
from rl_battery.sim.cell import CellSimulator, CellStepResult, check_diffusivity_scale
from rl_battery.sim.parameters import cell_ratings

PLATING_SCALE_V = 0.1

#: Values of ``surface_observation``: what observation entry 9 (and with "profile" 10-12) holds.
SURFACE_OBSERVATIONS = ("max", "log_margin", "profile")
#: r / R inside the graphite particle where ``surface_observation="profile"`` reads the log
#: margin (entries 10-12), outer first.
PROFILE_RADII = (0.9, 0.75, 0.5)
#: The log margin's scale (-log10(1 - x) / 4) and the floor on 1 - x that keeps it finite
#: for a saturated surface (entry 9 then reads 3).
LOG_MARGIN_SCALE, LOG_MARGIN_FLOOR = 4.0, 1e-12


def surface_log_margin(x: float) -> float:
    """-log10(1 - x) [decades] of a surface stoichiometry x in [0, 1], with 1 - x floored at
    :data:`LOG_MARGIN_FLOOR` (a saturated surface reads 12)."""
    return float(-np.log10(max(1.0 - x, LOG_MARGIN_FLOOR)))


def check_surface_cost(w_surface: float, surface_margin_limit: float) -> tuple[float, float]:
    """(``w_surface``, ``surface_margin_limit``) as floats if they are valid (see the Rewards
    of :class:`CellFastCharge`).

    Raises:
        ValueError: ``w_surface`` negative or not finite, or ``surface_margin_limit`` outside
            [0, 1).
    """
    w, limit = float(w_surface), float(surface_margin_limit)
    if not (np.isfinite(w) and w >= 0.0):
        raise ValueError(f"w_surface must be finite and >= 0, got {w_surface}")
    if not 0.0 <= limit < 1.0:
        raise ValueError(f"surface_margin_limit must be in [0, 1), got {surface_margin_limit}")
    return w, limit


def check_surface_stoichiometry_limit(value: float | None) -> float | None:
    """``value`` as a float (or None) if it is a valid ``surface_stoichiometry_limit``.

    Raises:
        ValueError: not None and not a finite number in (0, 1).
    """
    if value is None:
        return None
    limit = float(value)
    if not 0.0 < limit < 1.0:
        raise ValueError(f"surface_stoichiometry_limit must be None or in (0, 1), got {value!r}")
    return limit


def check_surface_observation(value: str) -> str:
    """``value`` if it is one of :data:`SURFACE_OBSERVATIONS`.

    Raises:
        ValueError: any other value (the message lists the valid ones).
    """
    if value not in SURFACE_OBSERVATIONS:
        raise ValueError(f"surface_observation must be one of {list(SURFACE_OBSERVATIONS)}, got {value!r}")
    return value


@dataclass(frozen=True)
class CellStepRecord(StepRecord):
    """:class:`StepRecord` of a single cell plus a model state of the graphite particle.

    Attributes:
        step_max_surface_stoichiometry: maximum over the step of the negative particle's
            surface stoichiometry [-] (PyBaMM's "X-averaged negative particle surface
            stoichiometry"). Not a Parquet column (the record's ``as_dict`` and ``FIELDS``
            are the base class's).
        surface_stoichiometry: the same at the end of the step [-] (not a column either).
        profile_stoichiometry: the particle's stoichiometry at r / R = :data:`PROFILE_RADII`
            at the end of the step, shape (3,) [-] (linear between PyBaMM's radial nodes;
            not a column).
    """

    step_max_surface_stoichiometry: float = float("nan")
    surface_stoichiometry: float = float("nan")
    profile_stoichiometry: np.ndarray = field(default_factory=lambda: np.full(len(PROFILE_RADII), np.nan),
                                              compare=False, repr=False)


class CellFastCharge(FastChargeEnv):
    """Charge one lithium-ion cell (PyBaMM SPMe + lumped thermal) fast and safely.

    ## Description
    Every ``dt_s`` (90 s) the agent sets the charging current of a cell simulated by
    :class:`rl_battery.sim.CellSimulator` with any supported PyBaMM parameter set. The
    current range is given in C-rates of the set's nominal capacity (default 0.2C to 1.5C,
    the range of the meta-RL fast-charging work this project grew from: 1 A to 7.5 A for the
    5 Ah LG M50 cell of Chen2020 / OKane2022), so one experiment file fits every set; it may
    be given in amperes instead (``min_current_A`` / ``max_current_A``). The voltage limit
    defaults to the set's own "Upper voltage cut-off [V]" (4.1 V Marquis2019, 4.4 V
    ORegan2022, 4.2 V the others).

    Lithium plating: the indicator is the negative electrode's surface potential difference
    phi_s - phi_e at the separator (PyBaMM's "Negative electrode surface potential difference
    at separator interface [V]"), the lowest across the electrode. Below 0 V, lithium
    plating is thermodynamically possible (Li/Li+ equilibrium); it is a threshold, not a
    plating rate, for every set. Of the supported sets only OKane2022 and Ecker2015 carry
    plating kinetic parameters (OKane2022's "partially reversible" plating model, O'Kane et
    al. 2022, PCCP 24 7909); this env does not enable that submodel, so no lithium is lost
    to plating in any set, and for all eight the indicator means "plating possible here".
    With ``plating_is_constraint`` a step whose in-step minimum falls below
    ``plating_limit_V`` (default 0 V) is a violation, and the reference controllers keep
    it above.

    Surface saturation: with ``surface_stoichiometry_limit`` x_lim set, a step whose
    graphite surface stoichiometry x (PyBaMM's "X-averaged negative particle surface
    stoichiometry") exceeds x_lim at any of its check points is a violation
    (``surface_violations``), and the reference controllers and the optimum keep x <= x_lim.
    Bounds on the particle surface concentration stand in for voltage limits in SPM-based
    control (Namor et al. 2017, see Rewards). It keeps a diffusion-limited cell off the
    surface-saturation cliff. On ORegan2022 from SOC 0.1, the steps that keep the other
    limits end at 1 - x = 2e-4 to 1e-2, and 2 % more current saturates the surface: at
    x = 1 - 1e-6 the voltage jumps by 0.8 V to the cut-off, and the plating indicator drops
    from +0.01-0.05 V to -0.8 V. The look-ahead there takes 52.5 / 57.0 min with x_lim
    0.99 / 0.98, against 49.5 min without; on the other seven sets the limit does not bind.
    The policy's observation does not say whether the limit is set: one experiment file
    sets it for all its tasks.

    ## Action Space
    `Box(-1, 1, (1,), float32)`: -1 -> `min_current_A`, +1 -> `max_current_A`, linear in
    between (with `action_headroom` h > 0 the ends map h of the range further out and the
    current is clipped); out-of-range values are clipped, non-finite values end the episode
    (see Episode End).

    ## Observation Space
    `Box(-10, 10, (9,), float32)`, or (10,) with ``observe_surface_stoichiometry`` ((13,)
    with ``surface_observation="profile"`` too), (value - offset) / scale. Entries 5-8 say
    which limits apply, so one policy can serve several sets and settings:

    | Num | Observation | offset | scale |
    |-----|-------------|--------|-------|
    | 0 | SOC [-] | 0 | 1 |
    | 1 | terminal voltage [V] | 3.7 V | 0.5 V |
    | 2 | cell temperature [K] | 298.15 K | 20 K |
    | 3 | plating indicator [V] (phi_s - phi_e at the separator, min over the step) | 0 | 0.1 V |
    | 4 | charging current of the last step [A] | 0 | `max_current_A` |
    | 5 | voltage limit [V] | 3.7 V | 0.5 V |
    | 6 | temperature limit [K] | 298.15 K | 20 K |
    | 7 | `max_current_A` as a C-rate [1/h] | 0 | 1 |
    | 8 | plating is a constraint (1) or not (0) | 0 | 1 |
    | 9 | graphite surface stoichiometry x, max over the step (only with ``observe_surface_stoichiometry``) | 0 | 1 |
    | 9 | or, with ``surface_observation="log_margin"`` or ``"profile"``: -log10(1 - x) at the step's end | 0 | 4 |
    | 10-12 | only with ``"profile"``: -log10(1 - x(r)) inside the particle at r / R = 0.9, 0.75, 0.5, at the step's end | 0 | 4 |

    Entry 9 is a model state, not a measurement: on a real cell a model-based observer
    (e.g. an SPMe-based Kalman filter) would estimate it. RL fast-charging work observes
    the electrochemical model's states this way (Park et al. 2020, "Reinforcement
    learning-based fast charging control strategy for Li-ion batteries", IEEE CCTA, which
    observes SPMe particle concentrations). It is the only early warning of a
    diffusion-limited cell: when the surface stoichiometry reaches 1 the voltage jumps by
    ~0.8 V within seconds, while V, T and the plating indicator give no sign one step
    before (ORegan2022 at 0.85C: 3.94 V at 1930 s, 4.7 V at 1932 s).

    The cliff is logarithmic in the margin 1 - x. PyBaMM's graphite exchange-current
    density is j0 = k c_e^0.5 c_s^0.5 (c_max - c_s)^0.5 (Butler-Volmer kinetics, e.g.
    ``graphite_LGM50_electrolyte_exchange_current_density_Chen2020``), so the reaction
    overpotential (2RT/F) asinh(j / 2j0) grows like -(RT/F) ln(1 - x) as the surface fills.
    On ORegan2022 along the look-ahead's charge the steps that keep the limits end at
    1 - x = 2e-4 to 1e-2, while 10 % more current saturates the surface (1 - x = 1.3e-6,
    the cut-off at 4.7 V): as x (the default, ``surface_observation="max"``) these states
    differ by about 1e-3, as -log10(1 - x) they read 2 to 3.7 against 5.9. The log margin is
    taken at the step's end, the state the next step starts from; the maximum over the step
    includes its start, so after a lower current it repeats the previous step's value.

    The surface alone does not say how fast it will fill: that depends on the concentration
    gradient beneath it, which a step at a lower current leaves different at the same SOC and
    surface margin. ``"profile"`` adds the margin at three depths (PyBaMM's radial mesh of
    SPMe, 20 nodes, interpolated linearly), a coarse particle state like the one an SPMe
    observer estimates.

    ## Rewards
    ``r = w_soc * dSOC - w_time - w_v * max(0, V_max - (V_lim - b_V)) - w_T * max(0, T_max - T_lim)
    - w_plating * max(0, phi_lim + b_p - phi_min) - w_violation * [the step broke a constraint]
    - w_surface * max(0, log10(m_lim / (1 - x)))``:
    in-step maxima of voltage and temperature and the in-step minimum of the plating indicator;
    b_V is ``voltage_backoff_V`` and b_p ``plating_backoff_V`` (both default 0), margins inside
    the limits where the voltage and plating costs already apply while violations are still
    counted at V_lim and phi_lim.
    The last term (off by default: ``w_surface`` 0) is a soft bound on the graphite surface
    stoichiometry x at the step's end: a cost per decade by which its margin 1 - x (floored at
    1e-12) falls below ``surface_margin_limit`` m_lim. It counts no violation. Bounds on the
    particle surface concentration replace voltage limits in SPM-based control (Namor et al.
    2017, "Battery storage system optimal exploitation through physics-based model predictive
    control", IEEE PowerTech). Here it prices the approach to the surface-saturation cliff,
    which V, T and the plating indicator do not. On ORegan2022 from SOC 0.1, once the surface
    binds (SOC > 0.4), the look-ahead's steps end at 1 - x = 1.5e-4 to 4e-2 (19 of 25 below
    3e-3) and 2 % more current saturates the surface (the cut-off); 5 % / 10 % less current
    than the look-ahead's keeps 1 - x >= 1.6e-3 / 3.8e-3 and takes one / two 90 s steps more
    (51.0 / 52.5 min against 49.5). Measured there with ``w_surface`` 2 and a limit of 3e-3,
    it did not change what SAC from scratch deploys: its steps end far from saturation or at
    the cliff itself, so few steps fall in the graded range.
    The safety cut-off and failures add ``-failure_penalty``.

    ## Starting State
    At rest at ambient temperature, SOC uniform in ``initial_soc`` (number or [low, high];
    default 0.1), SOC measured in the set's own stoichiometry window.

    ## Episode End
    * Terminated: SOC >= ``target_soc`` (default 0.8).
    * Terminated with reward ``-failure_penalty``: solver failure (`info["solver_error"]`),
      non-finite action (`info["invalid_action"]`, never sent to the solver), or PyBaMM's
      hard voltage cut-off at V_lim + 0.3 V (`info["safety_event"]`).
    * Truncated: ``max_steps`` (default 60 steps = 90 min).

    ## Arguments
    ``gymnasium.make("CellFastCharge-v0", **env_config)`` with its own arguments
    ``parameter_set`` ("Chen2020"; unknown names raise `UnknownParameterSetError` listing the
    valid ones), ``min_c_rate`` (0.2) and ``max_c_rate`` (1.5) [1/h],
    ``negative_diffusivity_scale`` (1: the set as published; a factor in [0.001, 10] on its
    graphite diffusivity, see :class:`rl_battery.sim.CellSimulator`),
    ``surface_stoichiometry_limit`` (None: no limit; else in (0, 1), see the Description;
    values outside raise `ValueError`),
    ``observe_surface_stoichiometry`` (False; see Observation Space), ``surface_observation``
    ("max", "log_margin" or "profile": entry 9's form, and entries 10-12; other values raise
    `ValueError`), ``w_surface`` (0, >= 0, per decade) and ``surface_margin_limit`` (0, in
    [0, 1); see Rewards; values outside raise `ValueError`), and every field of
    :class:`rl_battery.envs.settings.ChargingSettings`: ``min_current_A`` /
    ``max_current_A`` (default: the C-rates times the set's nominal capacity),
    ``target_soc`` (0.8), ``initial_soc`` (0.1), ``max_steps`` (60), ``dt_s`` (90),
    ``ambient_temperature_K`` (298.15), ``voltage_limit_V`` (the set's upper cut-off),
    ``temperature_limit_K`` (318.15), ``plating_limit_V`` (0), ``plating_is_constraint``
    (False), ``w_soc`` (100), ``w_time`` (1), ``w_v`` (100 per V), ``voltage_backoff_V`` (0),
    ``w_T`` (1 per K), ``w_plating`` (100 per V here), ``plating_backoff_V`` (0), ``w_violation`` (0),
    ``failure_penalty`` (50). Unknown keys raise `TypeError` listing the valid ones.

    ## Tasks
    :meth:`set_task` switches the parameter set, the ambient temperature, the start SOC and
    the graphite diffusivity scale between episodes (Reptile meta-learning sets the task on
    every env runner this way); limits the env_config gave in amperes or volts stay, the
    others follow the new set.
    """

    #: Settings that follow the parameter set unless the env_config gives them.
    _RATED_SETTINGS = ("min_current_A", "max_current_A", "voltage_limit_V")

    @classmethod
    def _settings_defaults(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"w_plating": 100.0, **cls._rated_defaults(
            config.get("parameter_set", "Chen2020"), config.get("min_c_rate", 0.2), config.get("max_c_rate", 1.5))}

    @staticmethod
    def _rated_defaults(parameter_set, min_c_rate: float, max_c_rate: float) -> dict[str, float]:
        """The current range [A] from C-rates and the voltage limit [V] of ``parameter_set``."""
        if not 0.0 <= min_c_rate < max_c_rate:
            raise ValueError(f"need 0 <= min_c_rate < max_c_rate, got {min_c_rate}, {max_c_rate}")
        ratings = cell_ratings(parameter_set)
        return {"min_current_A": min_c_rate * ratings.nominal_capacity_Ah,
                "max_current_A": max_c_rate * ratings.nominal_capacity_Ah,
                "voltage_limit_V": ratings.upper_voltage_cutoff_V}

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        super().check_config(config)
        check_surface_observation(config.get("surface_observation", "max"))
        check_surface_cost(config.get("w_surface", 0.0), config.get("surface_margin_limit", 0.0))
        check_surface_stoichiometry_limit(config.get("surface_stoichiometry_limit"))

    def _configure(self, *, parameter_set: str = "Chen2020", min_c_rate: float = 0.2, max_c_rate: float = 1.5,
                   negative_diffusivity_scale: float = 1.0, observe_surface_stoichiometry: bool = False,
                   surface_observation: str = "max", w_surface: float = 0.0,
                   surface_margin_limit: float = 0.0, surface_stoichiometry_limit: float | None = None) -> None:
        self._w_surface, self._surface_margin_limit = check_surface_cost(w_surface, surface_margin_limit)
        self.surface_stoichiometry_limit = check_surface_stoichiometry_limit(surface_stoichiometry_limit)
        self._c_rates = (float(min_c_rate), float(max_c_rate))
        self._simulators: dict[str, CellSimulator] = {}
        self._diffusivity_scale = check_diffusivity_scale(negative_diffusivity_scale)
        self._observe_surface = bool(observe_surface_stoichiometry)
        self._surface_observation = check_surface_observation(surface_observation)
        size = 9 if not self._observe_surface else 13 if self._surface_observation == "profile" else 10
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(size,), dtype=np.float32)
        self._use_set(parameter_set)

    def _use_set(self, parameter_set) -> None:
        name = parameter_set if isinstance(parameter_set, str) else "custom"
        if name not in self._simulators or name == "custom":
            # Built once per set and kept: a set's model takes about a second to build.
            self._simulators[name] = CellSimulator(parameter_set, dt_s=self.settings.dt_s,
                                                   ambient_temperature_K=self.settings.ambient_temperature_K)
        self.sim = self._simulators[name]
        self.sim.ambient_temperature_K = self.settings.ambient_temperature_K
        self.sim.negative_diffusivity_scale = self._diffusivity_scale  # the task's, not the set's
        self.parameter_set = name
        self.task_id = f"cell:{name}"

    @property
    def task(self) -> dict[str, Any]:
        """The current task: ``{"parameter_set", "ambient_temperature_K", "initial_soc",
        "negative_diffusivity_scale"}``."""
        s = self.settings
        return {"parameter_set": self.parameter_set, "ambient_temperature_K": s.ambient_temperature_K,
                "initial_soc": s.initial_soc, "negative_diffusivity_scale": self._diffusivity_scale}

    @classmethod
    def configured_task(cls, env_config: Mapping[str, Any], parameter_set: str) -> dict[str, Any]:
        """The whole task an env made from ``env_config`` runs on ``parameter_set``: every
        part given, so :meth:`set_task` with it leaves nothing of an earlier task."""
        defaults = ChargingSettings()
        ambient = env_config.get("ambient_temperature_K", defaults.ambient_temperature_K)
        soc = env_config.get("initial_soc", defaults.initial_soc)
        return {"parameter_set": parameter_set, "ambient_temperature_K": float(ambient),
                "initial_soc": soc if np.isscalar(soc) else list(soc),
                "negative_diffusivity_scale": float(env_config.get("negative_diffusivity_scale", 1.0))}

    def set_task(self, *, parameter_set: str | None = None, ambient_temperature_K: float | None = None,
                 initial_soc: float | tuple[float, float] | None = None,
                 negative_diffusivity_scale: float | None = None) -> None:
        """Switch the task from the next :meth:`reset` on (None keeps a part as it is).

        The current range and voltage limit follow the new set (C-rates of its capacity, its
        upper cut-off) unless the env_config gave them explicitly.

        Raises:
            UnknownParameterSetError: unknown set (the message lists the valid ones).
            ValueError: an ambient temperature, start SOC or diffusivity scale outside its
                range.
        """
        scale = self._diffusivity_scale if negative_diffusivity_scale is None else (
            check_diffusivity_scale(negative_diffusivity_scale))
        changes: dict[str, Any] = {}
        if parameter_set is not None:
            rated = self._rated_defaults(parameter_set, *self._c_rates)
            changes.update({k: v for k, v in rated.items() if k not in self.env_config})
        if ambient_temperature_K is not None:
            changes["ambient_temperature_K"] = float(ambient_temperature_K)
        if initial_soc is not None:
            changes["initial_soc"] = initial_soc if np.isscalar(initial_soc) else tuple(initial_soc)
        self.settings = replace(self.settings, **changes)  # validates before anything changes
        self._diffusivity_scale = scale
        if parameter_set is not None:
            self._use_set(parameter_set)
        self.sim.ambient_temperature_K = self.settings.ambient_temperature_K
        self.sim.negative_diffusivity_scale = scale
        self._last = None  # the next step needs a reset

    def _record(self, r: CellStepResult) -> CellStepRecord:
        return CellStepRecord(
            time_s=r.time_s, soc=r.soc, current_A=r.current_A, pack_voltage_V=r.voltage_V, soh=1.0, equivalent_cycles=0.0,
            step_max_cell_voltage_V=r.max_voltage_V, step_max_cell_temperature_K=r.max_temperature_K,
            step_min_plating_potential_V=r.min_plating_potential_V,
            cell_current_A=np.array([r.current_A]), cell_voltage_V=np.array([r.voltage_V]),
            cell_ocv_V=np.array([r.ocv_V]), cell_temperature_K=np.array([r.temperature_K]),
            cell_soc=np.array([r.soc]), cell_step_min_plating_potential_V=np.array([r.min_plating_potential_V]),
            cell_soh=np.ones(1), cell_capacity_Ah=np.array([self.sim.nominal_capacity_Ah]),
            cell_contact_resistance_Ohm=np.zeros(1), event=r.event,
            step_max_surface_stoichiometry=r.max_surface_stoichiometry,
            surface_stoichiometry=r.surface_stoichiometry,
            profile_stoichiometry=np.interp(PROFILE_RADII, self.sim.particle_radii, r.particle_stoichiometry),
        )

    def limits_crossed(self, record: StepRecord) -> dict[str, bool]:
        """The base class's, plus "surface": the in-step maximum surface stoichiometry above
        ``surface_stoichiometry_limit`` (always False without that limit)."""
        limit = self.surface_stoichiometry_limit
        surface = limit is not None and bool(record.step_max_surface_stoichiometry > limit)
        return {**super().limits_crossed(record), "surface": surface}

    def violates_limits(self, record: StepRecord) -> bool:
        """The base class's constraints, or the surface stoichiometry above its limit."""
        return super().violates_limits(record) or self.limits_crossed(record)["surface"]

    def observation_limits(self, *, voltage_margin_V: float = 0.0,
                           temperature_margin_K: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The base class's limits, and with ``surface_stoichiometry_limit`` and an observed
        surface the limit on entry 9 in its form (x, or the log margin)."""
        s = self.settings
        size = self.observation_space.shape[0]
        low, high = np.full(size, -np.inf, np.float32), np.full(size, np.inf, np.float32)
        high[1] = (s.voltage_limit_V - voltage_margin_V - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V
        high[2] = (s.temperature_limit_K - temperature_margin_K - TEMPERATURE_OFFSET_K) / TEMPERATURE_SCALE_K
        if s.plating_is_constraint:
            low[3] = s.plating_limit_V / PLATING_SCALE_V
        limit = self.surface_stoichiometry_limit
        if limit is not None and self._observe_surface:
            high[9] = limit if self._surface_observation == "max" else surface_log_margin(limit) / LOG_MARGIN_SCALE
        return low, high

    def _observation(self, r: CellStepRecord) -> np.ndarray:
        s = self.settings
        surface = self._surface_entries(r) if self._observe_surface else []
        return self._clip_obs([
            r.soc,
            (r.pack_voltage_V - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V,
            (r.cell_temperature_K[0] - TEMPERATURE_OFFSET_K) / TEMPERATURE_SCALE_K,
            r.step_min_plating_potential_V / PLATING_SCALE_V,
            r.current_A / self.max_current_A,
            (s.voltage_limit_V - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V,
            (s.temperature_limit_K - TEMPERATURE_OFFSET_K) / TEMPERATURE_SCALE_K,
            s.max_current_A / self.sim.nominal_capacity_Ah,
            float(s.plating_is_constraint),
            *surface,
        ])

    def _surface_entries(self, r: CellStepRecord) -> list[float]:
        """Observation entries 9 to 12 (Observation Space): x max over the step, or the log
        margin, or the log margin at the surface and at :data:`PROFILE_RADII`."""
        if self._surface_observation == "max":
            return [r.step_max_surface_stoichiometry]
        depths = r.profile_stoichiometry if self._surface_observation == "profile" else []
        return [surface_log_margin(x) / LOG_MARGIN_SCALE for x in (r.surface_stoichiometry, *depths)]

    def _reward(self, prev: CellStepRecord, r: CellStepRecord) -> float:
        """The shared reward minus the surface cost (Rewards)."""
        return super()._reward(prev, r) - self.surface_cost(r)

    def surface_cost(self, r: CellStepRecord) -> float:
        """The step's surface-margin cost, ``w_surface * max(0, log10(m_lim / (1 - x)))`` with x
        the surface stoichiometry at the step's end (Rewards); 0 while the cost is off."""
        if self._w_surface == 0.0 or self._surface_margin_limit == 0.0:
            return 0.0
        decades_below = surface_log_margin(r.surface_stoichiometry) + np.log10(self._surface_margin_limit)
        return self._w_surface * max(0.0, float(decades_below))
