"""Evaluate a checkpoint on its real env against the best CC-CV: metrics JSON, trace CSV, PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rl_battery.baselines.cccv import CCCVPolicy, best_cccv, run_episode
from rl_battery.data.atomic import atomic_path
from rl_battery.envs.metrics import METRIC_KEYS
from rl_battery.evaluation.checkpoint_policy import load_checkpoint_policy
from rl_battery.evaluation.plots import plot_traces


def _trace_row(label: str, episode: int, info: dict) -> dict:
    soc = np.asarray(info["cell_soc"])
    return {
        "policy": label,
        "episode": episode,
        "time_min": info["time_s"] / 60.0,
        "current_A": info["pack_current_A"],
        "max_cell_voltage_V": info["max_cell_voltage_V"],
        "max_cell_temperature_K": info["max_cell_temperature_K"],
        "soc": info["soc"],
        "soc_spread": float(soc.max() - soc.min()),
        "min_plating_potential_V": info["min_plating_potential_V"],
        "reward": info["reward"],
    }


def _mean_metrics(rows: list[dict]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in METRIC_KEYS}


def evaluate_checkpoint(checkpoint: str | Path, *, out_dir: str | Path | None = None, episodes: int = 1,
                        initial_soc: float = 0.1, cccv_sweep: int = 6) -> dict:
    """Run ``episodes`` deterministic episodes of the checkpoint's policy from
    ``initial_soc`` and the best CC-CV (sweep of ``cccv_sweep`` CC currents) on the same env.

    Writes ``metrics.json``, ``trace.csv`` and ``charging.png`` to ``out_dir`` (default
    ``<checkpoint>/evaluation``), atomically. Returns the metrics dict.
    """
    policy = load_checkpoint_policy(checkpoint)
    env = policy.env_class(policy.env_config)
    out = Path(out_dir) if out_dir else Path(checkpoint) / "evaluation"
    out.mkdir(parents=True, exist_ok=True)

    trace, rl_rows = [], []
    for ep in range(int(episodes)):
        m = run_episode(env, lambda obs, info: policy.act(obs), initial_soc=initial_soc,
                        on_step=lambda info, ep=ep: trace.append(_trace_row("rl", ep, info)))
        rl_rows.append(m)

    lo, hi = env.min_current_A, env.max_current_A
    sweep = np.linspace(lo + 0.25 * (hi - lo), hi, int(cccv_sweep))
    best_current, cccv_metrics, sweep_rows = best_cccv(env, sweep, initial_soc=initial_soc)
    baseline = CCCVPolicy(env, best_current)
    run_episode(env, baseline, initial_soc=initial_soc, on_step=lambda info: trace.append(_trace_row("cccv", 0, info)))

    result = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "algorithm": policy.algorithm,
        "env": policy.env_class.__name__,
        "env_config": {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in policy.env_config.items()},
        "task_id": env.task_id,
        "initial_soc": initial_soc,
        "target_soc": env.target_soc,
        "episodes": int(episodes),
        "policy": _mean_metrics(rl_rows),
        "cccv": {"cc_current_A": best_current, **cccv_metrics},
        "cccv_sweep": sweep_rows,
    }
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    frame = pd.DataFrame(trace)
    with atomic_path(out / "trace.csv") as tmp:
        frame.to_csv(tmp, index=False)
    plot_traces(frame, out / "charging.png", title=f"{policy.algorithm} vs CC-CV ({best_current:.1f} A) on {env.task_id}")
    result["files"] = {name: str(out / name) for name in ("metrics.json", "trace.csv", "charging.png")}
    return result


def format_comparison(result: dict) -> str:
    """Side-by-side text table of policy and CC-CV metrics."""
    lines = [f"{'metric':<26}{'policy':>12}{'CC-CV':>12}"]
    for key in METRIC_KEYS:
        lines.append(f"{key:<26}{result['policy'][key]:>12.4g}{result['cccv'][key]:>12.4g}")
    lines.append(f"(CC-CV: best of the sweep, CC phase {result['cccv']['cc_current_A']:.2f} A)")
    return "\n".join(lines)
