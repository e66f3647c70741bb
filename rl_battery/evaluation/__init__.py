"""Roll a policy (checkpoint or baseline) on an env: metrics, traces, plots."""

from rl_battery.evaluation.balancing import compare_balancing, evaluate_balancing_checkpoint, format_balancing
from rl_battery.evaluation.checkpoint_policy import CheckpointPolicy, load_checkpoint_policy
from rl_battery.evaluation.evaluate import compare_on_env, evaluate_checkpoint, format_comparison, merge_env_config
from rl_battery.evaluation.plots import plot_balancing, plot_battery_state, plot_training_comparison, plot_training_curve
from rl_battery.evaluation.workflow import charge_battery_with_sequence, eval_policy, feasible_current_trace

__all__ = ["CheckpointPolicy", "load_checkpoint_policy", "evaluate_checkpoint", "compare_on_env", "format_comparison",
           "merge_env_config", "eval_policy", "charge_battery_with_sequence", "feasible_current_trace", "plot_battery_state",
           "plot_training_curve", "plot_balancing", "plot_training_comparison", "compare_balancing",
           "evaluate_balancing_checkpoint", "format_balancing"]
