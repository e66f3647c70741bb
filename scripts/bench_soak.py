"""Soak every registered env with random actions: crashes, solver failures, speed, memory.

    python scripts/bench_soak.py [--steps 10000] [--envs CellFastCharge-v0 ...] [--seed 0] \
        [--out bench_results/bench_soak.json]

For each env (default: every id in rl_battery.envs.ENV_CLASSES, default configs), ``--steps``
uniformly random actions with a reset whenever an episode ends. Reports per env: exceptions
that escaped the env (crashes; none expected: a solver failure must end the episode with the
documented penalty instead), episodes ended by a solver failure (``info["solver_error"]``)
and their reward, episodes, steps/s, and resident memory: at the start, at the end and its
growth in MB per 1,000 steps (least-squares slope over the second half, after warm-up).
Writes JSON (atomically) and prints it.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def soak(env_id: str, steps: int, seed: int) -> dict:
    import gymnasium as gym
    import psutil

    process = psutil.Process()
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    crashes, failures, failure_rewards, episodes = [], 0, set(), 0
    rss, started = [], time.perf_counter()
    for step in range(steps):
        if step % 250 == 0:
            rss.append((step, process.memory_info().rss / 2**20))
        try:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        except Exception as exc:  # a crash: counted, and the env is rebuilt so the soak goes on
            crashes.append(f"step {step}: {type(exc).__name__}: {exc}"[:300])
            env = gym.make(env_id)
            obs, info = env.reset(seed=seed + step)
            continue
        if "solver_error" in info:
            failures += 1
            failure_rewards.add(float(reward))
        if terminated or truncated:
            episodes += 1
            obs, info = env.reset()
    elapsed = time.perf_counter() - started
    rss.append((steps, process.memory_info().rss / 2**20))
    tail = np.array(rss[len(rss) // 2:])
    slope = float(np.polyfit(tail[:, 0], tail[:, 1], 1)[0] * 1000) if len(tail) > 1 else float("nan")
    return {"env": env_id, "steps": steps, "episodes": episodes, "crashes": len(crashes), "crash_messages": crashes[:5],
            "solver_failures": failures, "solver_failure_rewards": sorted(failure_rewards),
            "steps_per_s": steps / elapsed, "rss_start_MB": rss[0][1], "rss_end_MB": rss[-1][1],
            "rss_growth_MB_per_1000_steps": slope}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--envs", nargs="+", default=None, help="env ids (default: every registered rl_battery env)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench_results/bench_soak.json")
    args = parser.parse_args()

    from rl_battery.data.atomic import atomic_path
    from rl_battery.envs import ENV_CLASSES

    results = [soak(env_id, args.steps, args.seed) for env_id in (args.envs or list(ENV_CLASSES))]
    for r in results:
        print(f"{r['env']}: {r['steps']} steps, {r['episodes']} episodes, {r['crashes']} crashes, "
              f"{r['solver_failures']} solver failures, {r['steps_per_s']:.0f} steps/s, RSS {r['rss_start_MB']:.0f} -> "
              f"{r['rss_end_MB']:.0f} MB ({r['rss_growth_MB_per_1000_steps']:+.2f} MB per 1,000 steps)", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"seed": args.seed, "results": results}, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
