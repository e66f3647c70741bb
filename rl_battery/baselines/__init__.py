"""Non-learning charging policies to compare RL against."""

from rl_battery.baselines.cccv import CCCVPolicy, best_cccv

__all__ = ["CCCVPolicy", "best_cccv"]
