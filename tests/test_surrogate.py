import numpy as np
import pytest
import torch

from rl_battery.surrogate import EnsembleSurrogate, branched_rollout


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    nxt = obs + 0.1 * np.tanh(act) + 0.05 * obs**2
    rew = act[:, 0] * obs[:, 0]
    return obs, act, rew, nxt, (nxt[:, 0] > 0.95)


def test_surrogate_learns_known_function():
    obs, act, rew, nxt, done = _data(3000)
    model = EnsembleSurrogate(3, 1, ensemble_size=3, hidden_size=64, num_layers=2, seed=0)
    report = model.fit(obs, act, rew, nxt, done, epochs=30)
    # Error on held-out data far below the variance of what is predicted.
    assert report.val_obs_mse < 0.02 * np.var(nxt - obs)
    assert report.val_reward_mse < 0.05 * np.var(rew)
    assert report.n_val == 600
    o2, r, p = model.predict(torch.tensor(obs[:5]), torch.tensor(act[:5]), sample=False)
    np.testing.assert_allclose(o2.numpy(), nxt[:5], atol=0.03)


def test_min_updates_trains_a_small_data_set_further():
    obs, act, rew, nxt, done = _data(200)
    reports = [EnsembleSurrogate(3, 1, ensemble_size=2, hidden_size=32, num_layers=2, seed=0)
               .fit(obs, act, rew, nxt, done, epochs=1, min_updates=n) for n in (0, 300)]
    # 160 training rows are one minibatch: one step per epoch, unless min_updates asks for more.
    assert reports[1].val_obs_mse < 0.5 * reports[0].val_obs_mse


def test_branched_rollout_shapes_and_bounds():
    obs, act, rew, nxt, done = _data(500)
    model = EnsembleSurrogate(3, 1, ensemble_size=2, hidden_size=16, num_layers=1)
    model.fit(obs, act, rew, nxt, done, epochs=2)
    roll = branched_rollout(model, lambda o: torch.zeros(len(o), 1), obs[:50], 3,
                            obs_low=np.full(3, -1.0), obs_high=np.full(3, 1.0))
    assert roll["obs"].shape == (50, 4, 3) and roll["action"].shape == (50, 3, 1) and roll["reward"].shape == (50, 3)
    np.testing.assert_array_equal(roll["obs"][:, 0], obs[:50])
    assert np.all((roll["length"] >= 1) & (roll["length"] <= 3))
    # A branch shorter than the horizon ended on a predicted termination, and only then.
    assert np.all(roll["terminated"][roll["length"] < 3])
    assert np.all(np.abs(roll["obs"]) <= 1.0)


def test_surrogate_leaves_the_global_torch_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    obs, act, rew, nxt, done = _data(200)
    model = EnsembleSurrogate(3, 1, ensemble_size=2, hidden_size=16, num_layers=1, seed=7)
    model.fit(obs, act, rew, nxt, done, epochs=1)
    model.predict(torch.tensor(obs[:5]), torch.tensor(act[:5]))
    assert torch.equal(torch.rand(3), expected)
    same = EnsembleSurrogate(3, 1, ensemble_size=2, hidden_size=16, num_layers=1, seed=7)
    assert torch.equal(same.hidden[0].weight, EnsembleSurrogate(3, 1, ensemble_size=2, hidden_size=16,
                                                                num_layers=1, seed=7).hidden[0].weight)


@pytest.fixture(scope="module")
def known_plant():
    """A model of a known plant: next obs[0] = obs[0] + 0.5 * action; limit obs[0] <= 0.2."""
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, (3000, 2)).astype(np.float32)
    act = rng.uniform(-1, 1, (3000, 1)).astype(np.float32)
    nxt = obs.copy()
    nxt[:, 0] += 0.5 * act[:, 0]
    model = EnsembleSurrogate(2, 1, ensemble_size=3, hidden_size=64, num_layers=2, seed=0)
    model.fit(obs, act, np.zeros(3000), nxt, np.zeros(3000), epochs=40)
    return model, np.full(2, -np.inf), np.array([0.2, np.inf])


def test_shield_caps_at_the_largest_predicted_safe_action(known_plant):
    from rl_battery.surrogate import SurrogateShield

    model, low, high = known_plant
    shield = SurrogateShield(model, low, high, kappa=0.0, n_candidates=201)
    state = np.array([[0.0, 0.0], [0.9, 0.0], [-0.9, 0.0]], np.float32)
    caps = shield.cap(state).numpy()
    np.testing.assert_allclose(caps[0], 0.4, atol=0.08)  # 0.0 + 0.5 a <= 0.2  ->  a <= 0.4
    assert caps[1] == -1.0  # nothing is safe: the lowest action
    assert caps[2] == 1.0  # everything is safe
    np.testing.assert_allclose(shield(state[0], np.array([0.2], np.float32)), [0.2])  # below the cap: unchanged
    # Uncertainty makes it more cautious.
    wary = SurrogateShield(model, low, high, kappa=3.0, n_candidates=201)
    assert wary.cap(state[:1]).item() <= caps[0]


def test_planner_acts_at_the_largest_predicted_safe_action_whatever_is_proposed(known_plant):
    from rl_battery.surrogate import SurrogatePlanner

    model, low, high = known_plant
    planner = SurrogatePlanner(model, low, high, kappa=0.0)
    state = np.array([[0.0, 0.0], [0.9, 0.0], [-0.9, 0.0]], np.float32)
    best = planner(state)
    assert best.shape == (3, 1)
    np.testing.assert_allclose(best[0], [0.4], atol=0.08)
    assert best[1, 0] == -1.0 and best[2, 0] == 1.0
    # As an env action filter the proposal is ignored, in numpy and torch alike.
    for proposal in (np.array([-1.0], np.float32), np.array([1.0], np.float32)):
        np.testing.assert_allclose(planner(state[0], proposal), best[0])
    assert torch.equal(planner(state[:1], torch.zeros(1, 1)), torch.as_tensor(best[:1]))
    # A larger margin plans a smaller current.
    assert SurrogatePlanner(model, low, high, kappa=3.0)(state[:1])[0, 0] <= best[0, 0]


def test_bias_corrected_planner_rides_the_limit_of_a_plant_its_model_underestimates(known_plant):
    from rl_battery.surrogate import SurrogatePlanner

    model, low, high = known_plant  # predicts obs[0] + 0.5 a; limit obs[0] <= 0.2

    def closed_loop(planner, steps=6):
        state, trace = np.array([-0.6, 0.0], np.float32), []
        for _ in range(steps):
            a = planner(state)[0]
            state = state + np.array([0.5 * a + 0.1, 0.0], np.float32)  # the plant runs 0.1 hotter
            trace.append(float(state[0]))
        return np.array(trace)

    plain = closed_loop(SurrogatePlanner(model, low, high, kappa=0.0))
    corrected_planner = SurrogatePlanner(model, low, high, kappa=0.0, bias_correction=True)
    corrected = closed_loop(corrected_planner)
    assert plain[1:].max() > 0.26  # the plain planner sits 0.1 over the limit
    # From the second step on, the residual it measured keeps it at the limit, not over it.
    assert corrected[1:].max() < 0.24 and corrected[1:].min() > 0.14
    assert corrected_planner.bias[0] == pytest.approx(0.1, abs=0.05) and corrected_planner.bias[1] == 0.0
    # reset() starts a new episode: no correction until a step is seen.
    corrected_planner.reset()
    start = np.array([0.0, 0.0], np.float32)
    assert corrected_planner(start)[0] == SurrogatePlanner(model, low, high, kappa=0.0)(start)[0]
    # A batch is planned without the correction (its rows are not one episode).
    batch = np.stack([start, start])
    np.testing.assert_array_equal(corrected_planner(batch), SurrogatePlanner(model, low, high, kappa=0.0)(batch))


def test_open_loop_errors_count_windows_and_grow_with_the_horizon():
    from rl_battery.surrogate import open_loop_errors

    # Three real episodes of 12 steps of the plant of _data, with random actions.
    rng = np.random.default_rng(3)
    rows = []
    for ep in range(3):
        o = rng.uniform(-0.5, 0.5, 3).astype(np.float32)
        for t in range(12):
            a = rng.uniform(-1, 1, 1).astype(np.float32)
            n = o + 0.1 * np.tanh(a) + 0.05 * o**2
            rows.append((o, a, n, f"ep{ep}", t))
            o = n.astype(np.float32)
    obs, act, nxt = (np.stack([r[i] for r in rows]) for i in range(3))
    ids, steps = np.array([r[3] for r in rows]), np.array([r[4] for r in rows])
    trained = EnsembleSurrogate(3, 1, ensemble_size=2, hidden_size=64, num_layers=2, seed=0)
    trained.fit(*_data(3000), epochs=30)
    errors = open_loop_errors(trained, obs, act, nxt, ids, steps)
    assert (errors["k1_windows"], errors["k5_windows"], errors["k10_windows"]) == (36, 24, 9)
    assert errors["k1_rmse"] < errors["k10_rmse"]
    untrained = EnsembleSurrogate(3, 1, ensemble_size=2, hidden_size=64, num_layers=2, seed=0)
    assert errors["k5_rmse"] < open_loop_errors(untrained, obs, act, nxt, ids, steps)["k5_rmse"]
    # Row order does not matter; a window never spans two episodes.
    perm = rng.permutation(len(rows))
    shuffled = open_loop_errors(trained, obs[perm], act[perm], nxt[perm], ids[perm], steps[perm])
    assert shuffled == pytest.approx(errors)
    assert np.isnan(open_loop_errors(trained, obs, act, nxt, ids, steps, horizons=(13,))["k13_rmse"])


def _pack_ensemble(seed=0):
    """An ensemble over the pack's 14-dim observation, fitted on a smooth made-up plant."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-0.5, 0.8, (400, 14)).astype(np.float32)
    act = rng.uniform(-1, 1, (400, 1)).astype(np.float32)
    nxt = obs + 0.02 * (act + 1.0)
    model = EnsembleSurrogate(14, 1, ensemble_size=3, hidden_size=32, num_layers=1, seed=seed)
    model.fit(obs, act, act[:, 0], nxt, np.zeros(400), epochs=3)
    return model, obs, act


def test_combined_model_is_g0_without_ageing_and_scales_soc_gain_by_capacity():
    from rl_battery.surrogate import CombinedSurrogate, DifferentialSurrogate, PackCurrent
    from rl_battery.surrogate.differential import surrogate_from_spec

    g0, obs, act = _pack_ensemble()
    obs_t, act_t = torch.as_tensor(obs[:8]), torch.as_tensor(act[:8])
    identity = CombinedSurrogate(g0, DifferentialSurrogate(PackCurrent(3.0, 22.5, 3), 100.0))
    torch.testing.assert_close(identity.predict_members(obs_t, act_t), g0.predict_members(obs_t, act_t))
    aged = CombinedSurrogate(g0, DifferentialSurrogate(PackCurrent(3.0, 22.5, 3), 100.0, [0.8, 0.01, 0.0, 0.0]))
    base, new = g0.predict(obs_t, act_t, sample=False), aged.predict(obs_t, act_t, sample=False)
    soc_gain = (new[0] - obs_t)[:, 10] / (base[0] - obs_t)[:, 10]
    torch.testing.assert_close(soc_gain, torch.full_like(soc_gain, 1 / 0.8))
    # More resistance: a higher voltage at every current; the reward gains the extra SOC.
    assert torch.all(new[0][:, 0] > base[0][:, 0])
    torch.testing.assert_close(new[1] - base[1], 100.0 * (new[0] - base[0])[:, 10])
    rebuilt = surrogate_from_spec(aged.to_spec(dict(ensemble_size=3, hidden_size=32, num_layers=1)))
    torch.testing.assert_close(rebuilt.predict_members(obs_t, act_t), aged.predict_members(obs_t, act_t))


def test_branches_stop_where_the_ensemble_disagrees():
    g0, obs, act = _pack_ensemble()
    policy = lambda o: torch.zeros((len(o), 1))  # noqa: E731
    kw = dict(obs_low=np.full(14, -10.0), obs_high=np.full(14, 10.0))
    free = branched_rollout(g0, policy, obs[:16], 3, **kw)
    assert np.all(free["length"] >= 1)
    spread = g0.disagreement(torch.as_tensor(obs[:16]), torch.zeros((16, 1))).numpy()
    threshold = float(np.median(spread))
    cut = branched_rollout(g0, policy, obs[:16], 3, max_disagreement=threshold, **kw)
    # Exactly the branches whose first step the members disagree on are never started.
    np.testing.assert_array_equal(cut["length"] == 0, spread > threshold)
    assert 0 < np.sum(spread > threshold) < 16
