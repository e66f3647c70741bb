"""Non-learning policies to compare RL against. Charging: the best feasible CC-CV, CC-CT-CV and
the look-ahead reference; passive balancing: no balancing and rule-based balancing. Each is a
callable ``(obs, info) -> action`` on its env. The tasks' physical limits: the minimum-time
charge of a cell (``optimal``) and a certified lower bound on passive balancing's SOC variance
(``balancing_bound``).
"""

from rl_battery.baselines.balancing import NoBalancing, RuleBasedBalancing, evaluate_policy, tune_rule_based
from rl_battery.baselines.balancing_bound import VarianceBound, soc_variance_lower_bound
from rl_battery.baselines.cc_ct_cv import CCCTCVPolicy, best_cc_ct_cv
from rl_battery.baselines.cccv import CCCVPolicy, best_cccv, best_feasible_cc, is_feasible
from rl_battery.baselines.lookahead import LookaheadPolicy

__all__ = ["NoBalancing", "RuleBasedBalancing", "evaluate_policy", "tune_rule_based", "CCCVPolicy", "CCCTCVPolicy", "LookaheadPolicy", "best_cccv", "best_cc_ct_cv", "best_feasible_cc",
           "is_feasible", "VarianceBound", "soc_variance_lower_bound"]
