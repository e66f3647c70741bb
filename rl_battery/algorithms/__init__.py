"""Custom RLlib algorithms (config class and algorithm side by side, as RLlib does)."""

from rl_battery.algorithms.callbacks import BatteryMetricsCallback, SeededReplayCallback, seed_replay_buffer
from rl_battery.algorithms.mbrl import MBRL, MBRLConfig
from rl_battery.algorithms.reptile import Reptile, ReptileConfig
from rl_battery.algorithms.sac import SAC, SACConfig

__all__ = ["MBRL", "MBRLConfig", "Reptile", "ReptileConfig", "SAC", "SACConfig", "BatteryMetricsCallback",
           "SeededReplayCallback", "seed_replay_buffer"]
