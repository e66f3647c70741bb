"""CC-CV charging at the env's 90 s control interval.

Constant current ``cc_current_A`` until the next step would take the highest cell above the
voltage limit, then the largest current that keeps it at the limit (the discrete-time CV
phase). The end-of-step voltage of cell i at pack current I is predicted from the last
step, with a first-order (OCV + R) cell model:

    V_i(I) = OCV_i + I * (s_i * R_i + g_i),   s_i = I_cell_i / I_pack,
    R_i = (V_i - OCV_i) / I_cell_i,           g_i = dOCV_i / I_pack_last

(g_i: OCV rise per pack ampere over one step). The CV current is
``min_i (V_lim - margin - OCV_i) / (s_i R_i + g_i)``, clipped to the env's current range.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class CCCVPolicy:
    """CC-CV controller acting through a :class:`~rl_battery.envs.charging.FastChargeEnv`.

    Args:
        env: the (unwrapped) env; its ``current_to_action``, current range and
            ``voltage_limit_V`` are used.
        cc_current_A: constant-current phase current [A] (pack current for the pack env).
        margin_V: the CV phase aims this far below the voltage limit [V] (>= 0).
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

    def current(self, info: dict[str, Any]) -> float:
        """Pack charging current [A] for the next step, from the last step's ``info``."""
        prev, self._prev_info = self._prev_info, info
        i_pack = float(info["pack_current_A"])
        if prev is None or abs(i_pack) < 1e-9:
            return self.cc_current_A
        cell_i = np.asarray(info["cell_current_A"], float)
        ocv = np.asarray(info["cell_ocv_V"], float)
        share = cell_i / i_pack
        # Cells without current give no resistance estimate (1 / inf = 0).
        resistance = (np.asarray(info["cell_voltage_V"], float) - ocv) / np.where(np.abs(cell_i) > 1e-6, cell_i, np.inf)
        ocv_rise_per_A = np.maximum(ocv - np.asarray(prev["cell_ocv_V"], float), 0.0) / i_pack
        slope = np.maximum(share * resistance + ocv_rise_per_A, 1e-6)
        i_cv = float(np.min((self.env.voltage_limit_V - self.margin_V - ocv) / slope))
        return float(np.clip(min(self.cc_current_A, i_cv), self.env.min_current_A, self.env.max_current_A))

    def __call__(self, obs, info) -> np.ndarray:
        return self.env.current_to_action(self.current(info))


def run_episode(env, act: Callable[[np.ndarray, dict], np.ndarray], *, initial_soc: float | None = None,
                seed: int | None = None, on_step: Callable[[dict], None] | None = None) -> dict[str, float]:
    """Roll one episode with ``act(obs, info) -> action``; return the env's episode metrics.

    ``on_step`` receives every step's info (with the reward added as ``info["reward"]``).
    """
    options = None if initial_soc is None else {"initial_soc": initial_soc}
    obs, info = env.reset(seed=seed, options=options)
    if on_step:
        on_step(dict(info, reward=0.0))
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(act(obs, info))
        if on_step:
            on_step(dict(info, reward=reward))
        done = terminated or truncated
    return env.unwrapped.episode_metrics


def best_cccv(env, cc_currents_A, *, initial_soc: float | None = None) -> tuple[float, dict[str, float], list[dict]]:
    """Sweep CC-phase currents; return (best current, its metrics, all sweep rows).

    Best = shortest charge time among runs that reach the target SOC with no constraint
    violation; if none qualifies, the one with the fewest violations, then the shortest.
    """
    rows = []
    for i_cc in cc_currents_A:
        policy = CCCVPolicy(env.unwrapped, i_cc)
        policy.reset()
        metrics = run_episode(env, policy, initial_soc=initial_soc)
        rows.append(dict(metrics, cc_current_A=float(i_cc)))
    target = env.unwrapped.target_soc

    def rank(row):
        reached = row["final_soc"] >= target - 1e-9
        return (row["constraint_violations"], not reached, row["charge_time_min"])

    best = min(rows, key=rank)
    return best["cc_current_A"], {k: v for k, v in best.items() if k != "cc_current_A"}, rows
