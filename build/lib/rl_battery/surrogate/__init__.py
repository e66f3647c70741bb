"""Learned dynamics fitted from the Parquet rollouts, and batched synthetic rollouts."""

from rl_battery.surrogate.differential import CombinedSurrogate, DifferentialSurrogate, PackCurrent
from rl_battery.surrogate.ensemble import EnsembleSurrogate, FitReport
from rl_battery.surrogate.planner import SurrogatePlanner
from rl_battery.surrogate.rollout import branched_rollout, transition_arrays
from rl_battery.surrogate.shield import SurrogateShield
from rl_battery.surrogate.validation import open_loop_errors

__all__ = ["CombinedSurrogate", "DifferentialSurrogate", "EnsembleSurrogate", "PackCurrent", "FitReport", "SurrogatePlanner", "SurrogateShield", "branched_rollout", "open_loop_errors",
           "transition_arrays"]
