"""Evaluate a checkpoint on a real env against the reference controllers: metrics JSON, trace
CSV, PNG.

Every policy is reported next to the best feasible CC-CV, the best feasible CC-CT-CV and the
look-ahead reference on the same env and start SOC, with each charge time as a ratio to the
look-ahead's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from rl_battery.baselines import CCCTCVPolicy, CCCVPolicy, LookaheadPolicy, best_cc_ct_cv, best_cccv
from rl_battery.envs import run_episode, schedule_policy, valid_env_config_keys
from rl_battery.evaluation.checkpoint_policy import load_checkpoint_policy
from rl_battery.evaluation.plots import plot_traces
from rl_battery.evaluation.report import write_evaluation

#: Row order and labels of the comparison.
POLICIES = ("policy", "optimal", "lookahead", "cc_ct_cv", "cccv")
LABELS = {"policy": "RL policy", "optimal": "optimum", "lookahead": "look-ahead", "cc_ct_cv": "CC-CT-CV",
          "cccv": "CC-CV"}


def merge_env_config(env_class: type, base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``override`` on top; unknown override keys are rejected.

    Raises:
        ValueError: an override key the env does not take (the message lists the valid ones).
    """
    override = dict(override or {})
    valid = valid_env_config_keys(env_class)
    unknown = sorted(set(override) - set(valid))
    if unknown:
        raise ValueError(f"unknown env_config key(s) {unknown} for {env_class.__name__}; valid: {', '.join(valid)}")
    return {**base, **override}


def _trace_row(label: str, info: dict) -> dict:
    soc = np.asarray(info["cell_soc"])
    return {
        "policy": label,
        "time_min": info["time_s"] / 60.0,
        "current_A": info["current_A"],
        "step_max_cell_voltage_V": info["step_max_cell_voltage_V"],
        "step_max_cell_temperature_K": info["step_max_cell_temperature_K"],
        "soc": info["soc"],
        "soc_spread": float(soc.max() - soc.min()),
        "step_min_plating_potential_V": info["step_min_plating_potential_V"],
        "reward": info["reward"],
    }


def compare_on_env(env, act: Callable | None, *, initial_soc: float, trace: list | None = None,
                   label: str = "policy", optimum: bool = False) -> dict[str, dict]:
    """Metrics of ``act`` (may be None) and of the three reference controllers on ``env``.

    Returns ``{name: metrics}`` for the names of :data:`POLICIES` (``policy`` only when
    ``act`` is given, ``optimal`` only with ``optimum``); each metrics dict adds
    ``ratio_to_lookahead`` (charge time / the look-ahead's), with ``optimum`` also
    ``ratio_to_optimum``, and, for the CC families, ``cc_current_A``. Appends per-step rows
    to ``trace`` when given.

    Raises:
        ValueError: ``optimum`` on an env without the cell simulator's CasADi dynamics.
    """
    base = env.unwrapped

    def roll(name, policy):
        on_step = (lambda info: trace.append(_trace_row(name, info))) if trace is not None else None
        return run_episode(env, policy, initial_soc=initial_soc, on_step=on_step)

    results: dict[str, dict] = {}
    if act is not None:
        results[label] = roll(label, act)
    results["lookahead"] = roll("lookahead", LookaheadPolicy(base))
    current, _, _ = best_cc_ct_cv(env, initial_soc=initial_soc)
    results["cc_ct_cv"] = dict(roll("cc_ct_cv", CCCTCVPolicy(base, current)), cc_current_A=current)
    current, _, _ = best_cccv(env, initial_soc=initial_soc)
    results["cccv"] = dict(roll("cccv", CCCVPolicy(base, current)), cc_current_A=current)
    if optimum:
        if not hasattr(base.sim, "dynamics"):
            raise ValueError(f"the optimum is solved for the cell env only, not {type(base).__name__}")
        from rl_battery.baselines.optimal import optimal_charge

        best = optimal_charge(env, initial_soc=initial_soc)
        results["optimal"] = dict(roll("optimal", schedule_policy(base, best.currents_A)), status=best.status,
                                  message=best.message)
    reference = results["lookahead"]["charge_time_min"]
    for metrics in results.values():
        metrics["ratio_to_lookahead"] = metrics["charge_time_min"] / reference
        if optimum:
            metrics["ratio_to_optimum"] = metrics["charge_time_min"] / results["optimal"]["charge_time_min"]
    return results


def evaluate_checkpoint(checkpoint: str | Path, *, out_dir: str | Path | None = None, initial_soc: float = 0.1,
                        env_config: dict[str, Any] | None = None, shield_kappa: float | None = None,
                        optimum: bool = False, policy=None) -> dict:
    """One deterministic episode of the checkpoint's policy from ``initial_soc`` and the
    reference controllers on the same env.

    Args:
        checkpoint: an RLlib Algorithm checkpoint folder.
        out_dir: output folder (default ``<checkpoint>/evaluation``).
        initial_soc: start SOC of every episode.
        env_config: keys merged over the checkpoint's env_config (e.g. another pack:
            ``{"pack_seed": 7, "soh_mean": 0.8}``); unknown keys raise ValueError. A config
            that draws a task per episode is pinned to one task
            (:meth:`FastChargeEnv.pinned_config`: for a pack, the first seed and the middle
            of the SOH range), which ``metrics.json`` names in ``task_id``. A checkpoint
            from an adaptive cycle is evaluated on its aged, pinned pack with the SOH the
            run reported; with ``env_config`` given, on that pack at the same age.
        shield_kappa: margin of the safety layer of a shielded run, or of the planner of a
            run with ``action_mode`` "plan" (default: the trained one).
        optimum: cell env: also the optimal charge (:func:`rl_battery.baselines.optimal.
            optimal_charge`), and every ratio to it.
        policy: the checkpoint's :class:`~rl_battery.evaluation.checkpoint_policy.CheckpointPolicy`
            when already loaded.

    Writes ``metrics.json``, ``trace.csv`` and ``charging.png`` atomically; returns the
    metrics dict (``results``: one metrics dict per policy, see :func:`compare_on_env`).
    """
    policy = policy or load_checkpoint_policy(checkpoint)
    # A run trained over a distribution of tasks is compared on one task of it.
    config = policy.env_class.pinned_config(merge_env_config(policy.env_class, policy.env_config, env_config))
    env = policy.env_class(config)
    if policy.condition is not None:
        # An adaptive run is evaluated on its aged pack; another pack (env_config) at that age.
        env.set_condition(**(policy.condition if not env_config else {"age_cycles": policy.condition["age_cycles"]}))
    out = Path(out_dir) if out_dir else Path(checkpoint) / "evaluation"
    trace: list[dict] = []
    act = policy.controller(env, shield_kappa)
    results = compare_on_env(env, act, initial_soc=initial_soc, trace=trace, optimum=optimum)
    results["policy"]["label"] = policy.description
    result = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "algorithm": policy.algorithm,
        "env": policy.env_class.__name__,
        "env_config": {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in config.items()},
        "task_id": env.task_id,
        "controller": policy.description,
        "adaptive_cycle": policy.cycle,
        "safety_shield": policy.surrogate is not None,
        "action_mode": policy.action_mode,
        "safety_margins_V_K": list(policy.safety_margins) if policy.surrogate is not None else None,
        "shield_kappa": (policy.shield_kappa if shield_kappa is None else shield_kappa) if policy.surrogate is not None else None,
        "initial_soc": initial_soc,
        "target_soc": env.target_soc,
        "results": results,
    }
    result["files"] = write_evaluation(
        out, result, trace, lambda frame, path: plot_traces(frame, path, labels=LABELS,
                                                            title=f"{policy.algorithm} on {env.task_id}"),
        "charging.png")
    return result


def format_comparison(results: dict[str, dict]) -> str:
    """Text table: one row per policy, charge time, ratio to look-ahead (and to the optimum
    when it was solved), limits, violations."""
    labels = {name: results[name].get("label", LABELS[name])
              + (f" {results[name]['cc_current_A']:.1f}A" if "cc_current_A" in results[name] else "")
              for name in POLICIES if name in results}
    w = max(24, *(len(label) + 2 for label in labels.values()))
    to_opt = "optimal" in results
    head = (f"{'controller':<{w}}{'charge min':>11}{'ratio':>7}" + (f"{'/opt':>7}" if to_opt else "")
            + f"{'final SOC':>10}{'max V':>8}{'max T K':>9}{'min plat V':>11}{'viol.':>6}")
    lines = [head]
    for name, label in labels.items():
        m = results[name]
        lines.append(
            f"{label:<{w}}{m['charge_time_min']:>11.1f}{m['ratio_to_lookahead']:>7.3f}"
            + (f"{m['ratio_to_optimum']:>7.3f}" if to_opt else "") + f"{m['final_soc']:>10.3f}"
            f"{m['max_cell_voltage_V']:>8.3f}{m['max_cell_temperature_K']:>9.2f}{m['min_plating_potential_V']:>11.3f}"
            f"{int(m['constraint_violations']):>6d}"
        )
    return "\n".join(lines)


__all__ = ["evaluate_checkpoint", "compare_on_env", "format_comparison", "merge_env_config"]
