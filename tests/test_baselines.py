"""Reference controllers on real PyBaMM / liionpack envs."""

import gymnasium as gym
import pytest

import rl_battery.envs  # noqa: F401
from rl_battery.baselines import CCCTCVPolicy, CCCVPolicy, LookaheadPolicy, best_cc_ct_cv, best_cccv
from rl_battery.envs import run_episode


@pytest.fixture(scope="module")
def cell_env():
    return gym.make("CellFastCharge-v0", max_current_A=15.0, temperature_limit_K=308.15).unwrapped


def test_best_cccv_is_the_largest_safe_cc_current(cell_env):
    current, metrics, rows = best_cccv(cell_env, initial_soc=0.1, tolerance_A=0.2)
    assert metrics["constraint_violations"] == 0 and metrics["final_soc"] >= 0.8
    unsafe = [r["cc_current_A"] for r in rows if r["constraint_violations"]]
    # The bisection bracketed the limit: something above the answer (within tolerance) violates.
    assert unsafe and min(u for u in unsafe if u > current) - current <= 0.2 + 1e-9
    over = run_episode(cell_env, CCCVPolicy(cell_env, min(current + 1.0, cell_env.max_current_A)), initial_soc=0.1)
    assert over["constraint_violations"] > 0


def test_lookahead_rides_the_limits_and_beats_cccv(cell_env):
    lookahead = run_episode(cell_env, LookaheadPolicy(cell_env), initial_soc=0.1)
    _, cccv, _ = best_cccv(cell_env, initial_soc=0.1)
    assert lookahead["constraint_violations"] == 0 and lookahead["final_soc"] >= 0.8
    assert lookahead["charge_time_min"] <= cccv["charge_time_min"]
    # It reaches the binding limit (temperature here) within a fraction of a kelvin.
    assert lookahead["max_cell_temperature_K"] > 308.15 - 0.5


def test_cc_ct_cv_holds_the_temperature_limit(cell_env):
    current, metrics, _ = best_cc_ct_cv(cell_env, initial_soc=0.1)
    assert metrics["constraint_violations"] == 0 and metrics["final_soc"] >= 0.8
    assert metrics["max_cell_temperature_K"] > 308.15 - 2.0  # the CT phase ran near the limit
    policy = CCCTCVPolicy(cell_env, current)
    assert run_episode(cell_env, policy, initial_soc=0.1) == metrics  # deterministic, resets itself


def test_lookahead_on_a_pack_has_no_violation():
    env = gym.make("PackFastCharge-v0", Np=2, Ns=2, pack_seed=1, soh_mean=0.85).unwrapped
    policy = LookaheadPolicy(env)
    m = run_episode(env, policy, initial_soc=0.5)
    assert m["constraint_violations"] == 0 and m["final_soc"] >= 0.8
    assert m["max_cell_voltage_V"] > 4.2 - 0.02  # it rode the voltage limit
