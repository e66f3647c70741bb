"""The console progress of a Tune run: one compact row per trial, elapsed and expected time.

Tune's default console output (its "new output engine") prints the best trial's whole
AlgorithmConfig with every status update, several thousand characters, and cannot take a
custom table; its classic ``CLIReporter`` can. :func:`battery_reporter` builds one with the
swept parameters, the iteration, real env steps, episode return and the task's battery
metrics; :class:`BatteryReporter` adds a line with the elapsed and the expected total time.
"""

from __future__ import annotations

import time

from ray.tune import CLIReporter

#: Task -> metric columns (result key -> header), after the common ones.
TASK_COLUMNS = {
    "charging": {"env_runners/charge_time_min": "charge min", "env_runners/constraint_violations": "viol."},
    "balancing": {"env_runners/usable_capacity_Ah": "usable Ah", "env_runners/soc_variance_mean": "var(SOC)",
                  "env_runners/switch_count": "switches"},
}
COMMON_COLUMNS = {"training_iteration": "iter", "num_env_steps_sampled_lifetime": "env steps",
                  "env_runners/episode_return_mean": "return"}
MBRL_COLUMNS = {"mbrl/surrogate_new_data_k1_rmse": "surr. rmse k1"}
VERBOSE_COLUMNS = {"time_total_s": "time s", "env_runners/episode_len_mean": "ep. len",
                   "env_runners/max_cell_voltage_V": "max V", "env_runners/max_cell_temperature_K": "max T K",
                   "env_runners/shunt_energy_Wh": "shunt Wh", "mbrl/surrogate_new_data_k10_rmse": "surr. rmse k10"}


class BatteryReporter(CLIReporter):
    """``CLIReporter`` whose every report starts with the elapsed time and, once a trial has
    reported, the expected total time (elapsed / the mean fraction of ``stop_iterations``
    the trials have done)."""

    def __init__(self, *args, stop_iterations: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._stop_iterations = stop_iterations
        self._started = time.time()

    def report(self, trials, done, *sys_info):
        elapsed = time.time() - self._started
        line = f"elapsed {elapsed / 60:.1f} min"
        done_fraction = [min(1.0, (t.last_result or {}).get("training_iteration", 0) / self._stop_iterations)
                         for t in trials] if self._stop_iterations else []
        if done_fraction and sum(done_fraction) > 0:
            fraction = sum(done_fraction) / len(done_fraction)
            line += f", {100 * fraction:.0f} % of iterations, expected total {elapsed / fraction / 60:.1f} min"
        print(line)
        super().report(trials, done, *sys_info)


def battery_reporter(*, task: str, swept: dict[str, str], mbrl: bool = False, verbose: bool = False,
                     stop_iterations: int | None = None, max_report_frequency: int = 30) -> BatteryReporter:
    """The reporter of one run.

    Args:
        task: "charging" or "balancing" (which battery metrics to show).
        swept: flattened config key of each swept parameter -> its column header.
        mbrl: also show the surrogate's one-step error on new real data.
        verbose: also show time, episode length, limits and further surrogate errors.
        stop_iterations: the run's ``training_iteration`` stop, for the expected time.
        max_report_frequency: seconds between reports.

    Raises:
        ValueError: an unknown task.
    """
    if task not in TASK_COLUMNS:
        raise ValueError(f"task must be one of {', '.join(TASK_COLUMNS)}, got {task!r}")
    columns = {**COMMON_COLUMNS, **TASK_COLUMNS[task], **(MBRL_COLUMNS if mbrl else {})}
    if verbose:
        columns.update({k: v for k, v in VERBOSE_COLUMNS.items() if mbrl or not k.startswith("mbrl/")})
    return BatteryReporter(metric_columns=columns, parameter_columns=swept, max_report_frequency=max_report_frequency,
                           sort_by_metric=True, max_column_length=14,
                           stop_iterations=stop_iterations)
