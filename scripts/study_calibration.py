"""Calibration study: G^'s parameter error and G's one-step error against the number of real
charging segments (1, 2, 5, 10), with and without the SOH prior, on an aged liionpack pack.

    python scripts/study_calibration.py [--checkpoint CKPT] [--draws 5] [--out bench_results/study_calibration]

G0: the surrogate ensemble of a pack_mbrl checkpoint (``--checkpoint``, its cycle-0 model),
or, by default, an ensemble of pack_mbrl's size fitted here on cycle-0-like data: look-ahead
and CC-CV charges of fresh packs drawn from pack_mbrl's pack distribution. The aged pack is
pack_mbrl's pinned pack at each adaptive cycle's age; its segments are charges by the
planner over G0 (the controller before adaptation) from a random start SOC, 10 to calibrate
on and 4 held out. For each number of segments, ``--draws`` random subsets are calibrated
toward the prior from the SOH estimate ("with prior") or toward the uninformative prior
("without"); errors are against the simulator's truth (capacity factor, resistance increase
per cell) and, for the one-step error, the held-out segments on the constrained
observations (highest cell voltage and temperature). Writes JSON, a Markdown table and a PNG.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

SEGMENT_COUNTS = (1, 2, 5, 10)
N_TEST = 4


def charge(env, act, soc0, episode):
    """One charge: per-step transitions with the applied action and pack current."""
    from rl_battery.envs import record_episode

    observations, infos, _ = record_episode(env, act, initial_soc=soc0)
    steps = infos[1:]
    return {"observations": observations, "obs": observations[:-1], "next_obs": observations[1:],
            "action": np.stack([s["applied_action"] for s in steps]).astype(np.float32),
            "reward": np.array([s["reward"] for s in steps], np.float32),
            "terminated": np.zeros(len(steps), np.float32),
            "current_A": np.array([s["current_A"] for s in steps]), "episode_id": np.full(len(steps), episode),
            "step_index": np.arange(len(steps)), "soh": steps[-1]["soh"],
            "capacity_Ah": float(np.mean(steps[-1]["cell_capacity_Ah"])),
            "resistance_Ohm": float(np.mean(steps[-1]["cell_contact_resistance_Ohm"]))}


def stack(charges):
    keys = ("obs", "next_obs", "action", "reward", "terminated", "current_A", "episode_id", "step_index")
    return {k: np.concatenate([c[k] for c in charges]) for k in keys}


def fit_g0(env_class, env_config, sizes, seed):
    """G0 from cycle-0-like data: look-ahead and CC-CV charges of fresh packs of the distribution."""
    from rl_battery.baselines import CCCVPolicy, LookaheadPolicy
    from rl_battery.surrogate import EnsembleSurrogate

    env = env_class(dict(env_config))
    rng = np.random.default_rng(seed)
    charges = []
    for k in range(24):
        env.reset(seed=seed * 1000 + k)  # draws a pack of the distribution
        base = env.unwrapped
        current = rng.uniform(0.5, 1.0) * base.max_current_A
        policy = LookaheadPolicy(base) if k % 2 == 0 else CCCVPolicy(base, current)
        charges.append(charge(env, policy, rng.uniform(0.08, 0.2), k))
    data = stack(charges)
    model = EnsembleSurrogate(14, 1, seed=seed, **sizes)
    report = model.fit(data["obs"], data["action"], data["reward"], data["next_obs"], data["terminated"],
                       epochs=5, min_updates=2000)
    print(f"G0 fitted on {len(data['obs'])} fresh-pack transitions: val obs MSE {report.val_obs_mse:.2e}", flush=True)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="use this pack_mbrl checkpoint's cycle-0 surrogate as G0")
    parser.add_argument("--draws", type=int, default=5, help="random segment subsets per count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--residual", action="store_true", help="also fit G^'s linear residual")
    parser.add_argument("--out", default="bench_results/study_calibration")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    start = time.time()

    from rl_battery.algorithms.adaptation import model_errors
    from rl_battery.evaluation.report import write_report
    from rl_battery.envs import ENV_CLASSES
    from rl_battery.experiments import load_experiment
    from rl_battery.health import ChargingSegment, ParameterPrior, SOHEstimator, calibrate, prior_from_soh
    from rl_battery.surrogate import CombinedSurrogate, DifferentialSurrogate, PackCurrent, SurrogatePlanner

    spec = load_experiment("pack_mbrl")
    env_class, env_config = ENV_CLASSES[spec.env], dict(spec.env_config)
    training = spec.config["training"]
    sizes = dict(ensemble_size=training["surrogate_ensemble_size"], hidden_size=training["surrogate_hidden_size"],
                 num_layers=training["surrogate_num_layers"])
    if args.checkpoint:
        from rl_battery.evaluation.checkpoint_policy import load_checkpoint_policy

        g0 = load_checkpoint_policy(args.checkpoint).surrogate
        g0 = getattr(g0, "static", g0)
    else:
        g0 = fit_g0(env_class, env_config, sizes, args.seed)
    estimator = SOHEstimator.load(training.get("soh_estimator_path"))

    env = env_class(dict(env_config))
    pack = env.pinned_pack
    env.set_condition(age_cycles=0.0, pack=pack)
    reference = (env.sim.pack_soh, float(np.mean(env.sim.cell_capacity_Ah)),
                 float(np.mean(env.sim.cells.contact_resistance_Ohm)))
    low, high = env.observation_limits(voltage_margin_V=training["safety_margin_V"],
                                       temperature_margin_K=training["safety_margin_K"])
    planner = SurrogatePlanner(g0, low, high, kappa=training["shield_kappa"])
    act = lambda obs, info: planner(obs, np.zeros(1, np.float32))  # noqa: E731
    limited = np.array([0, 4])
    rng = np.random.default_rng(args.seed)
    # G0's own error on the fresh pack: the floor no correction for ageing can go below.
    env.set_condition(age_cycles=0.0, pack=pack, reported_soh=reference[0])
    fresh = stack([charge(env, act, rng.uniform(0.08, 0.2), k) for k in range(N_TEST)])
    fresh_error = model_errors(g0, fresh, fresh["episode_id"], fresh["step_index"], limited)["k1_rmse"]
    print(f"G0 one-step RMSE on the fresh pack: {fresh_error:.4f}", flush=True)
    ages = [training["ageing_cycles_per_cycle"] * k for k in range(1, training["adaptive_cycles"] + 1)]
    rows = []
    for age in ages:
        env.set_condition(age_cycles=age, pack=pack, reported_soh=reference[0])
        charges = [charge(env, act, rng.uniform(0.08, 0.2), k) for k in range(10 + N_TEST)]
        truth = np.array([charges[0]["capacity_Ah"] / reference[1], charges[0]["resistance_Ohm"] - reference[2]])
        test = stack(charges[10:])
        static_error = model_errors(g0, test, test["episode_id"], test["step_index"], limited)["k1_rmse"]
        for n in SEGMENT_COUNTS:
            for use_prior in (True, False):
                errs, one_step, soh_errs = [], [], []
                for d in range(args.draws if n < 10 else 1):
                    chosen = [charges[i] for i in rng.choice(10, n, replace=False)]
                    data = stack(chosen)
                    if use_prior:
                        segments = [ChargingSegment.from_env_episode(env, c["observations"], c["current_A"])
                                    for c in chosen]
                        soh = estimator.estimate(segments)
                        soh_errs.append(soh - charges[0]["soh"])
                        prior = prior_from_soh(soh, reference[0], soh_std=estimator.heldout_rmse, dt_s=env.settings.dt_s)
                    else:
                        prior = ParameterPrior.uninformative()
                    g_hat = DifferentialSurrogate(PackCurrent.of(env), env.settings.w_soc)
                    y0 = g0.predict(data["obs"], data["action"], sample=False)[0].numpy()
                    result = calibrate(g_hat, data["obs"], data["action"], data["next_obs"], y0, prior)
                    if args.residual:
                        g_hat.fit_residual(data["obs"], data["action"], data["next_obs"], y0)
                    errs.append(np.abs(result.theta[:2] - truth))
                    combined = CombinedSurrogate(g0, g_hat)
                    one_step.append(model_errors(combined, test, test["episode_id"], test["step_index"], limited)["k1_rmse"])
                errs = np.array(errs)
                rows.append({"age_cycles": age, "soh_true": charges[0]["soh"], "segments": n, "prior": use_prior,
                             "capacity_factor_true": truth[0], "resistance_increase_true_Ohm": truth[1],
                             "capacity_factor_abs_error": float(errs[:, 0].mean()),
                             "resistance_increase_abs_error_Ohm": float(errs[:, 1].mean()),
                             "combined_k1_rmse": float(np.mean(one_step)), "static_k1_rmse": static_error,
                             "soh_estimate_abs_error": float(np.mean(np.abs(soh_errs))) if soh_errs else None,
                             "draws": len(one_step)})
                print(json.dumps(rows[-1]), flush=True)

    lines = ["| age [EFC] | segments | prior | capacity factor abs err | resistance abs err [mOhm] | "
             "G one-step RMSE | G0 one-step RMSE | G / G0 |", "|---" * 8 + "|"]
    for r in rows:
        lines.append(f"| {r['age_cycles']:g} | {r['segments']} | {'with' if r['prior'] else 'without'} | "
                     f"{r['capacity_factor_abs_error']:.4f} | {1e3 * r['resistance_increase_abs_error_Ohm']:.2f} | "
                     f"{r['combined_k1_rmse']:.4f} | {r['static_k1_rmse']:.4f} | "
                     f"{r['combined_k1_rmse'] / r['static_k1_rmse']:.2f} |")
    lines.append(f"\nG0 on the fresh pack (the floor): one-step RMSE {fresh_error:.4f}, "
                 f"{fresh_error / rows[0]['static_k1_rmse']:.2f} of G0's at {ages[0]:g} EFC."
                 + (" With G^'s linear residual." if args.residual else ""))
    markdown = "\n".join(lines)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for use_prior, style in ((True, "-"), (False, "--")):
        for j, age in enumerate(ages):
            sel = [r for r in rows if r["prior"] == use_prior and r["age_cycles"] == age]
            n = [r["segments"] for r in sel]
            label = f"{age:g} EFC, {'with' if use_prior else 'without'} prior"
            axes[0].plot(n, [r["capacity_factor_abs_error"] for r in sel], style, color=f"C{j}", marker="o", label=label)
            axes[1].plot(n, [1e3 * r["resistance_increase_abs_error_Ohm"] for r in sel], style, color=f"C{j}", marker="o")
            axes[2].plot(n, [r["combined_k1_rmse"] / r["static_k1_rmse"] for r in sel], style, color=f"C{j}", marker="o")
    axes[0].set_ylabel("capacity factor |error|")
    axes[1].set_ylabel("resistance increase |error| [mOhm]")
    axes[2].set_ylabel("one-step RMSE, G / G0")
    axes[2].axhline(0.5, color="k", ls=":", label="target 0.5")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(SEGMENT_COUNTS, [str(c) for c in SEGMENT_COUNTS])
        ax.set_xlabel("real charging segments")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    result = {"ages": ages, "pack": list(pack), "reference_soh": reference[0], "g0": args.checkpoint or "fitted",
              "estimator_heldout_rmse": estimator.heldout_rmse, "g0_fresh_k1_rmse": fresh_error,
              "residual": args.residual, "rows": rows, "wall_s": time.time() - start}
    write_report(out, "study_calibration", result, markdown, fig)
    print(markdown)


if __name__ == "__main__":
    main()
