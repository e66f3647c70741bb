"""Benchmark: real env steps per second (one core) for the cell and pack envs, surrogate
transitions per second (batched), and the ratio. Prints JSON and writes it to --out.

    python scripts/bench_sim.py [--steps 40] [--out bench_results/bench_sim.json]
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch


def env_steps_per_second(env_id: str, steps: int) -> dict:
    import gymnasium as gym

    import rl_battery.envs  # noqa: F401

    env = gym.make(env_id).unwrapped
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
    return {"env": env_id, "steps": steps, "median_step_s": float(np.median(times)),
            "steps_per_s": float(1.0 / np.median(times))}


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
    parser.add_argument("--out", default="bench_results/bench_sim.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cell = env_steps_per_second("CellFastCharge-v0", args.steps)
    pack = env_steps_per_second("PackFastCharge-v0", args.steps)
    surrogate = surrogate_transitions_per_second(14)
    result = {
        "cell_env": cell,
        "pack_env": pack,
        "surrogate_transitions_per_s": surrogate,
        "surrogate_vs_pack_env_ratio": surrogate / pack["steps_per_s"],
        "surrogate_vs_cell_env_ratio": surrogate / cell["steps_per_s"],
        "note": "one core (torch threads = 1); surrogate: 5-member ensemble 3x200, batch 4096",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
