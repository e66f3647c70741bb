"""The cell env across parameter sets: C-rate limits, tasks, plating as a constraint, and the
simulator's CasADi dynamics (what the optimal-control baseline solves)."""

import casadi
import gymnasium as gym
import numpy as np
import pytest

import rl_battery.envs  # noqa: F401  (registers the envs)
from rl_battery.sim import CellSimulator, cell_ratings


def test_limits_follow_each_sets_capacity_and_cut_off():
    ai = gym.make("CellFastCharge-v0", parameter_set="Ai2020").unwrapped
    q = cell_ratings("Ai2020").nominal_capacity_Ah
    assert (ai.min_current_A, ai.max_current_A) == pytest.approx((0.2 * q, 1.5 * q))
    marquis = gym.make("CellFastCharge-v0", parameter_set="Marquis2019", max_c_rate=2.0).unwrapped
    assert marquis.settings.voltage_limit_V == pytest.approx(4.1)
    obs, _ = marquis.reset(seed=0)
    assert obs[7] == pytest.approx(2.0)  # the observation says which current range applies
    assert obs[5] == pytest.approx((4.1 - 3.7) / 0.5)


def test_set_task_switches_the_physics_and_keeps_limits_given_in_amperes():
    env = gym.make("CellFastCharge-v0", parameter_set="Chen2020", max_current_A=6.0, initial_soc=0.1).unwrapped
    env.set_task(parameter_set="Ai2020", ambient_temperature_K=303.15)
    assert env.max_current_A == 6.0  # given in A: stays
    assert env.min_current_A == pytest.approx(0.2 * cell_ratings("Ai2020").nominal_capacity_Ah)  # follows the set
    with pytest.raises(RuntimeError):
        env.step(np.zeros(1))  # a task change needs a reset
    obs, info = env.reset(seed=0)
    fresh = gym.make("CellFastCharge-v0", parameter_set="Ai2020", max_current_A=6.0, initial_soc=0.1,
                     ambient_temperature_K=303.15).unwrapped
    np.testing.assert_allclose(obs, fresh.reset(seed=0)[0], atol=1e-6)
    assert info["task_id"] == "cell:Ai2020" and env.task["ambient_temperature_K"] == 303.15
    with pytest.raises(Exception, match="valid"):
        env.set_task(parameter_set="Xu2020")
    assert env.parameter_set == "Ai2020"  # a rejected task changes nothing


def test_plating_has_its_own_counter_and_counts_as_violation_only_when_a_constraint():
    for constraint in (False, True):
        env = gym.make("CellFastCharge-v0", max_c_rate=2.0, plating_is_constraint=constraint).unwrapped
        env.reset(options={"initial_soc": 0.1})
        env.step(np.ones(1))  # 2C on Chen2020 from SOC 0.1: the separator potential goes below 0 V
        m = env.episode_metrics
        assert m["plating_violations"] == 1 and m["min_plating_potential_V"] < 0
        assert m["voltage_violations"] == m["temperature_violations"] == 0
        assert m["constraint_violations"] == int(constraint)


def test_lookahead_keeps_the_plating_potential_above_zero_when_it_is_a_constraint():
    from rl_battery.baselines import LookaheadPolicy
    from rl_battery.envs import run_episode

    free = gym.make("CellFastCharge-v0", parameter_set="Chen2020").unwrapped
    safe = gym.make("CellFastCharge-v0", parameter_set="Chen2020", plating_is_constraint=True).unwrapped
    m_free = run_episode(free, LookaheadPolicy(free), initial_soc=0.1)
    m_safe = run_episode(safe, LookaheadPolicy(safe), initial_soc=0.1)
    assert m_free["plating_violations"] > 0  # riding only V and T plates on this cell
    assert m_safe["plating_violations"] == 0 and m_safe["constraint_violations"] == 0
    assert m_safe["final_soc"] >= 0.8 and m_safe["min_plating_potential_V"] >= 0.0


def test_surface_stoichiometry_limit_is_a_constraint_the_lookahead_keeps():
    from rl_battery.baselines import LookaheadPolicy
    from rl_battery.envs import run_episode

    for bad in (0.0, 1.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match="surface_stoichiometry_limit"):
            gym.make("CellFastCharge-v0", surface_stoichiometry_limit=bad)
    # ORegan2022 is diffusion limited: at 1.5C from SOC 0.1 its graphite surface saturates.
    config = dict(parameter_set="ORegan2022", surface_stoichiometry_limit=0.99, observe_surface_stoichiometry=True,
                  surface_observation="log_margin")
    env = gym.make("CellFastCharge-v0", **config).unwrapped
    flat_out = run_episode(env, lambda obs, info: np.ones(1), initial_soc=0.1)
    assert flat_out["surface_violations"] > 0
    assert flat_out["constraint_violations"] >= flat_out["surface_violations"]
    kept = run_episode(env, LookaheadPolicy(env), initial_soc=0.1)
    assert kept["surface_violations"] == 0 and kept["constraint_violations"] == 0 and kept["final_soc"] >= 0.8
    # The limit on the observation: entry 9 is the log margin -log10(1 - x) / 4.
    low, high = env.observation_limits()
    assert high[9] == pytest.approx(-np.log10(0.01) / 4)
    free = gym.make("CellFastCharge-v0", **dict(config, surface_stoichiometry_limit=None)).unwrapped
    assert run_episode(free, lambda obs, info: np.ones(1), initial_soc=0.1)["surface_violations"] == 0
    assert np.isinf(free.observation_limits()[1][9])


def test_casadi_dynamics_reproduce_the_simulator_step():
    sim = CellSimulator("Chen2020")
    sim.reset(0.3)
    dyn = sim.dynamics()
    p = dyn.inputs.copy()
    p[dyn.current_index] = -5.0  # PyBaMM's sign: charging is negative
    y, pp = casadi.MX.sym("y", dyn.state.size), casadi.MX.sym("p", p.size)
    step = casadi.integrator("step", "cvodes", {"x": y, "p": pp, "ode": dyn.rhs(y, pp)}, 0.0, 90.0,
                             {"abstol": 1e-9, "reltol": 1e-8})
    y90 = np.asarray(step(x0=dyn.state, p=p)["xf"]).ravel()
    voltage, temperature, stoich, plating, _, surface = np.asarray(dyn.outputs(y90, p)).ravel()
    result = sim.step(5.0)
    assert voltage == pytest.approx(result.voltage_V, abs=1e-3)
    assert temperature == pytest.approx(result.temperature_K, abs=1e-2)
    assert sim.window.soc(stoich) == pytest.approx(result.soc, abs=1e-4)
    assert plating == pytest.approx(result.plating_potential_V, abs=1e-3)
    assert surface == pytest.approx(result.max_surface_stoichiometry, abs=1e-4)  # rises in a charge step


def test_the_particle_profile_is_the_state_behind_soc_and_the_surface():
    """The radial profile's volume average (weights r^2 on PyBaMM's uniform mesh) is the
    average stoichiometry the SOC is measured from; under charge it rises to the surface."""
    sim = CellSimulator("Chen2020")
    sim.reset(0.2)
    for _ in range(3):
        result = sim.step(7.5)
    r, x = sim.particle_radii, result.particle_stoichiometry
    assert r.shape == x.shape == (20,) and 0.0 < r[0] < r[-1] < 1.0
    assert sim.window.soc(np.sum(x * r**2) / np.sum(r**2)) == pytest.approx(result.soc, abs=2e-3)
    assert np.all(np.diff(x) > 0) and x[-1] < result.surface_stoichiometry


def test_a_new_episode_starts_at_time_zero():
    """Controllers (CC-CV, CC-CT-CV, look-ahead, sequence replay) detect a new episode by
    ``time_s == 0``; the 1 ms rest the simulator takes to read its state must not show."""
    env = gym.make("CellFastCharge-v0").unwrapped
    assert env.reset(seed=0)[1]["time_s"] == 0.0
    assert env.step(np.zeros(1))[4]["time_s"] == pytest.approx(90.0)


def test_joined_seeds_are_summarized_over_the_seeds_run_to_k():
    from rl_battery.evaluation.cell_benchmark import evaluated_at, summarize_seeds

    def row(k, minutes, violations=0):
        return {"k": k, "charge_time_min": minutes, "constraint_violations": violations, "final_soc": 0.8,
                "episode_return": 40.0}

    # seed 0 ran to k = 30, seed 1 (another run, joined) only to k = 0
    curves = {"0": [row(0, 40.0), row(30, 36.0, 1)], "1": [row(0, 44.0)]}
    assert evaluated_at(curves, 30) and not evaluated_at(curves, 5)
    at0, at30 = summarize_seeds(curves, 0), summarize_seeds(curves, 30)
    assert (at0["charge_time_min"], at0["worst_charge_time_min"], at0["seeds"]) == (42.0, 44.0, 2)
    assert (at30["charge_time_min"], at30["violations"], at30["seeds"]) == (36.0, 1, 1)
    with pytest.raises(ValueError, match="k = 5"):
        summarize_seeds(curves, 5)


def test_runs_join_per_arm_only_when_each_arm_adapted_alike():
    from rl_battery.evaluation.cell_benchmark import join_runs

    def run(seed, *, reptile, sac_k, ups, sac_ups=None):
        row = {"k": 0, "charge_time_min": 40.0, "constraint_violations": 0, "final_soc": 0.8}
        out = {"sets": ["Chen2020"], "seeds": [seed], "k": [0], "sac_k": sac_k, "gate": True,
               "references": {"Chen2020": {}}, "updates_per_step": ups,
               "reptile_checkpoint": "ckpt" if reptile else None,
               "reptile_curves": {"Chen2020": {str(seed): [row]}} if reptile else {},
               "sac_curves": {"Chen2020": {str(seed): [dict(row, k=k) for k in sac_k]}}}
        if sac_ups is not None:
            out["sac_updates_per_step"] = sac_ups
        return out

    reptile_runs = [run(0, reptile=True, sac_k=[0], ups=4.0), run(1, reptile=True, sac_k=[0], ups=4.0)]
    old_sac_run = run(0, reptile=False, sac_k=[0, 30], ups=8.0)  # one value for both arms, before the option
    joined = join_runs([*reptile_runs, old_sac_run])
    assert (joined["updates_per_step"], joined["sac_updates_per_step"]) == (4.0, 8.0)
    assert sorted(joined["reptile_curves"]["Chen2020"]) == ["0", "1"] and joined["sac_k"] == [0, 30]
    assert joined["reptile_checkpoint"] == "ckpt" and joined["seeds"] == [0, 1]
    with pytest.raises(ValueError, match="reptile runs"):
        join_runs([*reptile_runs, run(2, reptile=True, sac_k=[0], ups=8.0)])
    with pytest.raises(ValueError, match="sac runs"):
        join_runs([*reptile_runs, old_sac_run, run(1, reptile=False, sac_k=[30], ups=4.0, sac_ups=4.0)])
    with pytest.raises(ValueError, match="gated"):
        join_runs([*reptile_runs, dict(old_sac_run, gate=False)])
    with pytest.raises(ValueError, match=r"env configs \(keys \['surface_observation'\]\)"):
        join_runs([*reptile_runs, dict(old_sac_run, env_config={"surface_observation": "log_margin"})])


def test_ungated_curves_are_the_latest_weights_charges():
    from rl_battery.evaluation.cell_benchmark import summarize_seeds, ungated

    latest = {"charge_time_min": 45.0, "constraint_violations": 2, "final_soc": 0.8, "episode_return": 10.0}
    gated = {"Chen2020": {"0": [{"k": 0, "charge_time_min": 40.0, "constraint_violations": 0, "final_soc": 0.8,
                                 "episode_return": 30.0, "gate_episodes": 0, "latest": latest}]}}
    plain = ungated(gated)
    assert plain["Chen2020"]["0"] == [dict(latest, k=0)]
    assert summarize_seeds(plain["Chen2020"], 0)["violations"] == 2
    assert summarize_seeds(gated["Chen2020"], 0)["violations"] == 0
    assert ungated(plain) == plain  # rows without a latest charge stay as they are


def test_the_benchmark_judges_its_three_targets_from_the_deployed_charges():
    from rl_battery.evaluation.cell_benchmark import target_lines, target_verdicts

    def row(k, minutes, violations=0, soc=0.8):
        return {"k": k, "charge_time_min": minutes, "constraint_violations": violations, "final_soc": soc,
                "episode_return": 40.0}

    def references(optimum, cccv_violations=0):
        ok = {"charge_time_min": optimum, "constraint_violations": 0, "final_soc": 0.8}
        return {"cccv": dict(ok, constraint_violations=cccv_violations), "cc_ct_cv": ok, "lookahead": ok,
                "optimal": ok}

    result = {"sets": ["Train", "Held"], "meta_tasks": ["Train"], "env_config": {"target_soc": 0.8},
              "references": {"Train": references(36.0), "Held": references(30.0, cccv_violations=1)},
              "reptile_curves": {
                  "Train": {"0": [row(0, 34.5, 2), row(10, 37.5)], "1": [row(0, 34.5, 2), row(10, 37.5)]},
                  "Held": {"0": [row(3, 30.0), row(10, 31.5)], "1": [row(3, 20.0, soc=0.5), row(10, 31.5)]}},
              "sac_curves": {"Train": {"0": [row(0, 50.0, 5), row(30, 39.0)]},
                             "Held": {"0": [row(30, 33.0)]}}}
    verdicts = target_verdicts(result)
    zero = verdicts["zero_violations"]
    assert zero["met"] is False
    # the reference's breach and the meta policy's count; SAC's untrained k = 0 does not
    assert zero["breaches"] == [{"arm": "reptile", "set": "Train", "k": 0, "violations": 4},
                                {"arm": "cccv", "set": "Held", "k": None, "violations": 1}]
    within = {(r["arm"], r["set"]): r for r in verdicts["within_ratio"]["rows"]}
    assert within["reptile", "Train"]["met"] and within["reptile", "Train"]["worst_ratio"] == pytest.approx(37.5 / 36)
    assert within["reptile", "Held"]["met"]  # 1.05x exactly is within
    assert not within["sac", "Train"]["met"] and not within["sac", "Held"]["met"]
    assert verdicts["within_ratio"]["met"] is False
    # held out: one Reptile seed stopped short at k = 3 (the cut-off), so not as fast as SAC, however short its mean
    (held,) = verdicts["held_out"]["rows"]
    assert held["set"] == "Held" and not held["reptile"]["reached"] and held["met"] is False
    result["reptile_curves"]["Held"]["1"][0] = row(3, 31.5)
    assert target_verdicts(result)["held_out"]["met"] is True
    lines = "\n".join(target_lines(target_verdicts(result)))
    assert "Zero violations: missed" in lines and "Reptile on Train (k=0: 4 steps)" in lines
    assert "SAC from scratch within 1.05x of the optimum at k=30: 0 of 2 sets" in lines and "1.083" in lines
    empty = target_verdicts(dict(result, reptile_curves={}, sac_curves={}))
    assert empty["within_ratio"]["met"] is None and empty["held_out"]["met"] is None
    assert "not measured" in "\n".join(target_lines(empty))


def test_a_slower_graphite_diffusivity_saturates_the_observed_particle_surface_sooner():
    """Diffusion-limited tasks (ORegan2022-like) are drawn by scaling the diffusivity; the
    observation's entry 9 is what warns of the voltage jump at a full particle surface."""
    from rl_battery.envs import CellFastCharge

    def charge(env, steps=8):
        env.reset(seed=0)
        for _ in range(steps):
            obs = env.step(np.ones(1))[0]
        return obs

    config = {"parameter_set": "Chen2020", "initial_soc": 0.1, "observe_surface_stoichiometry": True}
    fast = gym.make("CellFastCharge-v0", **config).unwrapped
    slow = gym.make("CellFastCharge-v0", **config, negative_diffusivity_scale=0.05).unwrapped
    assert fast.observation_space.shape == (10,)
    obs_fast, obs_slow = charge(fast), charge(slow)
    assert obs_slow[0] == pytest.approx(obs_fast[0], abs=0.01)  # the same charge went in...
    assert obs_slow[9] > obs_fast[9] + 0.1  # ...but the slow particle's surface is fuller
    assert obs_slow[9] == pytest.approx(slow.last_record.step_max_surface_stoichiometry, abs=1e-6)
    # The scale is a task part: set on the fast env it gives the slow env's physics, it stays
    # over a change of set, and the configured task puts the env_config's back.
    fast.set_task(negative_diffusivity_scale=0.05)
    np.testing.assert_allclose(charge(fast), obs_slow, atol=1e-6)
    fast.set_task(parameter_set="Ai2020")
    assert fast.task["negative_diffusivity_scale"] == 0.05
    with pytest.raises(ValueError, match="negative_diffusivity_scale"):
        fast.set_task(parameter_set="Chen2020", negative_diffusivity_scale=0.0)
    assert fast.parameter_set == "Ai2020"  # a rejected task changes nothing
    fast.set_task(**CellFastCharge.configured_task(config, "Chen2020"))
    assert fast.task["negative_diffusivity_scale"] == 1.0
    np.testing.assert_allclose(charge(fast), obs_fast, atol=1e-6)
    assert gym.make("CellFastCharge-v0").unwrapped.observation_space.shape == (9,)  # off by default


def test_the_log_margin_observation_is_the_surface_margin_at_the_steps_end():
    """surface_observation="log_margin": entry 9 is -log10(1 - x) / 4 of the step's end state,
    not the in-step maximum, so it falls when the current does; a bad value fails before any
    simulator is built."""
    from rl_battery.envs import CellFastCharge

    config = {"parameter_set": "Chen2020", "initial_soc": 0.1, "observe_surface_stoichiometry": True,
              "negative_diffusivity_scale": 0.05}
    linear = gym.make("CellFastCharge-v0", **config).unwrapped
    log = gym.make("CellFastCharge-v0", **config, surface_observation="log_margin").unwrapped
    for env in (linear, log):
        env.reset(seed=0)
    for action in (1.0, 1.0, 1.0, -1.0):  # full current, then the lowest: the surface empties
        obs_linear = linear.step(np.array([action]))[0]
        obs_log = log.step(np.array([action]))[0]
        record = log.last_record
        np.testing.assert_allclose(obs_log[:9], obs_linear[:9], atol=1e-6)  # only entry 9 differs
        assert obs_linear[9] == pytest.approx(record.step_max_surface_stoichiometry, abs=1e-6)
        assert obs_log[9] == pytest.approx(-np.log10(1.0 - record.surface_stoichiometry) / 4.0, rel=1e-5)
    assert record.surface_stoichiometry < record.step_max_surface_stoichiometry - 1e-3  # the end, not the peak
    with pytest.raises(ValueError, match="'max', 'log_margin'"):
        CellFastCharge.check_config({"surface_observation": "log"})


def test_the_profile_observation_reads_the_particle_beneath_the_surface():
    """surface_observation="profile": entries 0-9 as with "log_margin", entries 10-12 the log
    margins at r / R = 0.9, 0.75, 0.5 of the step's end profile. Under charge the particle fills from the surface inward; at the lowest
    current next, the surface empties while the layer beneath it still fills, which the
    surface margin alone does not show."""
    config = {"parameter_set": "Chen2020", "initial_soc": 0.1, "observe_surface_stoichiometry": True,
              "negative_diffusivity_scale": 0.05}
    log = gym.make("CellFastCharge-v0", **config, surface_observation="log_margin").unwrapped
    profile = gym.make("CellFastCharge-v0", **config, surface_observation="profile").unwrapped
    assert profile.observation_space.shape == (13,)
    for env in (log, profile):
        env.reset(seed=0)
    observations = []
    for action in (1.0, 1.0, 1.0, -1.0):
        obs_log, obs = log.step(np.array([action]))[0], profile.step(np.array([action]))[0]
        np.testing.assert_allclose(obs[:10], obs_log, atol=1e-6)
        record = profile.last_record
        np.testing.assert_allclose(obs[10:], -np.log10(1.0 - record.profile_stoichiometry) / 4.0, rtol=1e-5)
        observations.append(obs)
    charged, rested = observations[2], observations[3]
    assert charged[9] > charged[10] > charged[11] > charged[12] > 0  # fullest at the surface
    assert rested[9] < charged[9] and rested[11] > charged[11]  # the surface empties inward

def test_the_surface_cost_charges_each_decade_of_margin_below_its_limit():
    """w_surface / surface_margin_limit: the reward falls by w per decade of 1 - x (the step's
    end) below the limit and by nothing above it; without them the reward is the shared one;
    bad values fail before any simulator is built."""
    from rl_battery.envs import CellFastCharge

    config = {"parameter_set": "Chen2020", "initial_soc": 0.1, "negative_diffusivity_scale": 0.03}
    plain = gym.make("CellFastCharge-v0", **config).unwrapped
    costed = gym.make("CellFastCharge-v0", **config, w_surface=2.0, surface_margin_limit=3e-3).unwrapped
    for env in (plain, costed):
        env.reset(seed=0)
    charged = []
    for _ in range(20):  # full current on a diffusion-limited cell: the surface fills up
        reward_plain = plain.step(np.ones(1))[1]
        reward_costed = costed.step(np.ones(1))[1]
        margin = 1.0 - costed.last_record.surface_stoichiometry
        expected = 2.0 * max(0.0, np.log10(3e-3 / max(margin, 1e-12)))
        assert reward_plain - reward_costed == pytest.approx(expected, abs=1e-9)
        assert plain.surface_cost(plain.last_record) == 0.0  # off by default
        charged.append(expected)
        if costed.last_record.event is not None or costed.last_record.soc >= 0.8:
            break
    assert charged[0] == 0.0 and max(charged) > 0.0  # a full surface costs, an empty one does not
    for bad in ({"w_surface": -1.0}, {"w_surface": float("nan")}, {"surface_margin_limit": 1.0}):
        with pytest.raises(ValueError, match="w_surface|surface_margin_limit"):
            CellFastCharge.check_config(bad)
