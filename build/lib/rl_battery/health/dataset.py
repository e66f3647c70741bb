"""Charging segments of simulated aged packs: the SOH estimator's training and test data.

Each sample draws a pack (seed, mean SOH), ages it by a number of equivalent full cycles
(:class:`rl_battery.sim.ageing.AgeingLaw`, each cell at its own rate), and charges it once
from a random start SOC with a charging protocol drawn from a list (e.g. CC-CV at a random
current and the constraint-riding look-ahead, which charges as the surrogate planner does),
on the real liionpack pack env. The label is the true pack SOH (weakest series group), read from ``info``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rl_battery.envs.rollout import record_episode
from rl_battery.health.features import ChargingSegment, segment_features


@dataclass(frozen=True)
class SegmentSampling:
    """Ranges the samples are drawn from (uniform).

    Attributes:
        soh_mean: (low, high) mean SOH of the sampled (pre-ageing) cells, in (0.5, 1].
        age_cycles: (low, high) equivalent full cycles of ageing, >= 0.
        c_rate: (low, high) protocol current per cell over the cell's nominal capacity.
        initial_soc: (low, high) start SOC.
    """

    soh_mean: tuple[float, float] = (0.85, 0.97)
    age_cycles: tuple[float, float] = (0.0, 1500.0)
    c_rate: tuple[float, float] = (0.5, 1.5)
    initial_soc: tuple[float, float] = (0.08, 0.2)


def simulate_segments(env, protocols: Sequence[Callable[[object, float], Callable]], pack_seeds: Sequence[int], *,
                      per_pack: int = 1, sampling: SegmentSampling = SegmentSampling(), seed: int = 0,
                      progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """Charge aged packs on ``env`` (a PackFastCharge) and return features and labels.

    Args:
        env: the pack env; its deployment condition is changed and restored afterwards.
        protocols: factories ``(env, pack current [A]) -> policy (obs, info) -> action``,
            e.g. a CC-CV controller at that CC current; each sample draws one uniformly.
        pack_seeds: pack seeds to sample (split train/test by seed, not by sample).
        per_pack: samples per seed (>= 1).
        sampling: the ranges drawn from.
        seed: seed of the draws.
        progress: called as ``progress(done, total)`` after each sample.

    Returns:
        ``features`` (N, F), ``soh`` (N,) true pack SOH, ``pack_seed`` (N,), ``age_cycles``
        (N,), ``c_rate`` (N,), ``protocol`` (N,) index into ``protocols``, ``charge_time_min`` (N,).
    """
    base = env.unwrapped
    saved = base.condition()
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in ("features", "soh", "pack_seed", "age_cycles", "c_rate", "protocol", "charge_time_min")}
    total, done = len(pack_seeds) * per_pack, 0
    try:
        for pack_seed in pack_seeds:
            for _ in range(per_pack):
                soh_mean = rng.uniform(*sampling.soh_mean)
                age = rng.uniform(*sampling.age_cycles)
                c_rate = rng.uniform(*sampling.c_rate)
                soc0 = rng.uniform(*sampling.initial_soc)
                protocol = int(rng.integers(len(protocols)))
                base.set_condition(age_cycles=age, pack=(int(pack_seed), soh_mean))
                current = float(np.clip(c_rate * base.sim.cell_nominal_capacity_Ah * base.sim.Np,
                                        base.min_current_A, base.max_current_A))
                observations, infos, metrics = record_episode(env, protocols[protocol](base, current), initial_soc=soc0)
                currents = [info["current_A"] for info in infos[1:]]
                segment = ChargingSegment.from_env_episode(env, observations, currents)
                rows["features"].append(segment_features(segment))
                rows["soh"].append(infos[-1]["soh"])
                rows["pack_seed"].append(int(pack_seed))
                rows["age_cycles"].append(age)
                rows["c_rate"].append(c_rate)
                rows["protocol"].append(protocol)
                rows["charge_time_min"].append(metrics["charge_time_min"])
                done += 1
                if progress:
                    progress(done, total)
    finally:
        base.set_condition(**saved)
    return {k: np.asarray(v, float) for k, v in rows.items()}

