from pathlib import Path

import pytest

from rl_battery.cli import rl_battery_main
from rl_battery.experiments import ExperimentConfigError, available_experiments, build_algorithm_config, load_experiment


def test_shipped_experiments_validate_and_sweep_tasks():
    assert {"pack_mbrl", "cell_sac"} <= set(available_experiments())
    pack = load_experiment("pack_mbrl")
    # One policy over a distribution of packs, repeated over seeds; held-out seeds stay out.
    assert len(pack.env_config["pack_seed"]) >= 2 and not {100, 101} & set(pack.env_config["pack_seed"])
    assert len(pack.config["debugging"]["seed"]["grid_search"]) >= 3
    cell = load_experiment("cell_sac")
    assert len(cell.env_config["parameter_set"]["grid_search"]) >= 2
    for name, algorithm, action_format in (("balance_ppo", "PPO", "multi_discrete"), ("balance_dqn", "DQN", "discrete")):
        balance = load_experiment(name)
        assert balance.algorithm == algorithm and balance.env_config["action_format"] == action_format
        assert balance.config["debugging"]["seed"]["grid_search"] == [0, 1, 2]
    smoke = load_experiment("pack_mbrl", smoke=True)
    assert smoke.stop["training_iteration"] < pack.stop["training_iteration"]
    assert smoke.env_config["soh_mean"] == pack.env_config["soh_mean"]  # deep merge keeps the rest


def test_build_config(tmp_path):
    config = build_algorithm_config(load_experiment("pack_mbrl", smoke=True), experiment="pack_mbrl", project_root=tmp_path)
    assert config.offline_data_dir == str(tmp_path / "offline_data" / "pack_mbrl")
    assert config.env.__name__ == "PackFastCharge"


def test_unknown_experiment_lists_valid_names(capsys):
    with pytest.raises(ExperimentConfigError, match="cell_sac.*pack_mbrl"):
        load_experiment("pack_mrbl")
    assert rl_battery_main(["run", "--experiment", "pack_mrbl"]) == 2
    assert "valid experiments" in capsys.readouterr().err


def test_bad_key_is_named(tmp_path):
    (tmp_path / "bad.yaml").write_text("algorithm: SAC\nenv: CellFastCharge-v0\nstpo: {training_iteration: 1}\n")
    with pytest.raises(ExperimentConfigError, match="stpo"):
        load_experiment("bad", config_dir=tmp_path)
    (tmp_path / "bad2.yaml").write_text("algorithm: SAC\nenv: CellFastCharge-v0\nconfig: {training: {not_a_field: 1}}\n")
    with pytest.raises(ExperimentConfigError, match="not_a_field"):
        build_algorithm_config(load_experiment("bad2", config_dir=tmp_path), experiment="bad2")
    (tmp_path / "bad3.yaml").write_text("algorithm: SAC\nenv: Nope-v0\n")
    with pytest.raises(ExperimentConfigError, match="PackFastCharge-v0"):
        load_experiment("bad3", config_dir=tmp_path)


def test_mbrl_settings_survive_tunes_dict_round_trip(tmp_path):
    # Tune hands the config to each trial as a dict; RLlib routes keys by their names
    # (an ``evaluation_*`` key would go to .evaluation()), so every MBRL key must come back.
    from rl_battery.algorithms import MBRLConfig

    config = build_algorithm_config(load_experiment("pack_mbrl"), experiment="pack_mbrl", project_root=tmp_path)
    as_dict = config.to_dict()
    as_dict.pop("seed", None)  # a Tune grid search, resolved per trial
    again = MBRLConfig().update_from_dict(as_dict)
    for key in ("adaptive_cycles", "cycle0_iterations", "adaptive_evaluation_soc", "differential_residual",
                "max_disagreement", "action_mode", "ageing_cycles_per_cycle"):
        assert getattr(again, key) == getattr(config, key), key
    assert again.env_runner_cls.__name__ == "BatteryEnvRunner"


def test_bad_values_fail_in_one_line_before_ray_starts(tmp_path):
    import ray

    from rl_battery.experiments import run_experiment

    cases = {
        "ratio": ("algorithm: MBRL\nenv: PackFastCharge-v0\nconfig: {training: {synthetic_ratio: 1.5}}\n", "synthetic_ratio"),
        "target": ("algorithm: SAC\nenv: CellFastCharge-v0\nenv_config: {target_soc: {grid_search: [0.8, 1.5]}}\n",
                   "target_soc"),
        "profile": ("algorithm: PPO\nenv: PassiveBalancing-v0\nenv_config: {profile: udds}\n", "discharge-rest-charge"),
        "set": ("algorithm: SAC\nenv: CellFastCharge-v0\nenv_config: {parameter_set: Chen2021}\n", "Chen2020"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        with pytest.raises(ExperimentConfigError, match=expected) as info:
            run_experiment(name, config_dir=tmp_path, project_root=tmp_path)
        assert "\n" not in str(info.value) and str(info.value).startswith(f"{name}: ")
        assert not ray.is_initialized()


def test_paths_follow_the_working_folder_not_the_package(tmp_path, monkeypatch, capsys):
    from rl_battery.experiments import available_experiments

    repo_configs = Path.cwd() / "tune_configs"
    monkeypatch.chdir(tmp_path)
    assert available_experiments() == []  # nothing in ./tune_configs of this folder
    assert rl_battery_main(["run", "--experiment", "pack_mbrl"]) == 2
    assert f"valid experiments in {tmp_path / 'tune_configs'}" in capsys.readouterr().err
    spec = load_experiment("pack_mbrl", config_dir=repo_configs)
    assert build_algorithm_config(spec, experiment="pack_mbrl").offline_data_dir == str(tmp_path / "offline_data" / "pack_mbrl")
    shared = tmp_path / "shared"
    config = build_algorithm_config(spec, experiment="pack_mbrl", offline_data=shared)
    assert config.offline_data_dir == str(shared / "pack_mbrl")


@pytest.mark.slow
def test_sac_experiments_keep_the_entropy_temperature_in_checkpoints(tmp_path):
    """``algorithm: SAC`` is RLlib's SAC plus alpha in its checkpoints: RLlib's Learner state
    leaves alpha out, so a resumed or restored run would go on at ``initial_alpha`` (1.0)."""
    import math

    import ray
    from ray.rllib.algorithms.sac import SAC as RLlibSAC

    from rl_battery.algorithms import SAC
    from rl_battery.algorithms.updates import entropy_temperatures, set_entropy_temperatures
    from rl_battery.experiments import experiment_variants

    spec = experiment_variants(load_experiment("cell_sac", smoke=True))[0]
    algo = build_algorithm_config(spec, experiment="cell_sac", project_root=tmp_path).build_algo()
    try:
        assert isinstance(algo, SAC) and isinstance(algo, RLlibSAC) and type(algo).__name__ == "SAC"
        set_entropy_temperatures(algo, {"default_policy": math.log(0.05)})
        path = algo.save_to_path(str(tmp_path / "ckpt"))
        restored = SAC.from_checkpoint(path)
        try:
            assert entropy_temperatures(restored)["default_policy"] == pytest.approx(math.log(0.05))
        finally:
            restored.stop()
    finally:
        algo.stop()
        ray.shutdown()
