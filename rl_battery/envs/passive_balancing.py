"""``PassiveBalancing-v0``: switch the shunt resistors of a 5S string of NCA cells."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from rl_battery.envs.balancing_settings import BalancingSettings
from rl_battery.envs.load_profiles import LOAD_CURRENT_A, LoadProfile, load_profile
from rl_battery.envs.metrics import BalancingMetrics
from rl_battery.envs.step_record import BalancingStepRecord
from rl_battery.sim.ecm_string import NOMINAL_CAPACITY_AH, ECMStringSimulator

#: Observation scaling: (voltage - offset) / scale, (SOH - 1) x gain.
VOLTAGE_OFFSET_V, VOLTAGE_SCALE_V = 3.7, 0.5
SOH_GAIN = 10.0


class PassiveBalancing(gym.Env):
    """Passive balancing of a series string of 2-RC equivalent-circuit cells under a load profile.

    ## Description
    Five NCA 18650 cells (3.4 Ah nominal) in series follow a pack load profile (discharge,
    rest, charge; :mod:`rl_battery.envs.load_profiles`). Each cell has a 6 ohm shunt resistor
    that a switch puts in parallel with that cell only, bleeding about 0.6 A. Every 30 s the
    agent sets the five switches. The cells differ in start SOC, capacity (SOH) and
    resistance, so their SOCs drift apart; the battery management system cuts the load of a
    profile phase as soon as the first cell leaves its window, so the spread costs usable
    capacity. The physics: :class:`rl_battery.sim.ECMStringSimulator` (Tran et al. 2021 2-RC
    parameters, PyBaMM ``NCA_Kim2011`` OCV; the shunt current follows the cell's voltage).

    ## Action Space
    ``action_format`` "multi_discrete" (PPO): ``MultiDiscrete([2] * n_cells)``, entry i = 1
    switches the shunt of cell i on. "discrete" (DQN): ``Discrete(2 ** n_cells)``, bit i of
    the integer is cell i. (Never ``MultiBinary``: RLlib 2.60's DQN mishandles it.) The env
    refuses, and counts as ``blocked_switches``, a switch-on of a cell at or below the low
    end of its SOC window, and during discharge the switch-on of the lowest-SOC cell (it
    would only deepen the imbalance that limits the discharge). An action outside the space
    (wrong shape, a value not 0/1, NaN) raises ValueError and nothing is simulated.

    ## Observation Space
    ``Box(-10, 10, (history * (5 * n_cells + 1) + 4,), float32)`` (``+ 3`` without
    ``observe_time``): ``history`` frames, newest first (a reset repeats its state), each

    | index (frame)         | observation                              | scaling                       |
    |-----------------------|------------------------------------------|-------------------------------|
    | 0 .. n-1              | cell SOC                                 | raw [-]                       |
    | n .. 2n-1             | cell SOC - mean cell SOC                 | x ``soc_deviation_gain`` (10) |
    | 2n .. 3n-1            | cell terminal voltage                    | (V - 3.7 V) / 0.5 V           |
    | 3n .. 4n-1            | shunt switch state applied over the step | 0 / 1                         |
    | 4n .. 5n-1            | cell SOH (capacity / 3.4 Ah)             | (SOH - 1) x 10                |
    | 5n                    | pack current over the step               | / 2.35 A                      |

    then: the elapsed fraction of the profile (only with ``observe_time``), charge cut (0/1),
    discharge cut (0/1), and the profile current of the coming step / 2.35 A.

    ## Rewards
    Per step: ``- w_spread * std(SOC) - w_switch * (switch changes) - w_energy * (shunt
    energy, Wh) + w_usable * (charge through the pack terminals while every cell is in its
    window, Ah) - w_blocked * (refused switch-ons)``, defaults 10, 0.1, 1, 25, 0.1. The std
    term rewards balance at every step; the usable term rewards what balance is for (more
    charge before the first cell's cut-off); the switch and energy terms price the action.
    (The study's reward as published, ``-(ln Var SOC)^2 - 4 - beta * switches + 0.5 *
    working``, grows more negative as the variance falls, so it is not used.)

    ## Starting State
    Each cell: SOC ~ U(``initial_soc``) (0.4-0.6), its deviation from the middle of that
    range scaled by one factor per episode ~ U(``initial_soc_spread``) (1, as drawn), plus
    one offset per episode ~ U(``initial_soc_offset``) (0, no offset); SOH ~ U(``soh``)
    (0.95-1.05); resistance factor ~ U(1 +- ``resistance_spread``) (0.05); RC pairs
    relaxed; shunts off. Drawn from the env's RNG at every reset, or always the same cells
    from ``pack_seed``. A profile is drawn from ``profile`` when it lists several.

    ## Episode End
    Terminated when the load profile ends (6200 s, 207 steps, for "discharge-rest-charge";
    6600 s for the others); truncated there instead when ``observe_time`` is false, since
    the end is then a time limit outside the observation. A cell leaving its window does not
    end the episode: it cuts the load of the current phase (the usable phase ends), and the
    episode runs on to the next phase. The simulator is closed-form, so there is no solver failure.

    ## Arguments
    Every field of :class:`rl_battery.envs.balancing_settings.BalancingSettings`, as an
    env_config mapping or keyword arguments (``gymnasium.make("PassiveBalancing-v0",
    action_format="discrete")``); unknown keys raise ValueError listing the valid ones.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: Mapping[str, Any] | None = None, **kwargs):
        merged = {**dict(config or {}), **kwargs}
        #: The env_config this env was made with.
        self.env_config: dict[str, Any] = merged
        self.settings = s = BalancingSettings.from_config(merged)
        n = s.n_cells
        if s.action_format == "discrete":
            self.action_space = gym.spaces.Discrete(2**n)
        else:
            self.action_space = gym.spaces.MultiDiscrete([2] * n)
        size = s.history * (5 * n + 1) + 3 + int(s.observe_time)
        self.observation_space = gym.spaces.Box(-10.0, 10.0, shape=(size,), dtype=np.float32)
        self.profile: LoadProfile = load_profile(s.profiles[0])
        self.sim: ECMStringSimulator | None = None
        self._frames: deque[np.ndarray] = deque(maxlen=s.history)
        self._metrics = BalancingMetrics()
        self._last: BalancingStepRecord | None = None

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Check an env_config without building a simulator (:class:`BalancingSettings`).

        Raises:
            ValueError: an unknown key (the message lists the valid ones) or a bad value.
        """
        BalancingSettings.from_config(config)

    # ------------------------------------------------------------------ helpers
    @property
    def n_cells(self) -> int:
        return self.settings.n_cells

    @property
    def task_id(self) -> str:
        """Profile and cells of the current episode, e.g. "charge-rest-discharge/pack 3"."""
        cells = "random cells" if self.settings.pack_seed is None else f"pack {self.settings.pack_seed}"
        return f"{self.profile.name}/{cells}"

    def decode_action(self, action) -> np.ndarray:
        """Action -> switch vector (n_cells,) of 0/1.

        Raises:
            ValueError: ``action`` is not in the action space.
        """
        n = self.n_cells
        if self.settings.action_format == "discrete":
            value = np.asarray(action)
            if value.size != 1 or not np.isfinite(value).all() or value.reshape(()) != np.round(value.reshape(())) \
                    or not 0 <= int(value.reshape(())) < 2**n:
                raise ValueError(f"action must be an integer in [0, {2**n}) (Discrete({2**n})), got {action!r}")
            code = int(value.reshape(()))
            return np.array([(code >> i) & 1 for i in range(n)], dtype=np.int64)
        value = np.asarray(action, dtype=float)
        if value.shape != (n,) or not np.all((value == 0) | (value == 1)):
            raise ValueError(f"action must be {n} switch values of 0 or 1 (MultiDiscrete([2]*{n})), got {action!r}")
        return value.astype(np.int64)

    def encode_switches(self, switches) -> np.ndarray | int:
        """Switch vector (n_cells,) of 0/1 -> an action of this env's action space."""
        bits = np.asarray(switches, dtype=np.int64)
        if self.settings.action_format == "discrete":
            return int(sum(int(b) << i for i, b in enumerate(bits)))
        return bits

    def _sample_cells(self):
        s = self.settings
        rng = np.random.default_rng(s.pack_seed) if s.pack_seed is not None else self.np_random
        n = s.n_cells
        soc = rng.uniform(*s.initial_soc, size=n)
        soh = rng.uniform(*s.soh, size=n)
        scale = rng.uniform(1.0 - s.resistance_spread, 1.0 + s.resistance_spread, size=n)
        # Drawn last and only from ranges of nonzero width, so a fixed offset or spread factor
        # leaves the random stream, and hence the cells of every pack_seed, as without one.
        low, high = s.initial_soc_offset
        offset = rng.uniform(low, high) if high > low else low
        low, high = s.initial_soc_spread
        factor = rng.uniform(low, high) if high > low else low
        if factor != 1.0:  # middle + 1.0 * (soc - middle) can differ from soc in the last bit
            middle = 0.5 * sum(s.initial_soc)
            soc = middle + factor * (soc - middle)
        return soc + offset, soh, scale

    def _frame(self, r: BalancingStepRecord) -> np.ndarray:
        soc = r.cell_soc
        return np.concatenate([
            soc, (soc - soc.mean()) * self.settings.soc_deviation_gain,
            (r.cell_voltage_V - VOLTAGE_OFFSET_V) / VOLTAGE_SCALE_V,
            r.switches.astype(float), (r.cell_soh - 1.0) * SOH_GAIN, [r.pack_current_A / LOAD_CURRENT_A],
        ])

    def _observation(self) -> np.ndarray:
        r = self._last
        clock = [r.time_s / self.profile.duration_s] if self.settings.observe_time else []
        extra = [*clock, float(r.charge_cut), float(r.discharge_cut), self.profile.phase_current(r.time_s) / LOAD_CURRENT_A]
        obs = np.concatenate([*self._frames, extra])
        return np.clip(obs, -10.0, 10.0).astype(np.float32)

    def _refused(self, requested: np.ndarray) -> np.ndarray:
        """Mask (n_cells,) of requested switch-ons the env does not apply."""
        soc = self.sim.soc
        refuse = soc <= self.settings.soc_window[0]
        if self.profile.phase_current(self._last.time_s) < 0:
            refuse = refuse.copy()
            refuse[int(np.argmin(soc))] = True
        return (requested == 1) & refuse

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new episode: new cells (or ``pack_seed``'s), a profile from ``profile``.

        ``options`` may set ``profile`` (a name) for this episode.
        """
        super().reset(seed=seed)
        options = options or {}
        names = self.settings.profiles
        name = options.get("profile") or (names[0] if len(names) == 1 else names[int(self.np_random.integers(len(names)))])
        self.profile = load_profile(name)
        soc, soh, scale = self._sample_cells()
        self.sim = ECMStringSimulator(NOMINAL_CAPACITY_AH * soh, soc, resistance_scale=scale,
                                      shunt_resistance_Ohm=self.settings.shunt_resistance_Ohm)
        voltage, shunt = self.sim.terminal(0.0, np.zeros(self.n_cells))
        zeros = np.zeros(self.n_cells)
        self._soh = soh
        self._phase = 0
        self._last = BalancingStepRecord(
            time_s=0.0, dt_s=0.0, profile_current_A=0.0, pack_current_A=0.0, cell_soc=soc.copy(),
            cell_voltage_V=voltage, step_min_cell_voltage_V=voltage, step_max_cell_voltage_V=voltage,
            switches=zeros.astype(np.int64), shunt_current_A=shunt, shunt_energy_Wh=zeros, blocked_switches=0,
            charge_cut=False, discharge_cut=False, cell_soh=soh.copy(),
        )
        self._metrics = BalancingMetrics()
        self._frames.clear()
        for _ in range(self.settings.history):
            self._frames.appendleft(self._frame(self._last))
        return self._observation(), {**self._last.as_dict(), "profile": self.profile.name}

    def step(self, action):
        if self.sim is None:
            raise RuntimeError("call reset() before step()")
        requested = self.decode_action(action)
        s, prev = self.settings, self._last
        blocked = self._refused(requested)
        switches = np.where(blocked, 0, requested)
        (soc_lo, soc_hi), (v_lo, v_hi) = s.soc_window, s.voltage_window_V
        charge_cut, discharge_cut = prev.charge_cut, prev.discharge_cut
        t = prev.time_s
        energy = np.zeros(self.n_cells)
        v_min, v_max = np.full(self.n_cells, np.inf), np.full(self.n_cells, -np.inf)
        asked = moved = 0.0
        for current, length in self.profile.segments(t, s.dt_s):
            phase = self.profile.phase_index(t)
            if phase != self._phase:  # a new profile phase lifts the load cut-offs
                self._phase, charge_cut, discharge_cut = phase, False, False
            cut = (current > 0 and charge_cut) or (current < 0 and discharge_cut)
            applied = 0.0 if cut else current
            result = self.sim.step(applied, switches, length)
            energy += result.shunt_energy_Wh
            v_min = np.minimum(v_min, result.step_min_cell_voltage_V)
            v_max = np.maximum(v_max, result.step_max_cell_voltage_V)
            asked += current * length
            moved += applied * length
            if applied > 0 and (result.cell_soc.max() >= soc_hi or result.step_max_cell_voltage_V.max() >= v_hi):
                charge_cut = True
            if applied < 0 and (result.cell_soc.min() <= soc_lo or result.step_min_cell_voltage_V.min() <= v_lo):
                discharge_cut = True
            t += length
        record = BalancingStepRecord(
            time_s=t, dt_s=s.dt_s, profile_current_A=asked / s.dt_s, pack_current_A=moved / s.dt_s,
            cell_soc=self.sim.soc.copy(), cell_voltage_V=result.cell_voltage_V, step_min_cell_voltage_V=v_min,
            step_max_cell_voltage_V=v_max, switches=switches, shunt_current_A=result.shunt_current_A,
            shunt_energy_Wh=energy, blocked_switches=int(blocked.sum()), charge_cut=charge_cut,
            discharge_cut=discharge_cut, cell_soh=self._soh.copy(),
        )
        changes = int(np.sum(switches != prev.switches))
        usable_Ah = abs(moved) / 3600.0
        reward = (-s.w_spread * float(record.cell_soc.std()) - s.w_switch * changes
                  - s.w_energy * float(energy.sum()) + s.w_usable * usable_Ah - s.w_blocked * record.blocked_switches)
        self._last = record
        self._frames.appendleft(self._frame(record))
        self._metrics.update(record, switch_changes=changes, reward=reward)
        ended = t >= self.profile.duration_s - 1e-9
        info = {**record.as_dict(), "profile": self.profile.name, "reward": reward, "switch_changes": changes}
        if ended:
            info["episode_metrics"] = self._metrics.as_dict()
        terminated, truncated = ended and s.observe_time, ended and not s.observe_time
        return self._observation(), float(reward), bool(terminated), bool(truncated), info

    @property
    def episode_metrics(self) -> dict[str, float]:
        """The running episode's :class:`~rl_battery.envs.metrics.BalancingMetrics` so far."""
        return self._metrics.as_dict()

    @property
    def last_record(self) -> BalancingStepRecord | None:
        """The record of the last reset or step."""
        return self._last
