"""The certified lower bound on the time-mean SOC variance of passive balancing."""

import numpy as np
import pytest

from rl_battery.baselines import NoBalancing, RuleBasedBalancing, evaluate_policy
from rl_battery.baselines.balancing import balancing_env
from rl_battery.baselines.balancing_bound import max_shunt_current_A, soc_variance_lower_bound

PROFILE, PACK = "charge-rest-discharge", 10_000


class RandomSwitching:
    """Every shunt on or off at random each step (seeded): a policy no rule resembles."""

    def __init__(self, env, seed=0):
        self.env, self.rng = env.unwrapped, np.random.default_rng(seed)

    def __call__(self, obs, info):
        return self.env.encode_switches(self.rng.integers(0, 2, self.env.n_cells))


def _bound(config=None, **kwargs):
    env = balancing_env(config or {}, PROFILE, PACK)
    env.reset(seed=PACK)
    return env, soc_variance_lower_bound(env, **kwargs)


def test_the_bound_lies_below_every_policy_and_above_zero_for_spread_cells():
    env, bound = _bound()
    assert bound.steps == 220  # 6600 s of 30 s steps, the env's episode
    policies = {"none": NoBalancing, "rule": lambda e: RuleBasedBalancing(e, 0.01),
                "tight rule": lambda e: RuleBasedBalancing(e, 0.0025),
                "random": lambda e: RandomSwitching(e, 0), "random 2": lambda e: RandomSwitching(e, 1)}
    variances = {name: evaluate_policy({}, make, [PACK], PROFILE)[0]["soc_variance_mean"]
                 for name, make in policies.items()}
    assert 0 < bound.lower_bound <= bound.relaxed_value
    for name, value in variances.items():
        assert bound.lower_bound < value, name
    # the cells start 0.4-0.6 apart and a shunt drains < 0.8 A of 3.4 Ah: the first steps keep
    # most of the start variance whatever the switching
    assert bound.lower_bound > 0.05 * variances["none"]


def test_the_shunt_current_bound_covers_the_shunt_currents_of_a_busy_episode():
    env, bound = _bound()
    seen = []
    evaluate_policy({}, lambda e: RuleBasedBalancing(e, 0.0025), [PACK], PROFILE,
                    on_step=lambda seed, info: seen.append(np.max(info["shunt_current_A"])))
    assert max(seen) > 0.5  # the shunts were on
    assert bound.max_shunt_current_A == pytest.approx(max_shunt_current_A(env))
    assert max(seen) <= bound.max_shunt_current_A


def test_an_early_stop_only_loosens_the_certified_bound():
    _, converged = _bound()
    _, early = _bound(max_iter=3)
    assert early.lower_bound <= converged.lower_bound
    assert early.relaxed_value >= converged.relaxed_value
    assert converged.relaxed_value - converged.lower_bound < 0.01 * converged.lower_bound  # certified to 1 %


def test_identical_cells_need_no_balancing_and_weaker_shunts_bound_higher():
    _, equal = _bound({"initial_soc_spread": [0.0, 0.0], "soh": [1.0, 1.0], "resistance_spread": 0.0})
    assert equal.lower_bound == pytest.approx(0.0, abs=1e-12)
    assert np.all(equal.shunt_fraction < 1e-6)  # nothing to drain
    _, weak = _bound({"shunt_resistance_Ohm": 24.0})
    _, strong = _bound({"shunt_resistance_Ohm": 6.0})
    assert weak.max_shunt_current_A == pytest.approx(strong.max_shunt_current_A / 4)
    assert weak.lower_bound > strong.lower_bound


def test_the_bound_needs_the_cells_of_a_reset_env():
    env = balancing_env({}, PROFILE, PACK)
    with pytest.raises(ValueError, match="reset"):
        soc_variance_lower_bound(env)
