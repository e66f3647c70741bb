"""Custom RLlib algorithms (config class and algorithm side by side, as RLlib does)."""

from rl_battery.algorithms.callbacks import BatteryMetricsCallback
from rl_battery.algorithms.mbrl import MBRL, MBRLConfig
from rl_battery.algorithms.reptile import Reptile, ReptileConfig

__all__ = ["MBRL", "MBRLConfig", "Reptile", "ReptileConfig", "BatteryMetricsCallback"]
