"""Benchmark the pack task: learned policies (MBRL and model-free SAC, several seeds) against the
best feasible CC-CV, CC-CT-CV and the look-ahead reference on the four README packs and two
held-out packs. Writes JSON, a Markdown table and a learning-curve PNG.

    python scripts/bench_pack.py [--seeds 0 1 2] [--iterations 48] [--eval-every 8] [--out bench_results/bench_pack]
    # seeds side by side, then one table:
    python scripts/bench_pack.py --seeds 0 --out A & python scripts/bench_pack.py --seeds 1 --out B; wait
    python scripts/bench_pack.py --runs-from A/bench_pack.json B/bench_pack.json --out C

Every learner comes from tune_configs/pack_mbrl.yaml (one policy over a distribution of packs,
warm-started from look-ahead episodes) with overrides (LEARNERS): "MBRL+plan" is the
experiment itself (the surrogate planner acts); "MBRL" lets the SAC policy act; "SAC" is
the same with synthetic_ratio 0 (no surrogate), so MBRL and SAC differ only in the
synthetic data; "MBRL+shield" puts the policy behind the surrogate safety layer (the
controller is policy + shield), and "SAC+shield" uses the surrogate only as that layer.
Charge time 10 -> 80 % SOC of the deterministic controller; ratios are to the look-ahead on
the same pack. Each run's final algorithm is saved under OUT/checkpoints/LEARNER_seedN.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

#: (pack seed, mean SOH): the README's four packs, then two held out of training.
PACKS = [(0, 0.95), (1, 0.95), (0, 0.85), (1, 0.85), (100, 0.9), (101, 0.9)]
HELD_OUT_SEEDS = {100, 101}
#: Learner name -> MBRLConfig.training overrides of the pack_mbrl experiment (which is
#: "MBRL+plan"); each arm sets every knob that tells the arms apart.
_POLICY = {"action_mode": "policy", "safety_shield": False, "surrogate_min_updates": 0}
_SHIELD = {"action_mode": "policy", "safety_shield": True, "shield_kappa": 1.0, "surrogate_min_updates": 0,
           "safety_margin_V": 0.0, "safety_margin_K": 0.0}
LEARNERS = {name: {**arm, "adaptive_cycles": 0} for name, arm in {  # cycle 0 only: packs that do not age
    "MBRL": _POLICY, "SAC": {**_POLICY, "synthetic_ratio": 0.0}, "MBRL+shield": _SHIELD,
    "SAC+shield": {**_SHIELD, "synthetic_ratio": 0.0}, "MBRL+plan": {}}.items()}


def pack_env(env_class, env_config, seed, soh):
    return env_class(dict(env_config, pack_seed=seed, soh_mean=soh))


#: Shield margins (predicted standard deviations) also tried after training, evaluation only.
KAPPAS = (0.0, 0.5, 1.0, 2.0, 3.0)


def evaluate_policy(algo, env_class, env_config, packs, kappa=None, bias_correction=None) -> list[dict]:
    """The algorithm's deterministic controller (behind its shield, if it has one, with margin
    ``kappa``; the planner with or without ``bias_correction``; defaults: as trained) on packs."""
    from rl_battery.envs import run_episode
    from rl_battery.evaluation.checkpoint_policy import deterministic_policy, learned_controller

    act = deterministic_policy(algo.get_module())
    cfg = algo.config
    rows = []
    for s, h in packs:
        env = pack_env(env_class, env_config, s, h)
        if cfg.safety_shield or cfg.action_mode == "plan":
            control = learned_controller(
                act, algo.model, env, action_mode=cfg.action_mode, kappa=cfg.shield_kappa if kappa is None else kappa,
                margins=(cfg.safety_margin_V, cfg.safety_margin_K),
                bias_correction=cfg.planner_bias_correction if bias_correction is None else bias_correction)
        else:
            def control(obs, info):
                return act(obs)
        rows.append(run_episode(env, control, initial_soc=0.1))
    return rows


def train(spec, *, label, seed, iterations, eval_every, out, env_class, env_config, curve_packs):
    from rl_battery.experiments import build_algorithm_config

    config = build_algorithm_config(spec, experiment="pack_mbrl", project_root=out)
    config.debugging(seed=seed)
    config.training(offline_data_dir=str(out / "offline_data" / f"{label}_seed{seed}"), **LEARNERS[label])
    algo = config.build_algo()
    curve, start = [], time.time()
    try:
        for it in range(0, iterations + 1):  # iteration 0: the controller after the warm start alone
            result = algo.train() if it else {"env_runners": {}}
            if it % eval_every == 0 or it == iterations:
                rows = evaluate_policy(algo, env_class, env_config, curve_packs)
                episodes = result["env_runners"].get("num_episodes_lifetime", 0) + config.prefill_episodes
                curve.append({"iteration": it, "real_episodes": float(episodes),
                              "charge_time_min": float(np.mean([r["charge_time_min"] for r in rows])),
                              "violations": float(np.sum([r["constraint_violations"] for r in rows])),
                              "final_soc": float(np.mean([r["final_soc"] for r in rows]))})
                print(f"{label} seed {seed} it {it}: {curve[-1]}", flush=True)
        final = evaluate_policy(algo, env_class, env_config, PACKS)
        by_kappa = ({str(k): evaluate_policy(algo, env_class, env_config, PACKS, kappa=k) for k in KAPPAS}
                    if algo.config.safety_shield or algo.config.action_mode == "plan" else {})
        if algo.config.action_mode == "plan":  # the trained kappa with the bias correction switched
            flipped = not algo.config.planner_bias_correction
            by_kappa[f"{algo.config.shield_kappa}, bias correction {'on' if flipped else 'off'}"] = \
                evaluate_policy(algo, env_class, env_config, PACKS, bias_correction=flipped)
        # Kept so that other controller settings can be evaluated without training again
        # (`rllib evaluate CHECKPOINT --env-config '{"pack_seed": 100, "soh_mean": 0.9}'`).
        algo.save_to_path(str(out / "checkpoints" / f"{label}_seed{seed}"))
    finally:
        algo.stop()
    return {"label": label, "seed": seed, "curve": curve, "final": final, "final_by_kappa": by_kappa,
            "wall_s": time.time() - start}


def episodes_to_within(curve, fraction=0.05) -> float:
    """Real episodes at the first evaluation from which every later one is within
    ``fraction`` of the final charge time, reaches the target and has no violation."""
    final = curve[-1]["charge_time_min"]

    def good(point):
        return (point["final_soc"] >= 0.8 and point["violations"] == 0
                and abs(point["charge_time_min"] - final) <= fraction * final)

    for i, point in enumerate(curve):
        if all(good(p) for p in curve[i:]):
            return point["real_episodes"]
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=48)
    parser.add_argument("--eval-every", type=int, default=8)
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=list(LEARNERS))
    parser.add_argument("--out", default="bench_results/bench_pack")
    parser.add_argument("--references-from", default=None,
                        help="reuse the reference-controller results of an earlier bench_pack.json (same packs)")
    parser.add_argument("--runs-from", nargs="+", default=None,
                        help="no training: summarize the runs of earlier bench_pack.json files (e.g. one per "
                             "seed, run side by side on 2 cores)")
    args = parser.parse_args()
    out = Path(args.out).resolve()

    import ray

    from rl_battery.evaluation.report import write_report
    from rl_battery.envs import ENV_CLASSES
    from rl_battery.evaluation import compare_on_env
    from rl_battery.experiments import load_experiment

    spec = load_experiment("pack_mbrl")
    env_class = ENV_CLASSES[spec.env]
    env_config = dict(spec.env_config)
    loaded = [json.loads(Path(f).read_text()) for f in args.runs_from or []]
    if args.references_from or loaded:
        references = json.loads(Path(args.references_from).read_text())["references"] if args.references_from \
            else loaded[0]["references"]
    else:
        references = {f"{s}/{h}": compare_on_env(pack_env(env_class, env_config, s, h), None, initial_soc=0.1)
                      for s, h in PACKS}
    print("references:", json.dumps({k: {n: m["charge_time_min"] for n, m in v.items()} for k, v in references.items()}))

    if loaded:
        runs = [r for result in loaded for r in result["runs"]]
        args.learners = list(dict.fromkeys(r["label"] for r in runs))
        args.seeds = sorted({r["seed"] for r in runs})
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        runs = []
        for learner in args.learners:
            for seed in args.seeds:
                runs.append(train(spec, label=learner, seed=seed, iterations=args.iterations,
                                  eval_every=args.eval_every, out=out, env_class=env_class, env_config=env_config,
                                  curve_packs=PACKS[:2]))
        ray.shutdown()

    table = []
    for i, (s, h) in enumerate(PACKS):
        ref = references[f"{s}/{h}"]
        la = ref["lookahead"]["charge_time_min"]
        row = {"pack": f"seed {s}, SOH {h}" + (" (held out)" if s in HELD_OUT_SEEDS else ""),
               **{f"{n}_min": ref[n]["charge_time_min"] for n in ("lookahead", "cc_ct_cv", "cccv")},
               "cccv_ratio": ref["cccv"]["ratio_to_lookahead"], "cc_ct_cv_ratio": ref["cc_ct_cv"]["ratio_to_lookahead"],
               "reference_violations": sum(ref[n]["constraint_violations"] for n in ("lookahead", "cc_ct_cv", "cccv"))}
        for learner in args.learners:
            finals = [r["final"][i] for r in runs if r["label"] == learner]
            times = np.array([f["charge_time_min"] for f in finals])
            row[f"{learner}_min_mean"], row[f"{learner}_min_std"] = float(times.mean()), float(times.std())
            row[f"{learner}_ratio_mean"] = float(times.mean() / la)
            row[f"{learner}_ratio_max"] = float(times.max() / la)
            row[f"{learner}_violations"] = int(sum(f["constraint_violations"] for f in finals))
            row[f"{learner}_reached"] = int(sum(f["final_soc"] >= 0.8 for f in finals))
            row[f"{learner}_max_T_K"] = float(max(f["max_cell_temperature_K"] for f in finals))
        table.append(row)
    kappa_summary = {}
    for learner in args.learners:
        shielded = [r for r in runs if r["label"] == learner and r["final_by_kappa"]]
        for k in shielded[0]["final_by_kappa"] if shielded else ():  # the margins these runs were swept over
            rows = [(f, references[f"{s}/{h}"]["lookahead"]["charge_time_min"]) for r in shielded
                    for f, (s, h) in zip(r["final_by_kappa"][k], PACKS)]
            kappa_summary[f"{learner} kappa={k}"] = {
                "ratio_mean": float(np.mean([f["charge_time_min"] / la for f, la in rows])),
                "ratio_max": float(np.max([f["charge_time_min"] / la for f, la in rows])),
                "violations": int(sum(f["constraint_violations"] for f, _ in rows)),
                "reached": int(sum(f["final_soc"] >= 0.8 for f, _ in rows)), "episodes": len(rows)}
    efficiency = {learner: [episodes_to_within(r["curve"]) for r in runs if r["label"] == learner] for learner in args.learners}
    # The data-efficiency target compares the mean over seeds with plain SAC's.
    efficiency_vs_sac = ({l: float(np.mean(e) / np.mean(efficiency["SAC"])) for l, e in efficiency.items() if l != "SAC"}
                         if "SAC" in efficiency else {})
    # Per learner, from the curves: joined runs may differ in length (e.g. SAC run longer, to see when it settles).
    iterations = {l: max(int(p["iteration"]) for r in runs if r["label"] == l for p in r["curve"]) for l in args.learners}
    result = {"seeds": args.seeds, "iterations": iterations, "references": references, "runs": runs,
              "table": table, "real_episodes_to_within_5pct": efficiency,
              "real_episodes_to_within_5pct_mean_over_sac": efficiency_vs_sac, "shield_kappa_sweep": kappa_summary}

    lines = ["| pack | look-ahead | CC-CT-CV (ratio) | CC-CV (ratio) | "
             + " | ".join(f"{l} mean +- std (ratio mean / worst) | {l} violations" for l in args.learners) + " |",
             "|---" * (4 + 2 * len(args.learners)) + "|"]
    for row in table:
        cells = [row["pack"], f"{row['lookahead_min']:.1f} min", f"{row['cc_ct_cv_min']:.1f} ({row['cc_ct_cv_ratio']:.3f})",
                 f"{row['cccv_min']:.1f} ({row['cccv_ratio']:.3f})"]
        for l in args.learners:
            cells += [f"{row[f'{l}_min_mean']:.1f} +- {row[f'{l}_min_std']:.1f} ({row[f'{l}_ratio_mean']:.3f} / "
                      f"{row[f'{l}_ratio_max']:.3f}), reached {row[f'{l}_reached']}/{len(args.seeds)}",
                      str(row[f"{l}_violations"])]
        lines.append("| " + " | ".join(cells) + " |")
    markdown = "\n".join(lines)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in runs:
        ax.plot([p["real_episodes"] for p in r["curve"]], [p["charge_time_min"] for p in r["curve"]],
                color=f"C{list(LEARNERS).index(r['label'])}", alpha=0.8, label=f"{r['label']} seed {r['seed']}")
    la_mean = np.mean([references[f"{s}/{h}"]["lookahead"]["charge_time_min"] for s, h in PACKS[:2]])
    ax.axhline(la_mean, color="k", ls="--", label="look-ahead")
    ax.set_xlabel("real episodes (incl. warm start)")
    ax.set_ylabel("charge time 10->80 % [min], 2 packs")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_report(out, "bench_pack", result, markdown, fig)
    print(markdown)
    print(json.dumps({"real_episodes_to_within_5pct": efficiency, "real_episodes_to_within_5pct_mean_over_sac":
                      efficiency_vs_sac, "shield_kappa_sweep": kappa_summary}, indent=1))


if __name__ == "__main__":
    main()
