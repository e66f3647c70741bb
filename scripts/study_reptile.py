"""Reptile adaptation study: meta weights against SAC from scratch on held-out cells.

    python scripts/study_reptile.py --reptile ray_results/cell_reptile/<trial>/<checkpoint> \
        [--sets Ecker2015 ORegan2022 NCA_Kim2011] [--k 0 1 2 5 10 30] [--seeds 0 1 2] \
        [--references-from bench_results/bench_cell/bench_cell.json] [--out bench_results/study_reptile]
    # the same study from the curves bench_cell.py already ran (no training):
    python scripts/study_reptile.py --curves-from bench_results/bench_cell/bench_cell.json

On each held-out set (not among the experiment's meta_tasks), the checkpoint's meta weights
and a fresh SAC of the same configuration each run online SAC for k episodes (the same
procedure and episodes, ``Reptile.adapt``; each arm with its own updates per env step, as
in ``bench_cell.py``); after each k the deterministic policy charges 10 -> 80 % SOC. Reported per k: charge time, ratio to the optimum, violations and
the adaptation episodes' return, mean over seeds. The target: Reptile after <= 3 episodes
as fast as SAC from scratch after 30. Writes study_reptile.json, .md and .png (atomically).
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reptile", default=None, help="a cell_reptile checkpoint folder")
    parser.add_argument("--curves-from", default=None, help="a bench_cell.json with both arms' curves: no training")
    parser.add_argument("--sets", nargs="+", default=None, help="default: the sets the experiment holds out")
    parser.add_argument("--k", type=int, nargs="+", default=[0, 1, 2, 5, 10, 30], help="both arms (own runs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--updates-per-step", type=float, default=4.0,
                        help="SAC updates per adaptation env step of Reptile (own runs; as bench_cell.py)")
    parser.add_argument("--sac-updates-per-step", type=float, default=8.0,
                        help="SAC updates per env step of SAC from scratch (own runs; as bench_cell.py)")
    parser.add_argument("--references-from", default=None, help="reuse the optimum of an earlier bench_cell.json")
    parser.add_argument("--out", default="bench_results/study_reptile")
    args = parser.parse_args()

    import matplotlib.pyplot as plt

    from rl_battery.evaluation.cell_benchmark import (charge_at, join_runs, reference_rows, reptile_curves,
                                                      scratch_curves, short_of_target)
    from rl_battery.evaluation.report import write_report
    from rl_battery.experiments import build_algorithm_config, load_experiment
    from rl_battery.sim import SUPPORTED_PARAMETER_SETS

    spec = load_experiment("cell_reptile")
    env_config = dict(spec.env_config)
    meta_tasks = spec.config["training"]["meta_tasks"]
    sets = args.sets or [s for s in SUPPORTED_PARAMETER_SETS if s not in meta_tasks]
    start = time.time()
    if args.curves_from:
        bench = json.loads(Path(args.curves_from).read_text())
        references, args.reptile = bench["references"], bench["reptile_checkpoint"]
        arms = {"reptile": bench["reptile_curves"], "sac": bench["sac_curves"]}
        ks = {"reptile": bench["k"], "sac": bench.get("sac_k", bench["k"])}
        args.seeds = bench["seeds"]
        # each arm's updates as the file used them (files from before the per-arm option had one)
        alike = join_runs([bench])
        args.updates_per_step, args.sac_updates_per_step = alike["updates_per_step"], alike["sac_updates_per_step"]
    else:
        if not args.reptile:
            raise SystemExit("give --reptile CHECKPOINT or --curves-from bench_cell.json")
        if args.references_from:
            references = json.loads(Path(args.references_from).read_text())["references"]
        else:
            references = {s: reference_rows(s, env_config) for s in sets}
        ks = {"reptile": args.k, "sac": args.k}
        arms = {"reptile": reptile_curves(args.reptile, sets, args.k, args.seeds, env_config,
                                          updates_per_step=args.updates_per_step),
                "sac": scratch_curves(build_algorithm_config(spec, experiment="cell_reptile",
                                                             project_root=Path(args.out)),
                                      sets, args.k, args.seeds, env_config,
                                      updates_per_step=args.sac_updates_per_step)}
    missing = [s for s in sets if s not in references or any(s not in curves for curves in arms.values())]
    if missing:
        raise SystemExit(f"no references or curves for {missing}")

    target = float(env_config.get("target_soc", 0.8))
    table = []
    for name in sets:
        opt = references[name]["optimal"]["charge_time_min"]
        for k in sorted(set(ks["reptile"]) | set(ks["sac"])):
            row = {"set": name, "k": k, "optimal_min": opt, "lookahead_min": references[name]["lookahead"]["charge_time_min"]}
            for arm, curves in arms.items():
                at = charge_at(curves[name], k, opt, target) or {}
                row.update({f"{arm}_{key}": at.get(field) for key, field in (
                    ("min", "charge_time_min"), ("ratio", "ratio"), ("worst_ratio", "worst_ratio"),
                    ("violations", "violations"), ("min_final_soc", "min_final_soc"), ("return", "episode_return"))})
            table.append(row)
    result = {"reptile_checkpoint": args.reptile, "sets": sets, "meta_tasks": meta_tasks, "k": ks,
              "updates_per_step": args.updates_per_step, "sac_updates_per_step": args.sac_updates_per_step,
              "seeds": args.seeds, "env_config": env_config, "references": {s: references[s] for s in sets},
              "curves": {arm: {s: curves[s] for s in sets} for arm, curves in arms.items()},
              "table": table, "wall_time_s": time.time() - start}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    lines = ["Deterministic charge 10 -> 80 % SOC after k online-SAC episodes on a held-out set: ratio to "
             "the optimum, mean over the seeds run to k (worst); v = constraint violations summed over seeds; "
             "R = return; SOC x = the charge ended at x, below the target.", "",
             "| set | k | Reptile ratio | Reptile v | Reptile R | SAC-from-scratch ratio | SAC v | SAC R |",
             "|---|---|---|---|---|---|---|---|"]
    def cells(r, arm):
        if r[f"{arm}_ratio"] is None:
            return "-", "-", "-"
        short = short_of_target(r[f"{arm}_min_final_soc"], env_config.get("target_soc", 0.8))
        return (f"{r[f'{arm}_ratio']:.3f} ({r[f'{arm}_worst_ratio']:.3f})" + short, str(r[f"{arm}_violations"]),
                f"{r[f'{arm}_return']:.1f}")

    for r in table:
        lines.append(f"| {r['set']} | {r['k']} | " + " | ".join(cells(r, "reptile") + cells(r, "sac")) + " |")
    markdown = "\n".join(lines)

    fig, axes = plt.subplots(1, len(sets), figsize=(4 * len(sets), 3.6), squeeze=False)
    for ax, name in zip(axes[0], sets):
        rows = [r for r in table if r["set"] == name]
        for arm, label in (("reptile", "Reptile (meta weights)"), ("sac", "SAC from scratch")):
            points = [(r["k"], r[f"{arm}_ratio"]) for r in rows if r[f"{arm}_ratio"] is not None]
            ax.plot(*zip(*points), "o-", label=label)
        ax.axhline(rows[0]["lookahead_min"] / rows[0]["optimal_min"], color="grey", ls="--", label="look-ahead")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("adaptation episodes k")
    axes[0][0].set_ylabel("charge time / optimum")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    write_report(out, "study_reptile", result, markdown, fig)
    print(markdown)


if __name__ == "__main__":
    main()
