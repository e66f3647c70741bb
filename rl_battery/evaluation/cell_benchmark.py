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
            "plating_violations", "surface_violations", "max_cell_voltage_V", "max_cell_temperature_K", "min_plating_potential_V",
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


#: The cell benchmark's speed target: a learned charge within this factor of the optimum.
TARGET_RATIO = 1.05
#: The benchmark's reference controllers (keys of :func:`reference_rows`).
REFERENCE_ARMS = ("cccv", "cc_ct_cv", "lookahead", "optimal")


def charge_at(curves: dict, k: int, optimum_min: float, target_soc: float) -> dict[str, Any] | None:
    """One arm's charge on one set after k episodes (``{seed: adaptation_curve rows}``),
    over the seeds run to k: ``charge_time_min`` (mean), ``ratio`` and ``worst_ratio`` to
    the optimum, ``violations`` (summed), ``min_final_soc``, ``reached`` (every seed got
    to ``target_soc``), ``episode_return`` (mean), ``seeds`` and ``k``. None: no seed was
    run to k."""
    if not evaluated_at(curves, k):
        return None
    s = summarize_seeds(curves, k)
    return {"k": int(k), "charge_time_min": s["charge_time_min"], "ratio": s["charge_time_min"] / optimum_min,
            "worst_ratio": s["worst_charge_time_min"] / optimum_min, "violations": int(s["violations"]),
            "min_final_soc": s["min_final_soc"], "reached": not stopped_short(s["min_final_soc"], target_soc),
            "episode_return": s["episode_return"], "seeds": int(s["seeds"])}


def target_verdicts(result: dict[str, Any], *, adapted_k: int = 10, held_out_k: int = 3, scratch_k: int = 30,
                    ratio: float = TARGET_RATIO) -> dict[str, Any]:
    """The cell benchmark's three targets, judged from a ``scripts/bench_cell.py`` result
    (``sets``, ``meta_tasks``, ``env_config``, ``references``, ``reptile_curves``,
    ``sac_curves``; gated curves are judged by the charges the gate deploys):

    * ``zero_violations``: no violation step in any reference's charge or any learned
      arm's charge at any evaluated k (SAC from scratch from k = 1: at k = 0 it is its
      untrained initial network; Reptile's k = 0 is the meta policy, judged);
      ``breaches`` lists the others (``{"arm", "set", "k", "violations"}``, k None for a
      reference).
    * ``within_ratio``: per set, Reptile after ``adapted_k`` episodes and SAC from scratch
      after ``scratch_k``; a row is met when the charge of every seed reaches the target
      SOC within ``ratio`` x the optimum (``worst_ratio``) without a violation.
    * ``held_out``: per held-out set (not in ``meta_tasks``), Reptile after ``held_out_k``
      episodes against SAC from scratch after ``scratch_k``; met when Reptile reaches the
      target on every seed without a violation at a mean ratio no higher than SAC's.

    Ratios are to the references' ``optimal`` row (where the optimum failed, that row
    holds what the solver fell back to: the look-ahead's charge). Arms or k the result did
    not run are left out; a target without rows has ``met`` None (not measured).

    Returns:
        ``{"zero_violations": {"met", "breaches"}, "within_ratio": {"ratio", "met",
        "rows"}, "held_out": {"met", "rows"}}``; every ``rows`` entry carries ``met``.
    """
    target_soc = float(result["env_config"].get("target_soc", 0.8))
    arms = {"reptile": result.get("reptile_curves") or {}, "sac": result.get("sac_curves") or {}}
    breaches: list[dict[str, Any]] = []
    within: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for name in result["sets"]:
        references = result["references"][name]
        optimum = float(references["optimal"]["charge_time_min"])
        breaches += [{"arm": arm, "set": name, "k": None, "violations": int(references[arm]["constraint_violations"])}
                     for arm in REFERENCE_ARMS if references[arm]["constraint_violations"] > 0]
        for arm, curves in arms.items():
            ks = sorted({int(r["k"]) for rows in curves.get(name, {}).values() for r in rows})
            # SAC from scratch at k = 0 is its untrained initial network: no controller to judge.
            for k in (k for k in ks if arm == "reptile" or k > 0):
                at = charge_at(curves[name], k, optimum, target_soc)
                if at["violations"]:
                    breaches.append({"arm": arm, "set": name, "k": k, "violations": at["violations"]})
        for arm, k in (("reptile", adapted_k), ("sac", scratch_k)):
            at = charge_at(arms[arm].get(name, {}), k, optimum, target_soc)
            if at is not None:
                met = at["reached"] and not at["violations"] and at["worst_ratio"] <= ratio + 1e-9
                within.append(dict(at, arm=arm, set=name, met=bool(met)))
        if name not in result["meta_tasks"]:
            reptile = charge_at(arms["reptile"].get(name, {}), held_out_k, optimum, target_soc)
            sac = charge_at(arms["sac"].get(name, {}), scratch_k, optimum, target_soc)
            if reptile is not None and sac is not None:
                met = reptile["reached"] and not reptile["violations"] and reptile["ratio"] <= sac["ratio"] + 1e-9
                held.append({"set": name, "reptile": reptile, "sac": sac, "met": bool(met)})

    def verdict(rows: list[dict]) -> bool | None:
        return all(r["met"] for r in rows) if rows else None

    return {"zero_violations": {"met": not breaches, "breaches": breaches},
            "within_ratio": {"ratio": float(ratio), "met": verdict(within), "rows": within},
            "held_out": {"met": verdict(held), "rows": held}}


def _charge_text(at: dict[str, Any]) -> str:
    """One charge as text, e.g. "1.062 (1.083), 2v, short of target": the mean ratio, the worst
    seed's (with several seeds), violation steps and a charge that stopped short."""
    text = f"{at['ratio']:.3f}" + (f" ({at['worst_ratio']:.3f})" if at["seeds"] > 1 else "")
    text += f", {at['violations']}v" if at["violations"] else ""
    return text + ("" if at["reached"] else ", short of target")


def _steps(n: int) -> str:
    return f"{n} step" + ("" if n == 1 else "s")


def target_lines(verdicts: dict[str, Any]) -> list[str]:
    """:func:`target_verdicts` as Markdown bullet lines: each target met, missed or not
    measured, with the numbers of every row that misses it."""
    def state(met: bool | None) -> str:
        return "not measured" if met is None else ("met" if met else "missed")

    names = {"reptile": "Reptile", "sac": "SAC from scratch"}
    zero = verdicts["zero_violations"]
    breaches: dict[tuple[str, str], list[str]] = {}
    for b in zero["breaches"]:
        at_k = "" if b["k"] is None else f"k={b['k']}: "
        breaches.setdefault((names.get(b["arm"], b["arm"]), b["set"]), []).append(at_k + _steps(b["violations"]))
    where = "; ".join(f"{arm} on {name} ({', '.join(parts)})" for (arm, name), parts in breaches.items())
    lines = [f"- Zero violations: {state(zero['met'])}" + (f": {where}" if where else "")]

    within = verdicts["within_ratio"]
    for arm in ("reptile", "sac"):
        rows = [r for r in within["rows"] if r["arm"] == arm]
        if rows:
            missed = "; ".join(f"{r['set']} {_charge_text(r)}" for r in rows if not r["met"])
            count = f"{sum(r['met'] for r in rows)} of {len(rows)} sets" + (f"; missed on {missed}" if missed else "")
            lines.append(f"- {names[arm]} within {within['ratio']:.2f}x of the optimum at k={rows[0]['k']}: {count}")
    if not within["rows"]:
        lines.append(f"- Within {within['ratio']:.2f}x of the optimum: not measured")

    held = verdicts["held_out"]
    if not held["rows"]:
        return lines + ["- Held out, Reptile as fast as SAC from scratch: not measured"]
    first = held["rows"][0]
    sets = "; ".join(f"{r['set']} {_charge_text(r['reptile'])} against {_charge_text(r['sac'])} "
                     f"({'met' if r['met'] else 'missed'})" for r in held["rows"])
    return lines + [f"- Held out, Reptile at k={first['reptile']['k']} as fast as SAC from scratch at "
                    f"k={first['sac']['k']}: {state(held['met'])}: {sets}"]


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


def arm_updates_per_step(run: dict[str, Any], arm: str) -> float | None:
    """The SAC updates per adaptation env step a ``bench_cell.json`` run used for ``arm``
    ("reptile" or "sac"), or None where the run has no updates to compare: no curves of
    that arm, or SAC only at k = 0 (its untrained weights).

    Runs from before the per-arm option carry one ``updates_per_step`` for both arms (and
    from before that option, 1)."""
    shared = float(run.get("updates_per_step", 1.0))
    if arm == "reptile":
        return shared if run.get("reptile_curves") else None
    if not run.get("sac_curves") or max(run.get("sac_k") or [0]) == 0:
        return None
    return float(run.get("sac_updates_per_step", shared))


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """The keys whose values are not the same in every one of ``configs`` (a missing key
    differs from a present one), sorted."""
    keys = set().union(*configs)
    return sorted(k for k in keys if any(c.get(k) != configs[0].get(k) for c in configs))


def join_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``bench_cell.json`` result from runs of different seeds, sets or arms (a later
    run wins per set and seed). The k lists are the union; a set a run did not cover at
    some k shows "-" there.

    Raises:
        ValueError: the runs' adaptation of one arm used different updates per env step
            (:func:`arm_updates_per_step`), gated and ungated runs are mixed, or the runs
            charged on different env configs.
    """
    result = dict(runs[0])
    differing = differing_keys([run.get("env_config") or {} for run in runs])
    if differing:
        raise ValueError(f"the runs charged on different env configs (keys {differing}): not one table")
    for arm, key in (("reptile", "updates_per_step"), ("sac", "sac_updates_per_step")):
        ups = {u for u in (arm_updates_per_step(run, arm) for run in runs) if u is not None}
        if len(ups) > 1:
            raise ValueError(f"the {arm} runs used different updates per env step {sorted(ups)}: not one table")
        result[key] = ups.pop() if ups else None
    if len({bool(run.get("gate")) for run in runs}) > 1:
        raise ValueError("gated and ungated adaptation mixed: not one table")
    result["sets"] = list(dict.fromkeys(s for run in runs for s in run["sets"]))
    result["references"] = {k: v for run in runs for k, v in run["references"].items()}
    for key in ("k", "sac_k"):
        result[key] = sorted({k for run in runs for k in run[key]})
    for arm in ("reptile_curves", "sac_curves"):
        merged: dict = {}
        for run in runs:
            for name, by_seed in run[arm].items():
                merged.setdefault(name, {}).update(by_seed)
        result[arm] = merged
    result["reptile_checkpoint"] = next((run["reptile_checkpoint"] for run in runs if run["reptile_checkpoint"]), None)
    result["seeds"] = sorted({s for run in runs for s in run["seeds"]})
    return result


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
    whatever ran before it.

    Raises:
        FileNotFoundError: ``checkpoint`` is not an Algorithm checkpoint.
        ValueError: ``env_config`` differs from the checkpoint's: its env runner adapts
            on its own config, so the charges and the adaptation would see different envs.
    """
    import numpy as np
    import torch

    from rl_battery.algorithms import Reptile

    path = Path(checkpoint).expanduser().resolve()  # RLlib reads a relative path as a URI
    if not (path / "algorithm_state.pkl").is_file():
        raise FileNotFoundError(f"{checkpoint} is not an RLlib Algorithm checkpoint folder")
    algo = Reptile.from_checkpoint(str(path))
    try:
        differing = differing_keys([dict(algo.config.env_config), dict(env_config)])
        if differing:
            raise ValueError(f"{checkpoint} was trained on another env config (keys {differing}): "
                             "its adaptation would run on that env, its charges on this one")
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
