"""`PackFastCharge-v0`: fast charging of an aged, heterogeneous liionpack pack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from rl_battery.envs.step_record import StepRecord
from rl_battery.sim.heterogeneity import CellHeterogeneity
from rl_battery.sim.pack import PackSimulator, PackStepResult

_SPREAD_SCALES = (0.05, 2.0, 0.02)  # std scales: voltage [V], temperature [K], SOC [-]


class PackFastCharge(FastChargeEnv):
    """Charge an Np x Ns pack of aged, heterogeneous cells as fast as the limits allow.

    ## Description
    A liionpack pack (default 3P6S, Chen2020 SPMe + lumped thermal cells, see
    :class:`rl_battery.sim.PackSimulator`) whose cells differ in SOH, capacity, contact
    resistance and cooling, sampled from ``pack_seed`` (see Starting State). Every 90 s the agent
    sets the pack charging current. The pack SOC is the mean cell SOC.

    ## Action Space
    `Box(-1, 1, (1,), float32)`, mapped linearly to a pack charging current:

    | Num | Action | Min | Max |
    |-----|--------|-----|-----|
    | 0 | pack current, -1 -> `min_current_A`, +1 -> `max_current_A` | -1 | 1 |

    With `action_headroom` h > 0 the ends map h of the range further out and the current is
    clipped. Defaults 3 A to 22.5 A: 1 A to 7.5 A per cell for Np = 3 (Chen2020: 0.2C to 1.5C).
    Out-of-range actions are clipped; non-finite actions end the episode (see Episode End).

    ## Observation Space
    `Box(-10, 10, (14,), float32)`, normalized as (value - offset) / scale:

    | Num | Observation | offset | scale |
    |-----|-------------|--------|-------|
    | 0-3 | cell voltage max, min, mean [V] and std | 3.7 V (std: 0) | 0.5 V (std: 0.05 V) |
    | 4-7 | cell temperature max, min, mean [K] and std | 298.15 K (std: 0) | 20 K (std: 2 K) |
    | 8-11 | cell SOC max, min, mean and std | 0 | 1 (std: 0.02) |
    | 12 | pack current of the last step [A] | 0 | `max_current_A` |
    | 13 | pack SOH (weakest series group), or the reported SOH (see Starting State) | 0 | 1 |

    Voltages and temperatures are end-of-step values; `info` carries the physical per-cell
    arrays and the in-step maxima.

    ## Rewards
    ``r = w_soc * dSOC - w_time - w_v * max(0, V_cell_max - (V_lim - b_V)) - w_T * max(0, T_cell_max - T_lim)
    - w_violation * [the step broke a limit]``
    with dSOC the change of pack SOC, V_cell_max the highest cell voltage over the step's
    output points, T_cell_max the highest cell temperature and b_V ``voltage_backoff_V``
    (default 0). The safety cut-off event and failures add ``-failure_penalty``.

    ## Starting State
    Cells at rest at ambient temperature, all at the same SOC drawn uniformly from
    ``initial_soc`` (a number or a [low, high] pair; default 0.1). With a list of
    ``pack_seed`` values or a [low, high] ``soh_mean`` range, every episode first draws a new
    pack (seed from the list, mean SOH uniform in the range; the cells are re-sampled without
    rebuilding the model), so one policy learns over a distribution of packs; the pack SOH is
    observation 13 and ``info["task_id"]`` names the pack. With ``age_cycles`` > 0 the drawn
    cells are then aged by that many equivalent full cycles at ``ageing_c_rate`` and
    ``ageing_temperature_K`` (:class:`rl_battery.sim.ageing.AgeingLaw`: each cell at its own
    rate; capacity falls and resistance grows); :meth:`set_age` changes the age between
    episodes. :meth:`set_condition` sets the deployment condition in one call: the age, a
    pinned pack (one seed and mean SOH instead of the drawn ones) and a *reported* SOH, the
    value a battery management system would hold (e.g. the last calibrated one), which then
    replaces the true pack SOH in observation 13. The truth (``soh``, ``cell_soh``,
    ``cell_capacity_Ah``, ``cell_contact_resistance_Ohm``) is always in ``info``.

    ## Episode End
    * Terminated: pack SOC >= ``target_soc`` (default 0.8).
    * Terminated with reward ``-failure_penalty``: the solver failed (`info["solver_error"]`),
      the action was not finite (`info["invalid_action"]`, never sent to the solver), or a
      cell crossed PyBaMM's hard cut-off (V_lim + 0.3 V; `info["safety_event"]`, reward is
      the step's reward minus the penalty).
    * Truncated: ``max_steps`` steps (default 60, i.e. 90 min).

    ## Arguments
    ``gymnasium.make("PackFastCharge-v0", **env_config)`` with its own arguments ``Np`` (3),
    ``Ns`` (6), ``parameter_set`` ("Chen2020"), ``pack_seed`` (0, or a list to draw from per
    episode), ``soh_mean`` (0.9, or a [low, high] range drawn per episode), ``soh_std``
    (0.03), ``mesh`` ("coarse", see :data:`rl_battery.sim.pack.MESHES`), ``age_cycles`` (0, >= 0),
    ``ageing_c_rate`` (1.0, >= 0), ``ageing_temperature_K`` (None: the ambient), and every field of
    :class:`rl_battery.envs.settings.ChargingSettings`: ``min_current_A`` (1 A x Np),
    ``max_current_A`` (7.5 A x Np), ``target_soc`` (0.8), ``initial_soc`` (0.1),
    ``max_steps`` (60), ``dt_s`` (90), ``ambient_temperature_K`` (298.15),
    ``voltage_limit_V`` (4.2), ``temperature_limit_K`` (318.15), ``plating_limit_V`` (0),
    ``plating_is_constraint`` (False), ``w_soc`` (100), ``w_time`` (1), ``w_v`` (100 per V),
    ``voltage_backoff_V`` (0), ``w_T`` (1 per K), ``w_plating`` (0), ``plating_backoff_V`` (0),
    ``w_violation`` (0), ``failure_penalty`` (50). Unknown keys raise `TypeError` listing the
    valid ones.
    """

    @classmethod
    def _settings_defaults(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        np_ = int(config.get("Np", 3))
        return {"min_current_A": 1.0 * np_, "max_current_A": 7.5 * np_}

    def _configure(
        self,
        *,
        Np: int = 3,
        Ns: int = 6,
        parameter_set: str = "Chen2020",
        pack_seed: int | Sequence[int] = 0,
        soh_mean: float | Sequence[float] = 0.9,
        soh_std: float = 0.03,
        mesh: str = "coarse",
        age_cycles: float = 0.0,
        ageing_c_rate: float = 1.0,
        ageing_temperature_K: float | None = None,
    ) -> None:
        self._seeds = [int(v) for v in pack_seed] if isinstance(pack_seed, Sequence) else [int(pack_seed)]
        soh_range = tuple(float(v) for v in soh_mean) if isinstance(soh_mean, Sequence) else (float(soh_mean),) * 2
        if not self._seeds or len(soh_range) != 2 or not 0.5 < soh_range[0] <= soh_range[1] <= 1.0:
            raise ValueError(f"pack_seed must be an int or a non-empty list, soh_mean a number or [low, high] "
                             f"in (0.5, 1]; got pack_seed={pack_seed!r}, soh_mean={soh_mean!r}")
        self._soh_range, self._soh_std, self._parameter_set = soh_range, float(soh_std), parameter_set
        s = self.settings
        self.sim = PackSimulator(
            Np, Ns, parameter_set,
            heterogeneity=CellHeterogeneity(soh_mean=soh_range[0], soh_std=soh_std),
            seed=self._seeds[0], dt_s=s.dt_s, ambient_temperature_K=s.ambient_temperature_K, mesh=mesh,
        )
        self._pack = (self._seeds[0], soh_range[0])
        self._pinned: tuple[int, float] | None = None
        self._reported_soh: float | None = None
        self.set_age(age_cycles, c_rate=ageing_c_rate, temperature_K=ageing_temperature_K)
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(14,), dtype=np.float32)

    @classmethod
    def pinned_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """A seed list -> its first seed; an SOH range -> its midpoint (see the base class)."""
        pinned = dict(config)
        seeds, soh = pinned.get("pack_seed"), pinned.get("soh_mean")
        if isinstance(seeds, Sequence) and seeds:
            pinned["pack_seed"] = int(seeds[0])
        if isinstance(soh, Sequence) and len(soh) == 2:
            pinned["soh_mean"] = 0.5 * (float(soh[0]) + float(soh[1]))
        return pinned

    @property
    def samples_packs(self) -> bool:
        """Whether each episode draws a new pack (a seed list or an SOH range was given, and
        no pack is pinned by :meth:`set_condition`)."""
        return self._pinned is None and (len(self._seeds) > 1 or self._soh_range[0] < self._soh_range[1])

    @property
    def pinned_pack(self) -> tuple[int, float]:
        """(pack seed, mean SOH) of the pack the pinned configuration charges: the pinned
        pack if one is set, else the first seed and the SOH range's midpoint."""
        if self._pinned is not None:
            return self._pinned
        return self._seeds[0], 0.5 * (self._soh_range[0] + self._soh_range[1])

    def set_condition(self, *, age_cycles: float | None = None, pack: Sequence[float] | None = None,
                      reported_soh: float | None = None) -> None:
        """Set the deployment condition; takes effect at the next reset.

        Args:
            age_cycles: equivalent full cycles the cells are aged by (>= 0; see
                :meth:`set_age`), at the stress set before. None keeps the age.
            pack: (pack seed, mean SOH in (0.5, 1]) to charge in every episode instead of
                drawing packs; None draws as configured.
            reported_soh: the SOH observation 13 reports (in (0, 1]) instead of the true
                pack SOH; None reports the truth.

        Raises:
            ValueError: an out-of-range value.
        """
        if pack is not None:
            seed, soh = int(pack[0]), float(pack[1])
            if not 0.5 < soh <= 1.0:
                raise ValueError(f"pack mean SOH must be in (0.5, 1], got {soh}")
            self._pinned = self._pack = (seed, soh)
        else:
            self._pinned = None
        if reported_soh is not None and not 0.0 < float(reported_soh) <= 1.0:
            raise ValueError(f"reported_soh must be in (0, 1], got {reported_soh}")
        self._reported_soh = None if reported_soh is None else float(reported_soh)
        self.set_age(self._ageing[0] if age_cycles is None else age_cycles)

    def condition(self) -> dict[str, Any]:
        """The current deployment condition, as :meth:`set_condition` takes it."""
        return {"age_cycles": self._ageing[0], "pack": self._pinned, "reported_soh": self._reported_soh}

    def _before_reset(self, options: dict) -> None:
        if not self.samples_packs:
            return
        seed = int(self.np_random.choice(self._seeds))
        lo, hi = self._soh_range
        soh = float(self.np_random.uniform(lo, hi)) if hi > lo else lo
        self._pack = (seed, soh)
        self._make_cells()

    def set_age(self, cycles: float, *, c_rate: float | None = None, temperature_K: float | None = None) -> None:
        """Age the pack's cells by ``cycles`` equivalent full cycles (>= 0) from their sampled
        state, at ``c_rate`` (>= 0) and ``temperature_K`` (default: the values set before,
        initially 1 C and the ambient). Replaces any earlier age; takes effect at the next
        reset, and applies to every pack drawn afterwards.

        Raises:
            ValueError: a negative or non-finite age, or an invalid stress.
        """
        cycles = float(cycles)
        if not (np.isfinite(cycles) and cycles >= 0):
            raise ValueError(f"age_cycles must be finite and >= 0, got {cycles!r}")
        old = getattr(self, "_ageing", (0.0, 1.0, None))
        stress = (old[1] if c_rate is None else float(c_rate), old[2] if temperature_K is None else float(temperature_K))
        if stress[0] < 0 or (stress[1] is not None and not 233.0 < stress[1] < 373.0):
            raise ValueError(f"ageing_c_rate must be >= 0 and ageing_temperature_K in (233, 373) K, got {stress}")
        self._ageing = (cycles, *stress)
        self._make_cells()

    def _make_cells(self) -> None:
        """Sample the current pack's cells, then age them by the set age."""
        seed, soh = self._pack
        cycles, c_rate, temperature = self._ageing
        self.sim.set_cells(CellHeterogeneity(soh_mean=soh, soh_std=self._soh_std), seed)
        if cycles > 0:
            self.sim.age(cycles, c_rate=c_rate, temperature_K=temperature)
        sim = self.sim
        self.task_id = (f"pack:{self._parameter_set}:{sim.Np}P{sim.Ns}S:seed={seed}:"
                        f"soh_mean={soh:.3f}:age={cycles:g}:soh={sim.pack_soh:.3f}")

    def _record(self, r: PackStepResult) -> StepRecord:
        return StepRecord(
            time_s=r.time_s, soc=float(np.mean(r.cell_soc)), current_A=r.pack_current_A,
            pack_voltage_V=r.pack_voltage_V, soh=self.sim.pack_soh, equivalent_cycles=self.sim.equivalent_cycles,
            step_max_cell_voltage_V=float(np.max(r.cell_max_voltage_V)),
            step_max_cell_temperature_K=float(np.max(r.cell_max_temperature_K)),
            step_min_plating_potential_V=float(np.min(r.cell_min_plating_potential_V)),
            cell_current_A=r.cell_current_A, cell_voltage_V=r.cell_voltage_V, cell_ocv_V=r.cell_ocv_V,
            cell_temperature_K=r.cell_temperature_K, cell_soc=r.cell_soc,
            cell_step_min_plating_potential_V=r.cell_min_plating_potential_V, cell_soh=self.sim.cells.soh,
            cell_capacity_Ah=self.sim.cell_capacity_Ah, cell_contact_resistance_Ohm=self.sim.cells.contact_resistance_Ohm,
            event=r.event,
        )

    def observation_limits(self, *, voltage_margin_V: float = 0.0,
                           temperature_margin_K: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        low, high = np.full(14, -np.inf, np.float32), np.full(14, np.inf, np.float32)
        high[0] = (s.voltage_limit_V - voltage_margin_V - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V  # highest cell voltage
        high[4] = (s.temperature_limit_K - temperature_margin_K - TEMPERATURE_OFFSET_K) / TEMPERATURE_SCALE_K  # hottest cell
        return low, high

    def _observation(self, r: StepRecord) -> np.ndarray:
        v, t, soc = r.cell_voltage_V, r.cell_temperature_K, r.cell_soc
        sv, st, ss = _SPREAD_SCALES
        obs = [
            *((np.array([v.max(), v.min(), v.mean()]) - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V), v.std() / sv,
            *((np.array([t.max(), t.min(), t.mean()]) - TEMPERATURE_OFFSET_K) / TEMPERATURE_SCALE_K), t.std() / st,
            soc.max(), soc.min(), soc.mean(), soc.std() / ss,
            r.current_A / self.max_current_A,
            r.soh if self._reported_soh is None else self._reported_soh,
        ]
        return self._clip_obs(obs)
