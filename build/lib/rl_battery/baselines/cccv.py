"""CC-CV charging at the env's control interval, and the search for the best feasible one.

Constant current ``cc_current_A`` until the next step would take the highest cell above the
voltage limit, then the largest current that keeps it at the limit (the discrete-time CV
phase). The end-of-step voltage of cell i at pack current I is predicted from the last
step with a first-order (OCV + R) cell model:

    V_i(I) = OCV_i + I * (s_i * R_i + g_i),   s_i = I_cell_i / I_pack,
    R_i = (V_i - OCV_i) / I_cell_i,           g_i = dOCV_i / I_pack_last

(g_i: OCV rise per pack ampere over one step). The CV current is
``min_i (V_lim - margin - OCV_i) / (s_i R_i + g_i)``, clipped to the env's current range.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from rl_battery.envs.rollout import run_episode


class CCCVPolicy:
    """CC-CV controller acting through a :class:`~rl_battery.envs.charging.FastChargeEnv`.

    Args:
        env: the (unwrapped) env; its ``current_to_action``, current range and voltage
            limit are used.
        cc_current_A: constant-current phase current [A] (pack current for the pack env),
            within the env's current range.
        margin_V: the CV phase aims this far below the voltage limit [V] (>= 0).

    Raises:
        ValueError: ``cc_current_A`` outside the env's current range.
    """

    def __init__(self, env, cc_current_A: float, margin_V: float = 0.01):
        if not env.min_current_A <= cc_current_A <= env.max_current_A:
            raise ValueError(
                f"cc_current_A={cc_current_A} outside the env's range [{env.min_current_A}, {env.max_current_A}] A"
            )
        self.env, self.cc_current_A, self.margin_V = env, float(cc_current_A), float(margin_V)
        self._prev_info: dict[str, Any] | None = None

    def reset(self) -> None:
        self._prev_info = None

    def cv_current(self, info: dict[str, Any]) -> float:
        """Largest current [A] whose predicted end-of-step voltage stays at the limit minus
        the margin in every cell (inf before a charging step has been seen)."""
        prev, self._prev_info = self._prev_info, info
        i_pack = float(info["current_A"])
        if info["time_s"] == 0 or prev is None or abs(i_pack) < 1e-9:
            return float("inf")
        cell_i = np.asarray(info["cell_current_A"], float)
        ocv = np.asarray(info["cell_ocv_V"], float)
        share = cell_i / i_pack
        # Cells without current give no resistance estimate (1 / inf = 0).
        resistance = (np.asarray(info["cell_voltage_V"], float) - ocv) / np.where(np.abs(cell_i) > 1e-6, cell_i, np.inf)
        ocv_rise_per_A = np.maximum(ocv - np.asarray(prev["cell_ocv_V"], float), 0.0) / i_pack
        slope = np.maximum(share * resistance + ocv_rise_per_A, 1e-6)
        return float(np.min((self.env.settings.voltage_limit_V - self.margin_V - ocv) / slope))

    def current(self, info: dict[str, Any]) -> float:
        """Charging current [A] for the next step, from the last step's ``info``."""
        return float(np.clip(min(self.cc_current_A, self.cv_current(info)), self.env.min_current_A, self.env.max_current_A))

    def __call__(self, obs, info) -> np.ndarray:
        if info["time_s"] == 0:
            self.reset()
        return self.env.current_to_action(self.current(info))


def is_feasible(metrics: dict[str, float], target_soc: float) -> bool:
    """Reached the target SOC with no constraint violation."""
    return metrics["constraint_violations"] == 0 and metrics["final_soc"] >= target_soc - 1e-9


def best_feasible_cc(env, make_policy: Callable[[float], Callable], *, initial_soc: float | None = None,
                     tolerance_A: float | None = None) -> tuple[float, dict[str, float], list[dict]]:
    """Bisection for the largest constant-current phase with no constraint violation.

    Assumes safety falls monotonically with the CC current (more current, more heat and
    overpotential) while charge time falls with it, so the largest safe CC current is the
    fastest protocol of the family; it is feasible if it also reaches the target SOC within
    the episode (a low current may be safe but too slow).

    Args:
        env: the env (wrapped or not).
        make_policy: CC current [A] -> policy ``(obs, info) -> action``.
        initial_soc: start SOC of every episode.
        tolerance_A: stop when the bracket is narrower (default 1 % of the current range).

    Returns:
        (best CC current, its metrics, every tried row with ``cc_current_A`` and
        ``feasible``). If even the smallest current violates a limit, that one is returned
        (its metrics say why).
    """
    base = env.unwrapped
    lo, hi = base.min_current_A, base.max_current_A
    tol = tolerance_A if tolerance_A is not None else 0.01 * (hi - lo)
    rows: list[dict] = []

    def trial(current: float) -> dict:
        metrics = run_episode(env, make_policy(current), initial_soc=initial_soc)
        row = dict(metrics, cc_current_A=float(current), feasible=is_feasible(metrics, base.target_soc))
        rows.append(row)
        return row

    best = trial(hi)
    if best["constraint_violations"]:
        best = trial(lo)
        while not best["constraint_violations"] and hi - lo > tol:
            mid = 0.5 * (lo + hi)
            row = trial(mid)
            if row["constraint_violations"]:
                hi = mid
            else:
                lo, best = mid, row
    return best["cc_current_A"], {k: v for k, v in best.items() if k not in ("cc_current_A", "feasible")}, rows


def best_cccv(env, *, initial_soc: float | None = None, tolerance_A: float | None = None):
    """The best feasible CC-CV on ``env``: (CC current [A], metrics, tried rows)."""
    return best_feasible_cc(env, lambda i: CCCVPolicy(env.unwrapped, i), initial_soc=initial_soc, tolerance_A=tolerance_A)
