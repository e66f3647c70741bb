"""The per-step record every consumer reads: envs, baselines, evaluation and the Parquet writer.

Field names are the Parquet column names (:mod:`rl_battery.data.rollouts`) and the keys of
the env's ``info`` dict. Quantities measured over a step's output points say so:
``step_max_*`` is the maximum over the step, ``step_min_*`` the minimum; plain names are
end-of-step values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class StepRecord:
    """State after one control step (or at reset). SI units, currents charging-positive.

    Attributes:
        time_s: time since reset [s].
        soc: SOC of the cell, or of the pack (mean cell SOC) [-].
        current_A: charging current applied during the step [A] (the pack current for a
            pack; 0 at reset).
        pack_voltage_V: terminal voltage at the end of the step [V] (a cell's own voltage).
        soh: state of health [-] (a pack's weakest parallel group; 1 for a fresh cell).
        equivalent_cycles: equivalent full cycles the cells were aged by since they were
            sampled (:meth:`rl_battery.sim.PackSimulator.age`; 0 for a single cell).
        step_max_cell_voltage_V: highest cell voltage over the step's output points [V].
        step_max_cell_temperature_K: highest cell temperature over the step [K].
        step_min_plating_potential_V: lowest plating indicator (phi_s - phi_e at the
            separator) over the step and cells [V]; < 0 V: lithium plating possible.
        cell_current_A, cell_voltage_V, cell_ocv_V, cell_temperature_K, cell_soc: per-cell
            end-of-step values, shape (n_cells,) (n_cells = 1 for a single cell).
        cell_step_min_plating_potential_V: per-cell minimum of the plating indicator over
            the step, shape (n_cells,) [V].
        cell_soh, cell_capacity_Ah, cell_contact_resistance_Ohm: per-cell ground truth of
            the ageing state, shape (n_cells,): SOH [-], capacity [Ah] and the added contact
            resistance [Ohm] (a single cell: 1, its nominal capacity, 0). Never observed by
            the agent; for health estimation and surrogate studies.
        event: PyBaMM event that stopped the step (the hard safety cut-off), else None.
    """

    time_s: float
    soc: float
    current_A: float
    pack_voltage_V: float
    soh: float
    equivalent_cycles: float
    step_max_cell_voltage_V: float
    step_max_cell_temperature_K: float
    step_min_plating_potential_V: float
    cell_current_A: np.ndarray
    cell_voltage_V: np.ndarray
    cell_ocv_V: np.ndarray
    cell_temperature_K: np.ndarray
    cell_soc: np.ndarray
    cell_step_min_plating_potential_V: np.ndarray
    cell_soh: np.ndarray
    cell_capacity_Ah: np.ndarray
    cell_contact_resistance_Ohm: np.ndarray
    event: str | None = None

    def as_dict(self) -> dict:
        """Field name -> value, arrays copied (the env's ``info`` carries this)."""
        return {f: (v.copy() if isinstance(v, np.ndarray) else v) for f, v in ((f, getattr(self, f)) for f in FIELDS)}


#: Field names in declaration order.
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(StepRecord))
#: Per-cell array fields.
PER_CELL_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f.startswith("cell_"))
#: Scalar float fields.
SCALAR_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f not in PER_CELL_FIELDS and f != "event")


@dataclass(frozen=True)
class BalancingStepRecord:
    """State of the passive-balancing string after one control step (or at reset).

    SI units; currents charging-positive; per-cell arrays have shape (n_cells,).

    Attributes:
        time_s: time since reset [s].
        dt_s: length of the step [s] (0 at reset).
        profile_current_A: mean current the load profile asked for over the step [A].
        pack_current_A: mean current that flowed through the string's terminals [A]: the
            profile's, or 0 while the load is cut (a cell at a cut-off).
        cell_soc: SOC [-]; cell_voltage_V: terminal voltage [V], both at the end of the step.
        step_min_cell_voltage_V, step_max_cell_voltage_V: each cell's voltage extremes over
            the step [V].
        switches: shunt switch states applied over the step (0/1, after refusals).
        shunt_current_A: shunt current at the end of the step [A].
        shunt_energy_Wh: energy each shunt dissipated over the step [Wh].
        blocked_switches: switch-ons refused this step.
        charge_cut, discharge_cut: whether the load's charge / discharge is cut at the end
            of the step (latched until the profile's next phase).
        cell_soh: SOH of each cell [-] (capacity / 3.4 Ah).
    """

    time_s: float
    dt_s: float
    profile_current_A: float
    pack_current_A: float
    cell_soc: np.ndarray
    cell_voltage_V: np.ndarray
    step_min_cell_voltage_V: np.ndarray
    step_max_cell_voltage_V: np.ndarray
    switches: np.ndarray
    shunt_current_A: np.ndarray
    shunt_energy_Wh: np.ndarray
    blocked_switches: int
    charge_cut: bool
    discharge_cut: bool
    cell_soh: np.ndarray

    def as_dict(self) -> dict:
        """Field name -> value, arrays copied (the env's ``info`` carries this)."""
        return {f.name: (v.copy() if isinstance(v, np.ndarray) else v)
                for f, v in ((f, getattr(self, f.name)) for f in fields(self))}
