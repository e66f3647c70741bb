"""The single-cell workflow functions: eval_policy, charge_battery_with_sequence and plots."""

import json

import numpy as np
import pytest

from rl_battery.evaluation import charge_battery_with_sequence, eval_policy, plot_battery_state, plot_training_curve


def test_replaying_a_policys_currents_reproduces_its_episode(tmp_path):
    result = eval_policy(6.0, parameter_set="Mohtat2020", initial_soc=0.1)
    assert result["steps"] == len(result["currents_A"]) and set(np.round(result["currents_A"], 6)) == {6.0}
    trace = charge_battery_with_sequence(result["currents_A"], "Mohtat2020", initial_soc=0.1)
    assert len(trace) == result["steps"] + 1 and trace["time_s"].iloc[0] == 0.0
    assert trace["soc"].iloc[-1] == pytest.approx(result["final_soc"], abs=1e-9)
    assert trace["step_max_voltage_V"].max() == pytest.approx(result["peak_voltage_V"], abs=1e-9)
    assert np.all(np.diff(trace["soc"]) > 0)  # charging only
    png = tmp_path / "state.png"
    plot_battery_state(trace, png)
    assert png.stat().st_size > 10_000


def test_a_sequence_outside_the_current_range_is_rejected_with_the_range():
    with pytest.raises(ValueError, match=r"\[9.0\].*\[1.000, 7.500\]"):
        charge_battery_with_sequence([5.0, 9.0], "Chen2020")
    with pytest.raises(ValueError, match="finite"):
        charge_battery_with_sequence([5.0, float("nan")], "Chen2020")


def test_training_curve_reads_tunes_results(tmp_path):
    trial = tmp_path / "trial_0"
    trial.mkdir()
    (trial / "result.json").write_text("".join(
        json.dumps({"training_iteration": i, "env_runners": {"episode_return_mean": r}}) + "\n"
        for i, r in ((1, 1.0), (2, 2.0), (3, 4.0))))
    fig = plot_training_curve([trial], tmp_path / "curve.png")
    assert list(fig.axes[0].lines[0].get_ydata()) == [1.0, 2.0, 4.0]
    with pytest.raises(KeyError, match="env_runners/episode_return_mean"):
        plot_training_curve(trial, metric="env_runners/nope")


def test_the_feasible_current_trace_measures_a_policy_against_the_boundary():
    """The look-ahead against itself rides the boundary (ratio 1); a constant current that
    breaks the voltage limit on Chen2020 shows up as a ratio above 1 where it does; the
    episode stays the policy's."""
    from rl_battery.baselines import LookaheadPolicy
    from rl_battery.envs import CellFastCharge
    from rl_battery.evaluation import feasible_current_trace

    config = {"parameter_set": "Mohtat2020", "initial_soc": 0.1, "plating_is_constraint": True}
    env = CellFastCharge(config)
    riding = feasible_current_trace(LookaheadPolicy(env), env, initial_soc=0.1)
    np.testing.assert_allclose(riding["current_ratio"], 1.0, atol=1e-9)
    assert not riding["constraint_violated"].any() and riding["surface_stoichiometry"].between(0, 1).all()
    fixed = feasible_current_trace(6.0, parameter_set="Chen2020", initial_soc=0.1)
    assert len(fixed) == eval_policy(6.0, parameter_set="Chen2020", initial_soc=0.1)["steps"]
    np.testing.assert_allclose(fixed["current_A"], 6.0)
    over = fixed["current_ratio"] > 1.0 + 1e-6
    assert over.any() and fixed.loc[fixed["constraint_violated"], "current_ratio"].gt(1.0).all()
