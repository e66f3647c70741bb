"""SOH estimate -> prior (mean and spread) over the differential surrogate's parameters.

The parameters are :data:`rl_battery.surrogate.differential.PARAMETER_NAMES`, relative to
the pack the static surrogate G0 learned (SOH ``soh_reference``):

* capacity factor ``q = SOH_est / SOH_ref``: capacity scales with SOH (SOH's definition);
* resistance increase ``dR = k_R (SOH_ref - SOH_est)`` per cell [Ohm]: the linear
  fade/resistance coupling of the ageing law (:mod:`rl_battery.sim.ageing`; Schmalstieg
  et al. 2014, Fig. 7), with its k_R;
* OCV slope ``k_ocv``: 0.6 V per unit SOC, the mean slope of an NMC/graphite cell's OCV
  between 20 % and 80 % SOC (Chen2020: about 3.6 V -> 4.0 V), whatever the SOH;
* heat gain ``h = dR * dt / C_th`` [K/A^2]: the extra Joule heat of one step without
  cooling, with ``C_th`` = 70 J/K, the order of a 21700 cell's heat capacity (about 70 g
  at about 1 J/(g K)).

Spreads: the SOH estimator's held-out error (plus a floor for the law's own error)
propagated through these relations; k_ocv and h get wide spreads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rl_battery.sim.heterogeneity import RESISTANCE_PER_SOH_LOSS_OHM
from rl_battery.surrogate.differential import PARAMETER_NAMES

OCV_SLOPE_V = 0.6
CELL_HEAT_CAPACITY_J_K = 70.0


@dataclass(frozen=True)
class ParameterPrior:
    """Independent Gaussian prior over the differential surrogate's parameters.

    Attributes:
        mean, std: (4,) in :data:`PARAMETER_NAMES` order; std > 0.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self):
        mean, std = np.asarray(self.mean, float), np.asarray(self.std, float)
        if mean.shape != (len(PARAMETER_NAMES),) or std.shape != mean.shape or not np.all(std > 0):
            raise ValueError(f"need mean and std of shape ({len(PARAMETER_NAMES)},), std > 0; got {mean}, {std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def uninformative(cls) -> "ParameterPrior":
        """A weak prior around no correction (q 1 +- 1, dR 0 +- 0.1 Ohm, k_ocv 0.6 +- 2 V,
        h 0 +- 1 K/A^2): it keeps the fit well posed and barely pulls."""
        return cls(np.array([1.0, 0.0, OCV_SLOPE_V, 0.0]), np.array([1.0, 0.1, 2.0, 1.0]))

    def as_dict(self) -> dict[str, float]:
        return {**{f"prior_{n}": float(m) for n, m in zip(PARAMETER_NAMES, self.mean)},
                **{f"prior_{n}_std": float(s) for n, s in zip(PARAMETER_NAMES, self.std)}}


def prior_from_soh(soh_estimate: float, soh_reference: float, *, soh_std: float, dt_s: float,
                   resistance_per_soh_loss_Ohm: float = RESISTANCE_PER_SOH_LOSS_OHM,
                   heat_capacity_J_K: float = CELL_HEAT_CAPACITY_J_K) -> ParameterPrior:
    """The prior of the module docstring.

    Args:
        soh_estimate: estimated pack SOH now, in (0, 1].
        soh_reference: pack SOH the static surrogate learned, in (0, 1].
        soh_std: the estimate's standard error (e.g. the estimator's held-out RMSE), >= 0.
        dt_s: control step [s] (> 0).

    Raises:
        ValueError: an SOH outside (0, 1], a negative spread or a non-positive step.
    """
    if not (0 < soh_estimate <= 1 and 0 < soh_reference <= 1 and soh_std >= 0 and dt_s > 0):
        raise ValueError(f"need SOHs in (0, 1], soh_std >= 0, dt_s > 0; got {soh_estimate}, {soh_reference}, "
                         f"{soh_std}, {dt_s}")
    sigma = float(np.hypot(soh_std, 0.005))  # the law's own error floor: 0.5 % SOH
    d_r = resistance_per_soh_loss_Ohm * max(soh_reference - soh_estimate, 0.0)
    d_r_std = resistance_per_soh_loss_Ohm * sigma + 1e-3
    gain = dt_s / heat_capacity_J_K
    mean = np.array([soh_estimate / soh_reference, d_r, OCV_SLOPE_V, d_r * gain])
    std = np.array([sigma / soh_reference, d_r_std, 0.3, 2.0 * d_r_std * gain + 1e-3])
    return ParameterPrior(mean, std)

