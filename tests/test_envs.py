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


@pytest.mark.parametrize("w_violation", [0.0, 5.0])
def test_pack_reward_formula(w_violation):
    # Limits low enough to force a voltage and a temperature penalty.
    env = gym.make("PackFastCharge-v0", Np=2, Ns=2, pack_seed=1, voltage_limit_V=3.5, temperature_limit_K=298.0,
                   w_violation=w_violation).unwrapped
    _, info0 = env.reset(seed=0)
    _, reward, *_, info1 = env.step(np.array([1.0], np.float32))
    s = env.settings
    expected = (s.w_soc * (info1["soc"] - info0["soc"]) - s.w_time
                - s.w_v * max(0, info1["step_max_cell_voltage_V"] - 3.5)
                - s.w_T * max(0, info1["step_max_cell_temperature_K"] - 298.0) - w_violation)
    assert reward == pytest.approx(expected, rel=1e-9)
    assert info1["step_max_cell_voltage_V"] > 3.5 and info1["constraint_violated"]


def _first_full_current_step(**config):
    """(reward, info) of one full-current step of a fresh CellFastCharge-v0."""
    env = gym.make("CellFastCharge-v0", **config).unwrapped
    env.reset(seed=0)
    _, reward, *_, info = env.step(np.array([1.0], np.float32))
    return reward, info


def test_voltage_backoff_prices_the_margin_below_the_limit_without_a_violation():
    def first_step(**config):
        return _first_full_current_step(initial_soc=0.5, **config)

    _, free = first_step()
    v_max = free["step_max_cell_voltage_V"]
    # A limit 20 mV above the step's peak; the 50 mV back-off makes the last 30 mV cost.
    limit = dict(voltage_limit_V=v_max + 0.02)
    plain, plain_info = first_step(**limit)
    tightened, tightened_info = first_step(voltage_backoff_V=0.05, **limit)
    assert tightened_info["step_max_cell_voltage_V"] == pytest.approx(v_max)
    assert plain - tightened == pytest.approx(100.0 * 0.03, rel=1e-6)
    assert not plain_info["constraint_violated"] and not tightened_info["constraint_violated"]
    with pytest.raises(ValueError, match="voltage_backoff_V"):
        gym.make("CellFastCharge-v0", voltage_backoff_V=-0.01)


def test_plating_backoff_prices_the_margin_above_the_limit_without_a_violation():
    def first_step(**config):
        return _first_full_current_step(initial_soc=0.2, plating_is_constraint=True, **config)

    _, free = first_step()
    phi_min = free["step_min_plating_potential_V"]
    # A plating limit 5 mV below the step's lowest indicator; a 20 mV back-off prices 15 mV.
    limit = dict(plating_limit_V=phi_min - 0.005)
    plain, plain_info = first_step(**limit)
    tightened, tightened_info = first_step(plating_backoff_V=0.02, **limit)
    assert tightened_info["step_min_plating_potential_V"] == pytest.approx(phi_min)
    assert plain - tightened == pytest.approx(100.0 * 0.015, rel=1e-6)
    assert not plain_info["constraint_violated"] and not tightened_info["constraint_violated"]
    with pytest.raises(ValueError, match="plating_backoff_V"):
        gym.make("CellFastCharge-v0", plating_backoff_V=0.2)


def test_action_maps_to_current_range(pack_env):
    assert pack_env.action_to_current([-1.0]) == pytest.approx(2.0)  # 1 A x Np
    assert pack_env.action_to_current([1.0]) == pytest.approx(15.0)  # 7.5 A x Np
    assert pack_env.action_to_current([7.0]) == pytest.approx(15.0)  # clipped
    assert pack_env.action_to_current(pack_env.current_to_action(8.5)) == pytest.approx(8.5, rel=1e-6)


def test_action_headroom_makes_the_extreme_currents_interior_actions():
    from rl_battery.surrogate import PackCurrent

    env = gym.make("PackFastCharge-v0", Np=2, Ns=2, pack_seed=1, action_headroom=0.1).unwrapped
    # Range 2-15 A widened by 1.3 A at each end: 0.7 A .. 16.3 A, then clipped.
    assert env.action_to_current([1.0]) == pytest.approx(15.0)
    assert env.action_to_current([0.9]) == pytest.approx(15.0)
    assert env.action_to_current([0.8]) == pytest.approx(0.7 + 0.9 * 15.6)
    assert env.action_to_current([-0.9]) == pytest.approx(2.0)
    assert env.action_to_current([0.0]) == pytest.approx(8.5)
    for current in (2.0, 6.0, 15.0):
        assert env.action_to_current(env.current_to_action(current)) == pytest.approx(current, rel=1e-6)
    # The surrogates' copy of the map agrees with the env's, per parallel cell.
    actions = np.linspace(-1, 1, 21)[:, None]
    np.testing.assert_allclose(PackCurrent.of(env).cell_current(actions),
                               [env.action_to_current(a) / 2 for a in actions], rtol=1e-9)
    with pytest.raises(ValueError, match="action_headroom"):
        gym.make("PackFastCharge-v0", Np=2, Ns=2, action_headroom=0.5)


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


def test_unknown_env_argument_is_named_with_the_valid_ones():
    with pytest.raises(TypeError, match="bogus.*valid:.*parameter_set.*voltage_limit_V"):
        gym.make("CellFastCharge-v0", bogus=1)
    with pytest.raises(ValueError, match="max_current_A"):
        gym.make("CellFastCharge-v0", min_current_A=5.0, max_current_A=2.0)


def test_settings_defaults_are_per_env():
    cell = gym.make("CellFastCharge-v0").unwrapped
    pack = gym.make("PackFastCharge-v0", Np=2, Ns=2).unwrapped
    assert (cell.min_current_A, cell.max_current_A, cell.settings.w_plating) == (1.0, 7.5, 100.0)
    assert (pack.min_current_A, pack.max_current_A, pack.settings.w_plating) == (2.0, 15.0, 0.0)
    assert cell.settings.voltage_limit_V == pack.settings.voltage_limit_V == 4.2


def test_info_carries_the_step_record_fields(pack_env):
    from rl_battery.envs import StepRecord
    from rl_battery.envs.step_record import FIELDS

    _, info = pack_env.reset(seed=0)
    _, _, _, _, info = pack_env.step(np.array([0.0], np.float32))
    assert set(FIELDS) - {"event"} <= set(info)
    assert isinstance(pack_env.last_record, StepRecord)
    assert info["current_A"] == pytest.approx(pack_env.action_to_current([0.0]))


def test_pack_distribution_draws_a_pack_per_episode():
    env = gym.make("PackFastCharge-v0", Np=2, Ns=2, pack_seed=[0, 1, 2], soh_mean=[0.8, 0.95]).unwrapped
    seen = set()
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        assert obs[13] == pytest.approx(env.sim.pack_soh, abs=1e-6)
        seen.add(info["task_id"])
    assert len(seen) >= 4  # different seeds and SOHs, without rebuilding the simulator
    fixed = gym.make("PackFastCharge-v0", Np=2, Ns=2, pack_seed=3).unwrapped
    assert len({fixed.reset(seed=s)[1]["task_id"] for s in range(3)}) == 1


def test_pinned_config_fixes_one_pack_of_a_distribution():
    from rl_battery.envs import CellFastCharge, PackFastCharge

    pinned = PackFastCharge.pinned_config({"pack_seed": [3, 4], "soh_mean": [0.8, 0.9], "Np": 2})
    assert pinned == {"pack_seed": 3, "soh_mean": pytest.approx(0.85), "Np": 2}
    assert not PackFastCharge({**pinned, "Ns": 2}).samples_packs
    assert PackFastCharge.pinned_config({"pack_seed": 5}) == {"pack_seed": 5}
    assert CellFastCharge.pinned_config({"parameter_set": "Chen2020"}) == {"parameter_set": "Chen2020"}


def test_preview_leaves_the_env_unchanged(pack_env):
    pack_env.reset(seed=0)
    pack_env.step(np.array([0.0], np.float32))
    before = pack_env.last_record
    preview = pack_env.preview(pack_env.max_current_A)
    assert preview.time_s == before.time_s + 90.0 and preview.current_A == pack_env.max_current_A
    assert pack_env.last_record is before
    _, _, _, _, info = pack_env.step(np.array([1.0], np.float32))
    assert info["step_max_cell_voltage_V"] == preview.step_max_cell_voltage_V


def test_action_filter_caps_the_applied_action_and_limits_match_the_observation(pack_env):
    pack_env.reset(seed=0)
    seen = []

    def cap_at_zero(obs, action):
        seen.append(obs.copy())
        return np.minimum(action, 0.0)

    resets = []
    cap_at_zero.reset = lambda: resets.append(1)  # a stateful filter is reset with every episode
    pack_env.set_action_filter(cap_at_zero)
    try:
        obs, _, _, _, info = pack_env.step(np.array([1.0], np.float32))
        assert not resets
        pack_env.reset(seed=0)
        assert resets == [1]
    finally:
        pack_env.set_action_filter(None)
    assert len(seen) == 1 and info["applied_action"][0] == pytest.approx(0.0, abs=1e-6)
    assert info["current_A"] == pytest.approx(pack_env.action_to_current([0.0]))
    low, high = pack_env.observation_limits()
    # The limits sit where the observation reads the limit values: V_lim on the highest
    # cell voltage (obs 0) and T_lim on the hottest cell (obs 4).
    assert high[0] == pytest.approx((pack_env.settings.voltage_limit_V - 3.7) / 0.5)
    assert high[4] == pytest.approx((pack_env.settings.temperature_limit_K - 298.15) / 20.0)
    assert np.isinf(low).all() and np.isfinite(high).sum() == 2
    # A back-off lowers exactly those two limits by the margin, in observation units.
    _, tight = pack_env.observation_limits(voltage_margin_V=0.01, temperature_margin_K=0.5)
    np.testing.assert_allclose((high - tight)[[0, 4]], [0.01 / 0.5, 0.5 / 20.0], atol=1e-6)
    assert np.isfinite(tight).sum() == 2
    assert obs[0] == pytest.approx((info["cell_voltage_V"].max() - 3.7) / 0.5, abs=1e-5)


def test_set_condition_pins_ages_and_reports_the_bms_soh():
    env = rl_battery.envs.PackFastCharge({"pack_seed": [0, 1, 2], "soh_mean": [0.85, 0.95]})
    env.set_condition(age_cycles=1000.0, pack=(2, 0.9), reported_soh=0.95)
    assert not env.samples_packs and env.pinned_pack == (2, 0.9)
    obs, info = env.reset(seed=0)
    assert obs[13] == pytest.approx(0.95)  # what the BMS reports, not the truth
    assert info["soh"] < 0.9 and info["equivalent_cycles"] == 1000.0 and "seed=2" in info["task_id"]
    assert env.condition() == {"age_cycles": 1000.0, "pack": (2, 0.9), "reported_soh": 0.95}
    env.set_condition(age_cycles=0.0)
    obs, info = env.reset(seed=0)
    assert env.samples_packs and obs[13] == pytest.approx(info["soh"])
    with pytest.raises(ValueError):
        env.set_condition(reported_soh=1.5)


def test_import_rl_battery_alone_registers_every_env():
    import subprocess
    import sys

    code = ("import gymnasium, rl_battery, sys; ids = [i for i in gymnasium.registry if i.endswith('-v0')]; "
            "assert 'pybamm' not in sys.modules; env = gymnasium.make('PassiveBalancing-v0'); print(sorted(ids))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    from rl_battery.envs import ENV_CLASSES

    for env_id in ENV_CLASSES:
        assert env_id in proc.stdout


@pytest.mark.slow
def test_soak_benchmark_reports_no_crash_on_every_env(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "soak.json"
    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_soak.py"
    proc = subprocess.run([sys.executable, str(script), "--steps", "220", "--out", str(out)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    from rl_battery.envs import ENV_CLASSES

    assert [r["env"] for r in results] == list(ENV_CLASSES)
    for r in results:
        assert r["crashes"] == 0, r["crash_messages"]
        assert r["episodes"] >= 1 and r["steps_per_s"] > 0 and r["rss_end_MB"] > 0
