"""Reptile over SAC: episodes run on the task they claim, the meta step, checkpoints, config."""

import copy
import math

import gymnasium as gym
import numpy as np
import pytest

import rl_battery.envs  # noqa: F401
from rl_battery.algorithms.reptile import ReptileConfig, _interpolate, meta_lr_at
from rl_battery.algorithms.updates import entropy_temperatures

pytestmark = pytest.mark.slow


def _config(**training):
    from rl_battery.algorithms import BatteryMetricsCallback
    from rl_battery.envs import CellFastCharge

    return (
        ReptileConfig()
        .environment(CellFastCharge, env_config={"parameter_set": "Chen2020", "initial_soc": 0.1})
        .env_runners(num_env_runners=0, rollout_fragment_length=32)
        .training(**{"meta_tasks": ["Ai2020"], "inner_steps": 2, "inner_updates_per_step": 2,
                     "num_steps_sampled_before_learning_starts": 32, "train_batch_size_per_learner": 32,
                     **training})
        .callbacks(BatteryMetricsCallback)
        .debugging(seed=3)
    )


@pytest.fixture(scope="module")
def ray_session():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def test_episodes_run_on_the_task_they_claim(ray_session):
    """The original meta-RL code reset every episode to Chen2020: here the env_config says
    Chen2020 and the only meta task is Ai2020, so every episode must be an Ai2020 cell."""
    algo = _config().build_algo()
    try:
        result = algo.train()
        assert result["reptile"]["fragments_on_task"] > 0
        assert result["reptile"]["fragments_on_other_task"] == 0
        episode = algo.env_runner.sample(num_episodes=1, explore=False)[0]
        first = episode.get_observations(0)
        ai = gym.make("CellFastCharge-v0", parameter_set="Ai2020", initial_soc=0.1).unwrapped.reset(seed=0)[0]
        chen = gym.make("CellFastCharge-v0", parameter_set="Chen2020", initial_soc=0.1).unwrapped.reset(seed=0)[0]
        # The physics, not only the label: the start voltage is Ai2020's OCV at SOC 0.1.
        assert first[1] == pytest.approx(ai[1], abs=1e-5) and abs(first[1] - chen[1]) > 1e-3
        assert episode.get_infos(-1)["task_id"] == "cell:Ai2020"
    finally:
        algo.stop()


def test_meta_step_checkpoint_and_task_stream_survive_restore(ray_session, tmp_path):
    from rl_battery.algorithms import Reptile

    algo = _config(meta_tasks=["Ai2020", "Marquis2019"], meta_lr=[[0, 0.5], [2, 0.1]],
                   task_ambient_temperature_K=[293.15, 303.15],
                   task_negative_diffusivity_scale=[0.05, 0.5]).build_algo()
    try:
        before = algo.meta_weights
        result = algo.train()
        scale = algo.task["negative_diffusivity_scale"]
        assert 0.05 <= scale <= 0.5 and result["reptile"]["task_negative_diffusivity_scale"] == pytest.approx(scale)
        assert algo.env_runner.env.unwrapped.envs[0].unwrapped.sim.negative_diffusivity_scale == scale
        # The meta_lr schedule: 0.5 at the first step, halfway to 0.1 at the second.
        assert result["reptile"]["meta_lr"] == 0.5
        assert algo.train()["reptile"]["meta_lr"] == pytest.approx(0.3)
        after = algo.meta_weights
        moved = [np.max(np.abs(a - b)) for a, b in zip(_leaves(after), _leaves(before))]
        assert max(moved) > 0  # the meta weights moved toward the adapted ones
        # The env runners act with the meta weights after the step.
        runner = algo.env_runner.module.get_state()
        learner = algo.learner_group.get_weights()["default_policy"]
        for name, value in runner.items():
            np.testing.assert_allclose(np.asarray(value), np.asarray(learner[name]), atol=1e-6)
        alpha = entropy_temperatures(algo)
        assert alpha["default_policy"] != 0.0  # log(initial_alpha = 1): the updates moved it
        path = algo.save_to_path(str(tmp_path / "ckpt"))
        next_task = algo.sample_task()
        restored = Reptile.from_checkpoint(path)
        try:
            assert restored.env_runner.env.unwrapped.envs[0].unwrapped.parameter_set == algo.task["parameter_set"]
            for a, b in zip(_leaves(restored.meta_weights), _leaves(after)):
                np.testing.assert_array_equal(a, b)
            # RLlib's Learner state leaves SAC's alpha out; a restore that lost it adapts at 1.0.
            assert entropy_temperatures(restored) == pytest.approx(alpha)
            restored.adapt({"parameter_set": "Ai2020"}, num_episodes=1)
            assert entropy_temperatures(restored) != pytest.approx(alpha)
            restored.begin_adaptation({"parameter_set": "Marquis2019"})  # adaptations never build on each other
            assert entropy_temperatures(restored) == pytest.approx(alpha)
            assert restored.sample_task() == next_task  # the task stream continues
        finally:
            restored.stop()
        # rllib evaluate on a Reptile checkpoint: the meta policy on a held-out set, with the optimum.
        from rl_battery.evaluation import evaluate_checkpoint, format_comparison

        result = evaluate_checkpoint(path, out_dir=tmp_path / "eval", optimum=True,
                                     env_config={"parameter_set": "NCA_Kim2011", "target_soc": 0.3})
        rows = result["results"]
        assert result["algorithm"] == "Reptile" and result["task_id"] == "cell:NCA_Kim2011"
        assert rows["optimal"]["constraint_violations"] == 0 and rows["optimal"]["final_soc"] >= 0.3
        assert rows["lookahead"]["ratio_to_optimum"] >= 1.0
        assert "/opt" in format_comparison(rows)
        # A benchmark on another env than the checkpoint's is refused before it adapts.
        from rl_battery.evaluation.cell_benchmark import reptile_curves

        with pytest.raises(ValueError, match="surface_observation"):
            reptile_curves(path, ["Ai2020"], [0], [0], {"parameter_set": "Chen2020", "initial_soc": 0.1,
                                                         "surface_observation": "log_margin"})
    finally:
        algo.stop()


def test_safety_check_deploys_the_latest_meta_weights_with_fewest_violations(ray_session, tmp_path):
    from rl_battery.algorithms import Reptile
    from rl_battery.evaluation.cell_benchmark import policy_row

    env_config = {"parameter_set": "Chen2020", "initial_soc": 0.1, "target_soc": 0.2}
    algo = _config(meta_check_interval=1).environment(env_config=env_config).build_algo()
    try:
        # The real check: the meta policy's charge on the training set, as the benchmark rolls it.
        record = algo.check_meta_policy()
        row = policy_row(algo.env_runner.module, "Ai2020", env_config)
        assert record["iteration"] == 1 and set(record["sets"]) == {"Ai2020"}
        assert record["sets"]["Ai2020"]["charge_time_min"] == row["charge_time_min"]
        assert record["violations"] == row["constraint_violations"]
        assert record["sets_short"] == int(row["final_soc"] < 0.2 - 1e-3)
        # Scripted checks: the first meta weights pass, the second break a limit, the third
        # tie the first (the later one wins a tie). One meta task, so every step sets the same
        # task again (which once left the env runner stepping an ended episode).
        scripted = iter([0, 3, 0])
        algo.check_meta_policy = lambda: {"iteration": algo.iteration + 1, "violations": next(scripted),
                                          "sets_short": 0, "charge_time_min": 3.0, "sets": {}}
        first = algo.train()
        phi_1 = copy.deepcopy(algo.meta_weights)
        second = algo.train()
        assert (first["reptile"]["deployed_iteration"], second["reptile"]["deployed_iteration"]) == (1, 1)
        assert second["reptile"]["check_violations"] == 3
        # phi went on; the env runners, the Learner and the checkpoint hold phi after step 1.
        assert max(np.max(np.abs(a - b)) for a, b in zip(_leaves(algo.meta_weights), _leaves(phi_1))) > 0
        _assert_module_holds(algo, phi_1)
        path = algo.save_to_path(str(tmp_path / "ckpt"))
        restored = Reptile.from_checkpoint(path)
        try:
            assert restored.deployed["record"]["iteration"] == 1
            _assert_module_holds(restored, phi_1)
            restored.adapt({"parameter_set": "Ai2020"}, num_episodes=1)
            restored.begin_adaptation({"parameter_set": "Ai2020"})  # adaptations start from the deployed weights
            _assert_module_holds(restored, phi_1)
        finally:
            restored.stop()
        assert algo.train()["reptile"]["deployed_iteration"] == 3
        _assert_module_holds(algo, algo.meta_weights)
    finally:
        algo.stop()


def test_safety_check_can_prefer_the_shorter_charge_among_equally_safe_meta_weights(ray_session):
    env_config = {"parameter_set": "Chen2020", "initial_soc": 0.1, "target_soc": 0.2}
    algo = (_config(meta_check_interval=1, meta_check_prefer_shorter_charge=True)
            .environment(env_config=env_config).build_algo())
    try:
        # (violation steps, mean charge [min]): safe and slow, safe and faster, safe and
        # slower again (the latest-only rule would deploy it), faster but unsafe, a tie of
        # the fastest safe one up to float noise (the later wins).
        scripted = iter([(0, 40.0), (0, 35.0), (0, 50.0), (2, 30.0), (0, 35.0 + 1e-9)])
        deployed = []
        for _ in range(5):
            violations, minutes = next(scripted)
            algo.check_meta_policy = lambda v=violations, m=minutes: {
                "iteration": algo.iteration + 1, "violations": v, "sets_short": 0, "charge_time_min": m, "sets": {}}
            deployed.append(algo.train()["reptile"]["deployed_iteration"])
        assert deployed == [1, 2, 2, 2, 5]
        _assert_module_holds(algo, algo.deployed["weights"])
    finally:
        algo.stop()


def test_safety_check_charges_each_training_set_at_each_diffusivity_factor(ray_session):
    from rl_battery.evaluation.cell_benchmark import policy_row

    env_config = {"parameter_set": "Chen2020", "initial_soc": 0.1, "target_soc": 0.3}
    algo = (_config(meta_check_interval=1, meta_check_negative_diffusivity_scales=[1.0, 0.03])
            .environment(env_config=env_config).build_algo())
    try:
        record = algo.check_meta_policy()
        assert set(record["sets"]) == {"Ai2020 x1", "Ai2020 x0.03"}
        for factor in (1.0, 0.03):
            row = policy_row(algo.env_runner.module, "Ai2020", dict(env_config, negative_diffusivity_scale=factor))
            charged = record["sets"][f"Ai2020 x{factor:g}"]
            assert charged["charge_time_min"] == row["charge_time_min"]
            assert charged["constraint_violations"] == row["constraint_violations"]
        # The two cells differ (the diffusion-limited one is really charged), and the record sums both.
        assert record["sets"]["Ai2020 x1"] != record["sets"]["Ai2020 x0.03"]
        assert record["violations"] == sum(r["constraint_violations"] for r in record["sets"].values())
    finally:
        algo.stop()


def _assert_module_holds(algo, weights):
    runner = algo.env_runner.module.get_state()
    for name, value in runner.items():
        np.testing.assert_allclose(np.asarray(value), np.asarray(weights["default_policy"][name]), atol=1e-6)


def _leaves(tree):
    if isinstance(tree, dict):
        for key in sorted(tree):
            yield from _leaves(tree[key])
    else:
        yield np.asarray(tree)


def test_reptile_step_is_the_interpolation():
    meta = {"m": {"w": np.zeros(3), "n": np.array(2)}}
    adapted = {"m": {"w": np.array([1.0, 2.0, -4.0]), "n": np.array(5)}}
    out = _interpolate(meta, adapted, 0.25)
    np.testing.assert_allclose(out["m"]["w"], [0.25, 0.5, -1.0])
    assert out["m"]["n"] == 5


def test_meta_lr_schedule_is_linear_between_points_and_holds_the_last():
    schedule = [[0, 0.3], [150, 0.0]]
    assert [meta_lr_at(schedule, i) for i in (0, 75, 149, 150, 400)] == pytest.approx([0.3, 0.15, 0.002, 0.0, 0.0])
    assert meta_lr_at([[0, 1.0], [10, 0.5], [20, 0.1]], 15) == pytest.approx(0.3)
    assert meta_lr_at(0.3, 999) == 0.3
    _config(meta_lr=schedule).validate()
    for bad in ([[5, 0.3], [150, 0.0]], [[0, 0.3], [0, 0.1]], [[0, 0.3], [150, -0.1]], [[0, 1.2]], [], "fast"):
        with pytest.raises(ValueError, match="meta_lr"):
            _config(meta_lr=bad).validate()


def test_config_rejects_unknown_tasks_with_the_valid_names():
    with pytest.raises(ValueError, match="Xu2020.*valid: Chen2020"):
        _config(meta_tasks=["Xu2020"]).validate()
    with pytest.raises(ValueError, match="meta_lr"):
        _config(meta_lr=1.5).validate()
    with pytest.raises(ValueError, match="task_negative_diffusivity_scale"):
        _config(task_negative_diffusivity_scale=[0.0, 1.0]).validate()
    with pytest.raises(ValueError, match="meta_check_interval"):
        _config(meta_check_interval=-1).validate()
    with pytest.raises(ValueError, match="meta_check_initial_soc"):
        _config(meta_check_initial_soc=1.0).validate()
    for scales in ([], [20.0]):
        with pytest.raises(ValueError, match="meta_check_negative_diffusivity_scales"):
            _config(meta_check_negative_diffusivity_scales=scales).validate()


def test_adaptation_curves_accumulate_episodes_and_never_build_on_each_other(ray_session):
    from rl_battery.evaluation.cell_benchmark import adaptation_curve

    env_config = {"parameter_set": "Chen2020", "initial_soc": 0.1}
    algo = _config().build_algo()
    try:
        first = adaptation_curve(algo, "Mohtat2020", env_config, [0, 1, 2], from_meta=True)
        assert [r["k"] for r in first] == [0, 1, 2]
        assert first[0]["adaptation_env_steps"] == 0 and first[2]["adaptation_env_steps"] > first[1]["adaptation_env_steps"] > 0
        assert first[2]["adaptation_updates"] == first[2]["adaptation_env_steps"]  # one update per env step
        # k = 0 is the meta policy itself, whatever ran before: the second curve starts where the first did.
        second = adaptation_curve(algo, "Mohtat2020", env_config, [0], from_meta=True)
        assert second[0]["charge_time_min"] == first[0]["charge_time_min"]
        assert second[0]["final_soc"] == pytest.approx(first[0]["final_soc"], abs=1e-12)
        # The update-to-data ratio is the caller's: ceil(2.5 x the episode's steps) updates.
        third = adaptation_curve(algo, "Mohtat2020", env_config, [1], from_meta=True, updates_per_step=2.5)
        assert third[0]["adaptation_updates"] == math.ceil(2.5 * third[0]["adaptation_env_steps"]) > 0
    finally:
        algo.stop()


def test_gated_adaptation_deploys_the_best_charge_and_learns_as_without_it(ray_session):
    import torch

    from rl_battery.algorithms.reptile import gate_rank
    from rl_battery.evaluation.cell_benchmark import adaptation_curve, policy_row

    env_config = {"parameter_set": "Chen2020", "initial_soc": 0.1, "target_soc": 0.3}
    algo = _config().environment(env_config=env_config).build_algo()
    try:
        with pytest.raises(RuntimeError, match="gate=True"):
            algo.gated_weights()
        curves = {}
        for gate in (False, True):
            torch.manual_seed(0)
            np.random.seed(0)
            curves[gate] = adaptation_curve(algo, "Mohtat2020", env_config, [0, 1, 3], from_meta=True, gate=gate)
        # The gate only chooses: the weights after k episodes charge as they do without it.
        for plain, gated in zip(curves[False], curves[True]):
            assert gated["latest"]["charge_time_min"] == plain["charge_time_min"]
            assert gated["latest"]["final_soc"] == pytest.approx(plain["final_soc"], abs=1e-12)
        # The deployed row at k is the best charge of the weights after 0..k episodes.
        history = algo.gate["history"]
        assert [r["episodes"] for r in history] == [0, 1, 2, 3]
        for row in curves[True]:
            candidates = [r for r in history if r["episodes"] <= row["k"]]
            best = min(gate_rank(r) for r in candidates)
            assert gate_rank(dict(row, short=row["final_soc"] < 0.3 - 1e-3)) == best
            assert row["gate_episodes"] <= row["k"]
        # The gated weights charge as their row says.
        algo.load_gated_weights()
        again = policy_row(algo.env_runner.module, "Mohtat2020", env_config)
        assert again["charge_time_min"] == curves[True][-1]["charge_time_min"]
        with pytest.raises(ValueError, match="meta_check_initial_soc"):
            adaptation_curve(algo, "Mohtat2020", env_config, [0], from_meta=True, gate=True, initial_soc=0.2)

        # Scripted charges: the start passes in 10 min, episode 1 breaks a limit faster,
        # episode 2 passes slower, episode 3 ties the start (the later one wins a tie).
        scripted = iter([(0, 10.0), (2, 8.0), (0, 12.0), (0, 10.0)])

        def charge(task):
            violations, minutes = next(scripted)
            return {"constraint_violations": float(violations), "charge_time_min": minutes, "final_soc": 0.3,
                    "short": False}

        algo.charge = charge
        algo.begin_adaptation(_task(env_config, "Mohtat2020"), gate=True)
        start = copy.deepcopy(algo.gated_weights())
        for _ in range(2):
            algo.adapt_more(1)
            assert algo.gate["best"]["row"]["episodes"] == 0
        assert all(np.array_equal(a, b) for a, b in zip(_leaves(algo.gated_weights()), _leaves(start)))
        algo.adapt_more(1)
        assert algo.gate["best"]["row"]["episodes"] == 3
        _assert_module_holds(algo, algo.gated_weights())  # the latest weights are the best now
    finally:
        algo.stop()


def test_an_adaptation_repeats_from_its_seed_and_its_episodes_start_apart(ray_session):
    """RLlib's replay buffer samples with OS entropy (this config has no
    SeededReplayCallback) and its env runner reseeds the env at every
    ``sample(num_episodes=...)`` call: two algorithms of one seed adapted to different
    weights, and every adaptation episode started at the same SOC."""
    import torch

    from rl_battery.algorithms.reptile import _numpy_weights

    env_config = {"parameter_set": "Chen2020", "initial_soc": [0.05, 0.2], "target_soc": 0.3}
    task = _task(env_config, "Mohtat2020")

    def adapted(algo, seed):
        torch.manual_seed(seed)
        socs = algo.adapt(task, num_episodes=3, seed=seed)["initial_socs"]
        return socs, list(_leaves(_numpy_weights(algo.learner_group.get_weights())))

    first = _config().environment(env_config=env_config).build_algo()
    second = None
    try:
        socs, weights = adapted(first, 7)
        assert len(set(socs)) == 3 and all(0.05 <= soc <= 0.2 for soc in socs)
        assert adapted(first, 8)[0] != socs  # another seed, other start SOCs
        second = _config().environment(env_config=env_config).build_algo()
        for algo in (first, second):  # after another adaptation, and in another algorithm
            again_socs, again = adapted(algo, 7)
            assert again_socs == socs
            assert len(again) == len(weights) and all(np.array_equal(a, b) for a, b in zip(again, weights))
    finally:
        first.stop()
        if second is not None:
            second.stop()


def _task(env_config, parameter_set):
    from rl_battery.envs import CellFastCharge

    return CellFastCharge.configured_task(env_config, parameter_set)
