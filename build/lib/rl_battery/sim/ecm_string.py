"""A series string of 2-RC equivalent-circuit cells with a switchable shunt resistor per cell.

The passive-balancing task's simulator: five NCA 18650 cells (NCR18650B class, 3.4 Ah) in
series, each modelled as a second-order Thevenin circuit (OCV source, series resistance R0,
two RC pairs), each with its own shunt resistor that a switch puts in parallel with that cell
only. State in, pack current and switch states in, state out; ``snapshot()``/``restore()``
like the other simulators. Knows nothing of rewards or gymnasium.

Sources:
    * R0, R1, C1, R2, C2: the 9-point SOC table of Tran et al. (2021), NCA 18650 cell, as used
      by the passive-balancing RL study (Results in Engineering, 2024). The table is given
      without SOC labels in the reproduction we know of, which maps it to SOC 0.9 ... 0.1. We
      map it to SOC 0.1 ... 0.9 instead: the first entry has by far the highest R0 (+27 %) and
      R1 (+80 %), and the rise of ohmic and charge-transfer resistance towards low SOC is the
      well-established behaviour of NCA/graphite cells; the opposite order would put it at
      high SOC. Values hold at room temperature; the table has no temperature dependence, so
      the string is isothermal.
    * OCV(SOC): PyBaMM's ``NCA_Kim2011`` parameter set (Kim et al. 2011, NCA/graphite):
      OCV = U_p(y) - U_n(x), with the electrode stoichiometries x, y moving linearly between
      the 0 % and 100 % SOC values that ``pybamm.lithium_ion.get_min_max_stoichiometries``
      finds for the set's 2.7 V / 4.2 V cut-offs. Tabulated on 201 points and interpolated
      linearly.

Cell equations (current ``i`` charging-positive, i.e. into the cell's positive terminal):
    V = OCV(z) + v1 + v2 + R0 i,   dv_k/dt = -v_k / (R_k C_k) + i / C_k,   dz/dt = i / (3600 Q)
(the second-order Thevenin model, e.g. PyBaMM's ``pybamm.equivalent_circuit.Thevenin`` with
two RC elements, signs flipped to charging-positive). With the shunt of a cell switched on,
the string current ``I`` splits into the cell current ``i`` and the shunt current ``V/R_sh``,
so ``i = I - V / R_sh``, and V solves the linear equation
    V = (OCV(z) + v1 + v2 + R0 I) / (1 + R0 / R_sh).

Integration: each control step is cut into substeps of ``substep_s`` (default 5 s). At the
start of a substep the terminal voltage and the cell and shunt currents are solved exactly
(the equation above); over the substep the cell current is held, and the RC voltages take the
exact exponential update for a constant current,
    v_k <- v_k exp(-h/tau_k) + R_k i (1 - exp(-h/tau_k)),   tau_k = R_k C_k,
with R and C at the substep's start SOC. So the shunt current follows the cell's own voltage
from substep to substep. With all shunts off and a constant current the update is exact apart
from the SOC dependence of the parameters inside a substep. Against PyBaMM's Thevenin model
over a full load profile (30 s steps) the largest voltage error is 0.06 / 0.3 / 0.6 / 2.1 mV
with 1 / 5 / 10 / 30 s substeps without a shunt, and 0.03 / 0.13 / 0.26 / 0.95 mV with one
(tests/test_balancing.py checks the default against 5 mV).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: Nominal capacity of the NCR18650B-class NCA cell [Ah].
NOMINAL_CAPACITY_AH = 3.4
#: SOC points of the RC table (see the module docstring for the order).
TABLE_SOC = np.linspace(0.1, 0.9, 9)
#: Tran et al. (2021) 2-RC parameters at TABLE_SOC: R0, R1, R2 [Ohm], C1, C2 [F].
TABLE_R0 = np.array([0.1325, 0.1070, 0.1042, 0.1040, 0.1024, 0.1023, 0.1020, 0.1016, 0.1063])
TABLE_R1 = np.array([0.0498, 0.0272, 0.0272, 0.0275, 0.0271, 0.0390, 0.0315, 0.0302, 0.0303])
TABLE_C1 = np.array([747.54, 982.50, 1128.74, 1161.67, 1131.40, 929.76, 766.53, 734.10, 726.32])
TABLE_R2 = np.array([0.0096, 0.0076, 0.0077, 0.0077, 0.0078, 0.0078, 0.0105, 0.0102, 0.0099])
TABLE_C2 = np.array([639.61, 746.24, 788.39, 791.77, 789.73, 613.48, 575.44, 594.41, 636.78])


@functools.lru_cache(maxsize=1)
def nca_ocv_table(points: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """(SOC grid (points,), OCV [V] (points,)) of PyBaMM's ``NCA_Kim2011`` cell, SOC 0..1.

    OCV = U_p(y) - U_n(x) with x, y linear in SOC between the stoichiometries PyBaMM finds
    for the set's voltage cut-offs (2.7 V at SOC 0, 4.2 V at SOC 1).
    """
    import pybamm

    params = pybamm.ParameterValues("NCA_Kim2011")
    x0, x100, y100, y0 = pybamm.lithium_ion.get_min_max_stoichiometries(params)
    soc = np.linspace(0.0, 1.0, points)
    u_p = params["Positive electrode OCP [V]"](pybamm.Vector(y0 + soc * (y100 - y0)))
    u_n = params["Negative electrode OCP [V]"](pybamm.Vector(x0 + soc * (x100 - x0)))
    return soc, np.asarray((u_p - u_n).evaluate(), dtype=float).ravel()


def _uniform_interp(x: np.ndarray, lo: float, hi: float, table: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``table`` (..., m) sampled uniformly on [lo, hi] at ``x`` (n,),
    held constant outside; the same numbers as ``np.interp``, one gather for all rows (the
    string calls this every substep)."""
    m = table.shape[-1]
    pos = (np.clip(x, lo, hi) - lo) * ((m - 1) / (hi - lo))
    i = np.minimum(pos.astype(np.int64), m - 2)
    w = pos - i
    return table[..., i] * (1.0 - w) + table[..., i + 1] * w


def ocv(soc: np.ndarray) -> np.ndarray:
    """Open-circuit voltage [V] at ``soc`` (n,), clipped to [0, 1]; see :func:`nca_ocv_table`."""
    grid, values = nca_ocv_table()
    return _uniform_interp(np.atleast_1d(np.asarray(soc, dtype=float)), grid[0], grid[-1], values)


_RC_TABLE = np.stack([TABLE_R0, TABLE_R1, TABLE_C1, TABLE_R2, TABLE_C2])


def rc_parameters(soc: np.ndarray) -> np.ndarray:
    """(R0, R1, C1, R2, C2) at ``soc`` (n,) from the Tran et al. (2021) table [Ohm, F], shape
    (5, n); linear interpolation, held constant outside SOC 0.1-0.9."""
    return _uniform_interp(np.atleast_1d(np.asarray(soc, dtype=float)), TABLE_SOC[0], TABLE_SOC[-1], _RC_TABLE)


@dataclass(frozen=True)
class StringStep:
    """What one control step of the string did. Per-cell arrays have shape (n_cells,).

    Attributes:
        cell_soc: SOC at the end of the step [-].
        cell_voltage_V: terminal voltage at the end of the step [V].
        cell_current_A: current into each cell at the end of the step (charging-positive) [A].
        shunt_current_A: current through each shunt at the end of the step [A] (0 when off).
        shunt_energy_Wh: energy each shunt dissipated during the step [Wh].
        step_min_cell_voltage_V, step_max_cell_voltage_V: extremes of each cell's terminal
            voltage over the step's substeps [V].
    """

    cell_soc: np.ndarray
    cell_voltage_V: np.ndarray
    cell_current_A: np.ndarray
    shunt_current_A: np.ndarray
    shunt_energy_Wh: np.ndarray
    step_min_cell_voltage_V: np.ndarray
    step_max_cell_voltage_V: np.ndarray


class ECMStringSimulator:
    """``n_cells`` 2-RC cells in series, each with a switchable shunt (module docstring).

    Args:
        capacity_Ah: capacity of each cell [Ah], shape (n_cells,), > 0 (nominal x SOH).
        initial_soc: start SOC of each cell, shape (n_cells,), in [0, 1].
        resistance_scale: factor on R0, R1 and R2 of each cell (cell-to-cell spread),
            shape (n_cells,), > 0. Default 1.
        shunt_resistance_Ohm: resistance of every shunt [Ohm], > 0. Default 6.
        substep_s: integration substep [s], > 0. Default 5 (module docstring: errors).

    Raises:
        ValueError: shapes differ or a value is outside its range.
    """

    def __init__(self, capacity_Ah, initial_soc, *, resistance_scale=None, shunt_resistance_Ohm: float = 6.0,
                 substep_s: float = 5.0):
        self.capacity_Ah = np.asarray(capacity_Ah, dtype=float).copy()
        n = self.capacity_Ah.shape[0]
        soc = np.asarray(initial_soc, dtype=float)
        scale = np.ones(n) if resistance_scale is None else np.asarray(resistance_scale, dtype=float)
        if self.capacity_Ah.ndim != 1 or soc.shape != (n,) or scale.shape != (n,):
            raise ValueError(f"capacity_Ah, initial_soc and resistance_scale need shape (n_cells,), got "
                             f"{self.capacity_Ah.shape}, {soc.shape}, {scale.shape}")
        if not (np.all(self.capacity_Ah > 0) and np.all(scale > 0)):
            raise ValueError("capacity_Ah and resistance_scale must be > 0")
        if not np.all((soc >= 0) & (soc <= 1)):
            raise ValueError(f"initial_soc must be in [0, 1], got {soc}")
        if not shunt_resistance_Ohm > 0 or not substep_s > 0:
            raise ValueError("shunt_resistance_Ohm and substep_s must be > 0")
        self.n_cells = n
        self.resistance_scale = scale.copy()
        self.shunt_resistance_Ohm = float(shunt_resistance_Ohm)
        self.substep_s = float(substep_s)
        self.soc = soc.copy()
        self.v1 = np.zeros(n)
        self.v2 = np.zeros(n)
        self.time_s = 0.0

    def terminal(self, pack_current_A: float, switches) -> tuple[np.ndarray, np.ndarray]:
        """(terminal voltage [V], shunt current [A]) of each cell now, for string current
        ``pack_current_A`` (charging-positive) and ``switches`` (n_cells,) of 0/1."""
        return self._terminal(rc_parameters(self.soc)[0] * self.resistance_scale, pack_current_A,
                              np.asarray(switches, dtype=float))

    def _terminal(self, r0: np.ndarray, pack_current_A: float, on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        emf = ocv(self.soc) + self.v1 + self.v2
        voltage = (emf + r0 * pack_current_A) / (1.0 + on * r0 / self.shunt_resistance_Ohm)
        return voltage, on * voltage / self.shunt_resistance_Ohm

    def step(self, pack_current_A: float, switches, dt_s: float) -> StringStep:
        """Advance ``dt_s`` seconds with string current ``pack_current_A`` [A] (charging-
        positive) and shunt ``switches`` (n_cells,) of 0/1 held over the step.

        Raises:
            ValueError: a non-finite current, a switch vector of the wrong shape or values,
                or ``dt_s`` <= 0.
        """
        switches = np.asarray(switches)
        if not np.isfinite(pack_current_A):
            raise ValueError(f"pack_current_A must be finite, got {pack_current_A}")
        if switches.shape != (self.n_cells,) or not np.all((switches == 0) | (switches == 1)):
            raise ValueError(f"switches must be {self.n_cells} values of 0 or 1, got {switches!r}")
        if not dt_s > 0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        n_sub = max(1, int(round(dt_s / self.substep_s)))
        h = dt_s / n_sub
        energy = np.zeros(self.n_cells)
        v_min = np.full(self.n_cells, np.inf)
        v_max = np.full(self.n_cells, -np.inf)
        on = switches.astype(float)
        for _ in range(n_sub):
            r0, r1, c1, r2, c2 = rc_parameters(self.soc)
            r0, r1, r2 = r0 * self.resistance_scale, r1 * self.resistance_scale, r2 * self.resistance_scale
            voltage, shunt = self._terminal(r0, pack_current_A, on)
            v_min, v_max = np.minimum(v_min, voltage), np.maximum(v_max, voltage)
            current = pack_current_A - shunt
            decay1, decay2 = np.exp(-h / (r1 * c1)), np.exp(-h / (r2 * c2))
            self.v1 = self.v1 * decay1 + r1 * current * (1.0 - decay1)
            self.v2 = self.v2 * decay2 + r2 * current * (1.0 - decay2)
            self.soc = self.soc + current * h / (3600.0 * self.capacity_Ah)
            energy += shunt * voltage * h / 3600.0
        self.time_s += dt_s
        voltage, shunt = self.terminal(pack_current_A, switches)
        return StringStep(
            cell_soc=self.soc.copy(), cell_voltage_V=voltage, cell_current_A=pack_current_A - shunt,
            shunt_current_A=shunt, shunt_energy_Wh=energy,
            step_min_cell_voltage_V=np.minimum(v_min, voltage), step_max_cell_voltage_V=np.maximum(v_max, voltage),
        )

    def snapshot(self) -> dict:
        """The dynamic state (SOC, RC voltages, time), restorable with :meth:`restore`."""
        return {"soc": self.soc.copy(), "v1": self.v1.copy(), "v2": self.v2.copy(), "time_s": self.time_s}

    def restore(self, state: dict) -> None:
        """Return to a state from :meth:`snapshot`; the next step equals the one taken after it."""
        self.soc, self.v1, self.v2 = state["soc"].copy(), state["v1"].copy(), state["v2"].copy()
        self.time_s = float(state["time_s"])
