"""Single cell: PyBaMM SPMe with lumped thermal, stepped a fixed interval at a time.

The model is built once. The applied current and the initial state (particle concentrations,
temperature) are PyBaMM input parameters, so a new episode starts without a rebuild and each
step only integrates ``dt_s`` seconds from the last state.

Speed and accuracy (``scripts/bench_sim.py`` measures both): PyBaMM's fixed cost per
``solver.step`` call grows with the output points. 2 points per step (returned alone, via
``t_interp``, instead of IDAKLU's ~20 internal steps), ``rtol = 1e-4`` (IDAKLU's default
is 1e-6), and the five reported variables read from the returned states by one compiled
CasADi function (PyBaMM's own per-variable post-processing builds xarray objects that
cost more than the solve) take a 90 s step from about 23 ms to about 3 ms; over a 16-step charge, in-step
extremes and end states agree with 10 points at 1e-6 within 0.02 mV / 0.01 K (under a
constant current inside a step voltage and temperature move monotonically, and the first
point carries the jump after a current change, so the end points carry the extremes).
IDAKLU (not CasADi) is used because it stops at a voltage event inside a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import casadi
import numpy as np
import pybamm

from rl_battery.sim.errors import SimulationError
from rl_battery.sim.parameters import StoichiometryWindow, load_parameter_values, to_pybamm_current

VOLTAGE = "Voltage [V]"
TEMPERATURE = "X-averaged cell temperature [K]"
STOICHIOMETRY = "Average negative particle stoichiometry"
#: Minimum across the negative electrode of phi_s - phi_e at the separator: the lithium
#: plating indicator (plating is thermodynamically possible below 0 V). The X-averaged
#: variant is too optimistic: Chen2020 from SOC 0.1 at 3C gives -0.066 V X-averaged and
#: -0.380 V at the separator.
PLATING = "Negative electrode surface potential difference at separator interface [V]"
OCV = "Bulk open-circuit voltage [V]"
#: Graphite surface stoichiometry (SPMe has one particle per electrode). When it reaches 1
#: the particle surface is full: in a diffusion-limited cell (ORegan2022 at >= 0.5C) the
#: voltage then jumps by ~0.8 V within seconds, with no earlier sign in V, T or plating.
SURFACE_STOICHIOMETRY = "X-averaged negative particle surface stoichiometry"
OUTPUT_VARIABLES = (VOLTAGE, TEMPERATURE, STOICHIOMETRY, PLATING, OCV, SURFACE_STOICHIOMETRY)
#: The graphite particle's stoichiometry on PyBaMM's radial mesh (SPMe's default 20
#: finite-volume nodes, uniform in r, centre to surface), read at the end of each step.
PARTICLE_STOICHIOMETRY = "X-averaged negative particle stoichiometry"

_INIT_CONC_N = "Initial concentration in negative electrode [mol.m-3]"
_INIT_CONC_P = "Initial concentration in positive electrode [mol.m-3]"
_CURRENT = "Current function [A]"
_INIT_T = "Initial temperature [K]"
_AMBIENT_T = "Ambient temperature [K]"
_DIFFUSIVITY = "Negative particle diffusivity [m2.s-1]"
#: Input parameter multiplying the set's graphite diffusivity (a constant or PyBaMM's
#: function of stoichiometry and temperature).
DIFFUSIVITY_SCALE = "Negative particle diffusivity scale"
#: Valid range of that factor [-].
DIFFUSIVITY_SCALE_RANGE = (1e-3, 10.0)


@dataclass(frozen=True)
class CellStepResult:
    """State of one cell after a step (or at reset). All values SI, current charging-positive.

    Attributes:
        time_s: time since reset [s].
        current_A: applied charging current during the step [A] (0 at reset).
        voltage_V: terminal voltage at the end of the step [V].
        max_voltage_V: maximum terminal voltage over the step's output points [V].
        temperature_K: lumped cell temperature at the end of the step [K].
        max_temperature_K: maximum temperature over the step [K].
        soc: state of charge in the parameter set's own stoichiometry window [-].
        plating_potential_V: plating indicator at the end of the step [V] (> 0: no plating).
        min_plating_potential_V: its minimum over the step [V].
        ocv_V: bulk open-circuit voltage at the end of the step [V].
        max_surface_stoichiometry: maximum over the step of the graphite particle's
            surface stoichiometry (:data:`SURFACE_STOICHIOMETRY`) [-], in [0, 1].
        surface_stoichiometry: the same at the end of the step [-], in [0, 1].
        particle_stoichiometry: the particle's radial profile at the end of the step
            (:data:`PARTICLE_STOICHIOMETRY`), shape (n_r,) at
            :attr:`CellSimulator.particle_radii` [-], each in [0, 1].
        event: name of a PyBaMM event that stopped the step early (e.g. the hard voltage
            cut-off), else None. After an event the simulator must be reset.
    """

    time_s: float
    current_A: float
    voltage_V: float
    max_voltage_V: float
    temperature_K: float
    max_temperature_K: float
    soc: float
    plating_potential_V: float
    min_plating_potential_V: float
    ocv_V: float
    max_surface_stoichiometry: float
    surface_stoichiometry: float
    particle_stoichiometry: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False, repr=False)
    event: str | None = None


@dataclass(frozen=True)
class CellDynamics:
    """The simulator's discretised SPMe as CasADi functions, for optimal control.

    The same built model the simulator steps (same mesh, same parameters), so a current
    schedule optimised on it can be replayed on the simulator.

    Attributes:
        rhs: ``(y (n,), p (n_p,)) -> dy/dt (n,)``, the ODE right-hand side (SPMe + lumped
            thermal has no algebraic states), y in PyBaMM's scaled state units.
        outputs: ``(y, p) -> (6,)``: :data:`OUTPUT_VARIABLES` in order (voltage [V],
            temperature [K], average negative stoichiometry, plating indicator [V], OCV [V],
            negative surface stoichiometry).
        input_names: the names of p's entries, sorted (PyBaMM's order).
        current_index: the index of "Current function [A]" in p (PyBaMM sign: charging < 0).
        inputs: p of the current episode (the current entry is the last applied one).
        state: y now (n,).
    """

    rhs: casadi.Function
    outputs: casadi.Function
    input_names: tuple[str, ...]
    current_index: int
    inputs: np.ndarray
    state: np.ndarray


@dataclass(frozen=True)
class CellState:
    """The dynamic state of a :class:`CellSimulator` (opaque; only ``restore`` reads it):
    the PyBaMM solution to continue from, the inputs, the clock and the event flag."""

    solution: object
    inputs: dict = field(repr=False)
    time_s: float
    stopped_by_event: bool


class CellSimulator:
    """PyBaMM SPMe + lumped thermal cell stepped ``dt_s`` seconds per call.

    Args:
        parameter_set: a name from ``SUPPORTED_PARAMETER_SETS`` or a `pybamm.ParameterValues`.
        dt_s: control interval [s], > 0. Default 90 s.
        ambient_temperature_K: ambient (and initial) temperature [K], in (233, 343).
        hard_voltage_cutoff_V: PyBaMM's "Upper voltage cut-off [V]" event, a safety stop far
            above the control limit so the controller (env) sees and penalises overshoot
            instead of the solver silently truncating the step. Default: the set's own
            cut-off + 0.3 V.
        negative_diffusivity_scale: factor on the set's graphite diffusivity, in
            [0.001, 10]. Default 1 (the set as published); below ~0.1 Chen2020 at 1.5C
            saturates its particle surface before SOC 0.8, as ORegan2022 does at 1
            (:data:`SURFACE_STOICHIOMETRY`). A model input: changing it needs no rebuild.
        n_output_points: output points per step used for the in-step maxima (>= 1).
        rtol, atol: IDAKLU tolerances (see the module docstring).

    Raises:
        UnknownParameterSetError: unknown parameter-set name (message lists the valid ones).
        ValueError: a non-positive ``dt_s``, an out-of-range temperature or diffusivity scale.
    """

    def __init__(
        self,
        parameter_set: str | pybamm.ParameterValues = "Chen2020",
        *,
        dt_s: float = 90.0,
        ambient_temperature_K: float = 298.15,
        hard_voltage_cutoff_V: float | None = None,
        negative_diffusivity_scale: float = 1.0,
        n_output_points: int = 2,
        rtol: float = 1e-4,
        atol: float = 1e-6,
    ):
        if not dt_s > 0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        self.dt_s = float(dt_s)
        self.ambient_temperature_K = ambient_temperature_K
        self.negative_diffusivity_scale = negative_diffusivity_scale
        values = load_parameter_values(parameter_set)
        self.window = StoichiometryWindow(values)
        self.nominal_capacity_Ah = float(values["Nominal cell capacity [A.h]"])
        self.voltage_cutoff_V = float(values["Upper voltage cut-off [V]"])
        cutoff = self.voltage_cutoff_V + 0.3 if hard_voltage_cutoff_V is None else hard_voltage_cutoff_V
        values[_DIFFUSIVITY] = _scaled(values[_DIFFUSIVITY], pybamm.InputParameter(DIFFUSIVITY_SCALE))
        values.update(
            {
                _CURRENT: "[input]",
                _INIT_CONC_N: "[input]",
                _INIT_CONC_P: "[input]",
                _INIT_T: "[input]",
                _AMBIENT_T: "[input]",
                "Upper voltage cut-off [V]": float(cutoff),
            }
        )
        model = pybamm.lithium_ion.SPMe(options={"thermal": "lumped"})
        # IDAKLU, unlike Casadi, does not miss voltage events inside a step.
        solver = pybamm.IDAKLUSolver(rtol=rtol, atol=atol)
        self._sim = pybamm.Simulation(model, parameter_values=values, solver=solver)
        self._outputs_fn: casadi.Function | None = None
        self._profile_fn: casadi.Function | None = None
        self._t_eval = np.linspace(0.0, self.dt_s, max(int(n_output_points), 1) + 1)
        self._solution = None
        self._inputs: dict[str, float] | None = None
        self._time_s = 0.0
        self._stopped_by_event = False

    # ------------------------------------------------------------------ public API
    @property
    def ambient_temperature_K(self) -> float:
        """Ambient (and default initial) temperature [K]; a new value applies from the next
        :meth:`reset` (it is a model input: no rebuild).

        Raises:
            ValueError: outside (233, 343) K or not finite.
        """
        return self._ambient_temperature_K

    @ambient_temperature_K.setter
    def ambient_temperature_K(self, value: float) -> None:
        if not 233.0 < float(value) < 343.0:
            raise ValueError(f"ambient_temperature_K must be in (233, 343) K, got {value}")
        self._ambient_temperature_K = float(value)

    @property
    def negative_diffusivity_scale(self) -> float:
        """Factor on the graphite diffusivity [-]; a new value applies from the next
        :meth:`reset` (a model input: no rebuild).

        Raises:
            ValueError: outside [0.001, 10] or not finite.
        """
        return self._negative_diffusivity_scale

    @negative_diffusivity_scale.setter
    def negative_diffusivity_scale(self, value: float) -> None:
        self._negative_diffusivity_scale = check_diffusivity_scale(value)

    def reset(self, initial_soc: float, initial_temperature_K: float | None = None) -> CellStepResult:
        """Start a new episode at ``initial_soc`` (in [0, 1]) and rest for 1 ms to read the state.

        Raises:
            ValueError: initial SOC outside [0, 1] or not finite.
            SimulationError: PyBaMM failed to initialise.
        """
        c_n, c_p = self.window.initial_concentrations(initial_soc)
        t0 = self.ambient_temperature_K if initial_temperature_K is None else float(initial_temperature_K)
        self._inputs = {
            _CURRENT: 0.0,
            _INIT_CONC_N: float(c_n),
            _INIT_CONC_P: float(c_p),
            _INIT_T: t0,
            _AMBIENT_T: self.ambient_temperature_K,
            DIFFUSIVITY_SCALE: self.negative_diffusivity_scale,
        }
        self._solution = None
        self._stopped_by_event = False
        try:
            if self._outputs_fn is None:  # once
                self._sim.build()
                self._outputs_fn = self._compile_outputs()
                self._profile_fn = self._compile_outputs((PARTICLE_STOICHIOMETRY,))
        except Exception as exc:
            raise SimulationError(f"PyBaMM could not build the model: {exc}") from exc
        # A 1 ms rest gives a solution to continue from, and the initial observation.
        result = self._advance(0.0, np.array([0.0, 1e-3]))
        self._time_s = 0.0
        # The clock starts at 0 (controllers detect a new episode by time 0), not at 1 ms.
        return replace(result, time_s=0.0)

    def snapshot(self) -> CellState:
        """The current dynamic state; :meth:`restore` returns to it exactly.

        Raises:
            RuntimeError: before :meth:`reset`.
        """
        if self._solution is None:
            raise RuntimeError("call reset() before snapshot()")
        return CellState(self._solution, dict(self._inputs), self._time_s, self._stopped_by_event)

    def restore(self, state: CellState) -> None:
        """Return to a state from :meth:`snapshot`: the next :meth:`step` gives exactly what
        it gave after the snapshot was taken (PyBaMM's step never modifies the solution it
        continues from).

        Raises:
            TypeError: ``state`` is not a :class:`CellState`.
        """
        if not isinstance(state, CellState):
            raise TypeError(f"expected a CellState from snapshot(), got {type(state).__name__}")
        self._solution, self._inputs = state.solution, dict(state.inputs)
        self._time_s, self._stopped_by_event = state.time_s, state.stopped_by_event

    def step(self, charging_current_A: float) -> CellStepResult:
        """Apply a constant charging current [A] (positive = charge) for ``dt_s`` seconds.

        Raises:
            ValueError: the current is not finite (it never reaches the solver).
            RuntimeError: called before :meth:`reset`, or after a step stopped by an event.
            SimulationError: the solver failed; the state before the step is kept.
        """
        if self._solution is None:
            raise RuntimeError("call reset() before step()")
        if self._stopped_by_event:
            raise RuntimeError("the last step ended on a PyBaMM event; call reset()")
        current = float(charging_current_A)
        if not np.isfinite(current):
            raise ValueError(f"charging current must be finite, got {charging_current_A!r}")
        return self._advance(current, self._t_eval)

    @property
    def particle_radii(self) -> np.ndarray:
        """r / R (in (0, 1), centre to surface) of the radial nodes of
        ``CellStepResult.particle_stoichiometry``, shape (n_r,).

        Raises:
            RuntimeError: before :meth:`reset` (the mesh is built then).
        """
        if self._sim.mesh is None:
            raise RuntimeError("call reset() before particle_radii")
        mesh = self._sim.mesh["negative particle"]
        return np.asarray(mesh.nodes, float) / float(mesh.edges[-1])

    def dynamics(self) -> CellDynamics:
        """The model and the present state as CasADi functions (:class:`CellDynamics`).

        Raises:
            RuntimeError: before :meth:`reset`.
        """
        if self._solution is None:
            raise RuntimeError("call reset() before dynamics()")
        model = self._sim.built_model
        names = tuple(sorted(self._inputs))
        t, y = casadi.MX.sym("t"), casadi.MX.sym("y", model.len_rhs)
        p = casadi.MX.sym("p", len(names))
        inputs = {name: p[i] for i, name in enumerate(names)}
        rhs = model.concatenated_rhs.to_casadi(t, y, inputs=inputs)
        # The model is autonomous (the current is an input), so t = 0 everywhere.
        rhs_fn = casadi.Function("rhs", [y, p], [casadi.substitute(rhs, t, 0.0)])
        outputs = casadi.Function("outputs", [y, p], [self._outputs_fn(0.0, y, p)])
        return CellDynamics(rhs=rhs_fn, outputs=outputs, input_names=names, current_index=names.index(_CURRENT),
                            inputs=np.array([self._inputs[n] for n in names]),
                            state=np.asarray(self._solution.y[:, -1], float).copy())

    # ------------------------------------------------------------------ internals
    def _compile_outputs(self, names: tuple[str, ...] = OUTPUT_VARIABLES) -> casadi.Function:
        """(t, states (n_y,), inputs (n_p,)) -> the variables ``names`` stacked (default
        OUTPUT_VARIABLES, (6,)), inputs in sorted-name order."""
        model = self._sim.built_model
        t, y = casadi.MX.sym("t"), casadi.MX.sym("y", model.len_rhs_and_alg)
        p = casadi.MX.sym("p", len(self._inputs))
        inputs = {name: p[i] for i, name in enumerate(sorted(self._inputs))}
        exprs = [model.variables[name].to_casadi(t, y, inputs=inputs) for name in names]
        return casadi.Function("outputs", [t, y, p], [casadi.vertcat(*exprs)])

    def _advance(self, current_A: float, t_eval: np.ndarray) -> CellStepResult:
        inputs = dict(self._inputs, **{_CURRENT: float(to_pybamm_current(current_A))})
        try:
            # solver.step on the built model, not Simulation.step: the latter silently
            # continues from its own last solution when given None, so resets would not reset.
            # t_interp = t_eval: IDAKLU returns only these points, not each internal step
            # (~20 per 90 s), which PyBaMM would otherwise post-process one by one.
            solution = self._sim.solver.step(
                self._solution, self._sim.built_model, float(t_eval[-1]), t_eval=t_eval, t_interp=t_eval,
                save=False, inputs=inputs,
            )
            p = np.array([inputs[name] for name in sorted(inputs)])  # one column: map repeats it
            voltage, temperature, stoichiometry, plating, ocv, surface = np.asarray(
                self._outputs_fn.map(len(solution.t))(solution.t[None, :], solution.y, p))
            profile = np.asarray(self._profile_fn(solution.t[-1], solution.y[:, -1], p), float).ravel()
        except Exception as exc:  # PyBaMM raises SolverError, ValueError, casadi errors...
            raise SimulationError(f"PyBaMM step failed at {current_A:.3f} A: {exc}") from exc
        event = None
        if solution.termination.startswith("event"):
            event = solution.termination.removeprefix("event:").strip()
            self._stopped_by_event = True
        self._solution = solution
        self._time_s += float(solution.t[-1] - solution.t[0])
        return CellStepResult(
            time_s=self._time_s,
            current_A=current_A,
            voltage_V=float(voltage[-1]),
            max_voltage_V=float(np.max(voltage)),
            temperature_K=float(temperature[-1]),
            max_temperature_K=float(np.max(temperature)),
            soc=float(self.window.soc(stoichiometry[-1])),
            plating_potential_V=float(plating[-1]),
            min_plating_potential_V=float(np.min(plating)),
            ocv_V=float(ocv[-1]),
            max_surface_stoichiometry=float(np.max(surface)),
            surface_stoichiometry=float(surface[-1]),
            particle_stoichiometry=profile,
            event=event,
        )


def check_diffusivity_scale(value: float) -> float:
    """``value`` as a float if it is a valid factor on the graphite diffusivity.

    Raises:
        ValueError: outside :data:`DIFFUSIVITY_SCALE_RANGE` (0.001 to 10) or not finite.
    """
    low, high = DIFFUSIVITY_SCALE_RANGE
    if not low <= float(value) <= high:
        raise ValueError(f"negative_diffusivity_scale must be in [{low}, {high}], got {value}")
    return float(value)


def _scaled(diffusivity, scale):
    """``diffusivity`` (a number or PyBaMM's function of stoichiometry and temperature) times
    ``scale``, in the form PyBaMM's ParameterValues accepts."""
    if callable(diffusivity):
        return lambda sto, T: diffusivity(sto, T) * scale
    return diffusivity * scale
