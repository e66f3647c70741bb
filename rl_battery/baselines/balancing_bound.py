"""A certified lower bound on the time-mean SOC variance that any passive-balancing policy can
reach on given cells and a given load profile: the balancing task's physical limit, as the
CasADi optimum is the charging task's.

The relaxation. Over a control step s of length dt, cell i's SOC changes by exactly
``(Q_pack,s - Q_shunt,i,s) / (3600 C_i)`` (the simulator's ``dz/dt = i / (3600 Q)`` summed
over its substeps), where ``Q_pack,s`` is the charge through the string terminals [As],
``Q_shunt,i,s`` the charge through cell i's shunt [As] and ``C_i`` its capacity [Ah]. Every
policy's trajectory lies in the larger set where

* ``Q_pack,s = a_s Q-_s + b_s Q+_s`` with ``a_s, b_s`` in [0, 1], ``Q-_s`` and ``Q+_s`` the
  discharge and charge parts of the profile over the step: the env can only cut the load
  (a cut lasts to the end of a phase, which the relaxation does not require);
* ``0 <= Q_shunt,i,s <= I_max dt``: a shunt carries ``V / R_sh`` while on (the fraction of a
  step it is on is free here, where a policy has 0 or 1), and the terminal voltage never
  exceeds ``V_max = max OCV + f_R (max R0 + max R1 + max R2) I+_max`` (the 2-RC model of
  :mod:`rl_battery.sim.ecm_string`: the RC voltages are low-pass filters of ``R_k i`` and
  the cell current i never exceeds the largest charging current ``I+_max`` of the profile;
  f_R is the largest resistance factor of the pack's cells, the table maxima are over Tran
  et al.'s SOC table).

The objective, the mean over the episode's steps of the population variance of the cell
SOCs after each step (``BalancingMetrics.soc_variance_mean``), is a convex quadratic of these
charges, so the relaxation is a convex QP with box constraints. L-BFGS-B (scipy) finds a
near-minimizer x; convexity gives ``f(y) >= f(x) + grad f(x)^T (y - x)`` for every feasible
y, so ``f(x) + min over the box of grad f(x)^T (y - x)`` (a Frank-Wolfe gap) is a certified
lower bound whatever the solver's accuracy. That certified number is what is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize

from rl_battery.sim.ecm_string import TABLE_R0, TABLE_R1, TABLE_R2, nca_ocv_table


@dataclass(frozen=True)
class VarianceBound:
    """The relaxation's result for one pack and profile.

    Attributes:
        lower_bound: certified lower bound on ``soc_variance_mean`` of every policy [-].
        relaxed_value: the relaxation's value at the solver's point, >= ``lower_bound`` [-].
        max_shunt_current_A: the shunt current bound ``V_max / R_sh`` used [A].
        steps: control steps of the episode.
        solver_iterations: L-BFGS-B iterations.
        shunt_fraction: the relaxed optimum's shunt charge per cell and step as a fraction of
            ``I_max dt``, shape (steps, n_cells): how hard the bound drains each cell.
    """

    lower_bound: float
    relaxed_value: float
    max_shunt_current_A: float
    steps: int
    solver_iterations: int
    shunt_fraction: np.ndarray


def max_shunt_current_A(env) -> float:
    """``V_max / R_sh`` [A] for a reset ``PassiveBalancing`` env (module docstring)."""
    base = env.unwrapped
    profile_currents = np.asarray(base.profile.currents_A, float)
    charge_max = max(0.0, float(profile_currents.max()))
    r_max = float(TABLE_R0.max() + TABLE_R1.max() + TABLE_R2.max()) * float(base.sim.resistance_scale.max())
    v_max = float(nca_ocv_table()[1].max()) + r_max * charge_max
    return v_max / base.settings.shunt_resistance_Ohm


def soc_variance_lower_bound(env, *, max_iter: int = 20_000) -> VarianceBound:
    """Certified lower bound on the time-mean SOC variance of any policy (module docstring).

    Args:
        env: a ``PassiveBalancing`` env after ``reset``: its simulator holds the cells
            (capacities, start SOCs, resistance factors) and ``env.profile`` the load.
        max_iter: L-BFGS-B iterations (the bound stays certified if it stops early, only
            looser).

    Returns:
        :class:`VarianceBound`.

    Raises:
        ValueError: the env has not been reset (no simulator yet).
    """
    base = env.unwrapped
    if base.sim is None:
        raise ValueError("reset the env first: the bound needs its cells")
    dt = float(base.settings.dt_s)
    steps = int(np.ceil(base.profile.duration_s / dt - 1e-9))
    segments = [base.profile.segments(s * dt, dt) for s in range(steps)]
    q_minus = np.array([sum(c * t for c, t in seg if c < 0) for seg in segments])  # As, <= 0
    q_plus = np.array([sum(c * t for c, t in seg if c > 0) for seg in segments])  # As, >= 0
    capacity_As = base.sim.capacity_Ah * 3600.0
    soc0 = base.sim.soc.copy()
    n = soc0.shape[0]
    i_max = max_shunt_current_A(env)
    upper = i_max * dt

    def split(x):
        return x[:steps], x[steps:2 * steps], x[2 * steps:].reshape(steps, n)

    def objective(x):
        a, b, shunt = split(x)
        inflow = (a * q_minus + b * q_plus)[:, None] - shunt  # (steps, n) As into each cell
        soc = soc0 + np.cumsum(inflow, axis=0) / capacity_As
        dev = soc - soc.mean(axis=1, keepdims=True)
        value = float((dev**2).mean())
        # d value / d soc is 2 dev / (n steps) (the mean removal is a projection dev already
        # lies in); a step's inflow moves every later SOC, hence the reversed cumulative sum.
        grad_inflow = np.cumsum((2.0 * dev / (n * steps) / capacity_As)[::-1], axis=0)[::-1]
        pack = grad_inflow.sum(axis=1)
        return value, np.concatenate([pack * q_minus, pack * q_plus, -grad_inflow.ravel()])

    lower = np.zeros(2 * steps + steps * n)
    high = np.concatenate([np.ones(2 * steps), np.full(steps * n, upper)])
    x0 = np.concatenate([np.ones(2 * steps), np.zeros(steps * n)])  # the full load, no shunt
    result = scipy.optimize.minimize(objective, x0, jac=True, method="L-BFGS-B",
                                     bounds=list(zip(lower, high)),
                                     options={"maxiter": int(max_iter), "ftol": 1e-15, "gtol": 1e-14})
    x = np.clip(result.x, lower, high)
    value, grad = objective(x)
    gap = float(np.minimum(grad * (lower - x), grad * (high - x)).sum())  # <= 0
    return VarianceBound(lower_bound=max(0.0, value + gap), relaxed_value=value, max_shunt_current_A=i_max,
                         steps=steps, solver_iterations=int(result.nit),
                         shunt_fraction=split(x)[2] / upper)
