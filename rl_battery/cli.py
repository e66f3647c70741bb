"""Command line: ``rl-battery run|evaluate`` and ``rllib evaluate`` (argument parsing only).

Ray 2.60 ships no ``rllib`` command; ours keeps the old RLlib CLI's shape:
``rllib evaluate CHECKPOINT [--episodes N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint against CC-CV, CC-CT-CV and the look-ahead reference")
    p.add_argument("checkpoint", help="RLlib Algorithm checkpoint folder (e.g. ray_results/pack_mbrl/<trial>/checkpoint_000001)")
    p.add_argument("--initial-soc", type=float, default=0.1, help="start SOC of every episode (default 0.1)")
    p.add_argument("--env-config", type=json.loads, default=None,
                   help='JSON merged over the checkpoint\'s env_config, e.g. \'{"pack_seed": 7, "soh_mean": 0.8}\'')
    p.add_argument("--shield-kappa", type=float, default=None,
                   help="margin in predicted standard deviations of the safety layer (runs with "
                        "safety_shield) or the planner (action_mode plan); default: the trained one")
    p.add_argument("--out", default=None, help="output folder (default CHECKPOINT/evaluation)")
    p.set_defaults(handler=_evaluate)


def _evaluate(args) -> int:
    from rl_battery.evaluation import evaluate_checkpoint, format_comparison

    result = evaluate_checkpoint(args.checkpoint, out_dir=args.out, initial_soc=args.initial_soc,
                                 env_config=args.env_config, shield_kappa=args.shield_kappa)
    print(f"{result['algorithm']} ({result['controller']}) on {result['task_id']}, "
          f"SOC {result['initial_soc']} -> {result['target_soc']}")
    print(format_comparison(result["results"]))
    print(json.dumps(result["files"], indent=2))
    return 0


def _run(args) -> int:
    from rl_battery.experiments import run_experiment

    grid = run_experiment(args.experiment, smoke=args.smoke, address=args.address, resume=args.resume)
    errors = [r for r in grid if r.error]
    for result in grid:
        ckpt = result.checkpoint.path if result.checkpoint else None
        metrics = result.metrics or {}
        ret = metrics.get("env_runners", {}).get("episode_return_mean")
        print(f"trial {result.path}: episode_return_mean={ret} checkpoint={ckpt}")
    return 1 if errors else 0


def rl_battery_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rl-battery", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run tune_configs/NAME.yaml with Tune (results in ray_results/NAME)")
    run.add_argument("--experiment", required=True, help="name of a file in tune_configs/ without .yaml")
    run.add_argument("--smoke", action="store_true", help="apply the file's short `smoke` override")
    run.add_argument("--address", default=None, help="Ray cluster address, e.g. auto; default: start Ray embedded")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run of the same experiment")
    run.set_defaults(handler=_run)
    _add_evaluate(sub)
    args = parser.parse_args(argv)
    from rl_battery.experiments import ExperimentConfigError

    try:
        return args.handler(args)
    except (ExperimentConfigError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def rllib_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rllib", description="RLlib command line (rl_battery's; Ray 2.60 has none)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(sub)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
