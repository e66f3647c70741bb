"""Benchmark passive balancing: PPO and DQN (every seed) against rule-based and no balancing.

    python scripts/run_tune.py --experiment balance_ppo
    python scripts/run_tune.py --experiment balance_dqn
    python scripts/bench_balancing.py [--runs PPO=ray_results/balance_ppo DQN=ray_results/balance_dqn] \
        [--episodes 10] [--profiles discharge-rest-charge charge-rest-discharge] [--checkpoint-index -1] \
        [--out bench_results/bench_balancing]

Takes the last checkpoint (or the one at ``--checkpoint-index``) of every trial (one per
seed) of each experiment folder and runs it deterministically on the same held-out packs (pack
seeds 10000...) of each load profile, next to rule-based balancing (threshold tuned per profile
on other packs) and no balancing. Reports per algorithm the mean and std over seeds, the three
ratios to rule-based balancing (usable capacity, mean SOC variance, switch count), whether
they beat it and the published ratios, the SOC variance split by profile phase, and each
run's training wall time. Writes bench_balancing.json, .md (tables) and .png (PPO and
DQN training curves side by side), atomically.
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _trials(experiment_dir: Path) -> list[Path]:
    trials = sorted(p.parent for p in experiment_dir.glob("*/progress.csv"))
    if not trials:
        raise SystemExit(f"no Tune trials in {experiment_dir}: run the experiment first (see --help)")
    return trials


def _checkpoint(trial: Path, index: int) -> Path:
    """The trial's kept checkpoint at ``index`` in save order (-1: the last)."""
    checkpoints = sorted(trial.glob("checkpoint_*"))
    if not -len(checkpoints) <= index < len(checkpoints):
        raise SystemExit(f"{trial} keeps {len(checkpoints)} checkpoint(s), no index {index}")
    return checkpoints[index].resolve()


def _training(trials: list[Path]) -> dict:
    """Per trial: iterations, env steps, training time [s]; the experiment's wall time [s]
    from the first result's start to the last result (trials may run side by side)."""
    from rl_battery.evaluation.plots import read_trial_progress

    frames = {t.name: read_trial_progress(t) for t in trials}
    start = min(float((f["timestamp"] - f["time_this_iter_s"]).min()) for f in frames.values())
    end = max(float(f["timestamp"].max()) for f in frames.values())
    return {"wall_time_s": end - start,
            "trials": {name: {"iterations": int(f["training_iteration"].max()),
                              "env_steps": int(f["num_env_steps_sampled_lifetime"].max()),
                              "time_total_s": float(f["time_total_s"].max())} for name, f in frames.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["PPO=ray_results/balance_ppo", "DQN=ray_results/balance_dqn"],
                        help="NAME=EXPERIMENT_DIR pairs (default PPO and DQN of the two experiments)")
    parser.add_argument("--episodes", type=int, default=10, help="held-out packs per profile (default 10)")
    parser.add_argument("--profiles", nargs="+", default=["discharge-rest-charge", "charge-rest-discharge"])
    parser.add_argument("--checkpoint-index", type=int, default=-1,
                        help="which kept checkpoint of each trial, in save order (default -1, the last; "
                             "-2 the one before, e.g. iteration 250 of a 300-iteration balance_ppo run)")
    parser.add_argument("--out", default="bench_results/bench_balancing")
    args = parser.parse_args()

    from rl_battery.evaluation.balancing import benchmark_balancing, format_benchmark
    from rl_battery.evaluation.plots import plot_training_comparison
    from rl_battery.evaluation.report import write_report

    runs = dict(item.split("=", 1) for item in args.runs)
    trials = {name: _trials(Path(folder)) for name, folder in runs.items()}
    training = {name: _training(ts) for name, ts in trials.items()}
    started = time.time()
    result = benchmark_balancing({name: [_checkpoint(t, args.checkpoint_index) for t in ts]
                                  for name, ts in trials.items()},
                                 episodes=args.episodes, profiles=args.profiles)
    result["training"] = training
    result["benchmark_time_s"] = time.time() - started
    markdown = format_benchmark(result) + "\n\nTraining (2 cores): " + "; ".join(
        f"{name} {t['wall_time_s'] / 60:.1f} min wall for {len(t['trials'])} seeds, "
        f"{max(v['env_steps'] for v in t['trials'].values())} env steps each"
        for name, t in result["training"].items())
    figure = plot_training_comparison({name: ts for name, ts in trials.items()})
    paths = write_report(args.out, "bench_balancing", result, markdown, figure)
    print(markdown)
    print({k: str(v) for k, v in paths.items()})


if __name__ == "__main__":
    main()
