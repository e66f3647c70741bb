"""Cycle ageing of cells: a semi-empirical capacity-fade law with resistance growth.

Capacity fade follows Wang et al. 2011, "Cycle-life model for graphite-LiFePO4 cells",
J. Power Sources 196:3942, eq. 3:

    Q_loss [%] = B * exp(-(E_a - 370.3 * c) / (R * T)) * A^z,   E_a = 31,700 J/mol, z = 0.55,

with c the C-rate, T the cell temperature [K] and A the charge throughput [Ah] of that
study's 2.2 Ah cell. Choices made here, each a deliberate simplification:

* B is held at its 0.5 C value of Wang's Table 2 (31,630), so the C-rate acts only through
  the ``370.3 * c`` term of the exponent: at a given temperature a harder charge ages a cell
  faster, and a hotter one faster still (Arrhenius).
* Throughput is counted in equivalent full cycles, ``A = 2.2 Ah * n``, so the law applies to
  cells of any capacity (the Chen2020 LG M50 cell is an NMC811 cell, not LFP: the law gives
  the shape, throughput power and temperature dependence, not a fitted life for it).
* Each cell has its own rate factor (``rate_factor``, sampled with the pack), the cell-to-cell
  ageing spread.
* Changing stress is handled by time superposition: the cell's present loss is converted to
  the throughput that would give it under the new stress, and the law continues from there.
* Resistance grows linearly with capacity lost, ``dR = k_R * dQ_loss``, the roughly linear
  fade/resistance coupling of NMC cells reported by Schmalstieg et al. 2014, J. Power
  Sources 257:325 (Fig. 7), with the same k_R as :mod:`rl_battery.sim.heterogeneity`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rl_battery.sim.heterogeneity import RESISTANCE_PER_SOH_LOSS_OHM

GAS_CONSTANT_J_MOLK = 8.314462618


@dataclass(frozen=True)
class AgeingLaw:
    """Capacity fade and resistance growth per equivalent full cycle (see the module docstring).

    Attributes:
        b_factor: Wang's pre-exponential factor B [% Ah^-z]. Default 31,630 (0.5 C, Table 2).
        activation_energy_J_mol: E_a [J/mol]. Default 31,700.
        c_rate_coefficient_J_mol: the C-rate term of the exponent [J/mol per C]. Default 370.3.
        exponent: throughput exponent z, in (0, 1]. Default 0.55.
        reference_capacity_Ah: capacity of the study's cell [Ah], throughput per equivalent
            full cycle. Default 2.2.
        resistance_per_soh_loss_Ohm: k_R, resistance added per unit of SOH lost [Ohm].
            Default 0.1 (20 mOhm at SOH 0.8).
    """

    b_factor: float = 31_630.0
    activation_energy_J_mol: float = 31_700.0
    c_rate_coefficient_J_mol: float = 370.3
    exponent: float = 0.55
    reference_capacity_Ah: float = 2.2
    resistance_per_soh_loss_Ohm: float = RESISTANCE_PER_SOH_LOSS_OHM

    def __post_init__(self):
        if not 0.0 < self.exponent <= 1.0:
            raise ValueError(f"exponent must be in (0, 1], got {self.exponent}")
        for name in ("b_factor", "activation_energy_J_mol", "reference_capacity_Ah"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.resistance_per_soh_loss_Ohm < 0:
            raise ValueError(f"resistance_per_soh_loss_Ohm must be >= 0, got {self.resistance_per_soh_loss_Ohm}")

    def rate(self, c_rate, temperature_K) -> np.ndarray:
        """Fractional capacity loss per (equivalent throughput [Ah])^z, B * exp(...) / 100."""
        c_rate, temperature_K = np.asarray(c_rate, float), np.asarray(temperature_K, float)
        if np.any(c_rate < 0) or np.any(temperature_K <= 0) or not np.all(np.isfinite(c_rate * temperature_K)):
            raise ValueError("c_rate must be >= 0 and temperature_K > 0, both finite")
        exponent = -(self.activation_energy_J_mol - self.c_rate_coefficient_J_mol * c_rate) / (
            GAS_CONSTANT_J_MOLK * temperature_K)
        return self.b_factor * np.exp(exponent) / 100.0

    def capacity_loss(self, cycles, c_rate, temperature_K) -> np.ndarray:
        """Fractional capacity loss of a fresh cell after ``cycles`` equivalent full cycles (>= 0)
        at constant C-rate and temperature [K]."""
        cycles = np.asarray(cycles, float)
        if np.any(cycles < 0):
            raise ValueError(f"cycles must be >= 0, got {cycles}")
        return self.rate(c_rate, temperature_K) * (self.reference_capacity_Ah * cycles) ** self.exponent

    def age(self, soh, cycles: float, c_rate, temperature_K, rate_factor=1.0) -> tuple[np.ndarray, np.ndarray]:
        """Advance cells by ``cycles`` equivalent full cycles (>= 0) at the given stress.

        Args:
            soh: (n,) present SOH (capacity / nominal) in (0, 1].
            cycles: equivalent full cycles to add.
            c_rate, temperature_K: the stress over those cycles, scalars or (n,).
            rate_factor: per-cell ageing-rate multipliers (> 0), scalar or (n,).

        Returns:
            (new SOH (n,), SOH lost (n,)). The loss of a cell is never negative and its SOH
            stays above 0.
        """
        soh = np.asarray(soh, float)
        if np.any(soh <= 0) or np.any(soh > 1):
            raise ValueError("soh must be in (0, 1]")
        if cycles < 0 or not np.isfinite(cycles):
            raise ValueError(f"cycles must be finite and >= 0, got {cycles}")
        k = self.rate(c_rate, temperature_K) * np.asarray(rate_factor, float)
        loss = 1.0 - soh
        # Time superposition: the throughput that gives today's loss under the new stress.
        equivalent_Ah = (loss / k) ** (1.0 / self.exponent)
        new_loss = k * (equivalent_Ah + self.reference_capacity_Ah * cycles) ** self.exponent
        new_soh = np.maximum(1.0 - new_loss, 1e-3)
        return new_soh, soh - new_soh
