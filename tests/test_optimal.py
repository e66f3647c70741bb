"""The optimal-control baseline: a short charge, solved with IPOPT on the collocated SPMe."""

import gymnasium as gym
import pytest

import rl_battery.envs  # noqa: F401
from rl_battery.baselines.optimal import optimal_charge

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("parameter_set", ["Chen2020", "Marquis2019"])
def test_optimum_is_feasible_never_slower_than_the_lookahead_and_its_model_matches_the_simulator(parameter_set):
    env = gym.make("CellFastCharge-v0", parameter_set=parameter_set, target_soc=0.3, plating_is_constraint=True)
    result = optimal_charge(env, initial_soc=0.1)
    assert result.status in ("improved", "lookahead_optimal"), result.message
    assert result.metrics["constraint_violations"] == 0 and result.metrics["final_soc"] >= 0.3
    assert result.charge_time_min <= result.lookahead_metrics["charge_time_min"]
    for row in result.tried:
        assert row["ipopt_status"] in ("Solve_Succeeded", "Solved_To_Acceptable_Level")
        # The NLP's model is the simulator's: SOC after N steps agrees with the replay.
        assert row["predicted_soc"] == pytest.approx(row["replay_soc_after_n"], abs=2e-3)


def test_a_solve_over_its_time_limit_fails_with_the_reason_and_keeps_the_lookahead():
    env = gym.make("CellFastCharge-v0", parameter_set="Chen2020", target_soc=0.3)
    result = optimal_charge(env, initial_soc=0.1, max_solve_time_s=1e-3)
    assert result.status == "failed"
    assert {row["ipopt_status"] for row in result.tried} == {"Maximum_WallTime_Exceeded"}
    assert "s per NLP" in result.message
    assert result.metrics == result.lookahead_metrics  # the look-ahead's schedule stands
