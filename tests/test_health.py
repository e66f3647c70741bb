"""The health layer: segment features, the SOH estimator and its artifact, the prior, the
MAP calibration of the differential surrogate."""

import json

import numpy as np
import pytest

from rl_battery.baselines import CCCVPolicy
from rl_battery.envs import PackFastCharge
from rl_battery.health import (
    FEATURE_NAMES,
    ParameterPrior,
    SOHEstimator,
    calibrate,
    prior_from_soh,
    segment_features,
)
from rl_battery.health.dataset import simulate_segments
from rl_battery.sim.heterogeneity import RESISTANCE_PER_SOH_LOSS_OHM
from rl_battery.surrogate import DifferentialSurrogate, PackCurrent


@pytest.fixture(scope="module")
def aged_segments():
    """The same pack, protocol and start SOC at three ages (3P6S, real liionpack)."""
    env = PackFastCharge({"pack_seed": 3, "soh_mean": 0.95, "soh_std": 0.01})
    out = []
    for age in (0.0, 1500.0, 3000.0):
        data = simulate_segments(env, [CCCVPolicy], [3], sampling=_fixed(age), seed=0)
        out.append(data)
    return out


def _fixed(age):
    from rl_battery.health.dataset import SegmentSampling

    return SegmentSampling(soh_mean=(0.95, 0.95), age_cycles=(age, age), c_rate=(1.0, 1.0), initial_soc=(0.1, 0.1))


def test_features_track_capacity_fade_and_resistance_growth(aged_segments):
    feats = np.stack([d["features"][0] for d in aged_segments])
    soh = [d["soh"][0] for d in aged_segments]
    assert soh[0] > soh[1] > soh[2]
    col = {n: feats[:, i] for i, n in enumerate(FEATURE_NAMES)}
    assert np.all(np.diff(col["coulomb_capacity"]) < 0)  # less charge per SOC moved
    assert np.all(np.diff(col["pulse_resistance_Ohm"]) > 0)  # more voltage per ampere
    assert np.all(np.isfinite(feats))


def test_shipped_estimator_loads_and_estimates_an_aged_pack(aged_segments):
    estimator = SOHEstimator.load()
    assert estimator.feature_names == FEATURE_NAMES and 0 < estimator.heldout_rmse < 0.05
    for data in aged_segments:
        assert abs(estimator.predict(data["features"])[0] - data["soh"][0]) < 0.03


def test_estimator_fits_a_linear_law_and_round_trips_its_artifact(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURE_NAMES)))
    soh = 0.9 + 0.02 * x[:, 0] - 0.01 * x[:, 2]
    x[::7, 1] = np.nan  # missing features are imputed
    estimator = SOHEstimator.fit(x, soh, ridge=1e-6)
    np.testing.assert_allclose(estimator.predict(x[:20]), soh[:20], atol=1e-3)
    path = estimator.save(tmp_path / "est.json")
    again = SOHEstimator.load(path)
    np.testing.assert_array_equal(again.predict(x), estimator.predict(x))
    data = json.loads(path.read_text())
    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="version"):
        SOHEstimator.load(path)


def test_prior_follows_the_ageing_law_and_rejects_bad_input():
    prior = prior_from_soh(0.8, 0.9, soh_std=0.01, dt_s=90.0)
    assert prior.mean[0] == pytest.approx(0.8 / 0.9)
    assert prior.mean[1] == pytest.approx(RESISTANCE_PER_SOH_LOSS_OHM * 0.1)
    fresh = prior_from_soh(0.9, 0.9, soh_std=0.01, dt_s=90.0)
    assert fresh.mean[0] == 1.0 and fresh.mean[1] == 0.0
    assert prior.std[0] > prior_from_soh(0.8, 0.9, soh_std=0.0, dt_s=90.0).std[0]
    with pytest.raises(ValueError):
        prior_from_soh(1.2, 0.9, soh_std=0.01, dt_s=90.0)


def _plant(theta, n=120, seed=0):
    """Transitions of an 'aged pack' made by correcting base predictions with a known G^."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-0.5, 0.8, (n, 14))
    action = rng.uniform(-1, 1, (n, 1))
    y0 = obs + rng.normal(0, 0.01, (n, 14))
    y0[:, 8:11] = obs[:, 8:11] + rng.uniform(0.005, 0.03, (n, 1))  # SOC rises
    truth = DifferentialSurrogate(PackCurrent(3.0, 22.5, 3), 100.0, theta)
    return obs, action, truth.correct(obs, action, y0), y0


def test_calibration_recovers_the_parameters_and_the_prior_pulls():
    theta = np.array([0.9, 0.01, 0.5, 0.02])
    obs, action, next_obs, y0 = _plant(theta)
    model = DifferentialSurrogate(PackCurrent(3.0, 22.5, 3), 100.0)
    result = calibrate(model, obs, action, next_obs, y0, ParameterPrior.uninformative())
    np.testing.assert_allclose(result.theta[:2], theta[:2], rtol=0.02, atol=5e-4)
    np.testing.assert_allclose(model.theta, result.theta)
    # Two transitions and a confident wrong prior: the estimate stays near the prior.
    wrong = ParameterPrior(np.array([1.0, 0.0, 0.6, 0.0]), np.array([1e-4, 1e-5, 0.3, 1e-3]))
    pulled = calibrate(model, obs[:2], action[:2], next_obs[:2], y0[:2], wrong)
    assert abs(pulled.theta[0] - 1.0) < abs(result.theta[0] - 1.0)
    with pytest.raises(ValueError):
        calibrate(model, obs[:0], action[:0], next_obs[:0], y0[:0], wrong)
