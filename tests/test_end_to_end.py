"""Slow end-to-end tests: RLlib training, checkpoints, evaluation CLI, Tune smoke run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_session():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def mbrl_checkpoint(ray_session, tmp_path_factory):
    from rl_battery.algorithms import MBRL, BatteryMetricsCallback, MBRLConfig
    from rl_battery.algorithms.updates import entropy_temperatures
    from rl_battery.envs import PackFastCharge

    root = tmp_path_factory.mktemp("mbrl")
    config = (
        MBRLConfig()
        .environment(PackFastCharge, env_config={"Np": 2, "Ns": 2, "pack_seed": 1})
        .env_runners(num_env_runners=0, rollout_fragment_length=24)
        .training(offline_data_dir=str(root / "offline"), num_steps_sampled_before_learning_starts=24,
                  num_updates_per_iteration=2, train_batch_size_per_learner=32, surrogate_hidden_size=16,
                  surrogate_num_layers=1, surrogate_ensemble_size=2, surrogate_epochs=1, num_model_rollouts=16,
                  prefill_policy="lookahead", prefill_episodes=1, safety_shield=True)
        .reporting(min_sample_timesteps_per_iteration=24, min_time_s_per_iteration=0)
        .callbacks(BatteryMetricsCallback)
        .fault_tolerance(restart_failed_sub_environments=True)
    )
    algo = config.build_algo()
    result = algo.train()
    filters = [env.unwrapped._action_filter for env in algo.env_runner.env.unwrapped.envs]
    alpha = entropy_temperatures(algo)
    path = algo.save_to_path(str(root / "checkpoint"))
    weights = {k: v.clone() for k, v in algo.surrogate.state_dict().items()}
    rollout_dir = algo.rollout_dir
    algo.stop()
    return {"result": result, "path": Path(path), "weights": weights, "rollout_dir": rollout_dir, "cls": MBRL,
            "filters": filters, "alpha": alpha}


def test_one_mbrl_iteration_writes_parquet_and_reports_metrics(mbrl_checkpoint):
    from rl_battery.data import read_rollouts

    result = mbrl_checkpoint["result"]
    assert result["mbrl"]["real_transitions_written"] >= 24
    assert result["mbrl"]["synthetic_transitions"] > 0
    assert np.isfinite(result["mbrl"]["surrogate_val_obs_mse"])
    assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 24
    table = read_rollouts(mbrl_checkpoint["rollout_dir"])
    sources = table.column("source").to_pylist()
    assert sources.count("real") == result["mbrl"]["real_transitions_written"]
    # The warm start: one look-ahead episode, written with its controller's name.
    assert sources.count("lookahead") == result["mbrl"]["prefill_transitions"] > 0
    assert len(table.column("cell_soc")[0].as_py()) == 4
    # The safety layer was built from the fitted surrogate and installed on the env runner.
    assert all(f is not None for f in mbrl_checkpoint["filters"])


def test_restore_keeps_surrogate_weights_and_sac_alpha(mbrl_checkpoint):
    from rl_battery.algorithms.updates import entropy_temperatures

    restored = mbrl_checkpoint["cls"].from_checkpoint(str(mbrl_checkpoint["path"]))
    try:
        state = restored.surrogate.state_dict()
        for key, value in mbrl_checkpoint["weights"].items():
            assert torch.equal(state[key], value), key
        assert restored.rollout_dir == mbrl_checkpoint["rollout_dir"]
        # SAC's alpha, which RLlib's Learner state leaves out (a lost one comes back as log 1 = 0)
        assert mbrl_checkpoint["alpha"]["default_policy"] != 0.0
        assert entropy_temperatures(restored) == pytest.approx(mbrl_checkpoint["alpha"])
    finally:
        restored.stop()


def test_rllib_evaluate_compares_with_the_references_on_another_pack(mbrl_checkpoint, tmp_path):
    rllib = Path(sys.executable).with_name("rllib")
    proc = subprocess.run([str(rllib), "evaluate", str(mbrl_checkpoint["path"]), "--out", str(tmp_path),
                           "--initial-soc", "0.5", "--env-config", '{"pack_seed": [7, 8], "soh_mean": [0.75, 0.85]}',
                           "--shield-kappa", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for label in ("policy + safety shield", "look-ahead", "CC-CT-CV", "CC-CV", "ratio"):
        assert label in proc.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # A pack distribution is pinned to one pack, so every controller charges the same one.
    assert "seed=7" in metrics["task_id"] and metrics["env_config"]["soh_mean"] == pytest.approx(0.8)
    assert metrics["safety_shield"] is True and metrics["shield_kappa"] == 2.0  # policy + shield, margin 2
    assert metrics["controller"] == "policy + safety shield" and "(policy + safety shield)" in proc.stdout
    results = metrics["results"]
    assert results["lookahead"]["ratio_to_lookahead"] == 1.0
    assert results["lookahead"]["constraint_violations"] == 0 and results["lookahead"]["final_soc"] >= 0.8
    assert results["cccv"]["charge_time_min"] >= results["lookahead"]["charge_time_min"]
    assert results["policy"]["ratio_to_lookahead"] == pytest.approx(
        results["policy"]["charge_time_min"] / results["lookahead"]["charge_time_min"])
    assert (tmp_path / "charging.png").read_bytes()[:4] == b"\x89PNG"
    assert "step_max_cell_temperature_K" in (tmp_path / "trace.csv").read_text().splitlines()[0]


def test_rllib_evaluate_rejects_an_unknown_env_config_key(mbrl_checkpoint, tmp_path):
    rllib = Path(sys.executable).with_name("rllib")
    proc = subprocess.run([str(rllib), "evaluate", str(mbrl_checkpoint["path"]), "--env-config", '{"pak_seed": 7}'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "pak_seed" in proc.stderr and "pack_seed" in proc.stderr


def test_rllib_evaluate_rejects_a_non_checkpoint(tmp_path):
    rllib = Path(sys.executable).with_name("rllib")
    proc = subprocess.run([str(rllib), "evaluate", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not an RLlib Algorithm checkpoint" in proc.stderr


def test_plan_mode_acts_with_the_surrogate_planner_from_the_first_step(ray_session, tmp_path):
    import pyarrow.compute as pc

    from rl_battery.algorithms import MBRLConfig
    from rl_battery.baselines import LookaheadPolicy
    from rl_battery.data import read_rollouts
    from rl_battery.envs import PackFastCharge
    from rl_battery.surrogate import EnsembleSurrogate, SurrogatePlanner, transition_arrays

    sizes = dict(surrogate_hidden_size=16, surrogate_num_layers=1, surrogate_ensemble_size=2)
    config = (
        MBRLConfig()
        .environment(PackFastCharge, env_config={"Np": 2, "Ns": 2, "pack_seed": 1})
        .env_runners(num_env_runners=0, rollout_fragment_length=16)
        .training(offline_data_dir=str(tmp_path), num_steps_sampled_before_learning_starts=1000,
                  surrogate_epochs=1, prefill_policy="lookahead", prefill_episodes=1, action_mode="plan",
                  shield_kappa=2.0, planner_bias_correction=True, prefill_excitation=(0.6, 1.0), **sizes)
        .reporting(min_sample_timesteps_per_iteration=16, min_time_s_per_iteration=0)
    )
    algo = config.build_algo()
    try:
        # Fitted at set-up on the warm start: that model chooses every action of iteration 1.
        weights = {k: v.clone() for k, v in algo.surrogate.state_dict().items()}
        low, high = algo._obs_limits
        result = algo.train()
        table = read_rollouts(algo.rollout_dir)
        checkpoint = algo.save_to_path(str(tmp_path / "checkpoint"))
        final = {k: v.clone() for k, v in algo.surrogate.state_dict().items()}
    finally:
        algo.stop()
    model = EnsembleSurrogate.from_weights(weights, ensemble_size=2, hidden_size=16, num_layers=1)
    # The excited warm start: the look-ahead's current scaled by the run's first factors,
    # and, the factors being <= 1, within the limits at every step.
    warm = table.filter(pc.equal(table.column("source"), "lookahead")).sort_by("step_index")
    env = PackFastCharge({"Np": 2, "Ns": 2, "pack_seed": 1})
    _, info = env.reset(seed=0)  # the first warm-start episode of a run with seed 0
    factors = np.random.default_rng((0, 1)).uniform(0.6, 1.0, 2)
    expected_A = max(env.min_current_A, LookaheadPolicy(env).current(info) * factors[0])
    assert warm.column("current_A")[0].as_py() == pytest.approx(expected_A, rel=1e-6)
    assert len(set(np.round(warm.column("current_A").to_numpy(), 6))) > 1
    assert max(warm.column("step_max_cell_voltage_V").to_numpy()) <= env.settings.voltage_limit_V
    assert max(warm.column("step_max_cell_temperature_K").to_numpy()) <= env.settings.temperature_limit_K
    real_table = table.filter(pc.equal(table.column("source"), "real"))
    real = transition_arrays(real_table)
    assert len(real["obs"]) >= 16
    # Every real action is the bias-corrected planner's, replayed episode by episode (the env
    # resets the planner with each episode, so a fresh one per episode replays it).
    episode, step = np.array(real_table.column("episode_id").to_pylist()), real_table.column("step_index").to_numpy()
    for eid in np.unique(episode):
        rows = np.flatnonzero(episode == eid)
        rows = rows[np.argsort(step[rows])]
        replay, corrected = SurrogatePlanner(model, low, high, kappa=2.0, bias_correction=True), []
        for i in rows:
            np.testing.assert_allclose(real["action"][i], replay(real["obs"][i]), atol=1e-6)
            corrected.append(bool(np.any(replay.bias != 0)))
        assert corrected == [False] + [True] * (len(rows) - 1)  # a residual from the second step on
    # The set-up model was scored on the new real episodes before its refit.
    for key in ("surrogate_new_data_k1_rmse", "surrogate_new_data_k10_rmse_limits"):
        assert np.isfinite(result["mbrl"][key]) and result["mbrl"][key] >= 0
    # Evaluation acts with the planner of the checkpoint's (refitted) surrogate.
    from rl_battery.evaluation.checkpoint_policy import load_checkpoint_policy

    policy = load_checkpoint_policy(checkpoint)
    assert policy.action_mode == "plan" and policy.description == "surrogate planner"
    env = PackFastCharge({"Np": 2, "Ns": 2, "pack_seed": 1})
    assert policy.planner_bias_correction
    obs = real["obs"][rows]  # the last episode, in order
    expected = SurrogatePlanner(EnsembleSurrogate.from_weights(final, ensemble_size=2, hidden_size=16, num_layers=1),
                                low, high, kappa=2.0, bias_correction=True)
    control = policy.controller(env)
    np.testing.assert_allclose(np.stack([control(o) for o in obs]), np.stack([expected(o) for o in obs]), atol=1e-6)
    with pytest.raises(ValueError, match="warm start"):
        MBRLConfig().environment(PackFastCharge).training(action_mode="plan").validate()
    with pytest.raises(ValueError, match="prefill_excitation"):
        MBRLConfig().environment(PackFastCharge).training(prefill_excitation=(0.6, 1.2)).validate()


def test_adaptive_cycles_age_the_pack_adapt_and_survive_restore(ray_session, tmp_path):
    import pyarrow.compute as pc

    from rl_battery.algorithms import MBRLConfig
    from rl_battery.data import read_rollouts
    from rl_battery.envs import PackFastCharge
    from rl_battery.evaluation.checkpoint_policy import load_checkpoint_policy
    from rl_battery.surrogate import CombinedSurrogate

    config = (
        MBRLConfig()
        .environment(PackFastCharge, env_config={"Np": 2, "Ns": 2, "pack_seed": [1, 2], "ageing_temperature_K": 318.15})
        .env_runners(num_env_runners=0, rollout_fragment_length=16)
        .training(offline_data_dir=str(tmp_path / "offline"), num_steps_sampled_before_learning_starts=16,
                  num_updates_per_iteration=1, train_batch_size_per_learner=16, surrogate_hidden_size=16,
                  surrogate_num_layers=1, surrogate_ensemble_size=2, surrogate_epochs=1, num_model_rollouts=8,
                  prefill_policy="lookahead", prefill_episodes=1, action_mode="plan", adaptive_cycles=2,
                  cycle0_iterations=1, adaptive_cycle_iterations=2, ageing_cycles_per_cycle=1000,
                  adaptive_real_episodes=1, adaptive_evaluation=False)
        .reporting(min_sample_timesteps_per_iteration=16, min_time_s_per_iteration=0)
    )
    algo = config.build_algo()
    try:
        algo.train()
        result = algo.train()  # cycle 1: aged, charged once, adapted
        assert algo.cycle == 1 and isinstance(algo.model, CombinedSurrogate)
        cycle = result["cycle"]
        assert cycle["age_cycles"] == 1000 and cycle["real_episodes"] == 1
        assert 0.5 < cycle["soh_estimate"] <= 1 and cycle["soh_true"] < algo._reference.soh
        for key in ("static_k1_rmse", "capacity_factor", "resistance_increase_Ohm"):
            assert np.isfinite(cycle[key])
        # The cycle's second iteration samples nothing real: one training step, no new charge.
        sampled = result["env_runners"]["num_env_steps_sampled_lifetime"]
        result = algo.train()
        assert algo.cycle == 1 and result["env_runners"]["num_env_steps_sampled_lifetime"] == sampled
        assert result["mbrl"]["synthetic_transitions"] > 0
        # The env runners hold the condition and the planner over G as restorable state...
        runner = algo.env_runner
        state = runner.get_state()["battery_state"]
        assert state["condition"]["age_cycles"] == 1000 and state["action_filter"]["surrogate"]["kind"] == "combined"
        # ...and apply it to envs they make anew (as after an env failure or a restart).
        runner.make_env()
        env = runner.env.unwrapped.envs[0].unwrapped
        assert env.condition()["age_cycles"] == 1000 and env._action_filter is not None
        theta = algo.differential.theta.copy()
        checkpoint = algo.save_to_path(str(tmp_path / "checkpoint"))
        table = read_rollouts(algo.rollout_dir)
    finally:
        algo.stop()
    aged = table.filter(pc.equal(table.column("cycle_index"), 1))
    assert len(aged) > 0 and set(aged.column("equivalent_cycles").to_pylist()) == {1000.0}
    assert set(aged.column("source").to_pylist()) == {"real"}

    restored = config.build_algo()
    try:
        restored.restore_from_path(checkpoint)
        assert restored.cycle == 1
        np.testing.assert_array_equal(restored.differential.theta, theta)
        assert restored.env_runner.get_state()["battery_state"]["condition"]["age_cycles"] == 1000
        result = restored.train()  # cycle 2 continues from the restored state (iteration 3)
        assert restored.cycle == 2 and result["cycle"]["age_cycles"] == 2000
    finally:
        restored.stop()
    policy = load_checkpoint_policy(checkpoint)
    assert policy.cycle == 1 and isinstance(policy.surrogate, CombinedSurrogate)
    assert policy.condition["age_cycles"] == 1000 and "adapted in cycle 1" in policy.description


def test_resume_reads_only_rollouts_from_before_the_checkpoint(ray_session, tmp_path):
    from rl_battery.algorithms import MBRLConfig
    from rl_battery.data import read_rollouts
    from rl_battery.data.rollouts import SET_ASIDE_DIR, file_iteration
    from rl_battery.envs import PackFastCharge

    config = (
        MBRLConfig()
        .environment(PackFastCharge, env_config={"Np": 2, "Ns": 2, "pack_seed": 1})
        .env_runners(num_env_runners=0, rollout_fragment_length=16)
        .training(offline_data_dir=str(tmp_path), num_steps_sampled_before_learning_starts=16, num_updates_per_iteration=1,
                  train_batch_size_per_learner=16, surrogate_hidden_size=16, surrogate_num_layers=1,
                  surrogate_ensemble_size=2, surrogate_epochs=1, num_model_rollouts=8, prefill_policy="cccv",
                  prefill_episodes=1)
        .reporting(min_sample_timesteps_per_iteration=16, min_time_s_per_iteration=0)
    )
    algo = config.build_algo()
    try:
        algo.train()
        checkpoint = algo.save_to_path(str(tmp_path / "checkpoint"))  # after 1 iteration
        algo.train()  # iteration index 1: written after the checkpoint, then the driver "dies"
        run_dir = algo.rollout_dir
    finally:
        algo.stop()
    assert sorted(file_iteration(f) for f in run_dir.glob("*.parquet")) == [0, 0, 1]  # prefill, iter 0, iter 1
    resumed = config.build_algo()
    try:
        resumed.restore_from_path(checkpoint)
        assert resumed.rollout_dir == run_dir
        kept = sorted(file_iteration(f) for f in run_dir.glob("*.parquet"))
        aside = list((run_dir / SET_ASIDE_DIR).rglob("*.parquet"))
        assert kept == [0, 0] and [file_iteration(f) for f in aside] == [1]
        resumed.train()  # iteration index 1 again, by this attempt
    finally:
        resumed.stop()
    assert sorted(file_iteration(f) for f in run_dir.glob("*.parquet")) == [0, 0, 1]
    table = read_rollouts(run_dir)
    assert len(set(table.column("episode_id").to_pylist())) >= 2


def test_resume_rule_on_a_trial_folder_that_an_earlier_attempt_left(tmp_path):
    """Tune's resume rebuilds the trial in the same folder: set-up sets the earlier attempt's
    files aside, the restore brings back those from before the checkpoint."""
    from types import SimpleNamespace

    from rl_battery.algorithms.mbrl import MBRL
    from rl_battery.data import read_rollouts, transitions_table, write_table_atomic
    from rl_battery.data.rollouts import SET_ASIDE_DIR, rollout_file_name, set_aside
    from tests.test_data import _rows

    run = tmp_path / "trial"
    for prefix, iteration in (("prefill", 0), ("iter", 0), ("iter", 1), ("iter", 2), ("cycle_001", 2)):
        write_table_atomic(transitions_table(_rows(2, f"{prefix}{iteration}")), run / rollout_file_name(prefix, iteration))
    algo = SimpleNamespace(rollout_dir=run, _attempt="attempt_2")
    algo._rollout_files = lambda directory=None: MBRL._rollout_files(algo, directory)
    algo._earlier_attempt = set_aside(algo._rollout_files(), run, "before_attempt_2")  # as set-up does
    write_table_atomic(transitions_table(_rows(2, "prefill-again")), run / rollout_file_name("prefill", 0))
    MBRL._apply_resume_rule(algo, run, 2)  # the checkpoint was taken after 2 iterations
    episodes = set(read_rollouts(run).column("episode_id").to_pylist())
    assert episodes == {"prefill0", "iter0", "iter1"}
    assert {p.parent.name for p in (run / SET_ASIDE_DIR).rglob("*.parquet")} == {"before_attempt_2",
                                                                                "attempt_2_superseded"}
