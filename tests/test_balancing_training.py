"""Slow: PPO and DQN train on PassiveBalancing-v0 from the shipped experiment files (smoke),
`rllib evaluate` compares a checkpoint with the baselines, and the benchmark script reads the
runs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import ray

    from rl_battery.experiments import run_experiment

    root = tmp_path_factory.mktemp("balancing")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        grids = {name: run_experiment(name, smoke=True, project_root=root) for name in ("balance_ppo", "balance_dqn")}
    finally:
        ray.shutdown()
    return root, grids


def test_both_algorithms_train_and_report_balancing_metrics(runs):
    _, grids = runs
    for name, grid in grids.items():
        assert not grid.errors, f"{name}: {grid.errors}"
        result = grid[0]
        metrics = result.metrics["env_runners"]
        assert result.metrics["training_iteration"] == 2 and result.checkpoint is not None
        for key in ("usable_capacity_Ah", "soc_variance_mean", "switch_count", "shunt_energy_Wh"):
            assert np.isfinite(metrics[key]), (name, key)
        assert 0 < metrics["usable_capacity_Ah"] < 6.0


def test_rllib_evaluate_compares_a_balancing_checkpoint_with_the_baselines(runs, tmp_path):
    root, grids = runs
    checkpoint = grids["balance_dqn"][0].checkpoint.path
    rllib = Path(sys.executable).with_name("rllib")
    proc = subprocess.run([str(rllib), "evaluate", checkpoint, "--episodes", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for label in ("RL policy", "rule-based", "no balancing", "cap/rule"):
        assert label in proc.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["algorithm"] == "DQN"
    assert set(metrics["comparison"]) == {"discharge-rest-charge", "charge-rest-discharge"}
    for entry in metrics["comparison"].values():
        policy, rule = entry["results"]["policy"]["mean"], entry["results"]["rule_based"]["mean"]
        assert entry["ratios"]["policy"]["switch_ratio"] == pytest.approx(policy["switch_count"] / rule["switch_count"])
        assert entry["ratios"]["rule_based"]["capacity_ratio"] == 1.0
        # balancing is worth something on these cells: rule-based beats doing nothing
        assert rule["usable_capacity_Ah"] > entry["results"]["no_balancing"]["mean"]["usable_capacity_Ah"]
    header = (tmp_path / "trace.csv").read_text().splitlines()[0].split(",")
    assert {"soc_0", "soc_4", "voltage_V_4", "switch_4", "pack_current_A"} <= set(header)
    assert (tmp_path / "balancing.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_balancing_reports_ratios_and_training_curves(runs, tmp_path):
    root, _ = runs
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_balancing.py"), "--runs",
         f"PPO={root / 'ray_results' / 'balance_ppo'}", f"DQN={root / 'ray_results' / 'balance_dqn'}",
         "--episodes", "1", "--profiles", "charge-rest-discharge", "--checkpoint-index", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "bench_balancing.json").read_text())
    for name in ("PPO", "DQN"):
        entry = result["algorithms"][name]["charge-rest-discharge"]
        assert len(entry["seeds"]) == 1 and {"capacity_ratio", "variance_ratio", "switch_ratio"} <= set(entry["mean"])
        assert isinstance(entry["beats_rule_based"], bool)
        assert result["training"][name]["wall_time_s"] > 0
        # the smoke keeps a checkpoint per iteration: index 0 is the first, not the last
        assert [Path(c).name for c in result["checkpoints"][name]] == ["checkpoint_000000"]
    assert "| PPO |" in (tmp_path / "bench_balancing.md").read_text()
    assert (tmp_path / "bench_balancing.png").read_bytes()[:4] == b"\x89PNG"
