"""`CellFastCharge-v0`: fast charging of one PyBaMM SPMe cell under voltage, temperature and
lithium-plating limits."""

from __future__ import annotations

from collections.abc import Mapping
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
from rl_battery.sim.cell import CellSimulator, CellStepResult

PLATING_SCALE_V = 0.1


class CellFastCharge(FastChargeEnv):
    """Charge one lithium-ion cell (PyBaMM SPMe + lumped thermal) fast and safely.

    ## Description
    Every ``dt_s`` (90 s) the agent sets the charging current of a cell simulated by
    :class:`rl_battery.sim.CellSimulator` with any supported PyBaMM parameter set. The
    current range follows the meta-RL fast-charging work this project grew from (1 A to
    7.5 A, i.e. 0.2C to 1.5C for the 5 Ah Chen2020 / OKane2022 LG M50 cell).

    ## Action Space
    `Box(-1, 1, (1,), float32)`: -1 -> `min_current_A` (default 1 A), +1 -> `max_current_A`
    (default 7.5 A), linear in between; out-of-range values are clipped, non-finite values
    end the episode (see Episode End).

    ## Observation Space
    `Box(-10, 10, (5,), float32)`, (value - offset) / scale:

    | Num | Observation | offset | scale |
    |-----|-------------|--------|-------|
    | 0 | SOC [-] | 0 | 1 |
    | 1 | terminal voltage [V] | 3.7 V | 0.5 V |
    | 2 | cell temperature [K] | 298.15 K | 20 K |
    | 3 | plating indicator [V] (phi_s - phi_e at the separator, min over the step) | 0 | 0.1 V |
    | 4 | charging current of the last step [A] | 0 | `max_current_A` |

    ## Rewards
    ``r = w_soc * dSOC - w_time - w_v * max(0, V_max - V_lim) - w_T * max(0, T_max - T_lim)
    - w_plating * max(0, phi_lim - phi_min)``: in-step maxima of voltage and temperature and
    the in-step minimum of the plating indicator. The safety cut-off and failures add
    ``-failure_penalty``.

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
    ``gymnasium.make("CellFastCharge-v0", **env_config)`` with its own argument
    ``parameter_set`` ("Chen2020"; unknown names raise `UnknownParameterSetError` listing the
    valid ones) and every field of :class:`rl_battery.envs.settings.ChargingSettings`:
    ``min_current_A`` (1), ``max_current_A`` (7.5), ``target_soc`` (0.8), ``initial_soc``
    (0.1), ``max_steps`` (60), ``dt_s`` (90), ``ambient_temperature_K`` (298.15),
    ``voltage_limit_V`` (4.2), ``temperature_limit_K`` (318.15), ``plating_limit_V`` (0),
    ``plating_is_constraint`` (False), ``w_soc`` (100), ``w_time`` (1), ``w_v`` (100 per V),
    ``w_T`` (1 per K), ``w_plating`` (100 per V here), ``failure_penalty`` (50).
    Unknown keys raise `TypeError` listing the valid ones.
    """

    @classmethod
    def _settings_defaults(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"min_current_A": 1.0, "max_current_A": 7.5, "w_plating": 100.0}

    def _configure(self, *, parameter_set: str = "Chen2020") -> None:
        s = self.settings
        self.sim = CellSimulator(parameter_set, dt_s=s.dt_s, ambient_temperature_K=s.ambient_temperature_K)
        name = parameter_set if isinstance(parameter_set, str) else "custom"
        self.task_id = f"cell:{name}"
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(5,), dtype=np.float32)

    def _record(self, r: CellStepResult) -> StepRecord:
        return StepRecord(
            time_s=r.time_s, soc=r.soc, current_A=r.current_A, pack_voltage_V=r.voltage_V, soh=1.0, equivalent_cycles=0.0,
            step_max_cell_voltage_V=r.max_voltage_V, step_max_cell_temperature_K=r.max_temperature_K,
            step_min_plating_potential_V=r.min_plating_potential_V,
            cell_current_A=np.array([r.current_A]), cell_voltage_V=np.array([r.voltage_V]),
            cell_ocv_V=np.array([r.ocv_V]), cell_temperature_K=np.array([r.temperature_K]),
            cell_soc=np.array([r.soc]), cell_step_min_plating_potential_V=np.array([r.min_plating_potential_V]),
            cell_soh=np.ones(1), cell_capacity_Ah=np.array([self.sim.nominal_capacity_Ah]),
            cell_contact_resistance_Ohm=np.zeros(1), event=r.event,
        )

    def observation_limits(self, *, voltage_margin_V: float = 0.0,
                           temperature_margin_K: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        low, high = np.full(5, -np.inf, np.float32), np.full(5, np.inf, np.float32)
        high[1] = (s.voltage_limit_V - voltage_margin_V - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V
        high[2] = (s.temperature_limit_K - temperature_margin_K - TEMPERATURE_OFFSET_K) / TEMPERATURE_SCALE_K
        if s.plating_is_constraint:
            low[3] = s.plating_limit_V / PLATING_SCALE_V
        return low, high

    def _observation(self, r: StepRecord) -> np.ndarray:
        return self._clip_obs([
            r.soc,
            (r.pack_voltage_V - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V,
            (r.cell_temperature_K[0] - TEMPERATURE_OFFSET_K) / TEMPERATURE_SCALE_K,
            r.step_min_plating_potential_V / PLATING_SCALE_V,
            r.current_A / self.max_current_A,
        ])
