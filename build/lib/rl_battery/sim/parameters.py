"""PyBaMM parameter sets by name, the SOC window of a set, and the one sign conversion.

Only the sets verified to run with SPMe + lumped thermal on the pinned PyBaMM 25.4.2 are
accepted by name; any other `pybamm.ParameterValues` may be
passed directly at the caller's own risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pybamm

from rl_battery.sim.errors import UnknownParameterSetError

#: Parameter sets that run with SPMe + lumped thermal on pybamm 25.4.2. Xu2019, Prada2013,
#: Chayambuka2022 (half cells or missing current-collector data) and Ramadass2004 (no cell
#: volume) fail with lumped thermal and are deliberately absent.
SUPPORTED_PARAMETER_SETS: tuple[str, ...] = (
    "Chen2020",
    "Mohtat2020",
    "Ai2020",
    "OKane2022",
    "Marquis2019",
    "Ecker2015",
    "ORegan2022",
    "NCA_Kim2011",
)


def load_parameter_values(parameter_set: str | pybamm.ParameterValues) -> pybamm.ParameterValues:
    """Return a fresh, independent `pybamm.ParameterValues`.

    Args:
        parameter_set: a name from :data:`SUPPORTED_PARAMETER_SETS` or a
            `pybamm.ParameterValues` (copied, never modified).

    Raises:
        UnknownParameterSetError: the name is not supported; the message lists valid names.
        TypeError: neither a string nor a `pybamm.ParameterValues`.
    """
    if isinstance(parameter_set, pybamm.ParameterValues):
        return parameter_set.copy()
    if not isinstance(parameter_set, str):
        raise TypeError(
            f"parameter_set must be a name or pybamm.ParameterValues, got {type(parameter_set)!r}"
        )
    if parameter_set not in SUPPORTED_PARAMETER_SETS:
        raise UnknownParameterSetError(
            f"unknown PyBaMM parameter set {parameter_set!r}; valid names with SPMe + lumped "
            f"thermal: {', '.join(SUPPORTED_PARAMETER_SETS)}"
        )
    return pybamm.ParameterValues(parameter_set)


@dataclass(frozen=True)
class CellRatings:
    """The ratings a parameter set declares: what C-rates and the default voltage limit are
    measured against.

    Attributes:
        nominal_capacity_Ah: PyBaMM's "Nominal cell capacity [A.h]" (1C in A is this number).
        upper_voltage_cutoff_V: PyBaMM's "Upper voltage cut-off [V]" (4.1 V for Marquis2019,
            4.4 V for ORegan2022, 4.2 V for the others).
        lower_voltage_cutoff_V: PyBaMM's "Lower voltage cut-off [V]".
        has_plating_kinetics: the set carries lithium-plating kinetic parameters
            ("Lithium plating kinetic rate constant [m.s-1]": OKane2022 and Ecker2015).
    """

    nominal_capacity_Ah: float
    upper_voltage_cutoff_V: float
    lower_voltage_cutoff_V: float
    has_plating_kinetics: bool


def cell_ratings(parameter_set: str | pybamm.ParameterValues) -> CellRatings:
    """The :class:`CellRatings` of a set (cached by name).

    Raises:
        UnknownParameterSetError: unknown name (the message lists the valid ones).
    """
    if isinstance(parameter_set, str):
        return _ratings_by_name(parameter_set)
    return _ratings(load_parameter_values(parameter_set))


@lru_cache(maxsize=None)
def _ratings_by_name(name: str) -> CellRatings:
    return _ratings(load_parameter_values(name))


def _ratings(values: pybamm.ParameterValues) -> CellRatings:
    return CellRatings(
        nominal_capacity_Ah=float(values["Nominal cell capacity [A.h]"]),
        upper_voltage_cutoff_V=float(values["Upper voltage cut-off [V]"]),
        lower_voltage_cutoff_V=float(values["Lower voltage cut-off [V]"]),
        has_plating_kinetics="Lithium plating kinetic rate constant [m.s-1]" in values.keys(),
    )


class StoichiometryWindow:
    """SOC <-> negative-electrode stoichiometry for one parameter set.

    SOC is defined on the set's own 0 %..100 % window from PyBaMM's electrode-SOH solver
    (`pybamm.lithium_ion.get_min_max_stoichiometries`, Mohtat et al. 2019,
    J. Electrochem. Soc. 166 A3734): ``soc = (x - x_0) / (x_100 - x_0)`` with x the average
    negative particle stoichiometry, and y linear between y_0 and y_100.
    """

    def __init__(self, parameter_values: pybamm.ParameterValues):
        self.x_0, self.x_100, self.y_100, self.y_0 = (
            float(v) for v in pybamm.lithium_ion.get_min_max_stoichiometries(parameter_values)
        )
        self.c_n_max = float(parameter_values["Maximum concentration in negative electrode [mol.m-3]"])
        self.c_p_max = float(parameter_values["Maximum concentration in positive electrode [mol.m-3]"])

    def soc(self, x_avg_negative):
        """SOC (dimensionless, may leave [0, 1] slightly) from average negative stoichiometry."""
        return (np.asarray(x_avg_negative) - self.x_0) / (self.x_100 - self.x_0)

    def initial_concentrations(self, soc):
        """Initial (negative, positive) particle concentrations [mol.m-3] at ``soc`` in [0, 1]."""
        soc = np.asarray(soc, dtype=float)
        if np.any(soc < 0.0) or np.any(soc > 1.0) or not np.all(np.isfinite(soc)):
            raise ValueError(f"initial SOC must be in [0, 1], got {soc}")
        x = self.x_0 + soc * (self.x_100 - self.x_0)
        y = self.y_0 + soc * (self.y_100 - self.y_0)
        return x * self.c_n_max, y * self.c_p_max


def to_pybamm_current(charging_current_A):
    """The one sign conversion: charging-positive (this project) -> PyBaMM (discharge-positive)."""
    return -np.asarray(charging_current_A, dtype=float)
