"""Fast calibration of the differential surrogate: a maximum a posteriori fit on a few
charging segments, regularized toward the SOH prior.

Minimizes ``sum ((G(theta)(s, a) - s') / sigma_obs)^2 + sum ((theta - mu) / sigma)^2`` over
the four physical parameters (:data:`PARAMETER_NAMES`) with SciPy's bounded trust-region
least squares (``scipy.optimize.least_squares``, method "trf"), G = G0 (+) G^ with G0's
ensemble-mean predictions computed once. With a Gaussian prior and Gaussian observation
noise this is the MAP estimate. ``sigma_obs`` (:data:`OBSERVATION_NOISE`) is the error
expected of a good model per observation: 3 mV on voltages, 0.05 K on temperatures, 0.001
on SOC, in the env's normalized units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from rl_battery.envs.charging import TEMPERATURE_SCALE_K, VOLTAGE_SCALE_V
from rl_battery.health.prior import ParameterPrior
from rl_battery.surrogate.differential import (
    PARAMETER_NAMES,
    SOC_DIMS,
    TEMPERATURE_DIMS,
    VOLTAGE_DIMS,
    DifferentialSurrogate,
)

FITTED_DIMS = VOLTAGE_DIMS + TEMPERATURE_DIMS + SOC_DIMS
OBSERVATION_NOISE = np.array([0.003 / VOLTAGE_SCALE_V] * 3 + [0.05 / TEMPERATURE_SCALE_K] * 3 + [0.001] * 3)
#: Bounds of (q, dR [Ohm], k_ocv [V], h [K/A^2]).
BOUNDS = (np.array([0.3, -0.05, -1.0, -1.0]), np.array([2.0, 0.3, 3.0, 3.0]))


@dataclass(frozen=True)
class CalibrationResult:
    """theta: (4,) fitted parameters; cost: the objective at theta; n_transitions: data used."""

    theta: np.ndarray
    cost: float
    n_transitions: int

    def as_dict(self) -> dict[str, float]:
        return {**{n: float(v) for n, v in zip(PARAMETER_NAMES, self.theta)}, "cost": self.cost,
                "n_transitions": self.n_transitions}


def calibrate(differential: DifferentialSurrogate, obs, action, next_obs, next_obs_g0, prior: ParameterPrior,
              ) -> CalibrationResult:
    """MAP fit of ``differential.theta`` (set in place, the residual is cleared) on real
    transitions.

    Args:
        obs, action, next_obs: (N, 14), (N, 1), (N, 14) real transitions of the aged pack.
        next_obs_g0: (N, 14) G0's ensemble-mean predictions for them.
        prior: the parameter prior (:func:`rl_battery.health.prior.prior_from_soh`, or
            :meth:`ParameterPrior.uninformative`).

    Returns:
        The fit; ``differential.theta`` holds it.

    Raises:
        ValueError: no transitions or mismatched shapes.
    """
    obs, action, next_obs, y0 = (np.asarray(a, float) for a in (obs, action, next_obs, next_obs_g0))
    if len(obs) == 0 or not (obs.shape == next_obs.shape == y0.shape and len(action) == len(obs)):
        raise ValueError(f"need matching non-empty transitions, got {obs.shape}, {action.shape}, {next_obs.shape}, {y0.shape}")
    differential.residual = None
    target = next_obs[:, FITTED_DIMS]

    def residuals(theta):
        differential.theta = theta
        pred = differential.correct(obs, action, y0)[:, FITTED_DIMS]
        return np.concatenate([((pred - target) / OBSERVATION_NOISE).ravel(), (theta - prior.mean) / prior.std])

    start = np.clip(prior.mean, BOUNDS[0] + 1e-6, BOUNDS[1] - 1e-6)
    fit = least_squares(residuals, start, bounds=BOUNDS, method="trf", x_scale=prior.std)
    differential.theta = fit.x
    return CalibrationResult(fit.x.copy(), float(fit.cost), len(obs))
