"""`PackFastCharge-v0`: fast charging of an aged, heterogeneous liionpack pack."""

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
from rl_battery.sim.heterogeneity import CellHeterogeneity
from rl_battery.sim.pack import PackSimulator

_SPREAD_SCALES = (0.05, 2.0, 0.02)  # std scales: voltage [V], temperature [K], SOC [-]


class PackFastCharge(FastChargeEnv):
    """Charge an Np x Ns pack of aged, heterogeneous cells as fast as the limits allow.

    ## Description
    A liionpack pack (default 3P6S, Chen2020 SPMe + lumped thermal cells, see
    :class:`rl_battery.sim.PackSimulator`) whose cells differ in SOH, capacity, contact
    resistance and cooling, sampled once per env from ``pack_seed``. Every 90 s the agent
    sets the pack charging current. The pack SOC is the mean cell SOC.

    ## Action Space
    `Box(-1, 1, (1,), float32)`, mapped linearly to a pack charging current:

    | Num | Action | Min | Max |
    |-----|--------|-----|-----|
    | 0 | pack current, -1 -> `min_current_A`, +1 -> `max_current_A` | -1 | 1 |

    Defaults 3 A to 22.5 A: 1 A to 7.5 A per cell for Np = 3 (Chen2020: 0.2C to 1.5C).
    Out-of-range actions are clipped; non-finite actions end the episode (see Episode End).

    ## Observation Space
    `Box(-10, 10, (14,), float32)`, normalized as (value - offset) / scale:

    | Num | Observation | offset | scale |
    |-----|-------------|--------|-------|
    | 0-3 | cell voltage max, min, mean [V] and std | 3.7 V (std: 0) | 0.5 V (std: 0.05 V) |
    | 4-7 | cell temperature max, min, mean [K] and std | 298.15 K (std: 0) | 20 K (std: 2 K) |
    | 8-11 | cell SOC max, min, mean and std | 0 | 1 (std: 0.02) |
    | 12 | pack current of the last step [A] | 0 | `max_current_A` |
    | 13 | pack SOH (weakest series group) | 0 | 1 |

    Voltages and temperatures are end-of-step values; `info` carries the physical per-cell
    arrays and the in-step maxima.

    ## Rewards
    ``r = w_soc * dSOC - w_time - w_v * max(0, V_cell_max - V_lim) - w_T * max(0, T_cell_max - T_lim)``
    with dSOC the change of pack SOC, V_cell_max the highest cell voltage over the step's
    output points and T_cell_max the highest cell temperature. The safety cut-off event and
    failures add ``-failure_penalty``.

    ## Starting State
    Cells at rest at ambient temperature, all at the same SOC drawn uniformly from
    ``initial_soc`` (a number or a [low, high] pair; default 0.1).

    ## Episode End
    * Terminated: pack SOC >= ``target_soc`` (default 0.8).
    * Terminated with reward ``-failure_penalty``: the solver failed (`info["solver_error"]`),
      the action was not finite (`info["invalid_action"]`, never sent to the solver), or a
      cell crossed PyBaMM's hard cut-off (V_lim + 0.3 V; `info["safety_event"]`, reward is
      the step's reward minus the penalty).
    * Truncated: ``max_steps`` steps (default 60, i.e. 90 min).

    ## Arguments
    ``gymnasium.make("PackFastCharge-v0", **env_config)`` with any of: ``Np`` (3), ``Ns`` (6),
    ``parameter_set`` ("Chen2020"), ``pack_seed`` (0), ``soh_mean`` (0.9), ``soh_std``
    (0.03), ``min_current_A`` (1 A x Np), ``max_current_A`` (7.5 A x Np), ``target_soc`` (0.8),
    ``initial_soc`` (0.1), ``max_steps`` (60), ``voltage_limit_V`` (4.2), ``temperature_limit_K``
    (318.15), ``w_soc`` (100), ``w_time`` (1), ``w_v`` (100 per V), ``w_T`` (1 per K),
    ``failure_penalty`` (50), ``ambient_temperature_K`` (298.15), ``dt_s`` (90).
    """

    def __init__(self, config: Mapping[str, Any] | None = None, **kwargs):
        # RLlib passes env_config as one mapping, gymnasium.make as keyword arguments.
        self._configure(**{**dict(config or {}), **kwargs})

    def _configure(
        self,
        *,
        Np: int = 3,
        Ns: int = 6,
        parameter_set: str = "Chen2020",
        pack_seed: int = 0,
        soh_mean: float = 0.9,
        soh_std: float = 0.03,
        min_current_A: float | None = None,
        max_current_A: float | None = None,
        target_soc: float = 0.8,
        initial_soc: float | tuple[float, float] = 0.1,
        max_steps: int = 60,
        voltage_limit_V: float = 4.2,
        temperature_limit_K: float = 318.15,
        w_soc: float = 100.0,
        w_time: float = 1.0,
        w_v: float = 100.0,
        w_T: float = 1.0,
        failure_penalty: float = 50.0,
        ambient_temperature_K: float = 298.15,
        dt_s: float = 90.0,
    ):
        super().__init__(
            min_current_A=1.0 * Np if min_current_A is None else min_current_A,
            max_current_A=7.5 * Np if max_current_A is None else max_current_A,
            target_soc=target_soc,
            initial_soc=initial_soc,
            max_steps=max_steps,
            failure_penalty=failure_penalty,
            voltage_limit_V=voltage_limit_V, temperature_limit_K=temperature_limit_K,
            w_soc=w_soc, w_time=w_time, w_v=w_v, w_T=w_T,
        )
        self.sim = PackSimulator(
            Np, Ns, parameter_set,
            heterogeneity=CellHeterogeneity(soh_mean=soh_mean, soh_std=soh_std),
            seed=pack_seed, dt_s=dt_s, ambient_temperature_K=ambient_temperature_K,
        )
        self.task_id = f"pack:{parameter_set}:{Np}P{Ns}S:seed={pack_seed}:soh={self.sim.pack_soh:.3f}"
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(14,), dtype=np.float32)

    def _summary(self, r) -> dict[str, Any]:
        return {
            "time_s": r.time_s,
            "soc": float(np.mean(r.cell_soc)),
            "pack_current_A": r.pack_current_A,
            "pack_voltage_V": r.pack_voltage_V,
            "pack_soh": self.sim.pack_soh,
            "max_cell_voltage_V": float(np.max(r.cell_max_voltage_V)),
            "max_cell_temperature_K": float(np.max(r.cell_max_temperature_K)),
            "min_plating_potential_V": float(np.min(r.cell_min_plating_potential_V)),
            "cell_current_A": r.cell_current_A,
            "cell_voltage_V": r.cell_voltage_V,
            "cell_ocv_V": r.cell_ocv_V,
            "cell_temperature_K": r.cell_temperature_K,
            "cell_soc": r.cell_soc,
            "cell_resistance_Ohm": r.cell_resistance_Ohm,
            "cell_min_plating_potential_V": r.cell_min_plating_potential_V,
            "event": r.event,
        }

    def _observation(self, s: dict[str, Any]) -> np.ndarray:
        v, t, soc = s["cell_voltage_V"], s["cell_temperature_K"], s["cell_soc"]
        sv, st, ss = _SPREAD_SCALES
        obs = [
            *((np.array([v.max(), v.min(), v.mean()]) - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V), v.std() / sv,
            *((np.array([t.max(), t.min(), t.mean()]) - TEMPERATURE_OFFSET_K) / TEMPERATURE_SCALE_K), t.std() / st,
            soc.max(), soc.min(), soc.mean(), soc.std() / ss,
            s["pack_current_A"] / self.max_current_A,
            s["pack_soh"],
        ]
        return self._clip_obs(obs)
