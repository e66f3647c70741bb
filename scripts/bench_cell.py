"""Benchmark the cell task per chemistry: references, the optimum, SAC and adapted Reptile.

    python scripts/bench_cell.py --reptile ray_results/cell_reptile/<trial>/<checkpoint> \
        [--sets ...] [--seeds 0 1 2] [--k 0 1 2 3 5 10] [--sac-k 0 1 2 3 5 10 30] [--updates-per-step 4] \
        [--sac-updates-per-step 8] [--gate] [--workers 2] [--references-from bench_results/bench_cell/bench_cell.json] \
        [--env-config JSON] [--out bench_results/bench_cell]
    # seeds side by side (the references once), then one table:
    python scripts/bench_cell.py --skip-learners --out R
    python scripts/bench_cell.py --reptile CKPT --seeds 0 --references-from R/bench_cell.json --out A &
    python scripts/bench_cell.py --reptile CKPT --seeds 1 --references-from R/bench_cell.json --out B; wait
    python scripts/bench_cell.py --runs-from A/bench_cell.json B/bench_cell.json --out C
    # runs of different --sets or k lists join the same way; a set not run at some k shows "-"

For each of the eight PyBaMM sets, on the env of tune_configs/cell_reptile.yaml (0.2C-1.5C,
the set's voltage cut-off, 318.15 K, plating at the separator >= 0 V as a constraint),
charging 10 -> 80 % SOC: the best feasible CC-CV and CC-CT-CV (bisection), the look-ahead,
the optimum (collocation + IPOPT, replayed on the simulator), and after k episodes of
online SAC on the set (``Reptile.adapt``: one episode, then SAC updates per env step of
it, ``--updates-per-step`` for Reptile and ``--sac-updates-per-step`` for SAC from scratch,
each arm's faster setting) from the Reptile checkpoint's meta weights and from scratch (a
fresh SAC of the same configuration). ``--gate``: both arms adapt gated (each deploys the
best of its charges after 0..k episodes; ``Reptile.begin_adaptation``).
``--env-config`` benchmarks a variant of that env (its keys merged over the experiment's;
a Reptile checkpoint must have been trained on the same env; runs of different env configs
do not join). Every charge time is also given as a ratio to the optimum. Learned arms:
mean over seeds, with the worst seed. ``scripts/study_reptile.py --curves-from`` reads the same JSON.
Writes bench_cell.json, bench_cell.md and bench_cell.png (atomically).
"""

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _references(args):
    from rl_battery.evaluation.cell_benchmark import reference_rows

    name, env_config = args
    start = time.time()
    rows = reference_rows(name, env_config)
    print(f"{name}: references in {time.time() - start:.0f} s; optimum {rows['optimal']['status']}", flush=True)
    return name, rows


def _seed_keys(curves: dict) -> dict:
    """Seeds as strings, as JSON object keys come back, so joined runs match."""
    return {name: {str(seed): rows for seed, rows in by_seed.items()} for name, by_seed in curves.items()}


def _join(paths: list[str]) -> dict:
    """``join_runs`` of the files; a mismatch exits with its message."""
    from rl_battery.evaluation.cell_benchmark import join_runs

    try:
        return join_runs([json.loads(Path(p).read_text()) for p in paths])
    except ValueError as error:
        raise SystemExit(f"{paths}: {error}") from None


def _table(result: dict, arms: list) -> list[dict]:
    """One row per set: the references' times and ratios, each arm's at each k."""
    from rl_battery.evaluation.cell_benchmark import REFERENCE_ARMS, charge_at

    sets, references = result["sets"], result["references"]
    target = float(result["env_config"].get("target_soc", 0.8))
    table = []
    for name in sets:
        ref = references[name]
        opt = ref["optimal"]["charge_time_min"]
        row = {"set": name, "split": "train" if name in result["meta_tasks"] else "held-out",
               **{f"{arm}_min": ref[arm]["charge_time_min"] for arm in REFERENCE_ARMS},
               "reference_violations": int(sum(ref[a]["constraint_violations"] for a in REFERENCE_ARMS)),
               "optimal_status": ref["optimal"]["status"]}
        for arm in ("cccv", "cc_ct_cv", "lookahead"):
            row[f"{arm}_ratio"] = row[f"{arm}_min"] / opt
        for arm, _, curves, ks in arms:
            for k in ks:
                at = charge_at(curves.get(name, {}), k, opt, target)
                if at is not None:
                    row.update({f"{arm}_k{k}_min": at["charge_time_min"], f"{arm}_k{k}_ratio": at["ratio"],
                                f"{arm}_k{k}_worst_ratio": at["worst_ratio"],
                                f"{arm}_k{k}_violations": at["violations"], f"{arm}_k{k}_min_soc": at["min_final_soc"]})
        table.append(row)
    return table


def _markdown_rows(result: dict, arms: list, table: list[dict], shown: dict) -> list[str]:
    from rl_battery.evaluation.cell_benchmark import short_of_target

    references = result["references"]
    head = ["set", "split", "CC-CV", "CC-CT-CV", "look-ahead", "optimum [min]"]
    head += [f"{label} k={k}" for arm, label, _, _ in arms for k in shown[arm]]
    target = float(result["env_config"].get("target_soc", 0.8))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table:
        ref = references[row["set"]]
        cells = [row["set"], row["split"]]
        cells += [f"{row[f'{arm}_ratio']:.3f}" + short_of_target(ref[arm]["final_soc"], target)
                  for arm in ("cccv", "cc_ct_cv", "lookahead")]
        cells.append(f"{row['optimal_min']:.1f} ({row['optimal_status']})"
                     + short_of_target(ref["optimal"]["final_soc"], target))
        for arm, _, _, _ in arms:
            for k in shown[arm]:
                if f"{arm}_k{k}_ratio" not in row:
                    cells.append("-")
                    continue
                v = row[f"{arm}_k{k}_violations"]
                cells.append(f"{row[f'{arm}_k{k}_ratio']:.3f} ({row[f'{arm}_k{k}_worst_ratio']:.3f})"
                             + (f" {v}v" if v else "") + short_of_target(row[f"{arm}_k{k}_min_soc"], target))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report(result: dict, out: Path) -> str:
    """Table, Markdown and PNG from a result; writes bench_cell.{json,md,png}. A gated
    result (``--gate``) gets a second table of the same runs without the gate. Both end
    with the targets, met or missed (``target_verdicts``: Reptile at k = 10, SAC from
    scratch at k = 30, held out Reptile at k = 3), also under ``"targets"`` in the JSON."""
    import matplotlib.pyplot as plt

    from rl_battery.evaluation.cell_benchmark import target_lines, target_verdicts, ungated
    from rl_battery.evaluation.report import write_report

    sets = result["sets"]
    arms = [("reptile", "Reptile", result["reptile_curves"], result["k"]),
            ("sac", "SAC from scratch", result["sac_curves"], result["sac_k"])]
    arms = [a for a in arms if a[2]]
    gated = bool(result.get("gate"))
    table = result["table"] = _table(result, arms)
    shown = {arm: [k for k in ks if k in (0, 3, 10, 30)] or ks for arm, _, _, ks in arms}
    lines = ["Charge time 10 -> 80 % SOC as a ratio to the optimum; learned arms after k online-SAC episodes on "
             "the set, mean over the seeds run to k (worst); v = constraint violations summed over seeds; "
             "SOC x = the charge (the lowest over seeds) ended at x, below the target, by the safety cut-off "
             "or the step limit. A ratio below 1 with violations is not a faster safe charge."]
    ups = {"reptile": result.get("updates_per_step"), "sac": result.get("sac_updates_per_step")}
    said = [f"{label} {ups[arm]:g}" for arm, label, _, _ in arms if ups[arm] is not None]
    if said:
        lines[0] += " SAC updates per env step: " + ", ".join(said) + "."
    if gated:
        lines[0] += (" Gated adaptation: the learned arms deploy the best of their charges after 0..k episodes "
                     "(fewest violations, then reaching the target, then the shortest); one more charge of the "
                     "cell per episode.")
    lines += [""] + _markdown_rows(result, arms, table, shown)
    if gated:
        plain = [(arm, label, ungated(curves), ks) for arm, label, curves, ks in arms]
        result["table_ungated"] = _table(result, plain)
        lines += ["", "The same runs without the gate (the weights after k episodes):", ""]
        lines += _markdown_rows(result, plain, result["table_ungated"], shown)
    result["targets"] = target_verdicts(result)
    lines += ["", "Targets" + (" (the charges the gate deploys)" if gated else "") + ":", ""]
    lines += target_lines(result["targets"])
    markdown = "\n".join(lines)

    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(sets))
    bars = [("cccv", "best CC-CV"), ("cc_ct_cv", "best CC-CT-CV"), ("lookahead", "look-ahead")]
    bars += [(f"{arm}_k{k}", f"{label} k={k}") for arm, label, _, _ in arms for k in shown[arm]]
    width = 0.8 / len(bars)
    for i, (prefix, label) in enumerate(bars):
        ax.bar(x + i * width, [row.get(f"{prefix}_ratio", np.nan) for row in table], width, label=label)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(x + 0.4 - width / 2, [f"{s}\n({r['split']})" for s, r in zip(sets, table)], fontsize=7)
    ax.set_ylabel("charge time / optimum")
    ax.legend(fontsize=6, ncol=4)
    fig.tight_layout()
    write_report(out, "bench_cell", result, markdown, fig)
    return markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reptile", default=None, help="a cell_reptile checkpoint folder (else no Reptile arm)")
    parser.add_argument("--sets", nargs="+", default=None, help="default: all eight supported sets")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--k", type=int, nargs="+", default=[0, 1, 2, 3, 5, 10],
                        help="episodes after which the Reptile arm is evaluated")
    parser.add_argument("--sac-k", type=int, nargs="+", default=[0, 1, 2, 3, 5, 10, 30],
                        help="episodes after which the SAC-from-scratch arm is evaluated")
    parser.add_argument("--updates-per-step", type=float, default=4.0,
                        help="SAC updates per adaptation env step of the Reptile arm (default 4: with 8, Reptile "
                             "stopped short of 80 %% SOC on ORegan2022 after 10 episodes)")
    parser.add_argument("--sac-updates-per-step", type=float, default=8.0,
                        help="SAC updates per env step of SAC from scratch (default 8: after 30 episodes faster "
                             "than with 4 on 7 of 8 sets, as fast on ORegan2022; with 1 it was 1.17-1.25x the "
                             "optimum after 60-100 episodes on Chen2020)")
    parser.add_argument("--gate", action="store_true",
                        help="gated adaptation, both learned arms: deploy the best of the charges after 0..k "
                             "episodes (one more charge per episode); the report adds the ungated table")
    parser.add_argument("--skip-learners", action="store_true", help="references and the optimum only")
    parser.add_argument("--workers", type=int, default=2, help="processes for the references")
    parser.add_argument("--references-from", nargs="+", default=None,
                        help="reuse the references of earlier bench_cell.json files (a later file wins per set)")
    parser.add_argument("--runs-from", nargs="+", default=None, help="no computing: join earlier bench_cell.json files")
    parser.add_argument("--env-config", type=json.loads, default={},
                        help='JSON merged over cell_reptile\'s env_config, e.g. \'{"surface_observation": "log_margin"}\'')
    parser.add_argument("--out", default="bench_results/bench_cell")
    args = parser.parse_args()
    out = Path(args.out)
    if args.runs_from:
        result = _join(args.runs_from)
        for path in args.references_from or []:  # newer references (e.g. a re-solved optimum)
            result["references"].update({k: v for k, v in json.loads(Path(path).read_text())["references"].items()
                                         if k in result["sets"]})
        print(report(result, out))
        return

    from rl_battery.envs import CellFastCharge
    from rl_battery.evaluation.cell_benchmark import reptile_curves, scratch_curves
    from rl_battery.experiments import build_algorithm_config, load_experiment
    from rl_battery.sim import SUPPORTED_PARAMETER_SETS

    if not isinstance(args.env_config, dict):
        raise SystemExit(f"--env-config must be a JSON object, got {args.env_config!r}")
    spec = load_experiment("cell_reptile")
    env_config = {**spec.env_config, **args.env_config}
    try:
        CellFastCharge.check_config(env_config)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"--env-config: {error}") from None
    spec = spec.model_copy(update={"env_config": env_config})  # SAC from scratch's env runners too
    sets = args.sets or list(SUPPORTED_PARAMETER_SETS)
    start = time.time()
    if args.references_from:
        references = {}
        for path in args.references_from:
            references.update(json.loads(Path(path).read_text())["references"])
        missing = [s for s in sets if s not in references]
        if missing:
            raise SystemExit(f"{args.references_from} has no references for {missing}")
        references = {s: references[s] for s in sets}
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            references = dict(pool.map(_references, [(name, env_config) for name in sets]))
    reference_s = time.time() - start

    reptile, scratch = {}, {}
    if not args.skip_learners:
        if args.reptile:
            try:
                reptile = reptile_curves(args.reptile, sets, args.k, args.seeds, env_config,
                                         updates_per_step=args.updates_per_step, gate=args.gate)
            except ValueError as error:
                raise SystemExit(f"--reptile: {error}") from None
        config = build_algorithm_config(spec, experiment="cell_reptile", project_root=out)
        scratch = scratch_curves(config, sets, args.sac_k, args.seeds, env_config,
                                 updates_per_step=args.sac_updates_per_step, gate=args.gate)
    result = {"env_config": env_config, "meta_tasks": spec.config["training"]["meta_tasks"], "sets": sets,
              "seeds": args.seeds, "k": sorted(args.k), "sac_k": sorted(args.sac_k),
              "updates_per_step": args.updates_per_step, "sac_updates_per_step": args.sac_updates_per_step,
              "gate": args.gate, "reptile_checkpoint": args.reptile,
              "references": references,
              "reptile_curves": _seed_keys(reptile), "sac_curves": _seed_keys(scratch),
              "wall_time_s": {"references": reference_s, "total": time.time() - start}}
    out.mkdir(parents=True, exist_ok=True)
    print(report(result, out))


if __name__ == "__main__":
    main()
