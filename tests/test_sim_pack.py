import liionpack as lp
import numpy as np
import pybamm
import pytest

from rl_battery.sim import CellHeterogeneity, PackSimulator


def test_pack_matches_liionpack_solve_at_constant_current(homogeneous):
    Np, Ns, current = 2, 3, 10.0
    pack = PackSimulator(Np, Ns, heterogeneity=homogeneous, seed=0)
    pack.reset(0.2)
    stepped = [pack.step(current) for _ in range(8)]

    def sim_func(values):
        model = pybamm.lithium_ion.SPMe(options={"thermal": "lumped", "contact resistance": "true"})
        lp.add_events_to_model(model)
        values.update({"Total heat transfer coefficient [W.m-2.K-1]": "[input]", "Upper voltage cut-off [V]": 4.5})
        values.update({"Contact resistance [Ohm]": 0.002}, check_already_exists=False)
        return pybamm.Simulation(model, parameter_values=values, solver=pybamm.CasadiSolver(mode="safe"))

    netlist = lp.setup_circuit(Np=Np, Ns=Ns, Rb=1e-4, Rc=1e-3, Ri=5e-2, I=current, V=3.6, configuration="series-groups")
    output = lp.solve(
        netlist=netlist, sim_func=sim_func, parameter_values=pybamm.ParameterValues("Chen2020"),
        experiment=pybamm.Experiment([f"Charge at {current} A for {9 * 90} seconds"], period="90 seconds"),
        inputs={"Total heat transfer coefficient [W.m-2.K-1]": np.full(Np * Ns, 10.0)},
        output_variables=["X-averaged cell temperature [K]"], initial_soc=0.2, manager="casadi",
    )
    # lp row k is the state at the start of its step k; our step k ends where lp row k+1 starts.
    v_lp = output["Terminal voltage [V]"][1:9]
    t_lp = output["X-averaged cell temperature [K]"][1:9]
    v_ours = np.array([r.cell_voltage_V for r in stepped])
    t_ours = np.array([r.cell_temperature_K for r in stepped])
    np.testing.assert_allclose(v_ours, v_lp, atol=5e-3)
    np.testing.assert_allclose(t_ours, t_lp, atol=3e-2)


def test_pitfall_input_order_ambient_temperature_is_honoured(homogeneous):
    """'Ambient temperature [K]' sorts before 'Current function [A]': in liionpack's dict
    order it would be swapped with the current and the pack would sit near 298 K."""
    pack = PackSimulator(1, 2, heterogeneity=homogeneous, ambient_temperature_K=308.15)
    pack.reset(0.5)
    for _ in range(3):
        r = pack.step(0.5)
    np.testing.assert_allclose(r.cell_temperature_K, 308.15, atol=0.2)
    assert pack.input_names == tuple(sorted(pack.input_names))


def test_pitfall_resistance_kept_after_rest():
    """R = |OCV - V| / I from the tiny balancing currents at rest sent liionpack packs to
    tens of volts; with the resistance kept, a charge after a rest stays physical."""
    pack = PackSimulator(3, 2, heterogeneity=CellHeterogeneity(soh_mean=0.9, soh_std=0.03), seed=1)
    pack.reset(0.2)
    charging = pack.step(9.0)
    rest = pack.step(0.0)
    assert np.abs(rest.cell_current_A).max() < 0.5
    # The rest step's R comes from the charging step before it; from then on R is frozen.
    second_rest = pack.step(0.0)
    np.testing.assert_array_equal(second_rest.cell_resistance_Ohm, rest.cell_resistance_Ohm)
    after = pack.step(9.0)
    np.testing.assert_array_equal(after.cell_resistance_Ohm, rest.cell_resistance_Ohm)
    assert after.cell_max_voltage_V.max() < 4.2
    assert np.all(after.cell_current_A > 0)
    assert after.cell_current_A.max() < 2.0 * charging.cell_current_A.max()
    assert after.event is None


def test_pitfall_events_detected_and_switch_events_ignored(homogeneous):
    pack = PackSimulator(1, 2, heterogeneity=homogeneous, hard_voltage_cutoff_V=4.25)
    first = pack.reset(0.85)
    assert first.event is None  # "Maximum voltage switch" is negative from the start
    event = None
    for _ in range(6):
        event = pack.step(7.5).event
        if event:
            break
    assert event and "Maximum voltage" in event and "switch" not in event
    with pytest.raises(RuntimeError, match="reset"):
        pack.step(7.5)


def test_heterogeneity_is_seeded_and_ages_the_pack():
    spec = CellHeterogeneity(soh_mean=0.85, soh_std=0.03)
    a, b = PackSimulator(seed=3, heterogeneity=spec), PackSimulator(seed=3, heterogeneity=spec)
    np.testing.assert_array_equal(a.cells.capacity_factor, b.cells.capacity_factor)
    assert not np.array_equal(a.cells.soh, PackSimulator(seed=4, heterogeneity=spec).cells.soh)
    assert 0.75 < a.pack_soh < 0.9
    young = PackSimulator(seed=3, heterogeneity=CellHeterogeneity(soh_mean=1.0, soh_std=0.0))
    assert a.cells.contact_resistance_Ohm.mean() > young.cells.contact_resistance_Ohm.mean()


def test_pack_rejects_non_finite_current():
    pack = PackSimulator(1, 1)
    pack.reset(0.3)
    with pytest.raises(ValueError, match="finite"):
        pack.step(float("inf"))


def test_restore_then_step_equals_the_original_step():
    pack = PackSimulator(2, 2, heterogeneity=CellHeterogeneity(soh_mean=0.9, soh_std=0.03), seed=2)
    pack.reset(0.2)
    pack.step(8.0)
    saved = pack.snapshot()
    first = pack.step(12.0)
    pack.step(14.0)
    pack.restore(saved)
    again = pack.step(12.0)
    for name in ("cell_voltage_V", "cell_max_voltage_V", "cell_temperature_K", "cell_soc", "cell_current_A",
                 "cell_resistance_Ohm", "cell_min_plating_potential_V"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name), err_msg=name)
    assert again.time_s == first.time_s and again.pack_voltage_V == first.pack_voltage_V


def test_cached_circuit_matches_liionpack_solve_circuit():
    from rl_battery.sim import PackCircuit

    rng = np.random.default_rng(0)
    netlist = lp.setup_circuit(Np=3, Ns=6, Rb=1e-4, Rc=1e-3, Ri=5e-2, I=1.0, V=3.6, configuration="series-groups")
    circuit = PackCircuit(netlist)
    for current in (-12.0, 0.0, 7.5):
        ocv = rng.uniform(3.4, 4.1, 18)
        ri = rng.uniform(0.02, 0.08, 18)
        netlist.loc[netlist["desc"].str.startswith("V"), "value"] = ocv
        netlist.loc[netlist["desc"].str.startswith("Ri"), "value"] = ri
        _, i_ref, _, v_ref, _ = lp.solve_circuit(netlist, current=current)
        cell_current, terminal = circuit.solve(ocv, ri, current)
        np.testing.assert_allclose(cell_current, i_ref, rtol=1e-9, atol=1e-9)
        assert terminal == pytest.approx(float(np.ravel(v_ref)[0]), rel=1e-10)


def test_set_cells_resamples_without_rebuild():
    pack = PackSimulator(2, 2, heterogeneity=CellHeterogeneity(soh_mean=0.95, soh_std=0.02), seed=0)
    pack.reset(0.2)
    young = pack.step(8.0)
    model = pack._sim.built_model
    pack.set_cells(CellHeterogeneity(soh_mean=0.8, soh_std=0.02), seed=5)
    assert pack.pack_soh < 0.85
    pack.reset(0.2)
    old = pack.step(8.0)
    assert pack._sim.built_model is model
    # Less capacity and more resistance: SOC rises faster, voltage higher at the same current.
    assert old.cell_soc.mean() > young.cell_soc.mean()
    assert old.cell_voltage_V.mean() > young.cell_voltage_V.mean()
