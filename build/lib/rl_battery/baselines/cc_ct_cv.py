"""CC-CT-CV: constant current, then constant temperature, then constant voltage.

The constant-temperature phase holds the hottest cell at ``temperature_limit_K - margin_K``
with a PI controller on the temperature predicted one step ahead by extrapolating the last
step's rise (the cell heats by 1-2 K per 90 s step at high current, so a loop on the
measured temperature alone overshoots the limit by about 2 K), as in the closed-loop CT-CV charger of
Patnaik, Praneeth and Williamson, "A closed-loop constant-temperature constant-voltage
charging technique to reduce charge time of lithium-ion batteries", IEEE Trans. Ind.
Electron. 66(2), 2019, pp. 1059-1067, preceded here by a CC phase. The CV phase is the CC-CV
baseline's voltage predictor (:class:`rl_battery.baselines.cccv.CCCVPolicy`). At every step
the current is the smallest of the three phases' currents, so each phase starts by itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rl_battery.baselines.cccv import CCCVPolicy, best_feasible_cc


class CCCTCVPolicy:
    """CC-CT-CV controller on a fast-charging env.

    Args:
        env: the (unwrapped) env.
        cc_current_A: CC phase current [A], within the env's range.
        margin_K: the CT phase holds the hottest cell this far below the limit [K] (>= 0).
        margin_V: the CV phase aims this far below the voltage limit [V].
        kp_A_per_K, ki_A_per_K: PI gains on the temperature error [A/K]; default 5 % and
            10 % of the current range per kelvin.
    """

    def __init__(self, env, cc_current_A: float, *, margin_K: float = 1.0, margin_V: float = 0.01,
                 kp_A_per_K: float | None = None, ki_A_per_K: float | None = None):
        self.env = env
        self._cv = CCCVPolicy(env, cc_current_A, margin_V=margin_V)
        span = env.max_current_A - env.min_current_A
        self.kp = 0.05 * span if kp_A_per_K is None else float(kp_A_per_K)
        self.ki = 0.10 * span if ki_A_per_K is None else float(ki_A_per_K)
        self.setpoint_K = env.settings.temperature_limit_K - float(margin_K)
        self.reset()

    @property
    def cc_current_A(self) -> float:
        return self._cv.cc_current_A

    def reset(self) -> None:
        self._cv.reset()
        self._ct_current: float | None = None  # None until the CT phase starts
        self._last_error = 0.0
        self._t_prev: float | None = None

    def current(self, info: dict[str, Any]) -> float:
        """Charging current [A] for the next step, from the last step's ``info``."""
        i_cv = self._cv.cv_current(info)
        t_max = float(np.max(info["cell_temperature_K"]))
        rise = 0.0 if self._t_prev is None else t_max - self._t_prev
        self._t_prev = t_max
        error = self.setpoint_K - (t_max + rise)  # predicted; > 0: below the setpoint
        if self._ct_current is None and error <= 0.0:  # the CT loop takes over
            self._ct_current = float(info["current_A"]) or self.cc_current_A
            self._last_error = error
        i_ct = float("inf")
        if self._ct_current is not None:
            # Velocity-form PI: the state is the current itself, so there is no wind-up
            # beyond the clip to the env's range.
            i_ct = self._ct_current + self.kp * (error - self._last_error) + self.ki * error
            i_ct = float(np.clip(i_ct, self.env.min_current_A, self.env.max_current_A))
            self._ct_current, self._last_error = i_ct, error
        return float(np.clip(min(self.cc_current_A, i_ct, i_cv), self.env.min_current_A, self.env.max_current_A))

    def __call__(self, obs, info) -> np.ndarray:
        if info["time_s"] == 0:
            self.reset()
        return self.env.current_to_action(self.current(info))


def best_cc_ct_cv(env, *, initial_soc: float | None = None, tolerance_A: float | None = None):
    """The best feasible CC-CT-CV on ``env`` (bisection on the CC current): (current, metrics, rows)."""
    return best_feasible_cc(env, lambda i: CCCTCVPolicy(env.unwrapped, i), initial_soc=initial_soc,
                            tolerance_A=tolerance_A)
