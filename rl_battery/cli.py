"""Command line: ``rl-battery run|evaluate|soh train`` and ``rllib evaluate`` (argument parsing only).

Ray 2.60 ships no ``rllib`` command; ours keeps the old RLlib CLI's shape:
``rllib evaluate CHECKPOINT [--episodes N] [--out DIR]``. A fast-charging checkpoint is
compared with the charging references, a passive-balancing one with rule-based balancing
and no balancing on both load profiles.
"""

from __future__ import annotations

import argparse
import json
import sys


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint against the references of its task (charging: CC-CV, "
                                        "CC-CT-CV, look-ahead; balancing: rule-based, none)")
    p.add_argument("checkpoint", help="RLlib Algorithm checkpoint folder (e.g. ray_results/pack_mbrl/<trial>/checkpoint_000001)")
    p.add_argument("--initial-soc", type=float, default=0.1, help="start SOC of every episode (default 0.1)")
    p.add_argument("--env-config", type=json.loads, default=None,
                   help='JSON merged over the checkpoint\'s env_config, e.g. \'{"pack_seed": 7, "soh_mean": 0.8}\'')
    p.add_argument("--shield-kappa", type=float, default=None,
                   help="margin in predicted standard deviations of the safety layer (runs with "
                        "safety_shield) or the planner (action_mode plan); default: the trained one")
    p.add_argument("--optimum", action="store_true",
                   help="cell env: also solve the optimal charge (collocation + IPOPT; seconds to minutes) "
                        "and give every charge time as a ratio to it")
    p.add_argument("--episodes", type=int, default=5,
                   help="passive balancing: held-out cells per load profile (default 5)")
    p.add_argument("--out", default=None, help="output folder (default CHECKPOINT/evaluation)")
    p.set_defaults(handler=_evaluate)


def _evaluate(args) -> int:
    from rl_battery.envs import PassiveBalancing
    from rl_battery.evaluation import (evaluate_balancing_checkpoint, evaluate_checkpoint, format_balancing,
                                       format_comparison, load_checkpoint_policy)

    policy = load_checkpoint_policy(args.checkpoint)
    if issubclass(policy.env_class, PassiveBalancing):
        result = evaluate_balancing_checkpoint(args.checkpoint, out_dir=args.out, episodes=args.episodes, policy=policy)
        print(f"{result['algorithm']} passive balancing, {args.episodes} held-out packs per profile; "
              f"ratios are to rule-based balancing")
        print(format_balancing(result["comparison"]))
        print(json.dumps(result["files"], indent=2))
        return 0
    result = evaluate_checkpoint(args.checkpoint, out_dir=args.out, initial_soc=args.initial_soc,
                                 env_config=args.env_config, shield_kappa=args.shield_kappa, optimum=args.optimum,
                                 policy=policy)
    print(f"{result['algorithm']} ({result['controller']}) on {result['task_id']}, "
          f"SOC {result['initial_soc']} -> {result['target_soc']}")
    print(format_comparison(result["results"]))
    print(json.dumps(result["files"], indent=2))
    return 0


def _add_soh(sub) -> None:
    soh = sub.add_parser("soh", help="the pack SOH estimator (rl_battery.health)")
    soh_sub = soh.add_subparsers(dest="soh_command", required=True)
    p = soh_sub.add_parser("train", help="simulate charging segments of aged packs, fit and test the SOH estimator")
    p.add_argument("--out", default="soh_estimator.json", help="artifact path (JSON; default soh_estimator.json)")
    p.add_argument("--train-packs", type=int, default=60, help="training pack seeds 1000.. (default 60)")
    p.add_argument("--test-packs", type=int, default=20, help="held-out pack seeds 5000.. (default 20)")
    p.add_argument("--per-pack", type=int, default=3, help="aged charging segments per pack seed (default 3)")
    p.add_argument("--workers", type=int, default=2, help="simulation processes (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled ages, currents and start SOCs")
    p.add_argument("--report", default=None, help="also write the held-out report (JSON) here")
    p.set_defaults(handler=_soh_train)


def _lookahead_protocol(env, current_A):
    from rl_battery.baselines import LookaheadPolicy

    return LookaheadPolicy(env)


def _soh_train(args) -> int:
    from rl_battery.baselines import CCCVPolicy
    from rl_battery.data.atomic import atomic_path
    from rl_battery.health.training import train_estimator

    # CC-CV at the sampled current, and the look-ahead, which rides the limits as the
    # surrogate planner does: the estimator sees both kinds of charge.
    estimator, report = train_estimator(
        {"pack_seed": 0}, (CCCVPolicy, _lookahead_protocol), train_seeds=range(1000, 1000 + args.train_packs),
        test_seeds=range(5000, 5000 + args.test_packs), per_pack=args.per_pack, seed=args.seed, workers=args.workers,
    )
    estimator.save(args.out)
    if args.report:
        with atomic_path(args.report) as tmp:
            tmp.write_text(json.dumps(report, indent=1))
    print(f"SOH estimator -> {args.out}: held-out RMSE {report['heldout_rmse']:.4f}, "
          f"max |error| {report['heldout_max_abs_error']:.4f} on {len(report['test_soh'])} segments of "
          f"{args.test_packs} unseen packs")
    return 0


def _run(args) -> int:
    from rl_battery.experiments import run_experiment

    grid = run_experiment(args.experiment, smoke=args.smoke, address=args.address, resume=args.resume,
                          config_dir=args.config_dir, storage_path=args.storage_path, offline_data=args.offline_data,
                          verbose=args.verbose)
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
    run = sub.add_parser("run", help="run tune_configs/NAME.yaml with Tune (results in ray_results/NAME); "
                                     "paths are relative to the working folder")
    run.add_argument("--experiment", required=True, help="name of a file in tune_configs/ without .yaml")
    run.add_argument("--smoke", action="store_true", help="apply the file's short `smoke` override")
    run.add_argument("--address", default=None, help="Ray cluster address, e.g. auto; default: start Ray embedded")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run of the same experiment")
    run.add_argument("--verbose", action="store_true",
                     help="more columns in the progress table and Tune's per-trial result lines")
    run.add_argument("--config-dir", default=None, help="folder of the experiment files (default ./tune_configs)")
    run.add_argument("--storage-path", default=None,
                     help="Tune results folder (default ./ray_results); on a cluster, storage every node shares")
    run.add_argument("--offline-data", default=None,
                     help="folder of the Parquet rollouts (default ./offline_data); on a cluster, shared storage")
    run.set_defaults(handler=_run)
    _add_soh(sub)
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
