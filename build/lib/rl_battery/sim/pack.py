"""Pack: an Np x Ns liionpack pack of thermal SPMe cells, stepped with a new pack current.

`liionpack.solve` only runs a fixed `pybamm.Experiment`. For closed-loop control this module
runs the same coupling loop liionpack runs per step, with liionpack's own pieces:

1. each cell's OCV and terminal voltage (end of the last step) -> internal resistance
   ``R_i = |OCV - V| / |I_cell|`` (liionpack `GenericManager.calculate_internal_resistance`);
2. the resistor network (`liionpack.setup_circuit`) is solved for the new pack current by
   modified nodal analysis (:class:`rl_battery.sim.circuit.PackCircuit`, the equations of
   `liionpack.solve_circuit` with the matrix structure cached) -> per-cell currents;
3. every cell is integrated ``dt_s`` seconds from its last state with one mapped CasADi
   integrator (PyBaMM's `CasadiSolver.create_integrator` mapped over the cells, as
   `liionpack.solver_utils._create_casadi_objects` does, but on a grid of
   ``n_output_points`` points per step instead of liionpack's fixed 10).

Speed and accuracy (``scripts/bench_sim.py`` measures both): the integrator dominates a
step (3P6S, one core: about 70 ms with liionpack's settings). Three named choices cut it:

* tolerances ``rtol = atol = 1e-5`` (PyBaMM's CasADi default 1e-6): about -20 %; 1e-4 would
  save more but drifts the temperature by 0.05 K in 8 steps against `liionpack.solve`;
* 2 output points per step instead of 10: the in-step extremes are read at 45 s and 90 s.
  Under a constant current inside a step voltage and temperature move monotonically, so
  the end point carries a rising maximum; after a current drop the early points of a step
  sit near the previous step's end value (already reported by that step), which the 10-point
  grid counts and this one does not: up to 0.3 K and 3.5 mV lower step maxima over a 24-step
  charge at 12-18 A. End-of-step values agree within 0.02 mV and 0.0002 K;
* ``mesh="coarse"`` (:data:`MESHES`: 10/5/10 points across negative electrode / separator /
  positive electrode, 10 per particle, against PyBaMM's 20 everywhere): about -45 %. On the
  same charge it moved end-of-step cell voltages by 3.7 mV, temperatures by 0.02 K and the
  plating indicator by 5 mV at most (``scripts/bench_sim.py`` reports these errors).
  The pack env uses it by default; ``mesh="pybamm"`` is 16 env steps/s against 29.
  ``mesh="pybamm"`` keeps PyBaMM's default mesh; the checks against `liionpack.solve` use it.

Snapshots: :meth:`PackSimulator.snapshot` returns the whole dynamic state as an immutable
:class:`PackState`; :meth:`PackSimulator.restore` puts it back, so a controller can try a
step and undo it (the look-ahead reference does exactly that). The cells of a pack can be
re-sampled (:meth:`PackSimulator.set_cells`) without rebuilding the model: every per-cell
property is a CasADi input.

The three silent pitfalls of liionpack 0.4.0 are handled here:

* **Input order**: PyBaMM's CasADi functions take inputs in alphabetical order, liionpack
  builds them in dict order with `Current function [A]` first; inputs named before it
  (`Ambient temperature [K]`, `Contact resistance [Ohm]`) would silently swap. Every input
  vector here is built from :attr:`PackSimulator.input_names`, sorted by name.
* **Resistance at rest**: ``R_i = |OCV - V| / I`` diverges for near-zero currents; when a
  cell's last current is below ``rest_current_A`` the previous estimate is kept.
* **Events**: liionpack's integrator has no stopping events. After each step every
  non-"switch" PyBaMM event expression is evaluated per cell (negative = crossed);
  `Event: Maximum voltage switch [V]` is negative from the start and is filtered out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import casadi
import liionpack as lp
import numpy as np
import pybamm
from liionpack.solver_utils import _create_casadi_objects

from rl_battery.sim.ageing import AgeingLaw
from rl_battery.sim.circuit import PackCircuit
from rl_battery.sim.errors import SimulationError
from rl_battery.sim.heterogeneity import CellHeterogeneity, PackCells, sample_pack_cells
from rl_battery.sim.parameters import StoichiometryWindow, load_parameter_values, to_pybamm_current

_VOLTAGE = "Terminal voltage [V]"
_OCV = "Surface open-circuit voltage [V]"  # what liionpack puts in the netlist
_TEMPERATURE = "X-averaged cell temperature [K]"
_STOICHIOMETRY = "Average negative particle stoichiometry"
_PLATING = "Negative electrode surface potential difference at separator interface [V]"
VARIABLES = (_VOLTAGE, _OCV, _TEMPERATURE, _STOICHIOMETRY, _PLATING)

#: Named spatial meshes (PyBaMM ``var_pts``); None is PyBaMM's default of 20 points each.
MESHES: dict[str, dict[str, int] | None] = {
    "pybamm": None,
    "coarse": {"x_n": 10, "x_s": 5, "x_p": 10, "r_n": 10, "r_p": 10},
}

_CURRENT = "Current function [A]"
_HEIGHT = "Electrode height [m]"
_CONTACT_R = "Contact resistance [Ohm]"
_HTC = "Total heat transfer coefficient [W.m-2.K-1]"
_AMBIENT_T = "Ambient temperature [K]"
_INIT_T = "Initial temperature [K]"
_INIT_CONC_N = "Initial concentration in negative electrode [mol.m-3]"
_INIT_CONC_P = "Initial concentration in positive electrode [mol.m-3]"


@dataclass(frozen=True)
class PackStepResult:
    """Pack state after a step (or at reset). Per-cell arrays have shape (Np * Ns,), in
    liionpack's cell order; currents are charging-positive [A].

    Attributes:
        time_s: time since reset [s].
        pack_current_A: applied pack charging current [A].
        pack_voltage_V: pack terminal voltage from the circuit solve [V].
        cell_current_A: per-cell charging current during the step [A].
        cell_voltage_V: per-cell terminal voltage at the end of the step [V].
        cell_max_voltage_V: per-cell maximum terminal voltage over the step [V].
        cell_ocv_V: per-cell surface open-circuit voltage at the end [V].
        cell_temperature_K: per-cell lumped temperature at the end [K].
        cell_max_temperature_K: per-cell maximum temperature over the step [K].
        cell_soc: per-cell SOC in the parameter set's stoichiometry window [-].
        cell_min_plating_potential_V: per-cell min over the step of the plating indicator [V].
        cell_resistance_Ohm: per-cell internal resistance used in the circuit solve [Ohm].
        event: "<event name> (cells [i, ...])" when a non-switch PyBaMM event was crossed.
    """

    time_s: float
    pack_current_A: float
    pack_voltage_V: float
    cell_current_A: np.ndarray
    cell_voltage_V: np.ndarray
    cell_max_voltage_V: np.ndarray
    cell_ocv_V: np.ndarray
    cell_temperature_K: np.ndarray
    cell_max_temperature_K: np.ndarray
    cell_soc: np.ndarray
    cell_min_plating_potential_V: np.ndarray
    cell_resistance_Ohm: np.ndarray
    event: str | None = None


@dataclass(frozen=True)
class PackState:
    """Everything :meth:`PackSimulator.step` reads and writes: CasADi states of every cell,
    applied inputs, circuit resistances, last currents and outputs, clock. Opaque to callers;
    only :meth:`PackSimulator.restore` reads it. Arrays are private copies."""

    x: casadi.DM
    z: casadi.DM
    inputs: dict
    resistance_Ohm: np.ndarray
    last_cell_current_A: np.ndarray
    last_pack_current_A: float
    last_out: np.ndarray
    time_s: float
    stopped_by_event: bool


class PackSimulator:
    """liionpack Np x Ns pack of SPMe + lumped thermal cells with per-cell heterogeneity.

    Args:
        Np: cells in parallel per group (>= 1). Default 3.
        Ns: groups in series (>= 1). Default 6.
        parameter_set: cell parameter set name or `pybamm.ParameterValues` (default Chen2020).
        heterogeneity: distribution of SOH, capacity, resistance and cooling per cell.
        seed: seed of the generator that samples the cells (reproducible packs).
        dt_s: control interval [s] (> 0). Default 90 s.
        ambient_temperature_K: ambient and initial temperature [K], in (233, 343).
        hard_voltage_cutoff_V: PyBaMM voltage cut-off used as a safety event; default the
            set's cut-off + 0.3 V so the controller sees overshoot above the control limit.
        rest_current_A: after a step whose |pack current| was below this, and for cells whose
            |current| was below it, the resistance estimate is kept (pitfall 2) [A].
        busbar_resistance_Ohm, connection_resistance_Ohm: liionpack `Rb`, `Rc` [Ohm].
        n_output_points: output points per step (>= 1) at which in-step maxima are read.
        rtol, atol: CasADi integrator tolerances (see the module docstring).
        mesh: a name from :data:`MESHES` ("pybamm" or "coarse"; see the module docstring).

    Raises:
        UnknownParameterSetError: unknown parameter set name.
        ValueError: invalid sizes, interval, temperature, mesh name or output points.
    """

    def __init__(
        self,
        Np: int = 3,
        Ns: int = 6,
        parameter_set: str | pybamm.ParameterValues = "Chen2020",
        *,
        heterogeneity: CellHeterogeneity | None = None,
        seed: int | None = 0,
        dt_s: float = 90.0,
        ambient_temperature_K: float = 298.15,
        hard_voltage_cutoff_V: float | None = None,
        rest_current_A: float = 0.05,
        busbar_resistance_Ohm: float = 1e-4,
        connection_resistance_Ohm: float = 1e-3,
        n_output_points: int = 2,
        rtol: float = 1e-5,
        atol: float = 1e-5,
        mesh: str = "pybamm",
    ):
        if Np < 1 or Ns < 1:
            raise ValueError(f"Np and Ns must be >= 1, got Np={Np}, Ns={Ns}")
        if not dt_s > 0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        if not 233.0 < ambient_temperature_K < 343.0:
            raise ValueError(f"ambient_temperature_K must be in (233, 343) K, got {ambient_temperature_K}")
        if mesh not in MESHES:
            raise ValueError(f"unknown mesh {mesh!r}; valid: {', '.join(MESHES)}")
        self.mesh = mesh
        if n_output_points < 1:
            raise ValueError(f"n_output_points must be >= 1, got {n_output_points}")
        self.n_output_points = int(n_output_points)
        self.Np, self.Ns, self.n_cells = int(Np), int(Ns), int(Np) * int(Ns)
        self.dt_s = float(dt_s)
        self.ambient_temperature_K = float(ambient_temperature_K)
        self.rest_current_A = float(rest_current_A)

        values = load_parameter_values(parameter_set)
        self.window = StoichiometryWindow(values)
        self.cell_nominal_capacity_Ah = float(values["Nominal cell capacity [A.h]"])
        self.voltage_cutoff_V = float(values["Upper voltage cut-off [V]"])
        self._base_height_m = float(values[_HEIGHT])
        cutoff = self.voltage_cutoff_V + 0.3 if hard_voltage_cutoff_V is None else hard_voltage_cutoff_V
        values.update({"Upper voltage cut-off [V]": float(cutoff)})
        values.update({_CONTACT_R: 0.0}, check_already_exists=False)
        self.set_cells(heterogeneity or CellHeterogeneity(), seed)
        # Per-cell quantities are inputs; sorted order is the one PyBaMM expects (pitfall 1).
        self.input_names: tuple[str, ...] = tuple(
            sorted([_CURRENT, _INIT_T, _INIT_CONC_N, _INIT_CONC_P, *self._static_inputs])
        )
        values.update({name: "[input]" for name in self.input_names})
        model = pybamm.lithium_ion.SPMe(options={"thermal": "lumped", "contact resistance": "true"})
        lp.add_events_to_model(model)
        solver = pybamm.CasadiSolver(mode="safe", rtol=rtol, atol=atol)
        self._sim = pybamm.Simulation(model, parameter_values=values, solver=solver, var_pts=MESHES[mesh])
        netlist = lp.setup_circuit(
            Np=self.Np, Ns=self.Ns, Rb=busbar_resistance_Ohm, Rc=connection_resistance_Ohm, Ri=5e-2, I=1.0, V=3.6,
            configuration="series-groups",
        )
        self.circuit = PackCircuit(netlist)
        self._built = False
        self._state: PackState | None = None

    def set_cells(self, heterogeneity: CellHeterogeneity, seed: int | None) -> None:
        """Sample new cells (SOH, capacity, resistance, cooling) from ``heterogeneity`` with
        ``seed``, without rebuilding the model. Takes effect at the next :meth:`reset`.

        Sets :attr:`cells`, :attr:`cell_capacity_Ah` (nominal x capacity factor) and
        :attr:`pack_soh` (capacity of the weakest parallel group / Np nominal capacities).
        """
        self.heterogeneity = heterogeneity
        self.equivalent_cycles = 0.0
        self._set_cell_properties(sample_pack_cells(self.n_cells, heterogeneity, np.random.default_rng(seed)))

    def age(self, equivalent_cycles: float, *, c_rate: float | np.ndarray = 1.0,
            temperature_K: float | np.ndarray | None = None, law: AgeingLaw | None = None) -> np.ndarray:
        """Age every cell by ``equivalent_cycles`` (>= 0) full cycles at the given stress,
        without rebuilding the model; takes effect at the next :meth:`reset`.

        Args:
            c_rate: C-rate of each cell over those cycles (scalar or (n_cells,)). Default 1.
            temperature_K: cell temperature over those cycles [K] (scalar or (n_cells,));
                default the ambient temperature.
            law: the :class:`AgeingLaw` (default: its defaults). Each cell's own
                ``ageing_rate_factor`` scales its rate.

        Returns:
            SOH lost by each cell, shape (n_cells,). Capacity (electrode height) falls and
            contact resistance grows accordingly; :attr:`equivalent_cycles` counts the cycles
            since the cells were sampled.

        Raises:
            ValueError: negative or non-finite cycles, or an invalid stress.
        """
        law = law or AgeingLaw()
        temperature = self.ambient_temperature_K if temperature_K is None else temperature_K
        cells = self.cells
        soh, lost = law.age(cells.soh, float(equivalent_cycles), c_rate, temperature, cells.ageing_rate_factor)
        self._set_cell_properties(replace(
            cells, soh=soh, capacity_factor=cells.capacity_factor * soh / cells.soh,
            contact_resistance_Ohm=cells.contact_resistance_Ohm + law.resistance_per_soh_loss_Ohm * lost,
        ))
        self.equivalent_cycles += float(equivalent_cycles)
        return lost

    def _set_cell_properties(self, cells: PackCells) -> None:
        self.cells = cells
        self._static_inputs = {
            _HEIGHT: self._base_height_m * self.cells.capacity_factor,
            _CONTACT_R: self.cells.contact_resistance_Ohm,
            _HTC: self.cells.htc_W_m2K,
            _AMBIENT_T: np.full(self.n_cells, self.ambient_temperature_K),
        }
        self.cell_capacity_Ah = self.cell_nominal_capacity_Ah * self.cells.capacity_factor
        self.pack_soh = float(np.min(self._group_sums(self.cells.soh)) / self.Np)

    # ------------------------------------------------------------------ helpers
    def _group_sums(self, per_cell: np.ndarray) -> np.ndarray:
        """Sum a per-cell array over each parallel group -> shape (Ns,).

        With ``configuration="series-groups"`` liionpack numbers cells column-major: cell k
        belongs to series group k % Ns (checked: currents of cells k, k+Ns, ... sum to the
        pack current).
        """
        return np.asarray(per_cell).reshape(self.Np, self.Ns).sum(axis=0)

    def _input_matrix(self, per_cell_inputs: dict[str, np.ndarray]) -> casadi.DM:
        """Inputs as a (n_inputs + 1, n_cells) matrix in sorted-name order, plus t_min = 0."""
        rows = [np.broadcast_to(np.asarray(per_cell_inputs[name], float), (self.n_cells,)) for name in self.input_names]
        return casadi.DM(np.vstack(rows + [np.zeros(self.n_cells)]))

    def _build(self, inputs: dict[str, np.ndarray]) -> None:
        input_dicts = [{name: float(np.asarray(inputs[name])[i]) for name in self.input_names} for i in range(self.n_cells)]
        objs = _create_casadi_objects(input_dicts, self._sim, self.dt_s, self.n_cells, 1, list(VARIABLES), True)
        self._model = self._sim.built_model
        # liionpack's integrator reports 10 points per step; ours n_output_points (the
        # integrator stops at every grid point, so fewer points cost less).
        t_eval = np.linspace(0.0, self.dt_s, self.n_output_points + 1)
        integrator = self._sim.solver.create_integrator(self._model, inputs=None, t_eval=t_eval)
        self._integrator = integrator.map(self.n_cells, "thread", 1)
        self._variables_fn = objs["variables_fn"]
        self._n_out = self.n_output_points
        keep = [i for i, name in enumerate(objs["event_names"]) if "switch" not in name.lower()]
        self._event_names = [objs["event_names"][i] for i in keep]
        self._event_rows = keep
        self._events_fn = objs["events_fn"]
        self._len_rhs = self._model.concatenated_rhs.size
        self._built = True

    def _evaluate(self, x: casadi.DM, z: casadi.DM, p: casadi.DM) -> np.ndarray:
        """Variables (len(VARIABLES), n_cells) at states x, z with inputs p."""
        return np.asarray(self._variables_fn(0, x, z, p[:-1, :]))

    # ------------------------------------------------------------------ public API
    def reset(self, initial_soc: float | np.ndarray = 0.1, initial_temperature_K: float | None = None) -> PackStepResult:
        """Start from ``initial_soc`` (scalar or per-cell array in [0, 1]) at rest.

        Raises:
            ValueError: SOC outside [0, 1] or of the wrong shape.
            SimulationError: the model could not be initialised.
        """
        soc = np.broadcast_to(np.asarray(initial_soc, float), (self.n_cells,)).copy()
        c_n, c_p = self.window.initial_concentrations(soc)
        t0 = self.ambient_temperature_K if initial_temperature_K is None else float(initial_temperature_K)
        inputs = dict(self._static_inputs)
        inputs.update({_CURRENT: np.zeros(self.n_cells), _INIT_T: np.full(self.n_cells, t0),
                       _INIT_CONC_N: c_n, _INIT_CONC_P: c_p})
        try:
            if not self._built:
                self._build(inputs)
            p = self._input_matrix(inputs)
            y0 = np.zeros((self._model.len_rhs + self._model.len_alg, 1))
            init = casadi.horzcat(*[self._model.initial_conditions_eval(0, y0, p[:-1, i]) for i in range(self.n_cells)])
            x, z = init[: self._len_rhs, :], init[self._len_rhs :, :]
            # Initial resistance: the instantaneous response to a 0.1C charge (as liionpack
            # initialises its circuit with the first protocol current).
            probe_current = 0.1 * self.cell_nominal_capacity_Ah
            probe = dict(inputs, **{_CURRENT: to_pybamm_current(np.full(self.n_cells, probe_current))})
            v_probe = self._evaluate(x, z, self._input_matrix(probe))
            out = self._evaluate(x, z, p)
        except Exception as exc:
            raise SimulationError(f"pack initialisation failed: {exc}") from exc
        self._state = PackState(
            x=x, z=z, inputs=inputs, resistance_Ohm=np.abs(v_probe[1] - v_probe[0]) / probe_current,
            last_cell_current_A=np.zeros(self.n_cells), last_pack_current_A=0.0, last_out=out, time_s=0.0,
            stopped_by_event=False,
        )
        return self._result(out, out[0], out[2], out[4], None)

    def snapshot(self) -> PackState:
        """The current dynamic state (immutable); :meth:`restore` returns to it exactly.

        Raises:
            RuntimeError: before :meth:`reset`.
        """
        if self._state is None:
            raise RuntimeError("call reset() before snapshot()")
        return self._state

    def restore(self, state: PackState) -> None:
        """Return to a state from :meth:`snapshot` of this simulator: the next :meth:`step`
        gives exactly what it gave after the snapshot was taken.

        Raises:
            TypeError: ``state`` is not a :class:`PackState`.
        """
        if not isinstance(state, PackState):
            raise TypeError(f"expected a PackState from snapshot(), got {type(state).__name__}")
        self._state = state

    def step(self, pack_current_A: float) -> PackStepResult:
        """Apply a constant pack charging current [A] (positive = charge) for ``dt_s`` seconds.

        Raises:
            ValueError: non-finite current (never reaches the solver).
            RuntimeError: before :meth:`reset` or after a step that crossed an event.
            SimulationError: circuit or cell integration failed; the state is unchanged.
        """
        st = self._state
        if st is None:
            raise RuntimeError("call reset() before step()")
        if st.stopped_by_event:
            raise RuntimeError("the last step crossed a PyBaMM event; call reset()")
        current = float(pack_current_A)
        if not np.isfinite(current):
            raise ValueError(f"pack current must be finite, got {pack_current_A!r}")
        voltage, ocv = st.last_out[0], st.last_out[1]
        # Pitfall 2: R = dV / I diverges at rest, where parallel cells only exchange small
        # balancing currents. After a pack rest keep every estimate (as liionpack does for
        # its "resting"/"restarting" steps), else keep it where the cell current was small.
        moving = np.abs(st.last_cell_current_A) > self.rest_current_A
        if abs(st.last_pack_current_A) <= self.rest_current_A:
            moving[:] = False
        Ri = st.resistance_Ohm.copy()
        Ri[moving] = np.abs(ocv[moving] - voltage[moving]) / np.abs(st.last_cell_current_A[moving])
        Ri = np.maximum(Ri, 1e-6)
        try:
            # The circuit's current is discharge-positive, like PyBaMM's; the currents it
            # returns through the cells are charging-positive for a charging pack.
            cell_current, terminal_voltage = self.circuit.solve(ocv, Ri, float(to_pybamm_current(current)))
            inputs = dict(st.inputs, **{_CURRENT: to_pybamm_current(cell_current)})
            p = self._input_matrix(inputs)
            sol = self._integrator(x0=st.x, z0=st.z, p=p)
            xf, zf = sol["xf"], sol["zf"]
            n = self._n_out
            # xf columns: cell 0 points 1..n, cell 1 points 1..n, ...
            per_point = []
            for k in range(n):
                cols = [i * n + k for i in range(self.n_cells)]
                zk = zf[:, cols] if not zf.is_empty() else st.z
                per_point.append(self._evaluate(xf[:, cols], zk, p))
            stack = np.stack(per_point)  # (n, n_vars, n_cells)
            last = [i * n + n - 1 for i in range(self.n_cells)]
            x_new = xf[:, last]
            z_new = zf[:, last] if not zf.is_empty() else st.z
            events = np.asarray(self._events_fn(0, x_new, z_new, p[:-1, :])) if self._events_fn is not None else None
        except Exception as exc:
            raise SimulationError(f"pack step failed at {current:.3f} A: {exc}") from exc
        if not np.all(np.isfinite(stack)):
            raise SimulationError(f"pack step at {current:.3f} A produced non-finite cell states")
        event = None
        if events is not None:
            crossed = events[self._event_rows] < 0  # pitfall 3: switch events filtered out
            if np.any(crossed):
                row = int(np.argmax(crossed.any(axis=1)))
                event = f"{self._event_names[row]} (cells {np.flatnonzero(crossed[row]).tolist()})"
        out = stack[-1]
        self._state = PackState(
            x=x_new, z=z_new, inputs=inputs, resistance_Ohm=Ri, last_cell_current_A=np.asarray(cell_current, float),
            last_pack_current_A=current, last_out=out, time_s=st.time_s + self.dt_s, stopped_by_event=event is not None,
        )
        return self._result(
            out, stack[:, 0, :].max(axis=0), stack[:, 2, :].max(axis=0), stack[:, 4, :].min(axis=0), event,
            pack_voltage_V=terminal_voltage,
        )

    def _result(self, out, max_v, max_t, min_plating, event, pack_voltage_V=None) -> PackStepResult:
        st = self._state
        if pack_voltage_V is None:  # at rest: the series sum of the groups' mean voltage
            pack_voltage_V = float(np.sum(self._group_sums(out[0]) / self.Np))
        return PackStepResult(
            time_s=st.time_s,
            pack_current_A=float(st.last_pack_current_A),
            pack_voltage_V=abs(float(pack_voltage_V)),
            cell_current_A=st.last_cell_current_A.copy(),
            cell_voltage_V=np.asarray(out[0], float).copy(),
            cell_max_voltage_V=np.asarray(max_v, float).copy(),
            cell_ocv_V=np.asarray(out[1], float).copy(),
            cell_temperature_K=np.asarray(out[2], float).copy(),
            cell_max_temperature_K=np.asarray(max_t, float).copy(),
            cell_soc=np.asarray(self.window.soc(out[3]), float).copy(),
            cell_min_plating_potential_V=np.asarray(min_plating, float).copy(),
            cell_resistance_Ohm=st.resistance_Ohm.copy(),
            event=event,
        )
