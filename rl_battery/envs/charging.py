"""What the cell and pack fast-charging environments share: action mapping, the guard that
keeps non-finite actions away from the solver, the failure penalty, termination and metrics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np

from rl_battery.envs.metrics import EpisodeMetrics
from rl_battery.sim.errors import SimulationError

#: Observation scaling shared by both envs: (value - offset) / scale.
VOLTAGE_OFFSET_V, VOLTAGE_SCALE_V = 3.7, 0.5
TEMPERATURE_OFFSET_K, TEMPERATURE_SCALE_K = 298.15, 20.0
OBS_BOUND = 10.0


class FastChargeEnv(gym.Env, ABC):
    """Base class: a normalized current action in [-1, 1] mapped linearly to
    [``min_current_A``, ``max_current_A``], one simulator step per env step.

    Reward (both envs): ``w_soc * dSOC - w_time - w_v * max(0, V_max - V_lim)
    - w_T * max(0, T_max - T_lim) - extra`` where ``extra`` is a subclass's own penalty
    (:meth:`_extra_penalty`, e.g. plating for the cell).

    Subclasses set ``self.sim`` (a simulator with ``reset(soc)`` and ``step(current_A)``) and
    ``observation_space``, and implement ``_summary`` and ``_observation``.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        *,
        min_current_A: float,
        max_current_A: float,
        target_soc: float,
        initial_soc: float | tuple[float, float],
        max_steps: int,
        failure_penalty: float,
        voltage_limit_V: float,
        temperature_limit_K: float,
        w_soc: float,
        w_time: float,
        w_v: float,
        w_T: float,
    ):
        if not 0 <= min_current_A < max_current_A:
            raise ValueError(f"need 0 <= min_current_A < max_current_A, got {min_current_A}, {max_current_A}")
        lo, hi = (initial_soc, initial_soc) if np.isscalar(initial_soc) else tuple(initial_soc)
        if not 0.0 <= lo <= hi < target_soc <= 1.0:
            raise ValueError(
                f"need 0 <= initial_soc <= target_soc <= 1, got initial_soc={initial_soc}, target_soc={target_soc}"
            )
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.min_current_A, self.max_current_A = float(min_current_A), float(max_current_A)
        self.target_soc = float(target_soc)
        self.initial_soc_range = (float(lo), float(hi))
        self.max_steps = int(max_steps)
        self.failure_penalty = float(failure_penalty)
        self.voltage_limit_V, self.temperature_limit_K = float(voltage_limit_V), float(temperature_limit_K)
        self.w_soc, self.w_time, self.w_v, self.w_T = float(w_soc), float(w_time), float(w_v), float(w_T)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._last: dict[str, Any] | None = None
        self._steps = 0
        self._metrics = EpisodeMetrics()
        self._failed = False

    # -------------------------------------------------------------- action mapping
    def action_to_current(self, action) -> float:
        """Normalized action (clipped to [-1, 1]) -> charging current [A]."""
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        return self.min_current_A + 0.5 * (a + 1.0) * (self.max_current_A - self.min_current_A)

    def current_to_action(self, current_A: float) -> np.ndarray:
        """Charging current [A] -> normalized action, clipped to [-1, 1]."""
        a = 2.0 * (float(current_A) - self.min_current_A) / (self.max_current_A - self.min_current_A) - 1.0
        return np.array([np.clip(a, -1.0, 1.0)], dtype=np.float32)

    # -------------------------------------------------------------- gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        lo, hi = self.initial_soc_range
        soc0 = float((options or {}).get("initial_soc", self.np_random.uniform(lo, hi) if hi > lo else lo))
        self._last = self._reset_sim(soc0)
        self._steps = 0
        self._metrics = EpisodeMetrics()
        self._failed = False
        return self._observation(self._last), self._info(self._last)

    def step(self, action):
        if self._last is None or self._failed:
            raise RuntimeError("call reset() before step() (the last episode ended)")
        raw = np.asarray(action, dtype=np.float64).reshape(-1)
        if raw.size != 1 or not np.all(np.isfinite(raw)):
            # Never sent to the solver: the episode ends with the failure penalty.
            return self._fail(f"non-finite or malformed action {action!r}", key="invalid_action")
        current = self.action_to_current(raw)
        try:
            summary = self._step_sim(current)
        except SimulationError as exc:
            return self._fail(str(exc), key="solver_error")
        self._steps += 1
        prev, self._last = self._last, summary
        violated = self._violated(summary)
        reward = self._reward(prev, summary)
        event = summary.get("event")
        terminated = summary["soc"] >= self.target_soc or event is not None
        if event is not None:  # the hard safety cut-off: treated like a failure
            reward -= self.failure_penalty
        truncated = not terminated and self._steps >= self.max_steps
        self._metrics.update(
            time_s=summary["time_s"], soc=summary["soc"], max_voltage_V=summary["max_cell_voltage_V"],
            max_temperature_K=summary["max_cell_temperature_K"], min_plating_V=summary["min_plating_potential_V"],
            violated=violated, reward=reward,
        )
        info = self._info(summary)
        info["constraint_violated"] = bool(violated)
        if event is not None:
            info["safety_event"] = event
        return self._observation(summary), float(reward), bool(terminated), bool(truncated), info

    def _fail(self, message: str, *, key: str):
        """End the episode: reward = -failure_penalty, observation = last valid one."""
        self._failed = True
        self._metrics.episode_return -= self.failure_penalty
        info = self._info(self._last)
        info[key] = message
        return self._observation(self._last), -self.failure_penalty, True, False, info

    @property
    def episode_metrics(self) -> dict[str, float]:
        """Metrics of the current (or just finished) episode, DESIGN.md vocabulary."""
        return self._metrics.as_dict()

    def _info(self, summary: dict[str, Any]) -> dict[str, Any]:
        info = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in summary.items() if k != "event"}
        info["task_id"] = self.task_id
        info["episode_metrics"] = self._metrics.as_dict()
        return info

    @staticmethod
    def _clip_obs(obs) -> np.ndarray:
        return np.clip(np.nan_to_num(np.asarray(obs, dtype=np.float32), nan=0.0), -OBS_BOUND, OBS_BOUND)

    # -------------------------------------------------------------- subclass hooks
    task_id: str = ""

    def _reset_sim(self, initial_soc: float) -> dict[str, Any]:
        return self._summary(self.sim.reset(initial_soc))

    def _step_sim(self, current_A: float) -> dict[str, Any]:
        """One interval at ``current_A``; SimulationError propagates to :meth:`step`."""
        return self._summary(self.sim.step(current_A))

    @abstractmethod
    def _summary(self, result) -> dict[str, Any]:
        """Simulator result -> summary with at least ``time_s``, ``soc``, ``pack_current_A``,
        ``max_cell_voltage_V``, ``max_cell_temperature_K``, ``min_plating_potential_V``,
        ``event`` and the per-cell arrays ``cell_*``."""

    def _reward(self, prev: dict[str, Any], s: dict[str, Any]) -> float:
        """Reward of the transition prev -> s (formula in the class docstring)."""
        dv = max(0.0, s["max_cell_voltage_V"] - self.voltage_limit_V)
        dt = max(0.0, s["max_cell_temperature_K"] - self.temperature_limit_K)
        return float(self.w_soc * (s["soc"] - prev["soc"]) - self.w_time - self.w_v * dv - self.w_T * dt
                     - self._extra_penalty(s))

    def _violated(self, s: dict[str, Any]) -> bool:
        """Whether the voltage or temperature limit (or a subclass's own) was exceeded."""
        return (s["max_cell_voltage_V"] > self.voltage_limit_V or s["max_cell_temperature_K"] > self.temperature_limit_K
                or self._extra_violation(s))

    def _extra_penalty(self, s: dict[str, Any]) -> float:
        """A subclass's additional (positive) penalty; none by default."""
        return 0.0

    def _extra_violation(self, s: dict[str, Any]) -> bool:
        """A subclass's additional constraint; none by default."""
        return False

    @abstractmethod
    def _observation(self, summary: dict[str, Any]) -> np.ndarray:
        """Normalized observation from a summary."""

