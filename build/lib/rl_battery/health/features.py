"""Health features of one pack charging segment, computed from what a BMS measures.

A *charging segment* is one charge of the pack: the env's observations before and after
each control step and the pack current of each step (:class:`ChargingSegment`). Only
measured quantities are used: cell voltages and temperatures (as the observation's
max/mean summaries), the pack current, the step length, and the SOC the BMS reports at the
start and end (observation 10). No per-cell truth (capacity, resistance, SOH) is read.

Features (:data:`FEATURE_NAMES`), each with its source:

* ``coulomb_capacity``: charge put in over the SOC it moved, ``sum(I dt) / dSOC``, per
  nominal pack capacity (Np x cell nominal): coulomb-counting capacity estimation, Ng et
  al. 2009, "Enhanced coulomb counting method for estimating state-of-charge and
  state-of-health of lithium-ion batteries", Applied Energy 86:1506, eq. 4.
* ``window_charge_Ah``: charge [Ah, per cell] put in while the mean cell voltage rose from
  3.85 V to 4.00 V, interpolated within steps: the partial-charge capacity over a fixed
  voltage window, the integral of the incremental-capacity curve dQ/dV over that window
  (Dubarry et al. 2012, J. Power Sources 219:204; Weng et al. 2013, J. Power Sources
  235:36). NaN when the segment does not cross the window.
* ``pulse_resistance_Ohm``: rise of the mean cell voltage over the first step from rest,
  per cell current: a DC-resistance pulse (as the HPPC test, INL "Battery Test Manual for
  Plug-In Hybrid Electric Vehicles" 2010, section 3.3), 90 s long here, so it includes
  diffusion polarization and the OCV gained.
* ``heating_K_per_A2h``: rise of the mean cell temperature per sum of cell current squared
  times time [K / (A^2 h)]: Joule heat ``I^2 R`` (Bernardi et al. 1985).
* ``mean_c_rate``: mean cell current over nominal capacity: the protocol as a covariate,
  since the voltage-based features depend on the current.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rl_battery.envs.charging import TEMPERATURE_OFFSET_K, TEMPERATURE_SCALE_K, VOLTAGE_OFFSET_V, VOLTAGE_SCALE_V

FEATURE_NAMES = ("coulomb_capacity", "window_charge_Ah", "pulse_resistance_Ohm", "heating_K_per_A2h", "mean_c_rate")
#: Voltage window of ``window_charge_Ah`` [V].
WINDOW_V = (3.85, 4.00)
_V_MEAN, _T_MEAN, _SOC_MEAN = 2, 6, 10


@dataclass(frozen=True)
class ChargingSegment:
    """One charge of a pack.

    Attributes:
        obs: (T + 1, 14) the :class:`rl_battery.envs.PackFastCharge` observations at reset
            and after each of T >= 1 steps.
        current_A: (T,) pack current of each step [A] (charging positive).
        dt_s: step length [s] (> 0).
        Np: cells in parallel.
        cell_capacity_Ah: nominal capacity of one cell [Ah] (> 0).
    """

    obs: np.ndarray
    current_A: np.ndarray
    dt_s: float
    Np: int
    cell_capacity_Ah: float

    def __post_init__(self):
        obs, current = np.asarray(self.obs, float), np.asarray(self.current_A, float).reshape(-1)
        if obs.ndim != 2 or obs.shape[1] != 14 or len(obs) != len(current) + 1 or len(current) < 1:
            raise ValueError(f"need obs (T + 1, 14) and current_A (T,) with T >= 1, got {obs.shape}, {current.shape}")
        if not (self.dt_s > 0 and self.Np >= 1 and self.cell_capacity_Ah > 0):
            raise ValueError("dt_s, Np and cell_capacity_Ah must be positive")
        object.__setattr__(self, "obs", obs)
        object.__setattr__(self, "current_A", current)

    @classmethod
    def from_env_episode(cls, env, observations, currents_A) -> "ChargingSegment":
        """A segment from an episode on ``env`` (a PackFastCharge, wrapped or not)."""
        e = env.unwrapped
        return cls(np.asarray(observations), np.asarray(currents_A), e.settings.dt_s, e.sim.Np,
                   e.sim.cell_nominal_capacity_Ah)


def segment_features(seg: ChargingSegment) -> np.ndarray:
    """(len(FEATURE_NAMES),) features of a segment (module docstring); NaN where undefined."""
    v = seg.obs[:, _V_MEAN] * VOLTAGE_SCALE_V + VOLTAGE_OFFSET_V
    t = seg.obs[:, _T_MEAN] * TEMPERATURE_SCALE_K + TEMPERATURE_OFFSET_K
    soc = seg.obs[:, _SOC_MEAN]
    i_cell = seg.current_A / seg.Np
    q_cell = np.concatenate([[0.0], np.cumsum(i_cell * seg.dt_s / 3600.0)])  # Ah per cell, at each obs
    d_soc = soc[-1] - soc[0]
    coulomb = q_cell[-1] / d_soc / seg.cell_capacity_Ah if d_soc > 0.02 else np.nan
    window = np.interp(WINDOW_V, v, q_cell) if np.all(np.diff(v) > 0) else _monotone_interp(WINDOW_V, v, q_cell)
    window_q = window[1] - window[0] if v[0] < WINDOW_V[0] and v.max() >= WINDOW_V[1] else np.nan
    pulse = (v[1] - v[0]) / i_cell[0] if i_cell[0] > 1e-6 else np.nan
    i2h = float(np.sum(i_cell**2) * seg.dt_s / 3600.0)
    heating = (t[-1] - t[0]) / i2h if i2h > 0 else np.nan
    c_rate = float(np.mean(i_cell)) / seg.cell_capacity_Ah
    return np.array([coulomb, window_q, pulse, heating, c_rate], float)


def _monotone_interp(x_new, x, y):
    """Interpolate y at x_new on the running maximum of x (the voltage may dip when the
    current steps down; the first crossing counts)."""
    x_run = np.maximum.accumulate(x)
    keep = np.concatenate([[True], np.diff(x_run) > 0])
    return np.interp(x_new, x_run[keep], y[keep])
