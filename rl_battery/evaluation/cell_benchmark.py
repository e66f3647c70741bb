"""Per-chemistry pieces of the cell benchmark and the Reptile adaptation study.

For one parameter set: the reference controllers (best feasible CC-CV, best feasible
CC-CT-CV, look-ahead) and the optimum (:func:`rl_battery.baselines.optimal.optimal_charge`)
on the same env and start SOC; and the adaptation curve of a learned policy: its
deterministic charge after k = 0, 1, 2, ... episodes of online SAC on that set, from
Reptile's meta weights or from scratch, optionally gated (the best charge so far is the
one deployed). Charge times are 10 -> 80 % SOC (the experiment's target), whole 90 s steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rl_battery.algorithms.deterministic import deterministic_policy
from rl_battery.baselines import CCCTCVPolicy, CCCVPolicy, LookaheadPolicy, best_cc_ct_cv, best_cccv
from rl_battery.baselines.optimal import optimal_charge
from rl_battery.envs import CellFastCharge, run_episode
from rl_battery.envs.metrics import stopped_short

#: Metrics kept per controller in benchmark rows.
ROW_KEYS = ("charge_time_min", "final_soc", "constraint_violations", "voltage_violations", "temperature_violations",
            "plating_violations", "max_cell_voltage_V", "max_cell_temperature_K", "min_plating_potential_V",
            "episode_return")


def benchmark_env(env_config: dict[str, Any], parameter_set: str) -> CellFastCharge:
    """The cell env of ``env_config`` on ``parameter_set`` (the start SOC is given per episode)."""
    return CellFastCharge(dict(env_config, parameter_set=parameter_set))


def _row(metrics: dict[str, float], **extra) -> dict[str, Any]:
    return {**{k: float(metrics[k]) for k in ROW_KEYS}, **extra}


def short_of_target(final_soc: float, target_soc: float) -> str:
    """Table marker for a charge that ended below the target SOC (the safety cut-off or the
    step limit ended it): " SOC 0.71", or "" for a finished charge."""
    return f" SOC {final_soc:.2f}" if stopped_short(final_soc, target_soc) else ""


def evaluated_at(curves: dict, k: int) -> bool:
    """Some seed's curve in ``{seed: adaptation_curve rows}`` was evaluated at k episodes."""
    return any(r["k"] == k for rows in curves.values() for r in rows)


def summarize_seeds(curves: dict, k: int) -> dict[str, float]:
    """Over the seeds of ``{seed: adaptation_curve rows}`` evaluated at k episodes (joined runs
    may cover some seeds only to a smaller k): mean and worst charge time [min], violations
    summed, lowest final SOC, mean return, number of seeds.

    Raises:
        ValueError: no seed was evaluated at k."""
    rows = [r for curve in curves.values() for r in curve if r["k"] == k]
    if not rows:
        raise ValueError(f"no seed was evaluated at k = {k}")
    times = [r["charge_time_min"] for r in rows]
    return {"charge_time_min": float(sum(times) / len(times)), "worst_charge_time_min": float(max(times)),
            "violations": int(sum(r["constraint_violations"] for r in rows)),
            "min_final_soc": float(min(r["final_soc"] for r in rows)),
            "episode_return": float(sum(r["episode_return"] for r in rows) / len(rows)), "seeds": len(rows)}


def reference_rows(parameter_set: str, env_config: dict[str, Any], *, initial_soc: float = 0.1,
                   optimum: bool = True) -> dict[str, dict]:
    """The reference controllers and (``optimum``) the optimal charge on one set:
    ``{"cccv", "cc_ct_cv", "lookahead", "optimal"} -> metrics row`` (CC rows add
    ``cc_current_A``; the optimal row adds ``status``, ``message``, ``solve_time_s`` and
    ``currents_A``)."""
    env = benchmark_env(env_config, parameter_set)
    rows: dict[str, dict] = {}
    current, _, _ = best_cccv(env, initial_soc=initial_soc)
    rows["cccv"] = _row(run_episode(env, CCCVPolicy(env, current), initial_soc=initial_soc), cc_current_A=current)
    current, _, _ = best_cc_ct_cv(env, initial_soc=initial_soc)
    rows["cc_ct_cv"] = _row(run_episode(env, CCCTCVPolicy(env, current), initial_soc=initial_soc), cc_current_A=current)
    rows["lookahead"] = _row(run_episode(env, LookaheadPolicy(env), initial_soc=initial_soc))
    if optimum:
        result = optimal_charge(env, initial_soc=initial_soc)
        rows["optimal"] = _row(result.metrics, status=result.status, message=result.message,
                               solve_time_s=result.solve_time_s, currents_A=[float(c) for c in result.currents_A])
    return rows


def policy_row(module, parameter_set: str, env_config: dict[str, Any], *, initial_soc: float = 0.1) -> dict:
    """The RLModule's deterministic charge on one set (metrics row)."""
    env = benchmark_env(env_config, parameter_set)
    act = deterministic_policy(module)
    return _row(run_episode(env, lambda obs, info: act(obs), initial_soc=initial_soc))


def adaptation_curve(algo, parameter_set: str, env_config: dict[str, Any], ks, *, from_meta: bool,
                     updates_per_step: float = 1.0, initial_soc: float = 0.1, gate: bool = False,
                     seed: int | None = None) -> list[dict]:
    """The deterministic charge on ``parameter_set`` after each k in ``ks`` episodes of
    online SAC (:meth:`rl_battery.algorithms.reptile.Reptile.adapt`), from the algorithm's
    meta weights (``from_meta``) or from its present weights (a fresh algorithm: SAC from
    scratch). The episodes accumulate: the curve at k = 5 continues the run at k = 2 with
    the same buffer, as one run of max(ks) episodes observed along the way.

    With ``gate`` the adaptation is gated (``Reptile.begin_adaptation``: one charge after
    every episode, from the algorithm's ``meta_check_initial_soc``, which must then equal
    ``initial_soc``), and the row at k is the best of the charges after 0..k episodes: the
    policy the gate deploys. Learning is the same with and without the gate. ``seed``: the
    adaptation's seed (``Reptile.begin_adaptation``).

    Returns:
        One row per k: the metrics row plus ``k``, ``adaptation_env_steps``,
        ``adaptation_updates``, ``adaptation_return`` (mean over the new episodes) and
        ``adaptation_initial_socs`` (the start SOC of every episode so far);
        gated, also ``gate_episodes`` (the episodes the deployed weights had trained) and
        ``latest`` (the metrics row of the weights after k episodes, the ungated row).

    Raises:
        ValueError: ``gate`` with a check start SOC other than ``initial_soc``.
    """
    if gate and abs(float(algo.config.meta_check_initial_soc) - initial_soc) > 1e-12:
        raise ValueError(f"the gate charges from meta_check_initial_soc = {algo.config.meta_check_initial_soc}, "
                         f"the curve from initial_soc = {initial_soc}")
    rows, done, steps, updates, socs = [], 0, 0, 0, []
    # The whole task, so nothing of the last meta-training task (its ambient temperature,
    # its diffusivity scale) carries over into the adaptation episodes.
    task = CellFastCharge.configured_task(env_config, parameter_set)
    algo.begin_adaptation(task, start_from_meta=from_meta, gate=gate, seed=seed)
    for k in sorted(set(int(k) for k in ks)):
        stats = algo.adapt_more(k - done, updates_per_step=updates_per_step)
        done, steps, updates = k, steps + stats["env_steps"], updates + stats["updates"]
        socs += stats["initial_socs"]
        extra = dict(k=k, adaptation_env_steps=steps, adaptation_updates=updates,
                     adaptation_return=stats["mean_return"], adaptation_initial_socs=list(socs))
        if gate:
            best = algo.gate["best"]["row"]
            rows.append(dict(_row(best), **extra, gate_episodes=int(best["episodes"]),
                             latest=_row(algo.gate["history"][-1])))
        else:
            rows.append(dict(policy_row(algo.env_runner.module, parameter_set, env_config, initial_soc=initial_soc),
                             **extra))
    return rows


def ungated(curves: dict) -> dict:
    """Gated ``{set: {seed: adaptation_curve rows}}`` as without the gate: each row's
    ``latest`` charge (rows without one stay as they are)."""
    return {name: {seed: [dict(r["latest"], k=r["k"]) if "latest" in r else r for r in rows]
                   for seed, rows in by_seed.items()} for name, by_seed in curves.items()}


def reptile_curves(checkpoint, sets, ks, seeds, env_config: dict[str, Any], *,
                   updates_per_step: float = 1.0, gate: bool = False) -> dict[str, dict[int, list[dict]]]:
    """``{set: {seed: adaptation_curve rows}}`` of a Reptile checkpoint's meta weights
    (``gate``: gated adaptation).

    The seed is each curve's adaptation seed and sets torch's and NumPy's global generators
    before it (the local env runner explores with torch's), so one seed's curve repeats,
    whatever ran before it."""
    import numpy as np
    import torch

    from rl_battery.algorithms import Reptile

    path = Path(checkpoint).expanduser().resolve()  # RLlib reads a relative path as a URI
    if not (path / "algorithm_state.pkl").is_file():
        raise FileNotFoundError(f"{checkpoint} is not an RLlib Algorithm checkpoint folder")
    algo = Reptile.from_checkpoint(str(path))
    try:
        out: dict[str, dict[int, list[dict]]] = {}
        for name in sets:
            for seed in seeds:
                torch.manual_seed(seed)
                np.random.seed(seed)
                out.setdefault(name, {})[seed] = adaptation_curve(algo, name, env_config, ks, from_meta=True,
                                                                  updates_per_step=updates_per_step, gate=gate,
                                                                  seed=seed)
        return out
    finally:
        algo.stop()


def scratch_curves(config, sets, ks, seeds, env_config: dict[str, Any], *,
                   updates_per_step: float = 1.0, gate: bool = False) -> dict[str, dict[int, list[dict]]]:
    """The same curves for SAC from scratch: per seed a fresh algorithm of ``config`` (a
    ReptileConfig: the same networks, learning rates and online SAC procedure) with that
    seed, whose initial weights start every set's curve (``gate``: gated too)."""
    import numpy as np
    import torch

    out: dict[str, dict[int, list[dict]]] = {}
    for seed in seeds:
        algo = config.copy(copy_frozen=False).debugging(seed=seed).build_algo()
        try:
            for name in sets:
                torch.manual_seed(seed)
                np.random.seed(seed)
                out.setdefault(name, {})[seed] = adaptation_curve(algo, name, env_config, ks, from_meta=True,
                                                                  updates_per_step=updates_per_step, gate=gate,
                                                                  seed=seed)
        finally:
            algo.stop()
    return out
