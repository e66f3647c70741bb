"""Adaptation study: per ageing step, the adapted controller, the cycle-0 controller without
adaptation and SAC retrained from scratch, against the look-ahead on the same aged pack.

    python scripts/study_adaptation.py [--seeds 0 1] [--sac-iterations 32] [--out bench_results/study_adaptation]
    # arms side by side on 2 cores, then one table:
    python scripts/study_adaptation.py --seeds 0 --skip-sac --out A & \
        python scripts/study_adaptation.py --seeds 1 --skip-mbrl --out B; wait
    python scripts/study_adaptation.py --runs-from A/study_adaptation.json B/study_adaptation.json --out C
    # the adaptive cycles again on the same cycle 0 (e.g. after changing their settings):
    python scripts/study_adaptation.py --seeds 0 --skip-sac --cycle0-from A --out D

The adapted and cycle-0 controllers come from the pack_mbrl experiment itself (cycle 0 plus
its adaptive cycles, run with MBRL, one run per seed): after each ageing step the algorithm
charges the aged pack ``adaptive_real_episodes`` times, adapts G^ and then measures the
planner over G (adapted) and over G0 alone (cycle 0, no adaptation) against the look-ahead
on a local copy of the aged pack (``cycle/*`` metrics, ``MBRL.cycle_history``). "SAC from
scratch" trains model-free SAC (pack_mbrl with ``synthetic_ratio`` 0, the policy acting, no
surrogate, no adaptive cycles, the same look-ahead warm start) on each aged pack alone, with
the true SOH observed, and evaluates its deterministic policy. Charge time 10 -> 80 % SOC.
Writes JSON, a Markdown table and a PNG.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

_SAC = {"action_mode": "policy", "safety_shield": False, "synthetic_ratio": 0.0, "surrogate_min_updates": 0,
        "adaptive_cycles": 0}


def run_mbrl(spec, seed, out, cycle0_from=None):
    """pack_mbrl with its adaptive cycles, one seed; returns the per-cycle metrics. With
    ``cycle0_from`` (a folder of an earlier study) cycle 0 is restored from its checkpoint
    and only the adaptive cycles run (with the experiment's present settings)."""
    from rl_battery.experiments import build_algorithm_config

    config = build_algorithm_config(spec, experiment="pack_mbrl", project_root=out)
    config.debugging(seed=seed)
    config.training(offline_data_dir=str(out / "offline_data" / f"mbrl_seed{seed}"))
    total = config.cycle0_iterations + config.adaptive_cycles * config.adaptive_cycle_iterations
    algo = config.build_algo()
    start = time.time()
    try:
        if cycle0_from:
            algo.restore_from_path(str(Path(cycle0_from).resolve() / f"mbrl_seed{seed}_cycle0"))
        for it in range(int(algo.iteration), total):
            if it == config.cycle0_iterations and not cycle0_from:  # G0's run, for study_calibration.py --checkpoint
                algo.save_to_path(str(out / f"mbrl_seed{seed}_cycle0"))
            result = algo.train()
            if "cycle" in result and result["cycle"].get("index") == algo.cycle:
                print(f"mbrl seed {seed} it {it}: cycle {algo.cycle} "
                      f"{ {k: round(float(v), 4) for k, v in result['cycle'].items() if 'ratio' in k or 'soh' in k} }",
                      flush=True)
        history = [dict(h) for h in algo.cycle_history]
        reference = algo._reference.soh
    finally:
        algo.stop()
    return {"seed": seed, "cycles": history, "reference_soh": reference, "wall_s": time.time() - start}


def run_sac(spec, seed, age, iterations, out, env_class, pack):
    """Model-free SAC trained from scratch on the pinned pack aged by ``age`` cycles."""
    from rl_battery.envs import run_episode
    from rl_battery.evaluation.checkpoint_policy import deterministic_policy
    from rl_battery.experiments import build_algorithm_config

    env_config = dict(spec.env_config, pack_seed=pack[0], soh_mean=pack[1], age_cycles=age)
    config = build_algorithm_config(spec, experiment="pack_mbrl", project_root=out)
    config.environment(env_class, env_config=env_config)
    config.debugging(seed=seed)
    config.training(offline_data_dir=str(out / "offline_data" / f"sac_age{age:g}_seed{seed}"), **_SAC)
    algo = config.build_algo()
    start = time.time()
    try:
        for _ in range(iterations):
            result = algo.train()
        act = deterministic_policy(algo.get_module())
        episodes = result["env_runners"].get("num_episodes_lifetime", 0) + config.prefill_episodes
    finally:
        algo.stop()
    env = env_class(env_config)
    metrics = run_episode(env, lambda obs, info: act(obs), initial_soc=0.1)
    print(f"sac seed {seed} age {age}: {metrics['charge_time_min']} min, {metrics['constraint_violations']} viol", flush=True)
    return {"seed": seed, "age_cycles": age, "real_episodes": float(episodes), "wall_s": time.time() - start,
            **{k: float(metrics[k]) for k in ("charge_time_min", "constraint_violations", "final_soc",
                                              "max_cell_temperature_K", "max_cell_voltage_V")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--sac-iterations", type=int, default=32, help="SAC training iterations per aged pack")
    parser.add_argument("--skip-sac", action="store_true")
    parser.add_argument("--skip-mbrl", action="store_true")
    parser.add_argument("--cycle0-from", default=None,
                        help="an earlier study's --out folder: restore each seed's cycle 0 from it, run the adaptive cycles")
    parser.add_argument("--out", default="bench_results/study_adaptation")
    parser.add_argument("--runs-from", nargs="+", default=None, help="no training: join earlier study JSON files")
    args = parser.parse_args()
    out = Path(args.out).resolve()

    from rl_battery.evaluation.report import write_report
    from rl_battery.envs import ENV_CLASSES
    from rl_battery.experiments import load_experiment

    spec = load_experiment("pack_mbrl")
    env_class = ENV_CLASSES[spec.env]
    training = spec.config["training"]
    ages = [training["ageing_cycles_per_cycle"] * k for k in range(1, training["adaptive_cycles"] + 1)]
    pack = env_class(dict(spec.env_config)).pinned_pack
    if args.runs_from:
        loaded = [json.loads(Path(f).read_text()) for f in args.runs_from]
        mbrl = [r for d in loaded for r in d["mbrl"]]
        sac = [r for d in loaded for r in d["sac"]]
    else:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        mbrl = [] if args.skip_mbrl else [run_mbrl(spec, s, out, args.cycle0_from) for s in args.seeds]
        sac = [] if args.skip_sac else [run_sac(spec, s, a, args.sac_iterations, out, env_class, pack)
                                        for s in args.seeds for a in ages]
        ray.shutdown()

    table = []
    for k, age in enumerate(ages, start=1):
        cycles = [c for r in mbrl for c in r["cycles"] if c["index"] == k]
        sacs = [r for r in sac if r["age_cycles"] == age]
        la = float(np.mean([c["lookahead_charge_time_min"] for c in cycles])) if cycles else float("nan")
        row = {"cycle": k, "age_cycles": age, "lookahead_min": la, "seeds": len(cycles)}
        if cycles:
            row.update({
                "soh_true": float(np.mean([c["soh_true"] for c in cycles])),
                "soh_estimate_abs_error": float(np.mean([abs(c["soh_estimate_error"]) for c in cycles])),
                "real_episodes": float(np.mean([c["real_episodes"] for c in cycles])),
                "static_k1_rmse": float(np.mean([c["static_k1_rmse"] for c in cycles])),
                "combined_k1_rmse": float(np.mean([c.get("combined_k1_rmse", np.nan) for c in cycles])),
            })
            for arm in ("adapted", "static"):
                ratios = [c[f"{arm}_ratio_to_lookahead"] for c in cycles]
                row[f"{arm}_min"] = float(np.mean([c[f"{arm}_charge_time_min"] for c in cycles]))
                row[f"{arm}_ratio_mean"], row[f"{arm}_ratio_max"] = float(np.mean(ratios)), float(np.max(ratios))
                row[f"{arm}_violations"] = int(sum(c[f"{arm}_constraint_violations"] for c in cycles))
                row[f"{arm}_reached"] = int(sum(c[f"{arm}_final_soc"] >= 0.8 for c in cycles))
        if sacs:
            times = [r["charge_time_min"] for r in sacs]
            row.update({"sac_min": float(np.mean(times)), "sac_violations": int(sum(r["constraint_violations"] for r in sacs)),
                        "sac_reached": int(sum(r["final_soc"] >= 0.8 for r in sacs)),
                        "sac_real_episodes": float(np.mean([r["real_episodes"] for r in sacs]))})
            if np.isfinite(la):
                row["sac_ratio_mean"] = row["sac_min"] / la
        table.append(row)

    def cell(row, arm):
        if f"{arm}_min" not in row:
            return "-"
        ratio = ""  # a run without the MBRL arm has no look-ahead to divide by
        if f"{arm}_ratio_mean" in row:
            ratio = f" ({row[f'{arm}_ratio_mean']:.3f}" + (f" / {row[f'{arm}_ratio_max']:.3f}" if f"{arm}_ratio_max" in row else "") + ")"
        return f"{row[f'{arm}_min']:.1f}{ratio}, {row[f'{arm}_violations']} viol"

    lines = ["| cycle | age [EFC] | SOH true | SOH est. abs err | look-ahead | adapted (ratio mean / worst) | "
             "cycle 0, not adapted | SAC from scratch | G0 / G one-step RMSE |", "|---" * 9 + "|"]
    for row in table:
        lines.append("| " + " | ".join([
            str(row["cycle"]), f"{row['age_cycles']:g}", f"{row.get('soh_true', np.nan):.4f}",
            f"{row.get('soh_estimate_abs_error', np.nan):.4f}", f"{row['lookahead_min']:.1f} min",
            cell(row, "adapted"), cell(row, "static"), cell(row, "sac"),
            f"{row.get('static_k1_rmse', np.nan):.4f} / {row.get('combined_k1_rmse', np.nan):.4f}"]) + " |")
    markdown = "\n".join(lines)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = [r["age_cycles"] for r in table]
    for arm, label in (("adapted", "adapted (G0 + G^)"), ("static", "cycle 0, not adapted"), ("sac", "SAC from scratch")):
        y = [r.get(f"{arm}_ratio_mean", np.nan) for r in table]
        ax.plot(x, y, "o-", label=label)
    ax.axhline(1.0, color="k", ls="--", label="look-ahead")
    ax.axhline(1.05, color="k", ls=":", label="target 1.05")
    ax.set_xlabel("pack age [equivalent full cycles]")
    ax.set_ylabel("charge time / look-ahead, 10->80 % SOC")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    result = {"ages": ages, "pack": list(pack), "mbrl": mbrl, "sac": sac, "table": table}
    write_report(out, "study_adaptation", result, markdown, fig)
    print(markdown)


if __name__ == "__main__":
    main()
