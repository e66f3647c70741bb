"""Non-learning passive-balancing policies: no balancing, and rule-based balancing with a
threshold tuned per load profile. Each is a callable ``(obs, info) -> action`` on a
``PassiveBalancing`` env.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rl_battery.envs.rollout import run_episode

#: Thresholds [SOC] the rule-based controller is tuned over.
DEFAULT_THRESHOLDS = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08)


class NoBalancing:
    """Every shunt off at every step."""

    def __init__(self, env):
        self.env = env.unwrapped

    def __call__(self, obs, info):
        return self.env.encode_switches(np.zeros(self.env.n_cells, dtype=np.int64))


class RuleBasedBalancing:
    """Shunt of cell i on while its SOC exceeds the lowest cell SOC by more than
    ``threshold``; with hysteresis, once on it stays on until the excess falls below
    ``threshold - hysteresis`` (the usual SOC-difference rule of passive BMS balancing).

    Args:
        env: a ``PassiveBalancing`` env (reads the true cell SOCs from ``info["cell_soc"]``).
        threshold: SOC excess over the lowest cell that switches a shunt on, in (0, 1).
        hysteresis: SOC band below ``threshold`` in which an on shunt stays on, in
            [0, threshold]. Default: half the threshold.

    Raises:
        ValueError: a threshold or hysteresis outside its range.
    """

    def __init__(self, env, threshold: float, hysteresis: float | None = None):
        hysteresis = 0.5 * threshold if hysteresis is None else hysteresis
        if not 0 < threshold < 1 or not 0 <= hysteresis <= threshold:
            raise ValueError(f"need 0 < threshold < 1 and 0 <= hysteresis <= threshold, got {threshold}, {hysteresis}")
        self.env = env.unwrapped
        self.threshold, self.hysteresis = float(threshold), float(hysteresis)
        self._on = np.zeros(self.env.n_cells, dtype=bool)

    def __call__(self, obs, info):
        if info["time_s"] == 0:
            self._on[:] = False
        soc = np.asarray(info["cell_soc"])
        excess = soc - soc.min()
        self._on = np.where(self._on, excess > self.threshold - self.hysteresis, excess > self.threshold)
        return self.env.encode_switches(self._on.astype(np.int64))


def balancing_env(env_config: Mapping[str, Any], profile: str, pack_seed: int):
    """A ``PassiveBalancing`` env on ``profile`` whose every reset uses the cells of ``pack_seed``."""
    from rl_battery.envs.passive_balancing import PassiveBalancing

    return PassiveBalancing({**dict(env_config), "profile": profile, "pack_seed": int(pack_seed)})


def evaluate_policy(env_config: Mapping[str, Any], make_policy, pack_seeds: Iterable[int], profile: str,
                    on_step=None) -> list[dict[str, float]]:
    """Episode metrics of ``make_policy(env)`` on ``profile``, one episode per pack seed
    (:func:`balancing_env`); ``on_step(pack_seed, info)`` sees every step when given."""
    rows = []
    for seed in pack_seeds:
        env = balancing_env(env_config, profile, seed)
        hook = (lambda info, seed=seed: on_step(seed, info)) if on_step else None
        rows.append(run_episode(env, make_policy(env), seed=int(seed), on_step=hook))
    return rows


def tune_rule_based(env_config: Mapping[str, Any], profile: str, pack_seeds: Sequence[int],
                    thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> tuple[float, list[dict]]:
    """The rule-based threshold for ``profile``: the largest mean episode return over
    ``pack_seeds``, i.e. the best trade-off under the same multi-objective reward the RL
    agents maximise (SOC spread, switching, shunt energy, usable capacity). Tuning for
    usable capacity alone drives the threshold to the grid's smallest value, where the
    hysteresis band chatters (about 100 switch changes per episode at 0.0025).

    Returns:
        (best threshold, one row per threshold: threshold, mean episode_return, mean
        usable_capacity_Ah, mean soc_variance_mean, mean switch_count).
    """
    table = []
    for threshold in thresholds:
        rows = evaluate_policy(env_config, lambda e, th=threshold: RuleBasedBalancing(e, th), pack_seeds, profile)
        table.append({"threshold": float(threshold),
                      **{k: float(np.mean([r[k] for r in rows]))
                         for k in ("episode_return", "usable_capacity_Ah", "soc_variance_mean", "switch_count")}})
    best = max(table, key=lambda row: row["episode_return"])
    return best["threshold"], table
