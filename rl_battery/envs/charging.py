"""What the cell and pack fast-charging environments share: settings, the action mapping, the
guard that keeps non-finite actions away from the solver, the failure penalty, the reward,
termination and metrics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from rl_battery.envs.metrics import EpisodeMetrics
from rl_battery.envs.settings import ChargingSettings, split_env_config
from rl_battery.envs.step_record import StepRecord
from rl_battery.sim.errors import SimulationError

#: Observation scaling shared by both envs: (value - offset) / scale.
VOLTAGE_OFFSET_V, VOLTAGE_SCALE_V = 3.7, 0.5
TEMPERATURE_OFFSET_K, TEMPERATURE_SCALE_K = 298.15, 20.0
OBS_BOUND = 10.0


class FastChargeEnv(gym.Env, ABC):
    """Base class: a normalized current action in [-1, 1] mapped linearly to
    [``min_current_A``, ``max_current_A``] (optionally past both ends by ``action_headroom``,
    then clipped), one simulator step per env step.

    Reward (both envs): ``w_soc * dSOC - w_time - w_v * max(0, V_max - (V_lim - b_V))
    - w_T * max(0, T_max - T_lim) - w_plating * max(0, phi_lim + b_p - phi_min) - w_violation
    * [step broke a constraint]`` with the in-step maxima of cell voltage and temperature and
    the in-step minimum of the plating indicator; ``b_V`` is ``voltage_backoff_V`` and ``b_p``
    ``plating_backoff_V`` (both default 0).

    Subclasses implement ``_configure`` (their own keyword-only arguments; it sets
    ``self.sim``, ``self.task_id`` and ``observation_space``), ``_record`` (simulator result
    -> :class:`StepRecord`) and ``_observation``; they may override ``_settings_defaults``.
    The simulator offers ``reset(soc)``, ``step(current_A)``, ``snapshot()`` and
    ``restore(state)``.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: Mapping[str, Any] | None = None, **kwargs):
        # RLlib passes env_config as one mapping, gymnasium.make as keyword arguments.
        merged = {**dict(config or {}), **kwargs}
        #: The env_config this env was made with (RLlib's mapping and keyword arguments merged).
        self.env_config: dict[str, Any] = merged
        settings, own = split_env_config(type(self), merged, self._settings_defaults(merged))
        self.settings: ChargingSettings = settings
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._last: StepRecord | None = None
        self._steps = 0
        self._metrics = EpisodeMetrics()
        self._failed = False
        self._action_filter: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
        self._configure(**own)

    @classmethod
    def _settings_defaults(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Env-specific defaults of settings fields (may depend on the env's own keys)."""
        return {}

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Check an env_config without building a simulator: every key known, every shared
        setting in range, the parameter set supported.

        Raises:
            TypeError: an unknown key (the message lists the valid ones).
            ValueError: a value outside its range, or an unknown parameter set.
        """
        split_env_config(cls, config, cls._settings_defaults(config))

    @classmethod
    def pinned_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` with any per-episode task sampling replaced by one fixed task, so that
        a policy and the reference controllers (whose searches run many episodes) are
        compared on the same task. The base env samples no task: unchanged."""
        return dict(config)

    # -------------------------------------------------------------- settings shortcuts
    @property
    def min_current_A(self) -> float:
        return self.settings.min_current_A

    @property
    def max_current_A(self) -> float:
        return self.settings.max_current_A

    @property
    def target_soc(self) -> float:
        return self.settings.target_soc

    @property
    def failure_penalty(self) -> float:
        return self.settings.failure_penalty

    # -------------------------------------------------------------- safety layer hook
    def set_action_filter(self, action_filter: Callable[[np.ndarray, np.ndarray], np.ndarray] | None) -> None:
        """Install ``action_filter(observation, action) -> action``, applied to every finite
        action before it maps to a current (a safety layer such as
        :class:`rl_battery.surrogate.shield.SurrogateShield`); None removes it. The applied
        action is reported as ``info["applied_action"]``. A filter with a ``reset()`` method
        (a stateful one, such as the bias-correcting planner) is reset with every episode."""
        self._action_filter = action_filter

    @abstractmethod
    def observation_limits(self, *, voltage_margin_V: float = 0.0,
                           temperature_margin_K: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(low, high), each (obs_dim,): the env's limits expressed on its normalized
        observation (``-inf`` / ``inf`` where an entry is unconstrained). An observation
        inside them after a step means the step's end state kept the limits. The margins
        (>= 0) tighten the voltage and temperature limits by that much [V], [K]: a back-off
        for a controller that predicts the next state with a model."""

    # -------------------------------------------------------------- action mapping
    def action_to_current(self, action) -> float:
        """Normalized action (clipped to [-1, 1]) -> charging current [A], mapped linearly
        onto the range widened by ``action_headroom`` and then clipped to
        [``min_current_A``, ``max_current_A``]."""
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        lo, hi = self._action_range_A()
        return float(np.clip(lo + 0.5 * (a + 1.0) * (hi - lo), self.min_current_A, self.max_current_A))

    def current_to_action(self, current_A: float) -> np.ndarray:
        """Charging current [A] -> normalized action (the inverse map), clipped to [-1, 1]."""
        lo, hi = self._action_range_A()
        a = 2.0 * (float(current_A) - lo) / (hi - lo) - 1.0
        return np.array([np.clip(a, -1.0, 1.0)], dtype=np.float32)

    def _action_range_A(self) -> tuple[float, float]:
        """Currents [A] of actions -1 and +1 (before clipping)."""
        span = self.max_current_A - self.min_current_A
        h = self.settings.action_headroom
        return self.min_current_A - h * span, self.max_current_A + h * span

    # -------------------------------------------------------------- gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        self._before_reset(options)
        lo, hi = self.settings.initial_soc_range
        soc0 = float(options.get("initial_soc", self.np_random.uniform(lo, hi) if hi > lo else lo))
        self._last = self._record(self.sim.reset(soc0))
        self._steps = 0
        self._metrics = EpisodeMetrics()
        self._failed = False
        if hasattr(self._action_filter, "reset"):
            self._action_filter.reset()
        return self._observation(self._last), self._info(self._last)

    def step(self, action):
        if self._last is None or self._failed:
            raise RuntimeError("call reset() before step() (the last episode ended)")
        raw = np.asarray(action, dtype=np.float64).reshape(-1)
        if raw.size != 1 or not np.all(np.isfinite(raw)):
            # Never sent to the solver: the episode ends with the failure penalty.
            return self._fail(f"non-finite or malformed action {action!r}", key="invalid_action")
        if self._action_filter is not None:
            raw = np.asarray(self._action_filter(self._observation(self._last), raw), np.float64).reshape(-1)
        current = self.action_to_current(raw)
        try:
            record = self._record(self.sim.step(current))
        except SimulationError as exc:
            return self._fail(str(exc), key="solver_error")
        self._steps += 1
        prev, self._last = self._last, record
        crossed = self.limits_crossed(record)
        violated = self.violates_limits(record)
        reward = self._reward(prev, record)
        terminated = record.soc >= self.target_soc or record.event is not None
        if record.event is not None:  # the hard safety cut-off: treated like a failure
            reward -= self.failure_penalty
        truncated = not terminated and self._steps >= self.settings.max_steps
        self._metrics.update(record, violated=violated, reward=reward, **crossed)
        info = self._info(record)
        info["constraint_violated"] = bool(violated)
        info["applied_action"] = self.current_to_action(current)
        if record.event is not None:
            info["safety_event"] = record.event
        return self._observation(record), float(reward), bool(terminated), bool(truncated), info

    def _fail(self, message: str, *, key: str):
        """End the episode: reward = -failure_penalty, observation = last valid one."""
        self._failed = True
        self._metrics.episode_return -= self.failure_penalty
        info = self._info(self._last)
        info[key] = message
        return self._observation(self._last), -self.failure_penalty, True, False, info

    @property
    def episode_metrics(self) -> dict[str, float]:
        """Metrics of the current (or just finished) episode (:data:`METRIC_KEYS`)."""
        return self._metrics.as_dict()

    def preview(self, current_A: float) -> StepRecord | None:
        """The record the next step would give at ``current_A`` [A], without taking it.

        Uses the simulator's ``snapshot()`` / ``restore()``: the env's state, clock and
        metrics are unchanged afterwards. Returns None where the solver fails at that
        current. This is how the look-ahead reference controller tries currents.

        Raises:
            RuntimeError: before :meth:`reset`.
        """
        if self._last is None:
            raise RuntimeError("call reset() before preview()")
        saved = self.sim.snapshot()
        try:
            return self._record(self.sim.step(float(current_A)))
        except SimulationError:
            return None
        finally:
            self.sim.restore(saved)

    @property
    def last_observation(self) -> np.ndarray:
        """The observation of the last reset or step."""
        return self._observation(self._last)

    @property
    def last_record(self) -> StepRecord | None:
        """The :class:`StepRecord` of the last reset or step."""
        return self._last

    def _info(self, record: StepRecord) -> dict[str, Any]:
        info = record.as_dict()
        info["task_id"] = self.task_id
        info["episode_metrics"] = self._metrics.as_dict()
        return info

    @staticmethod
    def _clip_obs(obs) -> np.ndarray:
        return np.clip(np.nan_to_num(np.asarray(obs, dtype=np.float32), nan=0.0), -OBS_BOUND, OBS_BOUND)

    # -------------------------------------------------------------- limits and reward
    def limits_crossed(self, record: StepRecord) -> dict[str, bool]:
        """Which limits a step crossed: {"voltage", "temperature", "plating"} -> bool, with
        the in-step extremes. The plating limit is reported whether or not it is a constraint."""
        s = self.settings
        return {"voltage": bool(record.step_max_cell_voltage_V > s.voltage_limit_V),
                "temperature": bool(record.step_max_cell_temperature_K > s.temperature_limit_K),
                "plating": bool(record.step_min_plating_potential_V < s.plating_limit_V)}

    def violates_limits(self, record: StepRecord) -> bool:
        """Whether a step exceeded the voltage or temperature limit, or (with
        ``plating_is_constraint``) went below the plating limit."""
        crossed = self.limits_crossed(record)
        return crossed["voltage"] or crossed["temperature"] or (self.settings.plating_is_constraint and crossed["plating"])

    def _reward(self, prev: StepRecord, r: StepRecord) -> float:
        """Reward of the transition prev -> r (formula in the class docstring)."""
        s = self.settings
        return float(
            s.w_soc * (r.soc - prev.soc) - s.w_time
            - s.w_v * max(0.0, r.step_max_cell_voltage_V - (s.voltage_limit_V - s.voltage_backoff_V))
            - s.w_T * max(0.0, r.step_max_cell_temperature_K - s.temperature_limit_K)
            - s.w_plating * max(0.0, s.plating_limit_V + s.plating_backoff_V - r.step_min_plating_potential_V)
            - s.w_violation * self.violates_limits(r)
        )

    # -------------------------------------------------------------- subclass hooks
    task_id: str = ""

    @abstractmethod
    def _configure(self, **own) -> None:
        """Build the simulator from the env's own keyword-only arguments."""

    def _before_reset(self, options: dict) -> None:
        """Per-episode task sampling (the pack env draws a pack here); none by default."""

    @abstractmethod
    def _record(self, result) -> StepRecord:
        """Simulator result -> :class:`StepRecord`."""

    @abstractmethod
    def _observation(self, record: StepRecord) -> np.ndarray:
        """Normalized observation from a record."""
