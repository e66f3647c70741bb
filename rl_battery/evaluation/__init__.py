"""Roll a policy (checkpoint or baseline) on an env: metrics, traces, plots."""

from rl_battery.evaluation.checkpoint_policy import CheckpointPolicy, load_checkpoint_policy
from rl_battery.evaluation.evaluate import evaluate_checkpoint, format_comparison

__all__ = ["CheckpointPolicy", "load_checkpoint_policy", "evaluate_checkpoint", "format_comparison"]
