"""One adaptive cycle of the model-based algorithm: from the aged pack's real charges to G.

Cycle k >= 1 of :class:`rl_battery.algorithms.mbrl.MBRL` (see its module docstring) hands
the real episodes of the cycle (a Parquet table) to :func:`adapt`, which

1. cuts them into charging segments and estimates the pack SOH
   (:class:`rl_battery.health.SOHEstimator`);
2. turns the estimate into a prior over the differential surrogate's parameters
   (:func:`rl_battery.health.prior_from_soh`);
3. scores the static G0 and the combined G = G0 (+) G^ on held-out real data of the cycle
   (the last episode, calibrating on the others; with one episode, its last third),
   one step and 5 and 10 steps open loop;
4. calibrates G^ on all of the cycle's transitions (MAP, :func:`rl_battery.health.calibrate`).

:func:`parameter_truth` gives the simulator's own values of G^'s capacity factor and
resistance increase (from the per-cell truth in the rows) for the parameter error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from rl_battery.health import ChargingSegment, ParameterPrior, SOHEstimator, calibrate, prior_from_soh
from rl_battery.surrogate.differential import CombinedSurrogate, DifferentialSurrogate
from rl_battery.surrogate.ensemble import EnsembleSurrogate
from rl_battery.surrogate.rollout import transition_arrays
from rl_battery.surrogate.validation import open_loop_errors


@dataclass(frozen=True)
class PackReference:
    """What G0 learned, for the pack the adaptive cycles charge: its SOH (the one the BMS
    reports), mean cell capacity [Ah] and mean added contact resistance [Ohm] at cycle 0."""

    soh: float
    mean_capacity_Ah: float
    mean_contact_resistance_Ohm: float


def segments_of(table: pa.Table, *, dt_s: float, Np: int, cell_capacity_Ah: float) -> list[ChargingSegment]:
    """The table's episodes (rows of one episode_id, ordered by step_index) as segments."""
    arrays = transition_arrays(table)
    ids = np.asarray(table.column("episode_id").to_pylist())
    steps = table.column("step_index").to_numpy()
    current = table.column("current_A").to_numpy()
    segments = []
    for episode in dict.fromkeys(ids):
        rows = np.nonzero(ids == episode)[0]
        rows = rows[np.argsort(steps[rows])]
        obs = np.concatenate([arrays["obs"][rows], arrays["next_obs"][rows[-1:]]])
        segments.append(ChargingSegment(obs, current[rows], dt_s, Np, cell_capacity_Ah))
    return segments


def parameter_truth(table: pa.Table, reference: PackReference) -> dict[str, float]:
    """Simulator truth of G^'s parameters for the table's pack: capacity factor (mean cell
    capacity over the reference's) and resistance increase per cell [Ohm]; true pack SOH."""
    capacity = np.mean(table.column("cell_capacity_Ah").to_pylist()[-1])
    resistance = np.mean(table.column("cell_contact_resistance_Ohm").to_pylist()[-1])
    return {"capacity_factor": float(capacity / reference.mean_capacity_Ah),
            "resistance_increase_Ohm": float(resistance - reference.mean_contact_resistance_Ohm),
            "soh": float(table.column("soh").to_numpy()[-1])}


def model_errors(model, arrays: dict, ids: np.ndarray, steps: np.ndarray, dims) -> dict[str, float]:
    """Open-loop RMSE 1, 5 and 10 steps ahead on the constrained observations (NaN where
    the data has no window that long)."""
    errors = open_loop_errors(model, arrays["obs"], arrays["action"], arrays["next_obs"], ids, steps, dims=dims)
    return {f"k{k}_rmse": errors[f"k{k}_rmse"] for k in (1, 5, 10)}


def adapt(static: EnsembleSurrogate, table: pa.Table, differential: DifferentialSurrogate, *,
          estimator: SOHEstimator | None, reference: PackReference, dt_s: float, Np: int, cell_capacity_Ah: float,
          limited_dims, residual: bool = False) -> dict[str, float]:
    """Steps 1-4 of the module docstring; ``differential`` is calibrated in place.

    Args:
        static: the frozen G0.
        table: the cycle's real transitions (Parquet rows).
        differential: G^, calibrated in place (its previous theta is discarded).
        estimator: the SOH estimator; None calibrates with the uninformative prior.
        reference: the pack as G0 knew it.
        dt_s, Np, cell_capacity_Ah: the env's step [s], cells in parallel and nominal cell
            capacity [Ah] (for the segments).
        limited_dims: the observations the errors are scored on (the constrained ones).
        residual: also fit G^'s linear residual on the cycle's data.

    Returns:
        Flat metrics: ``soh_estimate`` (NaN without estimator), the prior, ``static_k*_rmse``
        and ``combined_k*_rmse`` (held out), the fitted parameters, the transitions used.
    """
    arrays = transition_arrays(table)
    ids = np.asarray(table.column("episode_id").to_pylist())
    steps = table.column("step_index").to_numpy()
    if estimator is not None:
        segments = segments_of(table, dt_s=dt_s, Np=Np, cell_capacity_Ah=cell_capacity_Ah)
        soh_estimate = estimator.estimate(segments)
        prior = prior_from_soh(soh_estimate, reference.soh, soh_std=estimator.heldout_rmse, dt_s=dt_s)
    else:
        soh_estimate, prior = float("nan"), ParameterPrior.uninformative()

    y0 = static.predict(np.array(arrays["obs"]), np.array(arrays["action"]), sample=False)[0].numpy()
    episodes = list(dict.fromkeys(ids))
    if len(episodes) >= 2:
        held = ids == episodes[-1]
    else:  # one episode: hold out its last third
        held = steps >= np.quantile(steps, 2 / 3)
    fit = ~held
    report: dict[str, float] = {"soh_estimate": soh_estimate, **prior.as_dict()}
    sub = {k: v[held] for k, v in arrays.items()}
    report.update({f"static_{k}": v for k, v in model_errors(static, sub, ids[held], steps[held], limited_dims).items()})
    if fit.sum() >= 2:
        calibrate(differential, arrays["obs"][fit], arrays["action"][fit], arrays["next_obs"][fit], y0[fit], prior)
        if residual:
            differential.fit_residual(arrays["obs"][fit], arrays["action"][fit], arrays["next_obs"][fit], y0[fit])
        combined = CombinedSurrogate(static, differential)
        report.update({f"combined_{k}": v
                       for k, v in model_errors(combined, sub, ids[held], steps[held], limited_dims).items()})
    result = calibrate(differential, arrays["obs"], arrays["action"], arrays["next_obs"], y0, prior)
    if residual:
        differential.fit_residual(arrays["obs"], arrays["action"], arrays["next_obs"], y0)
    report.update(result.as_dict())
    return report
