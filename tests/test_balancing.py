"""Passive balancing: the ECM string against PyBaMM's Thevenin model, the env's contract, and
the rule-based baseline."""

import gymnasium as gym
import numpy as np
import pybamm
import pytest

import rl_battery.envs  # noqa: F401  (registers the envs)
from rl_battery.baselines import NoBalancing, RuleBasedBalancing, evaluate_policy, tune_rule_based
from rl_battery.envs import PassiveBalancing
from rl_battery.envs.load_profiles import load_profile
from rl_battery.sim.ecm_string import (TABLE_C1, TABLE_C2, TABLE_R0, TABLE_R1, TABLE_R2, TABLE_SOC,
                                       ECMStringSimulator, nca_ocv_table, ocv)

PROFILE = [(-2.35, 1900.0), (0.0, 120.0), (2.35, 4200.0)]  # charging-positive, seconds


def pybamm_thevenin_voltages(soc0, capacity_Ah, resistance_scale, phases, dt_s, shunt_Ohm=None):
    """Terminal voltage every ``dt_s`` from PyBaMM's 2-RC Thevenin model with our parameters.

    A shunt is an external-circuit law: PyBaMM's callable operating mode makes the current a
    differential state, so it relaxes (1 ms time constant) to load + V / R_shunt."""
    options = {"number of rc elements": 2}
    load = pybamm.InputParameter("Load current [A]")  # discharge-positive
    if shunt_Ohm is not None:
        options["operating mode"] = lambda v: -(v["Current [A]"] - (load + v["Voltage [V]"] / shunt_Ohm)) / 1e-3
    model = pybamm.equivalent_circuit.Thevenin(options=options)
    grid, values = nca_ocv_table()

    def table(name, data, scale):
        def fn(T_cell, current, soc):
            return scale * pybamm.Interpolant(TABLE_SOC, data, pybamm.maximum(pybamm.minimum(soc, 0.9), 0.1), name=name)
        return fn

    params = pybamm.ParameterValues("ECM_Example")
    params.update({
        "Open-circuit voltage [V]": lambda sto: pybamm.Interpolant(grid, values, sto, name="ocv"),
        "R0 [Ohm]": table("R0", TABLE_R0, resistance_scale), "R1 [Ohm]": table("R1", TABLE_R1, resistance_scale),
        "C1 [F]": table("C1", TABLE_C1, 1.0), "R2 [Ohm]": table("R2", TABLE_R2, resistance_scale),
        "C2 [F]": table("C2", TABLE_C2, 1.0), "Element-2 initial overpotential [V]": 0.0,
        "Cell capacity [A.h]": capacity_Ah, "Nominal cell capacity [A.h]": capacity_Ah, "Initial SoC": soc0,
        "Entropic change [V/K]": 0.0, "Upper voltage cut-off [V]": 5.0, "Lower voltage cut-off [V]": 2.0,
    }, check_already_exists=False)
    if shunt_Ohm is None:
        params["Current function [A]"] = load
    sim = pybamm.Simulation(model, parameter_values=params, solver=pybamm.CasadiSolver(mode="safe", atol=1e-9, rtol=1e-9))
    voltages, solution = [], None
    for current, seconds in phases:
        for _ in range(int(seconds // dt_s)):
            solution = sim.step(dt=dt_s, npts=2, inputs={"Load current [A]": -current}, save=False,
                                starting_solution=solution)
            voltages.append(float(solution["Voltage [V]"].entries[-1]))
    return np.array(voltages)


def ours(soc0, capacity_Ah, resistance_scale, phases, dt_s, shunt_on):
    sim = ECMStringSimulator([capacity_Ah], [soc0], resistance_scale=[resistance_scale])
    return np.array([sim.step(current, [int(shunt_on)], dt_s).cell_voltage_V[0]
                     for current, seconds in phases for _ in range(int(seconds // dt_s))])


def test_ocv_is_pybamm_nca_kim2011_between_its_cutoffs():
    soc, values = nca_ocv_table()
    assert values[0] == pytest.approx(2.7, abs=2e-3) and values[-1] == pytest.approx(4.2, abs=2e-3)
    assert np.all(np.diff(values) > 0)
    assert ocv(np.array([0.5]))[0] == pytest.approx(np.interp(0.5, soc, values))


def test_string_matches_pybamm_thevenin_over_a_full_profile():
    expected = pybamm_thevenin_voltages(0.5, 3.4, 1.0, PROFILE, 30.0)
    got = ours(0.5, 3.4, 1.0, PROFILE, 30.0, shunt_on=False)
    assert np.abs(got - expected).max() < 5e-3
    assert got.max() - got.min() > 0.8  # the profile really exercises the cell


def test_shunt_current_follows_the_cell_voltage_like_pybamm():
    phases = [(0.0, 1800.0), (-2.35, 900.0), (2.35, 900.0)]
    expected = pybamm_thevenin_voltages(0.6, 3.3, 1.05, phases, 30.0, shunt_Ohm=6.0)
    got = ours(0.6, 3.3, 1.05, phases, 30.0, shunt_on=True)
    assert np.abs(got - expected).max() < 5e-3
    sim = ECMStringSimulator([3.4, 3.4], [0.9, 0.3])
    step = sim.step(0.0, [1, 1], 30.0)
    np.testing.assert_allclose(step.shunt_current_A, step.cell_voltage_V / 6.0)
    assert step.shunt_current_A[0] > step.shunt_current_A[1] + 0.05  # higher voltage, more current
    assert np.all(step.shunt_energy_Wh > 0)


def test_string_snapshot_restore_repeats_a_step_exactly_and_rejects_bad_input():
    sim = ECMStringSimulator([3.3, 3.4, 3.5], [0.4, 0.5, 0.6])
    sim.step(-2.35, [0, 1, 0], 30.0)
    state = sim.snapshot()
    first = sim.step(2.35, [1, 0, 1], 30.0)
    sim.restore(state)
    again = sim.step(2.35, [1, 0, 1], 30.0)
    np.testing.assert_array_equal(first.cell_voltage_V, again.cell_voltage_V)
    np.testing.assert_array_equal(first.cell_soc, again.cell_soc)
    for bad in ([1, 0], [0, 2, 0], [0.5, 0, 0]):
        with pytest.raises(ValueError, match="switches"):
            sim.step(1.0, bad, 30.0)
    with pytest.raises(ValueError, match="finite"):
        sim.step(float("nan"), [0, 0, 0], 30.0)


def test_env_spaces_episode_length_and_determinism():
    ppo = gym.make("PassiveBalancing-v0", pack_seed=4)
    dqn = gym.make("PassiveBalancing-v0", pack_seed=4, action_format="discrete")
    assert isinstance(ppo.action_space, gym.spaces.MultiDiscrete) and list(ppo.action_space.nvec) == [2] * 5
    assert isinstance(dqn.action_space, gym.spaces.Discrete) and dqn.action_space.n == 32
    # The same switch pattern through both action formats gives the same episode.
    pattern = np.array([1, 0, 1, 0, 0])
    results = []
    for env, action in ((ppo, pattern), (dqn, int(np.sum(pattern << np.arange(5))))):
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        steps, done = 0, False
        while not done:
            obs, reward, done, truncated, info = env.step(action)
            steps += 1
            assert env.observation_space.contains(obs) and not truncated
        results.append(info["episode_metrics"])
    assert steps == 207  # 6200 s at 30 s
    assert results[0] == results[1]
    assert results[0]["switch_count"] == 2  # two shunts switched on once, never off


def test_env_without_clock_drops_the_time_entry_and_truncates_at_the_profile_end():
    clocked = PassiveBalancing({"pack_seed": 4})
    blind = PassiveBalancing({"pack_seed": 4, "observe_time": False})
    assert blind.observation_space.shape[0] == clocked.observation_space.shape[0] - 1
    obs_c, _ = clocked.reset(seed=0)
    obs_b, _ = blind.reset(seed=0)
    action = np.array([0, 1, 0, 0, 1])
    ends = []
    for env, obs in ((clocked, obs_c), (blind, obs_b)):
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        ends.append((terminated, truncated, obs, info["episode_metrics"]))
    (t_c, tr_c, last_c, m_c), (t_b, tr_b, last_b, m_b) = ends
    assert (t_c, tr_c) == (True, False) and (t_b, tr_b) == (False, True)
    assert m_c == m_b  # the same physics and reward: only the observation and the end flag differ
    # The clock entry is the one removed; the rest is equal. 207 steps of 30 s end at 6210 s.
    frames = clocked.observation_space.shape[0] - 4
    assert last_c[frames] == pytest.approx(6210.0 / 6200.0)
    np.testing.assert_array_equal(np.delete(last_c, frames), last_b)
    with pytest.raises(ValueError, match="observe_time"):
        PassiveBalancing({"observe_time": "no"})


def test_soc_deviation_gain_scales_only_the_deviation_entries():
    base = PassiveBalancing({"pack_seed": 4})
    sharp = PassiveBalancing({"pack_seed": 4, "soc_deviation_gain": 50.0})
    obs_b, _ = base.reset(seed=0)
    obs_s, _ = sharp.reset(seed=0)
    n = base.settings.n_cells
    deviation = base.sim.soc - base.sim.soc.mean()
    # Entries n..2n-1 of the newest frame are the SOC deviation times the gain (clipped at 10).
    np.testing.assert_allclose(obs_b[n:2 * n], 10.0 * deviation, atol=1e-6)
    np.testing.assert_allclose(obs_s[n:2 * n], np.clip(50.0 * deviation, -10, 10), atol=1e-5)
    frame = 5 * n + 1
    keep = np.ones(obs_b.shape, bool)
    for k in range(base.settings.history):
        keep[k * frame + n:k * frame + 2 * n] = False
    np.testing.assert_array_equal(obs_b[keep], obs_s[keep])
    for bad in (0.0, -1.0, 500.0):
        with pytest.raises(ValueError, match="soc_deviation_gain"):
            PassiveBalancing({"soc_deviation_gain": bad})


def test_soc_variance_splits_by_the_profile_phase_and_adds_up():
    env = PassiveBalancing({"pack_seed": 2, "profile": "charge-rest-discharge"})
    env.reset(seed=0)
    sums, steps, done = {-1: 0.0, 0: 0.0, 1: 0.0}, 0, False
    while not done:
        _, _, terminated, truncated, info = env.step(np.zeros(5, dtype=int))
        sums[int(np.sign(info["profile_current_A"]))] += float(np.var(info["cell_soc"]))
        steps += 1
        done = terminated or truncated
    m = info["episode_metrics"]
    # Each part is its phase's steps' variance over all steps; together the time-mean variance.
    for key, sign in (("soc_variance_discharge", -1), ("soc_variance_rest", 0), ("soc_variance_charge", 1)):
        assert m[key] == pytest.approx(sums[sign] / steps, rel=1e-9)
        assert m[key] > 0.0
    assert m["soc_variance_discharge"] + m["soc_variance_rest"] + m["soc_variance_charge"] == pytest.approx(
        m["soc_variance_mean"], rel=1e-9)
    # The 100 s rest fills 3 of the 220 steps (the two it straddles count to their load): its
    # part is the smallest.
    assert m["soc_variance_rest"] < min(m["soc_variance_discharge"], m["soc_variance_charge"])


def test_initial_soc_offset_shifts_the_whole_string_and_keeps_its_spread():
    base = PassiveBalancing({"pack_seed": 3})
    fixed = PassiveBalancing({"pack_seed": 3, "initial_soc_offset": [0.2, 0.2]})
    drawn = PassiveBalancing({"initial_soc_offset": [0.0, 0.25]})
    base.reset(seed=0)
    fixed.reset(seed=0)
    # A fixed offset moves every cell by it and leaves SOH and resistance of the pack as drawn.
    np.testing.assert_allclose(fixed.sim.soc, base.sim.soc + 0.2)
    np.testing.assert_array_equal(fixed._soh, base._soh)
    means, spreads = [], []
    for seed in range(40):
        drawn.reset(seed=seed)
        means.append(drawn.sim.soc.mean())
        spreads.append(np.ptp(drawn.sim.soc))
    # Cells stay within initial_soc (0.4-0.6) of one another; the string's mean moves beyond it.
    assert max(spreads) <= 0.2 and max(means) > 0.65 and min(means) >= 0.4
    with pytest.raises(ValueError, match="initial_soc_offset"):
        PassiveBalancing({"initial_soc_offset": [0.0, 0.35]})  # cells up to 0.95 > soc_window 0.9


def test_initial_soc_spread_scales_the_cells_around_the_middle_of_their_range():
    base = PassiveBalancing({"pack_seed": 3})
    half = PassiveBalancing({"pack_seed": 3, "initial_soc_spread": [0.5, 0.5], "initial_soc_offset": [0.1, 0.1]})
    drawn = PassiveBalancing({"initial_soc_spread": [0.0, 1.0]})
    base.reset(seed=0)
    half.reset(seed=0)
    # A fixed factor halves every cell's distance from 0.5 (the middle of 0.4-0.6) before the
    # offset, and leaves SOH and resistance as drawn.
    np.testing.assert_allclose(half.sim.soc, 0.5 + 0.5 * (base.sim.soc - 0.5) + 0.1)
    np.testing.assert_array_equal(half._soh, base._soh)
    spreads = []
    for seed in range(40):
        drawn.reset(seed=seed)
        spreads.append(np.ptp(drawn.sim.soc))
    # Per-episode factors from 0 to 1: nearly balanced strings as well as fully spread ones.
    assert min(spreads) < 0.02 and max(spreads) > 0.1
    for bad in ([0.5, 1.5], [-0.1, 0.5], [0.8, 0.2]):
        with pytest.raises(ValueError, match="initial_soc_spread"):
            PassiveBalancing({"initial_soc_spread": bad})


def test_env_rejects_bad_actions_and_config_keys():
    env = PassiveBalancing({"action_format": "discrete"})
    env.reset(seed=0)
    soc = env.sim.soc.copy()
    for bad in (32, -1, 2.5, float("nan"), [1, 0]):
        with pytest.raises(ValueError, match="Discrete"):
            env.step(bad)
    np.testing.assert_array_equal(env.sim.soc, soc)  # nothing was simulated
    env = PassiveBalancing()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="MultiDiscrete"):
        env.step(np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="valid: .*pack_seed"):
        PassiveBalancing({"pack_sed": 1})
    with pytest.raises(ValueError, match="valid: discharge-rest-charge"):
        PassiveBalancing({"profile": "udds"})
    for key, value in (("soh", [0.9, 1.6]), ("initial_soc", [0.05, 0.5]), ("action_format", "multi_binary"),
                       ("w_switch", -1.0)):
        with pytest.raises(ValueError, match=key):
            PassiveBalancing({key: value})


def test_load_is_cut_when_the_first_cell_leaves_its_window_and_resumes_next_phase():
    env = PassiveBalancing({"pack_seed": 1, "profile": "charge-rest-discharge"})
    env.reset(seed=0)
    infos, done = [], False
    while not done:
        _, _, done, _, info = env.step(np.zeros(5, dtype=int))
        infos.append(info)
    cut = next(i for i in infos if i["charge_cut"])
    assert cut["step_max_cell_voltage_V"].max() >= 4.2 or cut["cell_soc"].max() >= 0.9
    after = [i for i in infos if cut["time_s"] < i["time_s"] <= 2300]
    assert after and all(i["pack_current_A"] == 0 for i in after)  # charging stays cut
    assert any(i["pack_current_A"] < 0 for i in infos if i["time_s"] > 2430)  # discharge phase runs
    metrics = infos[-1]["episode_metrics"]
    moved = sum(abs(i["pack_current_A"]) * 30 / 3600 for i in infos)
    assert metrics["usable_capacity_Ah"] == pytest.approx(moved)


def test_env_refuses_the_lowest_cells_shunt_during_discharge():
    env = PassiveBalancing({"pack_seed": 2})  # discharge first
    _, info = env.reset(seed=0)
    lowest = int(np.argmin(info["cell_soc"]))
    _, _, _, _, info = env.step(np.ones(5, dtype=int))
    assert info["switches"][lowest] == 0 and info["blocked_switches"] == 1
    assert info["switches"].sum() == 4


def test_rule_based_balancing_reduces_spread_and_raises_usable_capacity():
    seeds = [11, 12]
    none = evaluate_policy({}, NoBalancing, seeds, "discharge-rest-charge")
    rule = evaluate_policy({}, lambda env: RuleBasedBalancing(env, 0.02), seeds, "discharge-rest-charge")
    for n, r in zip(none, rule):
        assert r["soc_variance_mean"] < 0.5 * n["soc_variance_mean"]
        assert r["usable_capacity_Ah"] > n["usable_capacity_Ah"]
        assert r["switch_count"] > 0 and n["switch_count"] == 0 and r["shunt_energy_Wh"] > 0
    best, table = tune_rule_based({}, "discharge-rest-charge", seeds, thresholds=(0.01, 0.08))
    assert best in (0.01, 0.08) and len(table) == 2
    assert table[0]["switch_count"] > table[1]["switch_count"]  # a smaller threshold switches more


def test_drive_cycle_profile_is_pybamm_us06_scaled_to_2c():
    profile = load_profile("drive-cycle")
    drive = profile.currents_A[:3600]
    assert -drive.min() == pytest.approx(6.8) and profile.duration_s == 6600
    assert sum(length for _, length in profile.segments(100.0, 30.0)) == pytest.approx(30.0)
    assert len(profile.segments(100.0, 30.0)) == 30  # 1 s resolution inside a step


def test_evaluation_meets_the_same_cells_whatever_the_training_offset():
    from rl_battery.evaluation.balancing import evaluation_env_config

    trained = {"profile": "discharge-rest-charge", "pack_seed": None, "initial_soc_offset": [0.0, 0.2],
               "initial_soc_spread": [0.0, 1.0], "history": 2, "soh": [0.9, 1.1], "w_spread": 20.0}
    assert evaluation_env_config(trained) == {"history": 2, "soh": [0.9, 1.1]}
    assert evaluation_env_config(trained, keep_policy_view=False) == {"soh": [0.9, 1.1]}
    # The held-out cells of a checkpoint trained with an offset are those of one trained without.
    with_offset = PassiveBalancing({**evaluation_env_config(trained), "pack_seed": 10_000})
    without = PassiveBalancing({"history": 2, "soh": [0.9, 1.1], "pack_seed": 10_000})
    with_offset.reset(seed=0)
    without.reset(seed=0)
    np.testing.assert_array_equal(with_offset.sim.soc, without.sim.soc)
