"""Benchmark: real env steps per second (one core) for the cell and pack envs, the accuracy of
the fast simulator settings against PyBaMM's defaults, batched surrogate transitions per
second, and sampled env steps per second of one RLlib trial with 1 and 2 remote env runners.
Prints JSON and writes it to --out.

    python scripts/bench_sim.py [--steps 40] [--skip-runners] [--out bench_results/bench_sim.json]
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch


def env_steps_per_second(env_id: str, steps: int, **env_config) -> dict:
    import gymnasium as gym

    import rl_battery.envs  # noqa: F401

    env = gym.make(env_id, **env_config).unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    times, done = [], False
    for _ in range(steps):
        if done:
            env.reset(seed=0)
        t = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 1).astype(np.float32))
        times.append(time.perf_counter() - t)
        done = terminated or truncated
    return {"env": env_id, "env_config": env_config, "steps": steps, "median_step_s": float(np.median(times)),
            "steps_per_s": float(1.0 / np.median(times))}


def _pack_trace(**kwargs) -> np.ndarray:
    from rl_battery.sim import CellHeterogeneity, PackSimulator

    pack = PackSimulator(3, 6, heterogeneity=CellHeterogeneity(soh_mean=0.9, soh_std=0.03), seed=0, **kwargs)
    pack.reset(0.1)
    rows = []
    for k in range(24):  # 12-18 A, changing every step: in-step maxima matter
        r = pack.step(15.0 + 3.0 * np.sin(k))
        rows.append(np.concatenate([r.cell_voltage_V, r.cell_max_voltage_V, r.cell_temperature_K,
                                    r.cell_max_temperature_K, r.cell_min_plating_potential_V]))
    return np.array(rows).reshape(24, 5, -1)


def _cell_trace(**kwargs) -> np.ndarray:
    from rl_battery.sim import CellSimulator

    cell = CellSimulator("Chen2020", **kwargs)
    cell.reset(0.1)
    rows = [cell.step(7.5 if k < 8 else 3.0 + 0.5 * k) for k in range(16)]
    return np.array([[r.voltage_V, r.max_voltage_V, r.temperature_K, r.max_temperature_K, r.min_plating_potential_V]
                     for r in rows])[:, :, None]


def accuracy() -> dict:
    """Max absolute differences of the fast settings against PyBaMM's defaults."""
    names = ("voltage_V", "step_max_voltage_V", "temperature_K", "step_max_temperature_K", "step_min_plating_V")

    def diff(a, b):
        return {n: float(np.max(np.abs(a[:, i] - b[:, i]))) for i, n in enumerate(names)}

    pack_ref = _pack_trace(n_output_points=10, rtol=1e-6, atol=1e-6, mesh="pybamm")
    cell_ref = _cell_trace(n_output_points=10, rtol=1e-6)
    return {
        "pack_fast_vs_liionpack_settings": diff(_pack_trace(mesh="coarse"), pack_ref),
        "pack_pybamm_mesh_vs_liionpack_settings": diff(_pack_trace(mesh="pybamm"), pack_ref),
        "cell_fast_vs_10_points_rtol_1e-6": diff(_cell_trace(), cell_ref),
        "note": "24 pack steps at 15 +- 3 A and 16 cell steps, max |difference| over cells and steps",
    }


def sampling_throughput(num_env_runners: int, iterations: int = 4) -> dict:
    """Env steps sampled per second of wall time by one SAC trial on the pack env."""
    import ray
    from ray.rllib.algorithms.sac import SACConfig

    from rl_battery.envs import PackFastCharge

    config = (
        SACConfig()
        .environment(PackFastCharge, env_config={"pack_seed": [0, 1, 2], "soh_mean": [0.85, 0.95], "initial_soc": [0.1, 0.6]})
        .env_runners(num_env_runners=num_env_runners, rollout_fragment_length=64 // max(1, num_env_runners),
                     num_cpus_per_env_runner=1)
        .training(num_steps_sampled_before_learning_starts=10_000, replay_buffer_config={"type": "EpisodeReplayBuffer"})
        .reporting(min_sample_timesteps_per_iteration=64, min_time_s_per_iteration=0)
    )
    algo = config.build_algo()
    try:
        algo.train()  # warm-up: env and model construction
        start = time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
        wall = time.perf_counter() - start
        steps = result["env_runners"]["num_env_steps_sampled_lifetime"]
        first = steps / (iterations + 1)
        return {"num_env_runners": num_env_runners, "sampled_steps_per_s": float((steps - first) / wall)}
    finally:
        algo.stop()
        ray.shutdown()


def surrogate_transitions_per_second(obs_dim: int, batch: int = 4096, repeats: int = 20) -> float:
    from rl_battery.surrogate import EnsembleSurrogate

    model = EnsembleSurrogate(obs_dim, 1, ensemble_size=5, hidden_size=200, num_layers=3)
    obs, act = torch.zeros(batch, obs_dim), torch.zeros(batch, 1)
    model.predict(obs, act)
    t = time.perf_counter()
    for _ in range(repeats):
        model.predict(obs, act)
    return batch * repeats / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--skip-runners", action="store_true", help="skip the 1 vs 2 env-runner measurement")
    parser.add_argument("--out", default="bench_results/bench_sim.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cell = env_steps_per_second("CellFastCharge-v0", args.steps)
    pack = env_steps_per_second("PackFastCharge-v0", args.steps)
    pack_pybamm_mesh = env_steps_per_second("PackFastCharge-v0", args.steps, mesh="pybamm")
    surrogate = surrogate_transitions_per_second(14)
    result = {
        "cell_env": cell,
        "pack_env": pack,
        "pack_env_pybamm_mesh": pack_pybamm_mesh,
        "accuracy": accuracy(),
        "surrogate_transitions_per_s": surrogate,
        "surrogate_vs_pack_env_ratio": surrogate / pack["steps_per_s"],
        "surrogate_vs_cell_env_ratio": surrogate / cell["steps_per_s"],
        "note": "one core (torch threads = 1); surrogate: 5-member ensemble 3x200, batch 4096",
    }
    if not args.skip_runners:
        result["pack_sampling"] = [sampling_throughput(n) for n in (1, 2)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
