"""Train and test the SOH estimator on simulated aged packs (``rl-battery soh train``).

Training packs and test packs have disjoint pack seeds, so the held-out error is the error
on packs the estimator has never seen. Samples are simulated in parallel worker processes
(``concurrent.futures``), each with its own pack env.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from rl_battery.health.dataset import SegmentSampling, simulate_segments
from rl_battery.health.estimator import SOHEstimator


def _simulate(env_config: Mapping[str, Any], protocols: Sequence[Callable], seeds: Sequence[int], per_pack: int,
              sampling: SegmentSampling, seed: int) -> dict[str, np.ndarray]:
    from rl_battery.envs import PackFastCharge

    return simulate_segments(PackFastCharge(dict(env_config)), protocols, seeds, per_pack=per_pack,
                             sampling=sampling, seed=seed)


def simulate_parallel(env_config: Mapping[str, Any], protocols: Sequence[Callable], seeds: Sequence[int], *, per_pack: int,
                      sampling: SegmentSampling, seed: int, workers: int) -> dict[str, np.ndarray]:
    """:func:`simulate_segments` over ``seeds`` split across ``workers`` processes (>= 1)."""
    chunks = [list(c) for c in np.array_split(np.asarray(seeds, int), max(1, int(workers))) if len(c)]
    if len(chunks) == 1:
        parts = [_simulate(env_config, protocols, chunks[0], per_pack, sampling, seed)]
    else:
        with ProcessPoolExecutor(len(chunks)) as pool:
            parts = list(pool.map(_simulate, [env_config] * len(chunks), [protocols] * len(chunks), chunks,
                                  [per_pack] * len(chunks), [sampling] * len(chunks),
                                  [seed + 7919 * k for k in range(len(chunks))]))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def train_estimator(env_config: Mapping[str, Any], protocols: Sequence[Callable], *, train_seeds: Sequence[int],
                    test_seeds: Sequence[int], per_pack: int = 2, sampling: SegmentSampling = SegmentSampling(),
                    seed: int = 0, workers: int = 1, ridge: float = 1e-2) -> tuple[SOHEstimator, dict]:
    """Simulate, fit, test. Returns the estimator (``heldout_rmse`` set) and a report with
    the test predictions.

    Raises:
        ValueError: train and test seeds overlap.
    """
    if set(train_seeds) & set(test_seeds):
        raise ValueError("train and test pack seeds must be disjoint")
    kw = dict(per_pack=per_pack, sampling=sampling, workers=workers)
    train = simulate_parallel(env_config, protocols, train_seeds, seed=seed, **kw)
    test = simulate_parallel(env_config, protocols, test_seeds, seed=seed + 1, **kw)
    estimator = SOHEstimator.fit(train["features"], train["soh"], ridge=ridge)
    predicted = estimator.predict(test["features"])
    error = predicted - test["soh"]
    estimator.heldout_rmse = float(np.sqrt(np.mean(error**2)))
    estimator.info.update(n_test=int(len(error)), heldout_max_abs_error=float(np.max(np.abs(error))),
                          train_seeds=[int(s) for s in train_seeds], test_seeds=[int(s) for s in test_seeds],
                          per_pack=per_pack, sampling=vars(sampling), env_config=dict(env_config), seed=seed)
    report = {"heldout_rmse": estimator.heldout_rmse, "heldout_max_abs_error": float(np.max(np.abs(error))),
              "test_soh": test["soh"].tolist(), "test_predicted": predicted.tolist(),
              "train_soh_range": [float(train["soh"].min()), float(train["soh"].max())],
              "coef": dict(zip(estimator.feature_names, estimator.coef.tolist()))}
    return estimator, report
