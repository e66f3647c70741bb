import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rl_battery.envs  # noqa: F401  (registers the envs)
from rl_battery.sim.errors import SimulationError


@pytest.fixture(scope="module")
def pack_env():
    return gym.make("PackFastCharge-v0", Np=2, Ns=2, pack_seed=1).unwrapped


@pytest.mark.parametrize("env_id", ["CellFastCharge-v0", "PackFastCharge-v0"])
def test_env_checker(env_id):
    check_env(gym.make(env_id).unwrapped)


def test_pack_observation_carries_spread(pack_env):
    obs, info = pack_env.reset(seed=0)
    obs, *_ , info = pack_env.step(np.array([0.5], np.float32))
    assert obs.shape == (14,)
    v = info["cell_voltage_V"]
    assert obs[0] == pytest.approx((v.max() - 3.7) / 0.5, abs=1e-5)
    assert obs[1] == pytest.approx((v.min() - 3.7) / 0.5, abs=1e-5)
    assert obs[3] == pytest.approx(v.std() / 0.05, abs=1e-4)
    assert obs[11] == pytest.approx(info["cell_soc"].std() / 0.02, abs=1e-4)
    assert obs[13] == pytest.approx(pack_env.sim.pack_soh, abs=1e-6)
    assert info["cell_temperature_K"].shape == (4,)


def test_pack_reward_formula(pack_env):
    pack_env.voltage_limit_V = 3.5  # force a voltage penalty
    pack_env.temperature_limit_K = 298.0  # and a temperature penalty
    try:
        _, info0 = pack_env.reset(seed=0)
        _, reward, *_, info1 = pack_env.step(np.array([1.0], np.float32))
    finally:
        pack_env.voltage_limit_V, pack_env.temperature_limit_K = 4.2, 318.15
    e = pack_env
    expected = (e.w_soc * (info1["soc"] - info0["soc"]) - e.w_time
                - e.w_v * max(0, info1["max_cell_voltage_V"] - 3.5) - e.w_T * max(0, info1["max_cell_temperature_K"] - 298.0))
    assert reward == pytest.approx(expected, rel=1e-9)
    assert info1["max_cell_voltage_V"] > 3.5 and info1["constraint_violated"]


def test_action_maps_to_current_range(pack_env):
    assert pack_env.action_to_current([-1.0]) == pytest.approx(2.0)  # 1 A x Np
    assert pack_env.action_to_current([1.0]) == pytest.approx(15.0)  # 7.5 A x Np
    assert pack_env.action_to_current([7.0]) == pytest.approx(15.0)  # clipped
    assert pack_env.action_to_current(pack_env.current_to_action(8.5)) == pytest.approx(8.5, rel=1e-6)


def test_nan_action_never_reaches_solver(pack_env, monkeypatch):
    pack_env.reset(seed=0)
    calls = []
    monkeypatch.setattr(pack_env.sim, "step", lambda current: calls.append(current))
    _, reward, terminated, truncated, info = pack_env.step(np.array([np.nan], np.float32))
    assert calls == []
    assert terminated and not truncated
    assert reward == -pack_env.failure_penalty
    assert "invalid_action" in info


def test_solver_failure_ends_episode_with_penalty(monkeypatch):
    env = gym.make("CellFastCharge-v0").unwrapped
    env.reset(seed=0)

    def fail(current):
        raise SimulationError("IDA_CONV_FAIL")

    monkeypatch.setattr(env.sim, "step", fail)
    obs, reward, terminated, _, info = env.step(np.array([0.0], np.float32))
    assert terminated and reward == -env.failure_penalty
    assert "IDA_CONV_FAIL" in info["solver_error"]
    assert env.observation_space.contains(obs)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0.0], np.float32))


def test_cell_episode_reaches_target_and_reports_metrics():
    env = gym.make("CellFastCharge-v0", initial_soc=0.6).unwrapped
    env.reset(seed=0)
    done, steps = False, 0
    while not done:
        _, _, terminated, truncated, info = env.step(np.array([0.0], np.float32))
        done, steps = terminated or truncated, steps + 1
    m = info["episode_metrics"]
    assert terminated and m["final_soc"] >= 0.8
    assert m["charge_time_min"] == pytest.approx(steps * 1.5)
    assert m["max_cell_voltage_V"] > 3.9


def test_unknown_env_argument_is_named():
    with pytest.raises(TypeError, match="bogus"):
        gym.make("CellFastCharge-v0", bogus=1)
