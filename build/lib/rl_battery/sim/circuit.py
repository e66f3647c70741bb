"""The pack's resistor network solved by modified nodal analysis, with its structure cached.

Same equations and conventions as `liionpack.solve_circuit` (MNA: ``[[G, B], [B^T, 0]] x =
[i, e]``, Vlach & Singhal, "Computer Methods for Circuit Analysis and Design", 1994, ch. 4;
liionpack's own reference is the Swarthmore MNA notes). liionpack rebuilds the sparse
matrices from the pandas netlist on every call (milliseconds per step); here the incidence
matrices are built once and each solve only refills the conductances of the cells' internal
resistances, the source voltages (cell OCVs) and the pack current, then solves the small
dense system (about 0.1 ms for a 3P6S pack). `tests/test_sim_pack.py` checks it against
`liionpack.solve_circuit`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class PackCircuit:
    """A liionpack netlist (from `liionpack.setup_circuit`) ready for repeated solves.

    Args:
        netlist: liionpack netlist with columns ``desc``, ``node1``, ``node2``, ``value``;
            elements ``R*`` (busbar/connection resistors, fixed), ``Ri*`` (cell internal
            resistances, set per solve), ``V*`` (cell OCVs, set per solve), one ``I``
            (the pack current source). Cells are numbered in the order of the ``V`` rows.

    Raises:
        ValueError: no current source, or the ``Ri`` and ``V`` counts differ.
    """

    def __init__(self, netlist: pd.DataFrame):
        desc = netlist["desc"].astype(str).to_numpy()
        kind = np.array([d[0] for d in desc])
        node1 = netlist["node1"].to_numpy(int) - 1  # -1: ground
        node2 = netlist["node2"].to_numpy(int) - 1
        value = netlist["value"].to_numpy(float)
        r_rows = np.flatnonzero(kind == "R")
        v_rows = np.flatnonzero(kind == "V")
        i_rows = np.flatnonzero(kind == "I")
        is_ri = np.array([desc[k].startswith("Ri") for k in r_rows])
        if len(i_rows) != 1 or is_ri.sum() != len(v_rows):
            raise ValueError("netlist needs one current source and one Ri per V element")
        self.n_nodes = n = int(max(node1.max(), node2.max())) + 1
        self.n_cells = m = len(v_rows)

        def incidence(rows):
            a = np.zeros((n, len(rows)))
            for col, k in enumerate(rows):
                if node1[k] >= 0:
                    a[node1[k], col] = 1.0
                if node2[k] >= 0:
                    a[node2[k], col] = -1.0
            return a

        self._a_r = incidence(r_rows)  # (n, n_R): G = A_R diag(g) A_R^T
        self._g = 1.0 / value[r_rows]
        self._ri_cols = np.flatnonzero(is_ri)
        self._system = np.zeros((n + m, n + m))
        b = incidence(v_rows)
        self._system[:n, n:] = b
        self._system[n:, :n] = b.T
        self._source_n1, self._source_n2 = node1[i_rows[0]], node2[i_rows[0]]
        self._terminal_node = node1[i_rows[0]]  # liionpack reads V at the source's node1

    def solve(self, ocv_V: np.ndarray, internal_resistance_Ohm: np.ndarray, current_A: float):
        """Solve for a pack current in liionpack's convention (discharge positive).

        Args:
            ocv_V: (n_cells,) cell open-circuit voltages [V].
            internal_resistance_Ohm: (n_cells,) cell internal resistances [Ohm], > 0.
            current_A: pack current [A], positive = discharge (liionpack / PyBaMM).

        Returns:
            (cell_current_A (n_cells,), terminal_voltage_V): the currents through the
            voltage sources as `liionpack.solve_circuit` returns them (its ``I_batt``,
            charging-positive for a discharge-positive pack current) and the terminal
            voltage [V].

        Raises:
            numpy.linalg.LinAlgError: a singular network (e.g. a zero resistance).
        """
        n = self.n_nodes
        g = self._g.copy()
        g[self._ri_cols] = 1.0 / np.asarray(internal_resistance_Ohm, float)
        system = self._system.copy()
        system[:n, :n] = (self._a_r * g) @ self._a_r.T
        rhs = np.zeros(n + self.n_cells)
        if self._source_n1 >= 0:
            rhs[self._source_n1] -= current_A
        if self._source_n2 >= 0:
            rhs[self._source_n2] += current_A
        rhs[n:] = ocv_V
        x = np.linalg.solve(system, rhs)
        terminal = x[self._terminal_node] if self._terminal_node >= 0 else 0.0
        return x[n:], float(terminal)
