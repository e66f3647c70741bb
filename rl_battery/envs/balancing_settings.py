"""Settings of the passive-balancing env: the string, its spread, limits, profile and reward.

One frozen dataclass; every env_config key of ``PassiveBalancing-v0`` is a field, checked on
construction (no simulator is built), so a bad experiment file fails with the key's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rl_battery.envs.load_profiles import PROFILES

#: Action formats: five on/off switches (PPO) or one of 32 switch patterns (DQN).
ACTION_FORMATS = ("multi_discrete", "discrete")


@dataclass(frozen=True)
class BalancingSettings:
    """Everything a ``PassiveBalancing`` env is made from. Defaults follow the passive-balancing
    RL study (Results in Engineering, 2024) where it states a value.

    Attributes:
        profile: load profile name, or a list of names drawn per episode (see
            :mod:`rl_battery.envs.load_profiles`). Default "discharge-rest-charge".
        action_format: "multi_discrete" (``MultiDiscrete([2] * n_cells)``) or "discrete"
            (``Discrete(2 ** n_cells)``, bit i = cell i). Default "multi_discrete".
        n_cells: cells in series, 2-8. Default 5.
        dt_s: control interval [s], > 0. Default 30.
        history: observation frames (now and the previous ``history - 1`` steps), >= 1. Default 3.
        soc_deviation_gain: gain on each cell's SOC minus the mean cell SOC in the observation,
            in (0, 100]. Default 10 (a spread of 0.1 SOC reads as 1). A larger gain makes the
            small spreads of a nearly balanced string visible next to the O(1) features;
            values beyond +-10 are clipped with the rest of the observation.
        observe_time: put the elapsed fraction of the profile in the observation. Default True.
            Without it the observation carries no clock, so a policy cannot learn the
            training profile's schedule by heart and must act on the cells' state; the
            profile's end is then a time limit the agent cannot see, so it ends the episode
            as truncated (Gymnasium's convention), not terminated.
        initial_soc: [low, high] of each cell's start SOC, drawn uniformly, within the SOC
            window. Default [0.4, 0.6].
        initial_soc_offset: [low, high] of one offset drawn per episode and added to every
            cell's start SOC, so the string's mean start SOC varies while the cell-to-cell
            spread keeps the width of ``initial_soc``; ``initial_soc`` shifted by it must stay
            inside the SOC window. Default [0, 0] (no offset). A training-coverage knob: the
            training profile discharges first, so with the default start SOCs it never
            discharges from above SOC 0.6; a positive offset lets it.
        initial_soc_spread: [low, high] in [0, 1] of one factor drawn per episode that scales
            every cell's start-SOC deviation from the middle of ``initial_soc``: 0 starts a
            balanced string, 1 keeps the cells as drawn. Default [1, 1] (nothing is drawn, so
            a ``pack_seed`` keeps its cells bit for bit). A training-coverage knob: with it the
            policy also meets nearly balanced strings, as a test profile's last phase is.
        soh: [low, high] of each cell's SOH (capacity / 3.4 Ah), uniform, in (0.5, 1.5].
            Default [0.95, 1.05].
        resistance_spread: half-width of the uniform cell-to-cell factor on R0, R1, R2,
            in [0, 0.5). Default 0.05 (our choice; the study does not state one).
        pack_seed: None: every reset draws new cells from the env's RNG; an int: every
            reset uses the same cells, drawn from this seed (evaluation). Default None.
        shunt_resistance_Ohm: shunt resistor [Ohm], > 0. Default 6.
        soc_window: [low, high] SOC of a working cell. Default [0.1, 0.9].
        voltage_window_V: [low, high] terminal voltage of a working cell [V]. Default [2.5, 4.2].
        w_spread: cost per unit of SOC standard deviation across cells, per step. Default 10.
        w_switch: cost per switch change (on->off or off->on). Default 0.1.
        w_energy: cost per Wh dissipated in the shunts. Default 1.
        w_usable: reward per Ah the pack delivers or takes while every cell is in its
            window. Default 25.
        w_blocked: cost per shunt switch-on the env refused (Episode End / Action Space of
            the env). Default 0.1.

    Raises:
        ValueError: a value outside its range (the message names the key).
    """

    profile: str | tuple[str, ...] = "discharge-rest-charge"
    action_format: str = "multi_discrete"
    n_cells: int = 5
    dt_s: float = 30.0
    history: int = 3
    soc_deviation_gain: float = 10.0
    observe_time: bool = True
    initial_soc: tuple[float, float] = (0.4, 0.6)
    initial_soc_offset: tuple[float, float] = (0.0, 0.0)
    initial_soc_spread: tuple[float, float] = (1.0, 1.0)
    soh: tuple[float, float] = (0.95, 1.05)
    resistance_spread: float = 0.05
    pack_seed: int | None = None
    shunt_resistance_Ohm: float = 6.0
    soc_window: tuple[float, float] = (0.1, 0.9)
    voltage_window_V: tuple[float, float] = (2.5, 4.2)
    w_spread: float = 10.0
    w_switch: float = 0.1
    w_energy: float = 1.0
    w_usable: float = 25.0
    w_blocked: float = 0.1

    def __post_init__(self):
        profiles = (self.profile,) if isinstance(self.profile, str) else tuple(self.profile)
        object.__setattr__(self, "profile", profiles[0] if len(profiles) == 1 else profiles)
        bad = [p for p in profiles if p not in PROFILES]
        if not profiles or bad:
            raise ValueError(f"profile: unknown load profile(s) {bad}; valid: {', '.join(PROFILES)}")
        if self.action_format not in ACTION_FORMATS:
            raise ValueError(f"action_format: {self.action_format!r}; valid: {', '.join(ACTION_FORMATS)}")
        if not 2 <= int(self.n_cells) <= 8:
            raise ValueError(f"n_cells must be in 2..8, got {self.n_cells}")
        if not isinstance(self.observe_time, bool):
            raise ValueError(f"observe_time must be true or false, got {self.observe_time!r}")
        if not 0.0 < float(self.soc_deviation_gain) <= 100.0:
            raise ValueError(f"soc_deviation_gain must be in (0, 100], got {self.soc_deviation_gain}")
        if not self.dt_s > 0 or int(self.history) < 1 or not self.shunt_resistance_Ohm > 0:
            raise ValueError("dt_s and shunt_resistance_Ohm must be > 0 and history >= 1")
        for name in ("initial_soc", "initial_soc_offset", "initial_soc_spread", "soh", "soc_window",
                     "voltage_window_V"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 2 or value[0] > value[1]:
                raise ValueError(f"{name} must be [low, high] with low <= high, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        lo, hi = self.soc_window
        if not 0.0 <= lo < hi <= 1.0 or not lo < self.initial_soc[0] <= self.initial_soc[1] < hi:
            raise ValueError(f"need 0 <= soc_window low < initial_soc <= high < 1, got soc_window={self.soc_window}, "
                             f"initial_soc={self.initial_soc}")
        shift_lo, shift_hi = self.initial_soc_offset
        if not lo < self.initial_soc[0] + shift_lo <= self.initial_soc[1] + shift_hi < hi:
            raise ValueError(f"initial_soc_offset {self.initial_soc_offset} moves initial_soc {self.initial_soc} "
                             f"outside the soc_window {self.soc_window}")
        if not 0.0 <= self.initial_soc_spread[0] <= self.initial_soc_spread[1] <= 1.0:
            raise ValueError(f"initial_soc_spread must be [low, high] with 0 <= low <= high <= 1, "
                             f"got {self.initial_soc_spread}")
        if not (0.5 < self.soh[0] and self.soh[1] <= 1.5):
            raise ValueError(f"soh must lie in (0.5, 1.5], got {self.soh}")
        if not 0.0 <= self.resistance_spread < 0.5:
            raise ValueError(f"resistance_spread must be in [0, 0.5), got {self.resistance_spread}")
        for name in ("w_spread", "w_switch", "w_energy", "w_usable", "w_blocked"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def profiles(self) -> tuple[str, ...]:
        """The profile names an episode is drawn from."""
        return (self.profile,) if isinstance(self.profile, str) else tuple(self.profile)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BalancingSettings:
        """Settings from an env_config mapping.

        Raises:
            ValueError: an unknown key (the message lists the valid ones) or a bad value.
        """
        unknown = sorted(set(config) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"PassiveBalancing: unknown env_config key(s) {unknown}; valid: {', '.join(SETTING_NAMES)}")
        return cls(**dict(config))


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(BalancingSettings))
