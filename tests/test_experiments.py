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
