"""How well does what a policy observes locate the largest feasible current?

    python scripts/study_feasible_boundary.py [--held-out ORegan2022] [--episodes 60] \
        [--train-episodes 8] [--workers 2] [--env-config JSON] [--states-from DIR/states.npz] \
        [--out bench_results/study_feasible_boundary]

A learned fast-charging policy keeps the limits and reaches 1.05x the optimum only if its
observation tells it, within a few per cent, the largest current that keeps every limit for
the next 90 s step (the current the look-ahead finds by simulating the step). This study
measures how much of that current the observation determines, with no RL in the way.

Data: charges on ``tune_configs/cell_reptile.yaml``'s env (from SOC 0.1, 298.15 K) with
``surface_observation="profile"`` (``--env-config`` adds settings, e.g.
``'{"surface_stoichiometry_limit": 0.98}'`` for the surface-saturation constraint), each
at a random fraction (0.4-1, per charge) of the look-ahead's current with +-10 % noise per
step, so that states off the look-ahead's own path are seen. Before every step the
look-ahead's current (`LookaheadPolicy`, 1 % of the range tolerance) is the label, as a
fraction of the set's ``max_current_A``.
Regression: a 2 x 64 tanh MLP (torch, Adam, full batch) from the observation to that
fraction, for two observations of the cell's state: entries 0-4 and 9 (``"log_margin"``:
SOC, V, T, plating, the last current, the surface margin) and also 10-12 (``"profile"``: the
margin at three depths in the particle). Two questions:
- **within the set**: trained on three quarters of the held-out set's charges, tested on
  the rest (what a policy adapted on the set could learn at best from that much data);
- **across sets**: trained on the meta-training sets with graphite diffusivities 0.03-1x
  their own (``cell_reptile``'s tasks), tested on the held-out set (what meta-training
  could carry over).
Errors are |predicted / feasible - 1| over states with SOC >= 0.35 (where ORegan2022's
surface binds), median and 90th percentile, and the share of states the prediction
over-estimates by more than 2 % (2 % more current than the look-ahead's saturates
ORegan2022's surface).
Closed loop: each fitted regression charges the held-out set from SOC 0.1 with a fixed
fraction (1, 0.95, 0.9, 0.85, 0.8) of the current it predicts, a policy that imitates the
look-ahead from the observation alone (behaviour cloning with exact labels): charge time
as a ratio to the look-ahead's on the same env, violation steps, final SOC.
One-step model check: the look-ahead with the simulator replaced by a learned model
(`SurrogatePlanner`, PETS-style: the largest current whose predicted next observation keeps
the env's limits in every member of an `EnsembleSurrogate`, mean plus kappa predicted
standard deviations), fitted on the transitions of the same three quarters of the held-out
charges, charges the held-out set at kappa 0, 1, 2 and 3.
Writes study_feasible_boundary.{json,md,png} and the collected states (states.npz;
``--states-from`` refits from them without simulating) atomically.
"""

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

#: Observation entries of each compared observation (Observation Space of CellFastCharge):
#: the cell's state only. Entries 5-8 (the limits, the C-rate, the plating flag) are left out:
#: within a set they are constant, and across sets ORegan2022's 4.4 V limit lies outside the
#: training sets' 4.1-4.2 V, which the regression extrapolates wildly (its predictions came
#: out far below every feasible current).
OBSERVATIONS = {"log_margin": [0, 1, 2, 3, 4, 9], "profile": [0, 1, 2, 3, 4, 9, 10, 11, 12]}
#: States compared: the part of the charge where a diffusion-limited surface binds.
MIN_SOC = 0.35
#: Fractions of the predicted current that the closed-loop charges use.
DERATINGS = (1.0, 0.95, 0.9, 0.85, 0.8)


def study_env_config(parameter_set: str, scale: float = 1.0, extra: dict | None = None) -> dict:
    """``cell_reptile``'s env on one set (from SOC 0.1 at 298.15 K, the profile observed, the
    graphite diffusivity times ``scale``), with the settings ``extra`` on top."""
    from rl_battery.experiments import load_experiment

    return {**load_experiment("cell_reptile").env_config, "parameter_set": parameter_set, "initial_soc": 0.1,
            "ambient_temperature_K": 298.15, "observe_surface_stoichiometry": True,
            "surface_observation": "profile", "negative_diffusivity_scale": scale, **(extra or {})}


def collect(job: tuple[str, float, int, int, dict]) -> dict[str, np.ndarray]:
    """Observations (n, 13), labels (n,) and charge ids (n,) of ``episodes`` charges on one
    set at one diffusivity scale, with the extra env settings of the job, and each state's
    transition: action (n, 1), reward (n,), next observation (n, 13), terminated (n,)."""
    import gymnasium as gym

    import rl_battery.envs  # noqa: F401  (registers the envs)
    from rl_battery.baselines import LookaheadPolicy

    parameter_set, scale, episodes, seed, extra = job
    env = gym.make("CellFastCharge-v0", **study_env_config(parameter_set, scale, extra)).unwrapped
    lookahead, rng = LookaheadPolicy(env), np.random.default_rng(seed)
    observations, labels, charges, actions, rewards, next_obs, terminals = [], [], [], [], [], [], []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        lookahead.reset()
        fraction, done = rng.uniform(0.4, 1.0), False
        while not done:
            feasible = lookahead.current(info)
            observations.append(obs), labels.append(feasible / env.max_current_A), charges.append(episode)
            current = np.clip(feasible * fraction * rng.uniform(0.9, 1.1), env.min_current_A, env.max_current_A)
            action = env.current_to_action(current)
            obs, reward, terminated, truncated, info = env.step(action)
            actions.append(action), rewards.append(reward), next_obs.append(obs), terminals.append(terminated)
            done = terminated or truncated
    return {"obs": np.array(observations, np.float32), "label": np.array(labels, np.float32),
            "charge": np.array(charges), "action": np.array(actions, np.float32),
            "reward": np.array(rewards, np.float32), "next_obs": np.array(next_obs, np.float32),
            "terminated": np.array(terminals)}


def fit(x: np.ndarray, y: np.ndarray, *, seed: int = 0, epochs: int = 1500):
    """A 2 x 64 tanh MLP regression x -> y (inputs standardised); returns predict(x)."""
    import torch

    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                              torch.nn.Tanh(), torch.nn.Linear(64, 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    inputs, targets = torch.tensor((x - mean) / std), torch.tensor(y[:, None])
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = ((net(inputs) - targets) ** 2).mean()
        loss.backward()
        optimizer.step()
    return lambda z: net(torch.tensor((z - mean) / std)).detach().numpy().ravel()


def errors(predicted: np.ndarray, feasible: np.ndarray, soc: np.ndarray) -> dict[str, float]:
    """Relative-error summary over states with SOC >= MIN_SOC."""
    rel = (predicted / feasible - 1.0)[soc >= MIN_SOC]
    return {"median_abs": float(np.median(np.abs(rel))), "p90_abs": float(np.quantile(np.abs(rel), 0.9)),
            "over_2pct": float(np.mean(rel > 0.02)), "states": int(rel.size)}


#: The transition arrays of the collected charges, in `EnsembleSurrogate.fit`'s order.
TRANSITION_KEYS = ("obs", "action", "reward", "next_obs", "terminated")
#: Arrays kept of the held-out set's charges (states.npz).
HELD_OUT_KEYS = ("label", "charge", *TRANSITION_KEYS)
#: Metrics kept per closed-loop charge.
CHARGE_KEYS = ("charge_time_min", "final_soc", "constraint_violations")


def _charge_row(metrics: dict) -> dict[str, float]:
    """The :data:`CHARGE_KEYS` of an episode's metrics."""
    return {k: float(metrics[k]) for k in CHARGE_KEYS}


def closed_loop(env, predict, entries: list[int]) -> dict:
    """Charges on ``env`` (from its start SOC) at each of :data:`DERATINGS` times the current
    ``predict`` (a fraction of ``max_current_A``) gives for the observation's ``entries``:
    ``{"1.0": row, "0.95": row, ...}``, each row :data:`CHARGE_KEYS`."""
    from rl_battery.envs import run_episode

    rows = {}
    for derating in DERATINGS:
        def act(obs, info, derating=derating):
            current = derating * float(predict(obs[None, entries].astype(np.float32))[0]) * env.max_current_A
            return env.current_to_action(np.clip(current, env.min_current_A, env.max_current_A))
        rows[str(derating)] = _charge_row(run_episode(env, act))
    return rows


#: Margins of the one-step model check, in predicted standard deviations.
KAPPAS = (0.0, 1.0, 2.0, 3.0)


def model_check(env, held_out: dict, fitted: np.ndarray) -> dict:
    """The surrogate planner fitted on the ``fitted`` states' transitions: its fit report and
    one charge per :data:`KAPPAS` (``{"fit": {...}, "0.0": row, ...}``, rows :data:`CHARGE_KEYS`)."""
    from rl_battery.envs import run_episode
    from rl_battery.surrogate import EnsembleSurrogate, SurrogatePlanner

    surrogate = EnsembleSurrogate(held_out["obs"].shape[1], 1, seed=0)
    report = surrogate.fit(*(held_out[k][fitted] for k in TRANSITION_KEYS), epochs=200, min_updates=4000)
    limits = env.observation_limits()
    rows: dict = {"fit": report.as_dict()}
    for kappa in KAPPAS:
        rows[str(kappa)] = _charge_row(run_episode(env, SurrogatePlanner(surrogate, *limits, kappa=kappa).policy))
    return rows


def study(held_out: dict, train: dict, parameter_set: str, extra: dict | None = None) -> dict:
    """Errors of both observations, within the held-out set and across sets, their
    closed-loop charges, and the held-out predictions for the figure."""
    from rl_battery.baselines import LookaheadPolicy
    from rl_battery.envs import CellFastCharge, run_episode

    soc, feasible = held_out["obs"][:, 0], held_out["label"]
    fitted = held_out["charge"] % 4 != 0
    env = CellFastCharge(study_env_config(parameter_set, extra=extra))  # one env (and PyBaMM build) for every charge
    lookahead = _charge_row(run_episode(env, LookaheadPolicy(env)))
    result: dict = {"target_soc": env.target_soc, "within_set": {}, "across_sets": {}, "closed_loop": {},
                    "predictions": {}}
    for name, entries in OBSERVATIONS.items():
        x = held_out["obs"][:, entries]
        within = fit(x[fitted], feasible[fitted])
        result["within_set"][name] = errors(within(x[~fitted]), feasible[~fitted], soc[~fitted])
        across = fit(train["obs"][:, entries], train["label"])
        predicted = across(x)
        result["across_sets"][name] = errors(predicted, feasible, soc)
        result["closed_loop"][name] = {fitted_on: {"lookahead": lookahead, **closed_loop(env, predict, entries)}
                                       for fitted_on, predict in (("within_set", within), ("across_sets", across))}
        result["predictions"][name] = predicted.tolist()
    result["model_check"] = {"lookahead": lookahead, **model_check(env, held_out, fitted)}
    return result


def _charge_cell(row: dict, lookahead_min: float, target_soc: float) -> str:
    from rl_battery.evaluation.cell_benchmark import short_of_target

    text = f"{row['charge_time_min'] / lookahead_min:.3f}"
    if row["constraint_violations"]:
        text += f", {row['constraint_violations']:.0f}v"
    return text + short_of_target(row["final_soc"], target_soc).replace(" SOC", ", SOC")


def markdown(result: dict) -> str:
    lines = [f"Held out: {result['held_out']} ({result['states']['held_out']} states, "
             f"{result['states']['train']} from the training sets); |predicted / feasible - 1| at SOC >= "
             f"{MIN_SOC}, median / 90th percentile, share over-estimated by > 2 %."
             + (f" Env settings on top of the study's: {result['env_config']}." if result.get("env_config") else ""), "",
             "| observation | within the set | across sets |", "|---|---|---|"]
    for name in OBSERVATIONS:
        cells = [f"{e['median_abs']:.3f} / {e['p90_abs']:.3f}, {e['over_2pct']:.2f}"
                 for e in (result["within_set"][name], result["across_sets"][name])]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    lines += ["", "Closed loop from SOC 0.1: charge time / the look-ahead's, v = violation steps, SOC x = "
              "stopped short of the target.", "",
              "| observation, fitted | look-ahead [min] | " + " | ".join(f"{d} x predicted" for d in DERATINGS) + " |",
              "|---|---|" + "---|" * len(DERATINGS)]
    target = result["target_soc"]
    for name in OBSERVATIONS:
        for fitted, rows in result["closed_loop"][name].items():
            lookahead = rows["lookahead"]["charge_time_min"]
            cells = [_charge_cell(rows[str(d)], lookahead, target) for d in DERATINGS]
            lines.append(f"| {name}, {fitted.replace('_', ' ')} | {lookahead:.1f} | " + " | ".join(cells) + " |")
    check = result["model_check"]
    lookahead = check["lookahead"]["charge_time_min"]
    lines += ["", "One-step model check (surrogate planner fitted on the set's transitions, "
              f"{check['fit']['n_train']} training, next-observation MSE {check['fit']['val_obs_mse']:.2g} "
              "on the held-out part):", "",
              "| look-ahead [min] | " + " | ".join(f"kappa {k:g}" for k in KAPPAS) + " |", "|---|" + "---|" * len(KAPPAS),
              f"| {lookahead:.1f} | " + " | ".join(_charge_cell(check[str(k)], lookahead, target) for k in KAPPAS) + " |"]
    return "\n".join(lines)


def figure(result: dict, held_out: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in OBSERVATIONS:
        ax.scatter(held_out["label"], result["predictions"][name], s=5, alpha=0.5, label=f"{name} (across sets)")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="feasible current / max current (look-ahead)", ylabel="predicted from the observation",
           title=f"{result['held_out']}: the boundary from what a policy sees")
    ax.legend()
    return fig


def main():
    from rl_battery.data.atomic import atomic_path
    from rl_battery.evaluation.report import write_report
    from rl_battery.experiments import load_experiment

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held-out", default="ORegan2022")
    parser.add_argument("--episodes", type=int, default=60, help="charges on the held-out set")
    parser.add_argument("--train-sets", nargs="+", default=None, help="default: cell_reptile's meta_tasks")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.03, 0.05, 0.1, 0.2, 0.4, 1.0],
                        help="graphite diffusivity factors of the training sets")
    parser.add_argument("--train-episodes", type=int, default=8, help="charges per training set and scale")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-config", type=json.loads, default={},
                        help="JSON of env settings on top of the study's (the same for collection and the closed loop)")
    parser.add_argument("--states-from", default=None, help="states.npz of an earlier run: refit only")
    parser.add_argument("--out", default="bench_results/study_feasible_boundary")
    args = parser.parse_args()

    train_sets = args.train_sets or load_experiment("cell_reptile").config["training"]["meta_tasks"]
    if args.states_from:
        with np.load(args.states_from) as saved:
            held_out = {key: saved[f"held_out_{key}"] for key in HELD_OUT_KEYS}
            train = {key: saved[f"train_{key}"] for key in ("obs", "label")}
    else:
        jobs = [(args.held_out, 1.0, args.episodes, args.seed, args.env_config)]
        jobs += [(name, scale, args.train_episodes, args.seed + 1000 * (i + 1), args.env_config)
                 for i, (name, scale) in enumerate((n, s) for n in train_sets for s in args.scales)]
        start = time.time()
        with ProcessPoolExecutor(args.workers) as pool:
            parts = list(pool.map(collect, jobs))
        held_out = parts[0]
        train = {key: np.concatenate([p[key] for p in parts[1:]]) for key in ("obs", "label")}
        print(f"collected {len(held_out['label'])} + {len(train['label'])} states in {time.time() - start:.0f} s")
        with atomic_path(Path(args.out) / "states.npz") as tmp, open(tmp, "wb") as file:
            np.savez(file, **{f"held_out_{k}": v for k, v in held_out.items()},
                     **{f"train_{k}": v for k, v in train.items()})
    result = {"held_out": args.held_out, "train_sets": train_sets, "scales": args.scales, "env_config": args.env_config,
              "states": {"held_out": len(held_out["label"]), "train": len(train["label"])},
              **study(held_out, train, args.held_out, args.env_config)}
    md = markdown(result)
    write_report(args.out, "study_feasible_boundary", result, md, figure(result, held_out))
    print(md)


if __name__ == "__main__":
    main()
