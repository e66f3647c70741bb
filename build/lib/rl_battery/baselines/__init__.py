"""Non-learning policies to compare RL against. Charging: the best feasible CC-CV, CC-CT-CV and
the look-ahead reference; passive balancing: no balancing and rule-based balancing. Each is a
callable ``(obs, info) -> action`` on its env.
"""

from rl_battery.baselines.balancing import NoBalancing, RuleBasedBalancing, evaluate_policy, tune_rule_based
from rl_battery.baselines.cc_ct_cv import CCCTCVPolicy, best_cc_ct_cv
from rl_battery.baselines.cccv import CCCVPolicy, best_cccv, best_feasible_cc, is_feasible
from rl_battery.baselines.lookahead import LookaheadPolicy

__all__ = ["NoBalancing", "RuleBasedBalancing", "evaluate_policy", "tune_rule_based", "CCCVPolicy", "CCCTCVPolicy", "LookaheadPolicy", "best_cccv", "best_cc_ct_cv", "best_feasible_cc",
           "is_feasible"]
