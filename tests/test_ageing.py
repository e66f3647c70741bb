"""The cycle-ageing law and an ageing pack (simulator and env)."""

import gymnasium as gym
import numpy as np
import pytest

import rl_battery.envs  # noqa: F401  (registers the envs)
from rl_battery.sim import AgeingLaw, CellHeterogeneity, PackSimulator


def test_hotter_and_harder_cycling_fades_capacity_faster():
    law = AgeingLaw()
    base = law.capacity_loss(500, 1.0, 298.15)
    assert law.capacity_loss(500, 1.0, 318.15) > 1.5 * base  # Arrhenius: 20 K hotter
    assert law.capacity_loss(500, 1.5, 298.15) > base
    assert law.capacity_loss(1000, 1.0, 298.15) > base
    # Percent in Wang's law, a fraction here: a few percent after 500 cycles at 25 degC.
    assert 0.01 < base < 0.1


def test_ageing_in_two_steps_equals_one_step_at_the_same_stress():
    law = AgeingLaw()
    soh = np.array([1.0 - 1e-9, 0.95, 0.9])
    once, lost = law.age(soh, 300, 1.2, 310.0)
    twice, _ = law.age(law.age(soh, 100, 1.2, 310.0)[0], 200, 1.2, 310.0)
    np.testing.assert_allclose(twice, once, rtol=1e-9)
    assert np.all(lost > 0)
    # A cell that has already lost more fades more slowly (the power law flattens).
    assert lost[2] < lost[0]
    with pytest.raises(ValueError):
        law.age(soh, -1, 1.0, 298.15)


def test_ageing_a_pack_lowers_capacity_raises_resistance_each_cell_at_its_own_rate():
    pack = PackSimulator(2, 2, heterogeneity=CellHeterogeneity(soh_mean=0.95, soh_std=0.0), seed=0)
    pack.reset(0.2)
    young = pack.step(8.0)
    before = pack.cells
    model = pack._sim.built_model
    lost = pack.age(300, c_rate=1.0, temperature_K=313.15)
    assert pack._sim.built_model is model and pack.equivalent_cycles == 300
    assert np.all(lost > 0) and np.ptp(lost) > 0  # equal SOH before, different after
    np.testing.assert_allclose(pack.cells.soh, before.soh - lost)
    assert np.all(pack.cell_capacity_Ah < pack.cell_nominal_capacity_Ah * before.capacity_factor)
    assert np.all(pack.cells.contact_resistance_Ohm > before.contact_resistance_Ohm)
    pack.reset(0.2)
    old = pack.step(8.0)
    # Less capacity and more resistance: SOC rises faster, voltage higher at the same current.
    assert old.cell_soc.mean() > young.cell_soc.mean()
    assert old.cell_voltage_V.mean() > young.cell_voltage_V.mean()


def test_env_age_is_set_between_episodes_and_reported_only_in_info():
    env = gym.make("PackFastCharge-v0", Np=2, Ns=2, pack_seed=1).unwrapped
    obs0, info0 = env.reset(seed=0)
    env.set_age(400, temperature_K=318.15)
    obs1, info1 = env.reset(seed=0)
    assert info0["equivalent_cycles"] == 0 and info1["equivalent_cycles"] == 400
    assert np.all(info1["cell_soh"] < info0["cell_soh"])
    assert np.all(info1["cell_contact_resistance_Ohm"] > info0["cell_contact_resistance_Ohm"])
    assert obs1[13] < obs0[13] and obs1.shape == obs0.shape  # pack SOH observed, per-cell truth not
    env.set_age(400, temperature_K=318.15)  # the same age again: not aged twice
    np.testing.assert_allclose(env.reset(seed=0)[1]["cell_soh"], info1["cell_soh"])
    aged = gym.make("PackFastCharge-v0", Np=2, Ns=2, pack_seed=1, age_cycles=400,
                    ageing_temperature_K=318.15).unwrapped
    np.testing.assert_allclose(aged.reset(seed=0)[1]["cell_soh"], info1["cell_soh"])
    with pytest.raises(ValueError, match="age_cycles"):
        env.set_age(float("nan"))
