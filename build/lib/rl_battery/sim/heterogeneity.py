"""Per-cell heterogeneity and ageing of a pack, sampled from one seeded generator.

Ageing model (deliberately simple, documented so it can be replaced):
  * capacity fade as loss of electrode area: ``Electrode height [m] = h_0 * SOH * k_cap``
    with k_cap ~ N(1, capacity_rel_std) the manufacturing spread (PyBaMM parameter name).
  * resistance growth linear in capacity fade: ``R_contact = R_0 + k_R * (1 - SOH)``,
    the roughly linear fade/resistance coupling reported for NMC cells by Schmalstieg et
    al. 2014, J. Power Sources 257:325 (Fig. 7); with the defaults a cell at SOH 0.8 gains
    20 mOhm, about the Chen2020 cell's own DC resistance, i.e. resistance roughly doubles.
    Applied through SPMe's "contact resistance" option and input `Contact resistance [Ohm]`.
  * cooling spread: ``Total heat transfer coefficient [W.m-2.K-1] ~ N(h, htc_rel_std)``.
  * ageing-rate spread: a factor ~ N(1, ageing_rate_rel_std) on each cell's rate of further
    capacity fade (:mod:`rl_battery.sim.ageing`); drawn last, so adding it left every
    earlier draw, and so every pack of a given seed, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: k_R, contact resistance added per unit of SOH lost [Ohm] (the fade/resistance coupling
#: above); shared with the cycle-ageing law of :mod:`rl_battery.sim.ageing`.
RESISTANCE_PER_SOH_LOSS_OHM = 0.1


@dataclass(frozen=True)
class CellHeterogeneity:
    """Distribution of cell properties in a pack. All fields have defaults.

    Attributes:
        soh_mean: mean state of health (capacity / nominal capacity), in (0.5, 1].
        soh_std: cell-to-cell SOH standard deviation, >= 0 (samples clipped to [0.5, 1]).
        capacity_rel_std: manufacturing capacity spread (relative std), >= 0.
        contact_resistance_Ohm: R_0, contact resistance of a new cell [Ohm], >= 0.
        resistance_per_soh_loss_Ohm: k_R, resistance added per unit of SOH lost [Ohm].
        resistance_rel_std: manufacturing resistance spread (relative std), >= 0.
        htc_W_m2K: mean total heat transfer coefficient [W.m-2.K-1], > 0.
        htc_rel_std: cooling spread (relative std), >= 0.
        ageing_rate_rel_std: spread of the cells' ageing rates (relative std), >= 0.
    """

    soh_mean: float = 1.0
    soh_std: float = 0.0
    capacity_rel_std: float = 0.02
    contact_resistance_Ohm: float = 0.002
    resistance_per_soh_loss_Ohm: float = RESISTANCE_PER_SOH_LOSS_OHM
    resistance_rel_std: float = 0.05
    htc_W_m2K: float = 10.0
    htc_rel_std: float = 0.1
    ageing_rate_rel_std: float = 0.1

    def __post_init__(self):
        if not 0.5 < self.soh_mean <= 1.0:
            raise ValueError(f"soh_mean must be in (0.5, 1], got {self.soh_mean}")
        for name in ("soh_std", "capacity_rel_std", "contact_resistance_Ohm",
                     "resistance_per_soh_loss_Ohm", "resistance_rel_std", "htc_rel_std", "ageing_rate_rel_std"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.htc_W_m2K > 0:
            raise ValueError(f"htc_W_m2K must be > 0, got {self.htc_W_m2K}")


@dataclass(frozen=True)
class PackCells:
    """Sampled per-cell properties, arrays of shape (n_cells,), cells in liionpack order."""

    soh: np.ndarray
    capacity_factor: np.ndarray  # multiplies `Electrode height [m]` (includes SOH)
    contact_resistance_Ohm: np.ndarray
    htc_W_m2K: np.ndarray
    ageing_rate_factor: np.ndarray  # multiplies the rate of further capacity fade


def sample_pack_cells(n_cells: int, spec: CellHeterogeneity, rng: np.random.Generator) -> PackCells:
    """Draw per-cell SOH, capacity factor, contact resistance and cooling for ``n_cells`` cells."""
    soh = np.clip(rng.normal(spec.soh_mean, spec.soh_std, n_cells), 0.5, 1.0)
    manufacturing = np.clip(rng.normal(1.0, spec.capacity_rel_std, n_cells), 0.8, 1.2)
    r_spread = np.clip(rng.normal(1.0, spec.resistance_rel_std, n_cells), 0.5, 1.5)
    resistance = (spec.contact_resistance_Ohm + spec.resistance_per_soh_loss_Ohm * (1.0 - soh)) * r_spread
    htc = spec.htc_W_m2K * np.clip(rng.normal(1.0, spec.htc_rel_std, n_cells), 0.3, 1.7)
    ageing_rate = np.clip(rng.normal(1.0, spec.ageing_rate_rel_std, n_cells), 0.5, 1.5)
    return PackCells(
        soh=soh,
        capacity_factor=soh * manufacturing,
        contact_resistance_Ohm=resistance,
        htc_W_m2K=htc,
        ageing_rate_factor=ageing_rate,
    )
