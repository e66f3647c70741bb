"""What the fast-charging envs share: limits, reward weights, SOC range, episode length, dt.

One frozen dataclass with the defaults written once. Each env adds its own arguments
(simulator, pack) and may set env-specific defaults (the current range, the plating weight);
:func:`split_env_config` separates the two and rejects unknown keys with the valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ChargingSettings:
    """Limits, reward weights and episode settings of a fast-charging env.

    Attributes:
        min_current_A, max_current_A: charging-current range of the action [A],
            0 <= min < max. Env-specific defaults (cell 1-7.5 A; pack Np x that).
        action_headroom: fraction h of the current range, in [0, 0.5), by which the action
            maps past both ends before the current is clipped to [min, max]: action -1 ->
            ``min - h (max - min)``, +1 -> ``max + h (max - min)``. With h > 0 the extreme
            currents are interior actions, which a tanh-squashed policy (SAC) reaches
            without pushing its mean to infinity. Default 0 (the plain linear map).
        target_soc: SOC that ends the episode, in (initial_soc, 1]. Default 0.8.
        initial_soc: start SOC, a number or a [low, high] range sampled per episode, in
            [0, target_soc). Default 0.1.
        max_steps: steps before truncation (>= 1). Default 60 (90 min at 90 s).
        dt_s: control interval [s] (> 0). Default 90.
        ambient_temperature_K: ambient and initial temperature [K] in (233, 343). Default 298.15.
        voltage_limit_V: maximum cell voltage [V]. Default 4.2.
        temperature_limit_K: maximum cell temperature [K]. Default 318.15 (45 degC).
        plating_limit_V: lowest allowed plating indicator [V]. Default 0.
        plating_is_constraint: a step below ``plating_limit_V`` counts as a violation (and
            the reference controllers respect it). Default False.
        w_soc: reward per unit of SOC gained. Default 100.
        w_time: reward cost per step. Default 1.
        w_v: cost per volt above ``voltage_limit_V - voltage_backoff_V`` [1/V]. Default 100.
        voltage_backoff_V: how far below ``voltage_limit_V`` the voltage cost starts [V], in
            [0, 0.1]: constraint tightening (the back-off of robust MPC). A learner that trades
            a few mV of overshoot against a 90 s step then trades them below the limit.
            Violations are still counted at ``voltage_limit_V``. Default 0.
        w_T: cost per kelvin above ``temperature_limit_K`` [1/K]. Default 1.
        w_plating: cost per volt below ``plating_limit_V + plating_backoff_V`` [1/V]. Default
            0 (cell env: 100).
        plating_backoff_V: how far above ``plating_limit_V`` the plating cost starts [V], in
            [0, 0.1]: the same constraint tightening as ``voltage_backoff_V``. Violations are
            still counted at ``plating_limit_V``. Default 0.
        w_violation: cost per step that breaks a constraint (any amount), >= 0. The linear
            costs above price a 2 mV overshoot at 0.2, less than one step of ``w_time``, so
            a policy that shaves a step by grazing the limit gains; this flat cost makes
            every violation dearer than the step it saves. Default 0.
        failure_penalty: reward of a step that ends the episode by failure (> = 0). Default 50.

    Raises:
        ValueError: a value outside its range (the message names it).
    """

    min_current_A: float = 1.0
    max_current_A: float = 7.5
    action_headroom: float = 0.0
    target_soc: float = 0.8
    initial_soc: float | tuple[float, float] = 0.1
    max_steps: int = 60
    dt_s: float = 90.0
    ambient_temperature_K: float = 298.15
    voltage_limit_V: float = 4.2
    temperature_limit_K: float = 318.15
    plating_limit_V: float = 0.0
    plating_is_constraint: bool = False
    w_soc: float = 100.0
    w_time: float = 1.0
    w_v: float = 100.0
    voltage_backoff_V: float = 0.0
    w_T: float = 1.0
    w_plating: float = 0.0
    plating_backoff_V: float = 0.0
    w_violation: float = 0.0
    failure_penalty: float = 50.0

    def __post_init__(self):
        if not 0 <= self.min_current_A < self.max_current_A:
            raise ValueError(f"need 0 <= min_current_A < max_current_A, got {self.min_current_A}, {self.max_current_A}")
        if not 0.0 <= self.action_headroom < 0.5:
            raise ValueError(f"action_headroom must be in [0, 0.5), got {self.action_headroom}")
        lo, hi = self.initial_soc_range
        if not 0.0 <= lo <= hi < self.target_soc <= 1.0:
            raise ValueError(f"need 0 <= initial_soc < target_soc <= 1, got initial_soc={self.initial_soc}, "
                             f"target_soc={self.target_soc}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if not self.dt_s > 0:
            raise ValueError(f"dt_s must be > 0, got {self.dt_s}")
        if not 233.0 < self.ambient_temperature_K < 343.0:
            raise ValueError(f"ambient_temperature_K must be in (233, 343) K, got {self.ambient_temperature_K}")
        for name in ("voltage_backoff_V", "plating_backoff_V"):
            if not 0.0 <= getattr(self, name) <= 0.1:
                raise ValueError(f"{name} must be in [0, 0.1] V, got {getattr(self, name)}")
        for name in ("w_v", "w_T", "w_plating", "w_violation", "failure_penalty"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def initial_soc_range(self) -> tuple[float, float]:
        """(low, high) of the start SOC."""
        if np.isscalar(self.initial_soc):
            return float(self.initial_soc), float(self.initial_soc)
        lo, hi = (float(v) for v in self.initial_soc)
        return lo, hi


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ChargingSettings))


def split_env_config(env_class: type, config: Mapping[str, Any], env_defaults: Mapping[str, Any]):
    """Split an env_config into (ChargingSettings, the env's own keyword arguments).

    Args:
        env_class: the env; its own arguments are the keyword-only parameters of its
            ``_configure`` method.
        config: the merged env_config.
        env_defaults: the env's own defaults for settings fields (e.g. the current range).

    Raises:
        TypeError: an unknown key (the message names it and lists the valid ones).
        ValueError: a settings value outside its range.
    """
    own_names = valid_own_keys(env_class)
    unknown = sorted(set(config) - set(own_names) - set(SETTING_NAMES))
    if unknown:
        raise TypeError(f"{env_class.__name__}: unknown env_config key(s) {unknown}; "
                        f"valid: {', '.join(sorted(own_names + SETTING_NAMES))}")
    settings = replace(ChargingSettings(), **{**dict(env_defaults), **{k: v for k, v in config.items() if k in SETTING_NAMES}})
    own = {k: v for k, v in config.items() if k in own_names}
    return settings, own


def valid_own_keys(env_class: type) -> tuple[str, ...]:
    """The env's own env_config keys (keyword-only parameters of its ``_configure``)."""
    params = inspect.signature(env_class._configure).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def valid_env_config_keys(env_class: type) -> tuple[str, ...]:
    """Every key an env_config of ``env_class`` may have, sorted."""
    return tuple(sorted(valid_own_keys(env_class) + SETTING_NAMES))
