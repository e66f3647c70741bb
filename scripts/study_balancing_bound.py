"""How far can any switching policy cut the SOC variance below rule-based balancing? A certified
lower bound per held-out pack (rl_battery.baselines.balancing_bound) next to the tuned rule
and no balancing, on the benchmark's packs and profiles, for one or more shunt resistances.

    python scripts/study_balancing_bound.py [--episodes 10] [--shunt-ohms 6 3 1.5] \
        [--benchmark bench_results/bench_balancing/bench_balancing.json] [--out bench_results/study_balancing_bound]

The cells and load are those of ``bench_balancing.py``: ``balance_ppo``'s env_config without
its training-only keys, pack seeds 10000... per profile, the rule's threshold tuned per profile
(and per shunt resistance) on pack seeds 20000-20004. The published study's variance cut
(-69.4 %, a ratio of 0.306 to the rule) is reachable on a profile only if the mean bound is
at most 0.306 x the rule's mean variance. With ``--benchmark``, each algorithm's mean
variance ratio from a ``bench_balancing.json`` (6 ohm) is listed alongside. Writes JSON, a
Markdown table and a PNG, atomically.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=10, help="held-out packs per profile (default 10)")
    parser.add_argument("--profiles", nargs="+", default=["discharge-rest-charge", "charge-rest-discharge"])
    parser.add_argument("--shunt-ohms", nargs="+", type=float, default=[6.0, 3.0, 1.5],
                        help="shunt resistances [Ohm] (default 6, the task's, then 2x and 4x the current)")
    parser.add_argument("--benchmark", default=None, help="a bench_balancing.json whose variance ratios to list")
    parser.add_argument("--out", default="bench_results/study_balancing_bound")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rl_battery.baselines.balancing import (NoBalancing, RuleBasedBalancing, balancing_env, evaluate_policy,
                                                tune_rule_based)
    from rl_battery.baselines.balancing_bound import soc_variance_lower_bound
    from rl_battery.evaluation.balancing import (EVAL_PACK_SEED0, PUBLISHED_RATIOS, TUNE_PACK_SEEDS,
                                                 evaluation_env_config)
    from rl_battery.evaluation.report import write_report
    from rl_battery.experiments import load_experiment

    started = time.time()
    base_config = evaluation_env_config(load_experiment("balance_ppo").env_config, keep_policy_view=False)
    seeds = [EVAL_PACK_SEED0 + k for k in range(args.episodes)]
    published = PUBLISHED_RATIOS["variance_ratio"]
    rows = []
    for ohms in args.shunt_ohms:
        env_config = {**base_config, "shunt_resistance_Ohm": ohms}
        for profile in args.profiles:
            threshold, _ = tune_rule_based(env_config, profile, TUNE_PACK_SEEDS)
            rule = [r["soc_variance_mean"] for r in
                    evaluate_policy(env_config, lambda env, th=threshold: RuleBasedBalancing(env, th), seeds, profile)]
            none = [r["soc_variance_mean"] for r in evaluate_policy(env_config, NoBalancing, seeds, profile)]
            bounds = []
            for seed in seeds:
                env = balancing_env(env_config, profile, seed)
                env.reset(seed=seed)
                bounds.append(soc_variance_lower_bound(env))
            bound = float(np.mean([b.lower_bound for b in bounds]))
            row = {"shunt_resistance_Ohm": ohms, "profile": profile, "rule_threshold": threshold,
                   "no_balancing_variance": float(np.mean(none)), "rule_variance": float(np.mean(rule)),
                   "bound_variance": bound, "bound_ratio_to_rule": bound / float(np.mean(rule)),
                   "per_pack_bound_ratio": [b.lower_bound / r for b, r in zip(bounds, rule)],
                   "max_shunt_current_A": float(np.mean([b.max_shunt_current_A for b in bounds])),
                   "relaxed_value": float(np.mean([b.relaxed_value for b in bounds])),
                   "published_variance_ratio": published}
            row["published_reachable"] = row["bound_ratio_to_rule"] <= published
            rows.append(row)
            print(f"{ohms:g} ohm {profile}: bound / rule {row['bound_ratio_to_rule']:.3f} "
                  f"(packs {min(row['per_pack_bound_ratio']):.3f}-{max(row['per_pack_bound_ratio']):.3f})", flush=True)
    learned = {}
    if args.benchmark:
        bench = json.loads(Path(args.benchmark).read_text())
        learned = {name: {profile: entry["mean"]["variance_ratio"] for profile, entry in per_profile.items()}
                   for name, per_profile in bench["algorithms"].items()}
    result = {"episodes": args.episodes, "pack_seeds": seeds, "env_config": base_config, "rows": rows,
              "benchmark_variance_ratios": learned, "wall_time_s": time.time() - started}

    lines = ["| shunt [Ohm] | profile | no balancing / rule | certified bound / rule (packs) | published | "
             "reachable |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['shunt_resistance_Ohm']:g} | {r['profile']} | "
                     f"{r['no_balancing_variance'] / r['rule_variance']:.2f} | {r['bound_ratio_to_rule']:.3f} "
                     f"({min(r['per_pack_bound_ratio']):.3f}-{max(r['per_pack_bound_ratio']):.3f}) | "
                     f"{published} | {'yes' if r['published_reachable'] else 'no'} |")
    for name, ratios in learned.items():
        lines.append("\n" + f"{name} (6 ohm, bench_balancing.json) variance / rule: "
                     + ", ".join(f"{p} {v:.3f}" for p, v in ratios.items()))
    markdown = "\n".join(lines)

    figure, ax = plt.subplots(figsize=(7, 4))
    for profile in args.profiles:
        sel = [r for r in rows if r["profile"] == profile]
        ax.plot([r["shunt_resistance_Ohm"] for r in sel], [r["bound_ratio_to_rule"] for r in sel], "o-",
                label=f"certified bound / rule, {profile}")
    ax.axhline(published, color="k", ls="--", label=f"published TRPO ({published})")
    for name, ratios in learned.items():
        for profile, value in ratios.items():
            ax.plot([6.0], [value], "x", ms=9, label=f"{name}, {profile}")
    ax.set_xlabel("shunt resistance [Ohm]")
    ax.set_ylabel("mean SOC variance / rule-based")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=7)
    figure.tight_layout()
    paths = write_report(args.out, "study_balancing_bound", result, markdown, figure)
    print(markdown)
    print({k: str(v) for k, v in paths.items()})


if __name__ == "__main__":
    main()
