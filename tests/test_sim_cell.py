import numpy as np
import pybamm
import pytest

from rl_battery.sim import SUPPORTED_PARAMETER_SETS, CellSimulator, UnknownParameterSetError


def test_cell_matches_plain_pybamm_simulation_at_constant_current():
    sim = CellSimulator("Chen2020")
    sim.reset(0.2)
    stepped = [sim.step(5.0) for _ in range(6)]  # 1C charge, 9 min

    values = pybamm.ParameterValues("Chen2020")
    values.set_initial_stoichiometries(0.2, options=pybamm.lithium_ion.SPMe(options={"thermal": "lumped"}).options)
    values.update({"Current function [A]": -5.0, "Upper voltage cut-off [V]": 4.5})
    reference = pybamm.Simulation(pybamm.lithium_ion.SPMe(options={"thermal": "lumped"}), parameter_values=values)
    solution = reference.solve([0, 6 * 90.0])
    ends = np.arange(1, 7) * 90.0
    v_ref = solution["Voltage [V]"](ends)
    t_ref = solution["X-averaged cell temperature [K]"](ends)
    # Tolerance: 2 mV / 0.02 K (solver tolerances; the 1 ms reset rest is negligible).
    np.testing.assert_allclose([r.voltage_V for r in stepped], v_ref, atol=2e-3)
    np.testing.assert_allclose([r.temperature_K for r in stepped], t_ref, atol=2e-2)


def test_soc_monotonic_under_charge_and_continuous_across_steps():
    sim = CellSimulator("Chen2020")
    start = sim.reset(0.1)
    assert start.soc == pytest.approx(0.1, abs=1e-6)
    socs = [start.soc] + [sim.step(5.0).soc for _ in range(5)]
    increments = np.diff(socs)
    assert np.all(increments > 0)
    # 5 A for 90 s in a ~5 Ah window: about 0.025 per step, and steps are alike (no jumps).
    assert increments == pytest.approx(np.full(5, increments.mean()), rel=0.02)
    assert 0.02 < increments.mean() < 0.03


def test_plating_potential_falls_and_voltage_rises_with_current():
    """From the same state, a larger charging current drives the separator-side plating
    indicator lower and the voltage and temperature higher (Butler-Volmer overpotential)."""
    sim = CellSimulator("Chen2020")
    sim.reset(0.1)
    start = sim.snapshot()
    low = sim.step(2.5)
    sim.restore(start)
    high = sim.step(7.5)
    assert high.min_plating_potential_V < low.min_plating_potential_V - 0.01
    assert high.max_voltage_V > low.max_voltage_V + 0.01
    assert high.max_temperature_K > low.max_temperature_K


def test_restore_then_step_equals_the_original_step():
    sim = CellSimulator("Chen2020")
    sim.reset(0.2)
    sim.step(5.0)
    saved = sim.snapshot()
    first = sim.step(6.0)
    sim.step(7.5)  # move on, then go back
    sim.restore(saved)
    again = sim.step(6.0)
    assert again == first
    with pytest.raises(TypeError, match="CellState"):
        sim.restore({"not": "a state"})


def test_unknown_parameter_set_lists_valid_names():
    with pytest.raises(UnknownParameterSetError) as err:
        CellSimulator("Xu2020")
    for name in SUPPORTED_PARAMETER_SETS:
        assert name in str(err.value)


def test_non_finite_current_never_reaches_solver():
    sim = CellSimulator("Chen2020")
    before = sim.reset(0.3)
    with pytest.raises(ValueError, match="finite"):
        sim.step(float("nan"))
    after = sim.step(5.0)  # state untouched: continues from reset
    assert after.time_s == pytest.approx(90.0, abs=0.01)
    assert after.soc > before.soc


def test_reset_restarts_from_initial_state():
    sim = CellSimulator("Chen2020")
    sim.reset(0.1)
    first = sim.step(5.0)
    sim.step(5.0)
    sim.reset(0.1)
    again = sim.step(5.0)
    assert again.voltage_V == pytest.approx(first.voltage_V, abs=1e-9)
