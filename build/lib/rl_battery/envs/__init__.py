"""Gymnasium environments over rl_battery.sim (``import rl_battery`` registers their ids).

``gymnasium.make("CellFastCharge-v0", **env_config)``, ``gymnasium.make("PackFastCharge-v0", ...)``
and ``gymnasium.make("PassiveBalancing-v0", ...)`` work after ``import rl_battery``.
"""

from rl_battery.envs.cell_fast_charge import CellFastCharge
from rl_battery.envs.metrics import BALANCING_METRIC_KEYS, METRIC_KEYS, BalancingMetrics, EpisodeMetrics
from rl_battery.envs.pack_fast_charge import PackFastCharge
from rl_battery.envs.passive_balancing import PassiveBalancing
from rl_battery.envs.rollout import Policy, record_episode, run_episode, schedule_policy
from rl_battery.envs.settings import ChargingSettings, valid_env_config_keys
from rl_battery.envs.step_record import StepRecord

#: Registered environment ids -> classes (the experiments layer resolves YAML names here).
ENV_CLASSES = {"CellFastCharge-v0": CellFastCharge, "PackFastCharge-v0": PackFastCharge,
               "PassiveBalancing-v0": PassiveBalancing}

__all__ = [
    "CellFastCharge", "PackFastCharge", "PassiveBalancing", "ENV_CLASSES", "METRIC_KEYS", "EpisodeMetrics",
    "BALANCING_METRIC_KEYS", "BalancingMetrics", "StepRecord",
    "ChargingSettings", "valid_env_config_keys", "run_episode", "record_episode", "schedule_policy", "Policy",
]
