"""Slow: runs survive what breaks them. The driver killed mid-run and resumed, an env-runner
process killed mid-run, and a simulator failure inside an env runner."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

# A small MBRL pack run: 1 iteration = 16 real steps, a checkpoint every iteration.
TINY_MBRL = """\
algorithm: MBRL
env: PackFastCharge-v0
env_config: {Np: 2, Ns: 2, pack_seed: 1}
config:
  training: {num_steps_sampled_before_learning_starts: 16, num_updates_per_iteration: 1,
             train_batch_size_per_learner: 16, surrogate_hidden_size: 16, surrogate_num_layers: 1,
             surrogate_ensemble_size: 2, surrogate_epochs: 1, num_model_rollouts: 8, prefill_policy: cccv,
             prefill_episodes: 1}
  env_runners: {num_env_runners: 0, rollout_fragment_length: 16}
  reporting: {min_sample_timesteps_per_iteration: 16, min_time_s_per_iteration: 0}
  debugging: {seed: 0}
stop: {training_iteration: 6}
tune: {checkpoint_frequency: 1, num_to_keep: 10}
"""


def _run(folder: Path, *extra: str) -> subprocess.Popen:
    cli = Path(sys.executable).with_name("rl-battery")
    return subprocess.Popen([str(cli), "run", "--experiment", "tiny", "--config-dir", str(folder), *extra], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_driver_killed_mid_run_resumes_from_its_last_checkpoint(tmp_path, sig):
    from rl_battery.data import read_rollouts
    from rl_battery.data.rollouts import SET_ASIDE_DIR, file_iteration

    (tmp_path / "tiny.yaml").write_text(TINY_MBRL)
    proc = _run(tmp_path)
    deadline = time.time() + 600
    while time.time() < deadline and len(list((tmp_path / "ray_results" / "tiny").glob("*/checkpoint_*"))) < 2:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(1)
    import psutil

    time.sleep(3)  # the experiment state (which checkpoints exist) is saved every second
    started = psutil.Process(proc.pid).children(recursive=True)  # its Ray cluster, workers included
    os.killpg(proc.pid, sig)
    proc.wait(timeout=120)
    # What survives the driver (SIGKILL leaves its Ray processes behind) goes too; only this
    # run's processes, never `ray stop`, which would stop every Ray cluster of the user.
    for child in started:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    trial = next((tmp_path / "ray_results" / "tiny").glob("MBRL_*"))
    assert next(tmp_path.glob("offline_data/tiny/*"))
    resumed = _run(tmp_path, "--resume")
    out, _ = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, out[-3000:]
    import json

    iterations = [json.loads(line)["training_iteration"] for line in (trial / "result.json").read_text().splitlines()]
    assert iterations[-1] == 6 and iterations == sorted(iterations)  # continued, not restarted at 1
    runs = list((tmp_path / "offline_data" / "tiny").iterdir())
    assert len(runs) == 1  # the resumed trial kept writing to its own folder
    run = runs[0]
    counts = Counter(f.name.split("_")[0] + str(file_iteration(f)) for f in run.glob("*.parquet"))
    assert counts["iter" + "0"] == 1 and max(counts.values()) == 1  # never two files for one iteration
    assert sorted(file_iteration(f) for f in run.glob("iter_*.parquet")) == list(range(6))
    assert len(read_rollouts(run)) > 0
    set_aside = list((run / SET_ASIDE_DIR).rglob("*.parquet"))
    assert all(f.parent.parent.name == SET_ASIDE_DIR for f in set_aside)  # labelled by attempt
    # what was set aside was written after the newest checkpoint (2 iterations or more): the
    # run was restored from it, not from an older one or from scratch
    assert all(file_iteration(f) >= 2 for f in set_aside if not f.parent.name.endswith("_superseded"))


def test_env_runner_killed_mid_run_and_a_solver_failure_inside_one(tmp_path):
    import cloudpickle
    import ray

    import tests.failing_env as failing_env
    from rl_battery.algorithms import MBRLConfig
    from rl_battery.data import read_rollouts

    cloudpickle.register_pickle_by_value(failing_env)  # the env runner processes get the class itself
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    config = (
        MBRLConfig()
        .environment(failing_env.FailingPack, env_config={"Np": 2, "Ns": 2, "pack_seed": 1})
        .env_runners(num_env_runners=1, rollout_fragment_length=16)
        .training(offline_data_dir=str(tmp_path), num_steps_sampled_before_learning_starts=16, num_updates_per_iteration=1,
                  train_batch_size_per_learner=16, surrogate_hidden_size=16, surrogate_num_layers=1,
                  surrogate_ensemble_size=2, surrogate_epochs=1, num_model_rollouts=8)
        .reporting(min_sample_timesteps_per_iteration=16, min_time_s_per_iteration=0)
        .fault_tolerance(restart_failed_env_runners=True, restart_failed_sub_environments=True)
    )
    algo = config.build_algo()
    try:
        algo.train()
        before = read_rollouts(algo.rollout_dir)
        # a solver failure on the env runner ended its episode with the penalty, sampling went on
        failed = np.asarray(before.column("reward").to_pylist())
        assert np.any(np.isclose(failed, -50.0)), "the failing step's penalty is in the rollouts"
        actor = algo.env_runner_group._worker_manager.actors()[1]
        ray.kill(actor, no_restart=False)
        for _ in range(3):
            result = algo.train()
        after = read_rollouts(algo.rollout_dir)
    finally:
        algo.stop()
        ray.shutdown()
    assert result["training_iteration"] == 4
    # every transition written before the kill is still there; sampling continued after it
    assert set(before.column("episode_id").to_pylist()) <= set(after.column("episode_id").to_pylist())
    assert len(after) > len(before)
