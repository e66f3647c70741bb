"""Minimum-time charging of one cell: the optimal-control limit of the cell task.

The problem is the env's own: piecewise-constant currents, one per ``dt_s`` step, within
[``min_current_A``, ``max_current_A``]; at every point where the env checks the limits
(the start of a step, right after the current changes, and its output points) the cell
voltage stays at or below ``voltage_limit_V``, the temperature at or below
``temperature_limit_K``, with ``plating_is_constraint`` the plating indicator at or
above ``plating_limit_V``, and with ``surface_stoichiometry_limit`` the graphite surface
stoichiometry at or below it. The minimum time is the fewest whole steps after which the SOC
reaches ``target_soc`` (the env ends an episode only at a step's end).

Method: direct collocation (Radau IIA, ``degree`` points per element, one element per
env output interval, so the path constraints sit on the env's own check points) of the
simulator's discretised SPMe + lumped thermal model (:meth:`CellSimulator.dynamics`, the
same mesh and parameters), solved with IPOPT through CasADi (Biegler, *Nonlinear
Programming*, SIAM 2010, ch. 10). For a fixed number of steps N the NLP maximises the SOC
after N steps; N starts one below the look-ahead controller's step count and falls while
the target stays reachable. Every NLP is warm-started from the look-ahead solution (its
currents, and the states they give, integrated with CVODES on the same model).

The answer is always replayed on the env (IDAKLU, the simulator the policies run on) and
that replay is what is reported: a schedule whose replay breaks a limit (a collocation
error) is re-solved with the constraints tightened by ``margin_growth``. Where IPOPT fails
or no schedule shorter than the look-ahead's exists, the result says so and the
look-ahead's own schedule is the optimum found (``status``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import casadi
import numpy as np

from rl_battery.baselines.lookahead import LookaheadPolicy
from rl_battery.envs.rollout import record_episode, run_episode, schedule_policy


@dataclass
class OptimalCharge:
    """The result of :func:`optimal_charge`.

    Attributes:
        status: "improved" (fewer steps than the look-ahead), "lookahead_optimal" (no
            schedule with fewer steps reaches the target; IPOPT's best SOC says by how
            much), or "failed" (``message`` says why; the look-ahead's schedule is returned).
        currents_A: the schedule (N,) [A].
        metrics: its replay on the env (:data:`rl_battery.envs.METRIC_KEYS`).
        lookahead_metrics: the look-ahead's episode on the same env and start SOC.
        tried: one row per NLP: steps, IPOPT return status and iterations, predicted SOC
            after N steps and the replay's SOC after N steps (the collocation error),
            margins, the replay's steps, final SOC and violations, ``success``, solve time [s].
        solve_time_s: total wall time [s].
        message: what limited the result, in words.
    """

    status: str
    currents_A: np.ndarray
    metrics: dict[str, float]
    lookahead_metrics: dict[str, float]
    tried: list[dict] = field(default_factory=list)
    solve_time_s: float = 0.0
    message: str = ""

    @property
    def charge_time_min(self) -> float:
        return float(self.metrics["charge_time_min"])


class _Collocation:
    """The NLP for N steps (module docstring), built once per N."""

    def __init__(self, dyn, env, n_steps: int, elements_per_step: int, degree: int):
        self.dyn, self.n_steps, self.E, self.d = dyn, n_steps, elements_per_step, degree
        s = env.settings
        self.settings, self.window = s, env.sim.window
        self.surface_limit = env.surface_stoichiometry_limit
        n, m = dyn.state.size, n_steps * elements_per_step
        h = s.dt_s / elements_per_step
        tau = np.append(0.0, casadi.collocation_points(degree, "radau"))
        C, D = np.zeros((degree + 1, degree + 1)), np.zeros(degree + 1)
        for j in range(degree + 1):  # Lagrange basis on tau: derivatives (C) and end values (D)
            basis = np.poly1d([1.0])
            for r in range(degree + 1):
                if r != j:
                    basis *= np.poly1d([1.0, -tau[r]]) / (tau[j] - tau[r])
            D[j] = basis(1.0)
            C[j] = np.polyder(basis)(tau)
        self.tau, self.h = tau, h

        x0, xc, p = casadi.MX.sym("x0", n), casadi.MX.sym("xc", n, degree), casadi.MX.sym("p", dyn.inputs.size)
        residuals, x_end = [], D[0] * x0
        for r in range(1, degree + 1):
            slope = C[0, r] * x0 + sum(C[j, r] * xc[:, j - 1] for j in range(1, degree + 1))
            residuals.append(h * dyn.rhs(xc[:, r - 1], p) - slope)
            x_end += D[r] * xc[:, r - 1]
        element = casadi.Function("element", [x0, xc, p], [casadi.vertcat(*residuals), x_end])

        # Decision vector: S_1..S_M (element boundary states), XC_0..XC_{M-1}, I_0..I_{N-1}.
        self.S = casadi.MX.sym("S", n, m)
        self.XC = casadi.MX.sym("XC", n, degree * m)
        self.I = casadi.MX.sym("I", n_steps)
        self.y0 = casadi.MX.sym("y0", n)
        starts = casadi.horzcat(self.y0, self.S[:, :-1])
        step_of = np.repeat(np.arange(n_steps), elements_per_step)
        # The inputs per element: the episode's, with the step's current (PyBaMM's sign:
        # charging is negative).
        rows = [casadi.DM.ones(1, m) * float(v) for v in dyn.inputs]
        rows[dyn.current_index] = -self.I[step_of].T
        P = casadi.vertcat(*rows)
        # map() takes each (n, d) input as m blocks side by side: XC as it is.
        res, ends = element.map(m)(starts, self.XC, P)
        # Path constraints at every element's start (with its step's current) and end.
        out_start = dyn.outputs.map(m)(starts, P)
        out_end = dyn.outputs.map(m)(self.S, P)
        self.g_dyn = casadi.vertcat(casadi.vec(res), casadi.vec(ends - self.S))
        self.paths = (out_start, out_end)
        self.soc_end = (out_end[2, -1] - self.window.x_0) / (self.window.x_100 - self.window.x_0)
        self.w = casadi.vertcat(casadi.vec(self.S), casadi.vec(self.XC), self.I)

    def solve(self, w0: np.ndarray, margins: tuple[float, float, float, float], ipopt: dict):
        """-> (currents (N,) [A], predicted final SOC, IPOPT return status, iterations)."""
        s = self.settings
        mv, mt, mp, ms = margins
        g_parts, lb, ub = [self.g_dyn], [np.zeros(self.g_dyn.shape[0])], [np.zeros(self.g_dyn.shape[0])]
        for out in self.paths:
            cols = out.shape[1]
            g_parts += [out[0, :].T, out[1, :].T]
            lb += [np.full(cols, -np.inf), np.full(cols, -np.inf)]
            ub += [np.full(cols, s.voltage_limit_V - mv), np.full(cols, s.temperature_limit_K - mt)]
            if s.plating_is_constraint:
                g_parts.append(out[3, :].T)
                lb.append(np.full(cols, s.plating_limit_V + mp))
                ub.append(np.full(cols, np.inf))
            if self.surface_limit is not None:
                g_parts.append(out[5, :].T)
                lb.append(np.full(cols, -np.inf))
                ub.append(np.full(cols, self.surface_limit - ms))
        nlp = {"x": self.w, "p": self.y0, "f": -self.soc_end, "g": casadi.vertcat(*g_parts)}
        solver = casadi.nlpsol("charge", "ipopt", nlp, {"ipopt": ipopt, "print_time": False})
        n_state = self.w.shape[0] - self.n_steps
        lbx = np.concatenate([np.full(n_state, -np.inf), np.full(self.n_steps, s.min_current_A)])
        ubx = np.concatenate([np.full(n_state, np.inf), np.full(self.n_steps, s.max_current_A)])
        sol = solver(x0=w0, p=self.dyn.state, lbx=lbx, ubx=ubx, lbg=np.concatenate(lb), ubg=np.concatenate(ub))
        w = np.asarray(sol["x"]).ravel()
        stats = solver.stats()
        return w[-self.n_steps:], float(-sol["f"]), stats["return_status"], int(stats.get("iter_count", 0))

    def warm_start(self, currents: np.ndarray) -> np.ndarray:
        """The decision vector of ``currents`` (N,): the states they give, integrated with
        CVODES on the same model at the collocation points."""
        dyn, n, d = self.dyn, self.dyn.state.size, self.d
        y, p = casadi.MX.sym("y", n), casadi.MX.sym("p", dyn.inputs.size)
        grid = list(self.tau[1:] * self.h)
        integrator = casadi.integrator("warm", "cvodes", {"x": y, "p": p, "ode": dyn.rhs(y, p)}, 0.0, grid,
                                       {"abstol": 1e-8, "reltol": 1e-6})
        x, S, XC = dyn.state.copy(), [], []
        for k in range(self.n_steps):
            pk = dyn.inputs.copy()
            pk[dyn.current_index] = -currents[k]
            for _ in range(self.E):
                xs = np.asarray(integrator(x0=x, p=pk)["xf"])  # (n, d)
                XC.append(xs)
                x = xs[:, -1].copy()
                S.append(x)
        return np.concatenate([np.stack(S, 1).ravel(order="F"), np.concatenate(XC, 1).ravel(order="F"), currents])


_SOLVED = ("Solve_Succeeded", "Solved_To_Acceptable_Level")


def optimal_charge(env, *, initial_soc: float | None = None, elements_per_step: int = 2, degree: int = 3,
                   margins: tuple[float, float, float, float] = (1e-3, 0.02, 1e-3, 1e-4), margin_growth: float = 4.0,
                   max_margin_tries: int = 3, max_iter: int = 400, max_solve_time_s: float = 300.0,
                   max_step_reduction: int = 8, ipopt_options: dict | None = None) -> OptimalCharge:
    """Minimum-time charge of a :class:`rl_battery.envs.CellFastCharge` (module docstring).

    Args:
        env: the cell env (wrapped or not); its settings are the problem's.
        initial_soc: start SOC (else the env's ``initial_soc``, which must then be a number).
        elements_per_step: collocation elements per step; 2 puts the constraints on the env's
            own check points (it reads 2 output intervals per step).
        degree: Radau collocation points per element.
        margins: (voltage [V], temperature [K], plating [V], surface stoichiometry [-])
            back-off of the NLP's constraints, for the collocation error; multiplied by
            ``margin_growth`` (> 1) when a replay breaks a limit, at most ``max_margin_tries``
            times.
        max_iter: IPOPT iterations per NLP.
        max_solve_time_s: IPOPT wall time per NLP [s] (its ``max_wall_time``): without it
            the exact-Hessian fallback on a set whose model gives NaN (ORegan2022) ran for
            tens of minutes before it failed.
        max_step_reduction: try at most this many step counts below the look-ahead's.
        ipopt_options: extra IPOPT options (e.g. ``{"hessian_approximation": "exact"}``;
            the default is L-BFGS).

    Returns:
        :class:`OptimalCharge`, replayed on the env.

    Raises:
        ValueError: no fixed start SOC.
    """
    base = env.unwrapped
    if initial_soc is None:
        lo, hi = base.settings.initial_soc_range
        if lo != hi:
            raise ValueError(f"give initial_soc: the env samples it from [{lo}, {hi}]")
        initial_soc = lo
    t_start = time.perf_counter()
    lookahead = LookaheadPolicy(base)
    _, infos, la_metrics = record_episode(env, lookahead, initial_soc=initial_soc)
    la_currents = np.array([info["current_A"] for info in infos[1:]], float)
    best = OptimalCharge("lookahead_optimal", la_currents, dict(la_metrics), dict(la_metrics))
    env.reset(options={"initial_soc": initial_soc})
    dyn = base.sim.dynamics()
    # L-BFGS Hessian: on Chen2020 (23 steps) the same optimum as the exact Hessian to 3e-7
    # in SOC, in half the time (58 s against 119 s); where it fails (Ai2020 with the plating
    # constraint: "Infeasible_Problem_Detected") the exact Hessian is tried (it solves it).
    ipopt = {"print_level": 0, "max_iter": int(max_iter), "max_wall_time": float(max_solve_time_s),
             "tol": 1e-7, "acceptable_tol": 1e-5, "sb": "yes",
             "hessian_approximation": "limited-memory", **(ipopt_options or {})}
    target = base.settings.target_soc
    best_steps = len(la_currents)
    n_steps, warm = best_steps - 1, la_currents[:-1]
    reached_any = False
    while n_steps >= 1 and len(la_currents) - n_steps <= max_step_reduction:
        nlp = _Collocation(dyn, base, n_steps, elements_per_step, degree)
        w0 = nlp.warm_start(warm)
        m = np.asarray(margins, float)
        row: dict = {}
        for _ in range(max_margin_tries):
            t0 = time.perf_counter()
            for hessian in dict.fromkeys((ipopt["hessian_approximation"], "exact")):
                try:
                    currents, soc_pred, status, iterations = nlp.solve(
                        w0, tuple(m), dict(ipopt, hessian_approximation=hessian))
                except RuntimeError as exc:  # CasADi raises RuntimeError on evaluation errors
                    currents, soc_pred, status, iterations = warm, float("nan"), f"error: {exc}", 0
                if status in _SOLVED:
                    break
            currents = np.clip(currents, base.min_current_A, base.max_current_A)
            socs: list[float] = []
            replay = run_episode(env, schedule_policy(base, currents), initial_soc=initial_soc,
                                 on_step=lambda info: socs.append(float(info["soc"])))
            replay_steps = round(replay["charge_time_min"] * 60 / base.settings.dt_s)
            row = {"steps": n_steps, "ipopt_status": status, "ipopt_iterations": iterations, "hessian": hessian,
                   "predicted_soc": soc_pred,
                   "margins": m.tolist(), "replay_final_soc": replay["final_soc"], "replay_steps": replay_steps,
                   # The collocation model's error: its SOC after N steps against the replay's.
                   "replay_soc_after_n": socs[min(n_steps, len(socs) - 1)],
                   "replay_violations": replay["constraint_violations"], "solve_time_s": time.perf_counter() - t0}
            # Reached within the N steps (the replay repeats the last current past them).
            row["success"] = bool(replay["constraint_violations"] == 0 and replay_steps <= n_steps
                                  and replay["final_soc"] >= target - 1e-9)
            best.tried.append(row)
            if row["success"] or not np.isfinite(soc_pred) or soc_pred < target:
                break
            m = m * margin_growth  # the replay broke a limit the NLP kept: back off further
        if not row["success"]:
            break
        reached_any = True
        best.status, best.currents_A, best.metrics = "improved", currents[:replay_steps], replay
        best_steps = replay_steps
        n_steps, warm = best_steps - 1, currents[:best_steps - 1]
    if not reached_any:
        last = best.tried[-1] if best.tried else {}
        if last and last["ipopt_status"] not in _SOLVED:
            best.status = "failed"
            why = {"Invalid_Number_Detected": ": the set's CasADi model gave NaN in a value or derivative at an iterate",
                   "Infeasible_Problem_Detected": ": IPOPT found no feasible point near the warm start",
                   "Maximum_WallTime_Exceeded": f": more than {max_solve_time_s:.0f} s per NLP",
                   }.get(last["ipopt_status"], "")
            best.message = (f"IPOPT did not solve the {last['steps']}-step problem with either Hessian "
                            f"({last['ipopt_status']}{why}); the look-ahead's {len(la_currents)} steps stand")
        else:
            best.message = (f"with {len(la_currents) - 1} steps the best reachable SOC is "
                            f"{last.get('predicted_soc', float('nan')):.4f} < target {target}: "
                            f"the look-ahead's {len(la_currents)} steps are the minimum")
    else:
        best.message = f"{len(best.currents_A)} steps against the look-ahead's {len(la_currents)}"
    best.solve_time_s = time.perf_counter() - t_start
    return best
