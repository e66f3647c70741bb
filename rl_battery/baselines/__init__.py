"""Non-learning charging policies to compare RL against: the best feasible CC-CV, CC-CT-CV and
the look-ahead reference. Each is a callable ``(obs, info) -> action`` on a fast-charging env.
"""

from rl_battery.baselines.cc_ct_cv import CCCTCVPolicy, best_cc_ct_cv
from rl_battery.baselines.cccv import CCCVPolicy, best_cccv, best_feasible_cc, is_feasible
from rl_battery.baselines.lookahead import LookaheadPolicy

__all__ = ["CCCVPolicy", "CCCTCVPolicy", "LookaheadPolicy", "best_cccv", "best_cc_ct_cv", "best_feasible_cc",
           "is_feasible"]
