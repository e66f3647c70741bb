"""Reptile meta-learning of SAC across battery tasks, as an RLlib Algorithm.

Reptile (Nichol, Achiam and Schulman 2018, "On First-Order Meta-Learning Algorithms",
arXiv:1803.02999, Algorithm 1): keep meta weights phi; for a sampled task, train from phi
with the inner learner to weights W; move ``phi <- phi + meta_lr * (W - phi)``. Here the
inner learner is RLlib's SAC (its RLModule and Learner: policy, twin Q and target nets,
all interpolated), and a task is a cell: a PyBaMM parameter set, optionally with an
ambient temperature, a start-SOC range and a factor on the graphite diffusivity drawn per
task.

One ``training_step`` (= one iteration):
  1. draw a task from ``meta_tasks`` (and the ``task_ambient_temperature_K`` /
     ``task_initial_soc`` / ``task_negative_diffusivity_scale`` ranges) with the run's
     seeded generator;
  2. load phi into the Learner and the env runners, and set the task on every env runner
     (:class:`rl_battery.algorithms.env_runner.BatteryEnvRunner` keeps it as restorable
     state and restarts its episodes, so no episode mixes two tasks);
  3. ``inner_steps`` x (sample ``rollout_fragment_length`` steps per runner -> the task's
     own replay buffer -> ``inner_updates_per_step`` SAC updates); every sampled fragment's
     ``task_id`` is checked against the task (``reptile/fragments_on_other_task`` must stay
     0: the original meta-RL code silently reset every episode to Chen2020);
  4. the Reptile step on phi;
  5. every ``meta_check_interval`` iterations (0: never), the safety check: the meta
     policy's deterministic charge on each training set as configured
     (:meth:`Reptile.check_meta_policy`); the latest checked weights with the fewest limit
     violations (then charges short of the target; optionally then the shortest mean
     charge) become the deployed ones;
  6. the deployed weights (phi without the check) go to the Learner and the env runners,
     so evaluation, checkpoints and adaptation act with them; the next step starts from phi.

Why the check: each Reptile step pulls phi toward one task's adapted weights, so whether the
meta policy (no adaptation) keeps every limit on every training cell changes from step to
step: in one cell_reptile run the meta policy broke the voltage, temperature and plating
limits for 0-18 steps over the five training sets from one check to the next, and ended
with 10 (Chen2020 and OKane2022). Safety before speed, as in the benchmark's targets: the
check keeps the last meta weights that broke the fewest limits.

Each parameter set keeps its own replay buffer (in memory, bounded by the replay buffer
capacity; not checkpointed: a restored run refills them); draws of the same set with other
ambient temperatures or diffusivity scales share it, as SAC's off-policy updates allow
when the observation shows what differs (the temperature, the surface stoichiometry). The
Learner's optimizer state carries over from task to task (not reset). Checkpoints hold
phi, the task generator's state and the per-task counts, and SAC's entropy temperature
alpha (which RLlib's Learner state leaves out). :meth:`Reptile.adapt` fine-tunes phi on
one task for a few episodes (the adaptation study, and SAC from scratch when called on a
fresh algorithm).

Adaptation can be gated (``gate=True``): the starting policy and the policy after each
adaptation episode charge the task once deterministically (the check's charge), and the
best of those charges so far (:func:`gate_rank`: fewest violation steps, then reaching the
target, then the shortest charge) is the one to deploy (:meth:`Reptile.gated_weights`).
Learning itself is untouched: the gate only chooses among the weights SAC passes through,
so a deployed policy never gets worse than one already charged safely. Why: online SAC
from a good meta policy can make it worse for a few episodes (on a held-out diffusion-
limited cell a meta policy that charged to 80 % in 60 min hit the 90 min limit after 2-5
episodes), and a researcher adapting on a real cell would not deploy such a step. The
price is one more charge of the cell per adaptation episode.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import numpy as np
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.sac import SAC, SACConfig
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.schedules.piecewise_schedule import PiecewiseSchedule
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, ENV_RUNNER_SAMPLING_TIMER, NUM_ENV_STEPS_SAMPLED_LIFETIME, TIMERS

from rl_battery.algorithms.callbacks import seed_replay_buffer
from rl_battery.algorithms.deterministic import deterministic_policy
from rl_battery.algorithms.env_runner import BatteryEnvRunner
from rl_battery.algorithms.updates import (CheckpointsEntropyTemperature, entropy_temperatures, sac_updates,
                                          set_entropy_temperatures, sync_weights)
from rl_battery.envs.cell_fast_charge import CellFastCharge
from rl_battery.envs.metrics import stopped_short
from rl_battery.envs.rollout import run_episode
from rl_battery.sim.cell import DIFFUSIVITY_SCALE_RANGE
from rl_battery.sim.parameters import SUPPORTED_PARAMETER_SETS


def _schedule_points(meta_lr) -> list[tuple[int, float]]:
    """``[[iteration, value], ...]`` as (int, float) pairs.

    Raises:
        TypeError, ValueError: not a list of pairs of numbers."""
    return [(int(t), float(v)) for t, v in meta_lr]


def meta_lr_at(meta_lr, iteration: int) -> float:
    """Reptile's outer step size at ``iteration`` (0 = the first meta step).

    ``meta_lr`` is a number (constant) or ``[[iteration, value], ...]``, interpolated
    linearly between the points and held at the last value after them (RLlib's
    ``PiecewiseSchedule``). The reference implementation of Reptile anneals the step
    linearly to a final value (openai/supervised-reptile, ``meta_step_size`` ->
    ``meta_step_size_final``): late meta weights then average many tasks instead of
    following the last few.
    """
    if isinstance(meta_lr, (int, float)):
        return float(meta_lr)
    points = _schedule_points(meta_lr)
    return float(PiecewiseSchedule(points, framework=None, outside_value=points[-1][1]).value(int(iteration)))


def _numpy_weights(weights) -> dict:
    """A nested weights dict with every tensor as an independent numpy array."""
    if isinstance(weights, dict):
        return {k: _numpy_weights(v) for k, v in weights.items()}
    if hasattr(weights, "detach"):
        return weights.detach().cpu().numpy().copy()
    return np.array(weights, copy=True)


def _interpolate(meta: dict, adapted: dict, rate: float) -> dict:
    """meta + rate * (adapted - meta), leaf by leaf."""
    if isinstance(meta, dict):
        return {k: _interpolate(meta[k], adapted[k], rate) for k in meta}
    if np.issubdtype(np.asarray(meta).dtype, np.floating):
        return meta + rate * (np.asarray(adapted, meta.dtype) - meta)
    return np.array(adapted, copy=True)  # counters and other integer state: take the new one


def check_rank(record: dict[str, Any], *, prefer_shorter_charge: bool = False) -> tuple:
    """How badly a safety check (:meth:`Reptile.check_meta_policy`) went, lower is better:
    (violation steps summed over the sets, sets whose charge stopped short of the target)
    and, with ``prefer_shorter_charge``, then the mean charge time [min] over the sets
    (rounded to 1e-6 min, so float noise does not break a tie)."""
    rank: tuple = (int(record["violations"]), int(record["sets_short"]))
    if prefer_shorter_charge:
        rank += (round(float(record["charge_time_min"]), 6),)
    return rank


def gate_rank(row: dict[str, Any]) -> tuple[int, int, float]:
    """How good one gated adaptation charge (:meth:`Reptile.charge`) is, lower is better:
    (violation steps, 1 if the charge stopped short of the target else 0, charge time [min]
    of a finished charge or minus the final SOC of a short one)."""
    short = bool(row["short"])
    return (int(row["constraint_violations"]), int(short),
            -float(row["final_soc"]) if short else float(row["charge_time_min"]))


def _squared_distance(a: dict, b: dict) -> float:
    if isinstance(a, dict):
        return sum(_squared_distance(a[k], b[k]) for k in a)
    if np.issubdtype(np.asarray(a).dtype, np.floating):
        return float(np.sum((np.asarray(b, np.float64) - np.asarray(a, np.float64)) ** 2))
    return 0.0


class ReptileConfig(SACConfig):
    """SAC's config plus Reptile's (:meth:`training`); the env must have ``set_task``
    (``CellFastCharge-v0``)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or Reptile)
        self.meta_lr = 0.3
        self.meta_tasks: list[str] = ["Chen2020", "Mohtat2020", "Ai2020", "OKane2022", "Marquis2019"]
        self.task_ambient_temperature_K: list[float] | None = None
        self.task_initial_soc: list[float] | None = None
        self.task_negative_diffusivity_scale: list[float] | None = None
        self.inner_steps = 4
        self.inner_updates_per_step = 16
        self.meta_check_interval = 0
        self.meta_check_initial_soc = 0.1
        self.meta_check_prefer_shorter_charge = False
        self.meta_check_negative_diffusivity_scales: list[float] | None = None
        self.env_runner_cls = BatteryEnvRunner
        # One Reptile step per iteration: RLlib would otherwise repeat training_step until
        # its sample minimum is met, mixing several tasks in one iteration.
        self.min_sample_timesteps_per_iteration = 0
        self.min_time_s_per_iteration = 0

    @override(SACConfig)
    def training(self, *, meta_lr=NotProvided, meta_tasks=NotProvided, task_ambient_temperature_K=NotProvided,
                 task_initial_soc=NotProvided, task_negative_diffusivity_scale=NotProvided, inner_steps=NotProvided,
                 inner_updates_per_step=NotProvided, meta_check_interval=NotProvided,
                 meta_check_initial_soc=NotProvided, meta_check_prefer_shorter_charge=NotProvided,
                 meta_check_negative_diffusivity_scales=NotProvided, **kwargs) -> "ReptileConfig":
        """Reptile's settings, and every argument of ``SACConfig.training``.

        Args:
            meta_lr: Reptile's outer step size epsilon in (0, 1]: the share of the way the
                meta weights move toward the task-adapted ones. Default 0.3. Or a
                schedule ``[[iteration, value], ...]`` (iterations from 0, increasing;
                values in [0, 1]), linear between the points (:func:`meta_lr_at`), e.g.
                ``[[0, 0.3], [150, 0.0]]`` anneals to 0 over 150 iterations.
            meta_tasks: the training tasks' PyBaMM parameter sets (names from
                ``SUPPORTED_PARAMETER_SETS``). Default the five of cell_reptile's training
                split: Chen2020, Mohtat2020, Ai2020, OKane2022, Marquis2019.
            task_ambient_temperature_K: [low, high] [K] to draw each task's ambient
                temperature from, or None (the env_config's).
            task_initial_soc: [low, high] start-SOC range given to each task, or None (the
                env_config's).
            task_negative_diffusivity_scale: [low, high] in [0.001, 10] to draw each task's
                factor on the graphite diffusivity from, log-uniformly, or None (the
                env_config's). Below ~0.1 a cell's particle surface saturates before SOC
                0.8 at 1.5C, so the tasks include diffusion-limited cells.
            inner_steps: SAC training steps (sample + updates) per task, >= 1. Default 4.
            inner_updates_per_step: SAC updates per inner step, >= 1. Default 16.
            meta_check_interval: every this many iterations, the safety check of the meta
                policy on the training sets (:meth:`Reptile.check_meta_policy`); the
                algorithm then deploys the latest checked meta weights with the fewest
                limit violations (:meth:`Reptile.deployed_weights`). 0 (default): no check,
                the meta weights are deployed as they are.
            meta_check_initial_soc: the start SOC of the check's charges and of the
                adaptation gate's (:meth:`Reptile.charge`), in (0, 1) and below the env's
                target SOC. Default 0.1 (the cell benchmark's start).
            meta_check_prefer_shorter_charge: among checks with as few violation steps
                and short charges, deploy the one with the shortest mean charge over the
                training sets (ties: the later) instead of the latest. Default False. Why:
                a meta policy can keep every limit at every check yet slow down as
                meta-training goes on (one run's mean check charge went 34.5 -> 54.0 min
                from iteration 35 to 150, every check without a violation). The check sees
                only the published sets: in that run the faster weights broke limits on the
                diffusion-limited training tasks and on a held-out diffusion-limited cell,
                which the slower ones charged safely.
            meta_check_negative_diffusivity_scales: factors on the graphite diffusivity,
                each in [0.001, 10], at which the check charges every training set (so a
                list of two charges each set twice), or None (default: once, as the
                env_config gives it). Counting violations on diffusion-limited versions of
                the training cells (e.g. ``[1.0, 0.05]``) lets the check see the surface-
                saturation cliff of the tasks that ``task_negative_diffusivity_scale``
                trains on.
        """
        super().training(**kwargs)
        for name, value in (("meta_lr", meta_lr), ("meta_tasks", meta_tasks),
                            ("task_ambient_temperature_K", task_ambient_temperature_K),
                            ("task_initial_soc", task_initial_soc),
                            ("task_negative_diffusivity_scale", task_negative_diffusivity_scale),
                            ("inner_steps", inner_steps),
                            ("inner_updates_per_step", inner_updates_per_step),
                            ("meta_check_interval", meta_check_interval),
                            ("meta_check_initial_soc", meta_check_initial_soc),
                            ("meta_check_prefer_shorter_charge", meta_check_prefer_shorter_charge),
                            ("meta_check_negative_diffusivity_scales", meta_check_negative_diffusivity_scales)):
            if value is not NotProvided:
                setattr(self, name, value)
        return self

    @override(SACConfig)
    def validate(self) -> None:
        super().validate()
        if isinstance(self.meta_lr, (int, float)):
            if not 0.0 < float(self.meta_lr) <= 1.0:
                self._value_error(f"meta_lr must be in (0, 1], got {self.meta_lr}")
        else:
            try:
                points = _schedule_points(self.meta_lr)
            except (TypeError, ValueError):
                points = []
            times = [t for t, _ in points]
            if (not points or times[0] != 0 or any(b <= a for a, b in zip(times, times[1:]))
                    or not all(0.0 <= v <= 1.0 for _, v in points)):
                self._value_error(f"meta_lr as a schedule must be [[0, value], [iteration, value], ...] with "
                                  f"increasing iterations and values in [0, 1], got {self.meta_lr}")
        if not self.meta_tasks:
            self._value_error("meta_tasks must name at least one parameter set")
        unknown = [t for t in self.meta_tasks if t not in SUPPORTED_PARAMETER_SETS]
        if unknown:
            self._value_error(f"meta_tasks: unknown parameter set(s) {unknown}; valid: {', '.join(SUPPORTED_PARAMETER_SETS)}")
        for name in ("task_ambient_temperature_K", "task_initial_soc", "task_negative_diffusivity_scale"):
            value = getattr(self, name)
            if value is not None and (len(value) != 2 or not value[0] <= value[1]):
                self._value_error(f"{name} must be [low, high] with low <= high, got {value}")
        scale = self.task_negative_diffusivity_scale
        low, high = DIFFUSIVITY_SCALE_RANGE
        if scale is not None and not low <= scale[0] <= scale[1] <= high:
            self._value_error(f"task_negative_diffusivity_scale must lie in [{low}, {high}], got {scale}")
        scales = self.meta_check_negative_diffusivity_scales
        if scales is not None and (not scales or not all(low <= float(f) <= high for f in scales)):
            self._value_error(f"meta_check_negative_diffusivity_scales must be None or a non-empty list of "
                              f"factors in [{low}, {high}], got {scales}")
        if int(self.inner_steps) < 1 or int(self.inner_updates_per_step) < 1:
            self._value_error(f"inner_steps and inner_updates_per_step must be >= 1, got "
                              f"{self.inner_steps}, {self.inner_updates_per_step}")
        if int(self.meta_check_interval) < 0:
            self._value_error(f"meta_check_interval must be >= 0 (0: no check), got {self.meta_check_interval}")
        if not 0.0 < float(self.meta_check_initial_soc) < 1.0:
            self._value_error(f"meta_check_initial_soc must be in (0, 1), got {self.meta_check_initial_soc}")


class Reptile(CheckpointsEntropyTemperature, SAC):
    """Reptile over SAC; see the module docstring."""

    @classmethod
    @override(SAC)
    def get_default_config(cls) -> ReptileConfig:
        return ReptileConfig()

    @override(SAC)
    def setup(self, config) -> None:
        super().setup(config)
        self.meta_weights = _numpy_weights(self.learner_group.get_weights())
        self._rng = np.random.default_rng(int(self.config.seed or 0))
        # Every buffer below is seeded here (see _new_buffer), so Reptile repeats with or
        # without the experiments' SeededReplayCallback.
        self._empty_buffer = copy.deepcopy(self.local_replay_buffer)
        self._buffers: dict[str, Any] = {}
        self.task: dict[str, Any] | None = None
        self.task_counts: dict[str, int] = {}
        self._adaptation_buffer = None
        self._adaptation_env_seed: int | None = None
        self._adaptation_start = None
        self.deployed: dict[str, Any] | None = None  # {"weights", "record"} of the check
        self._check_envs: dict[str, Any] = {}
        self.gate: dict[str, Any] | None = None  # {"best": {"weights", "row"}, "history": [rows]}

    # ------------------------------------------------------------------ tasks
    def sample_task(self) -> dict[str, Any]:
        """The next task: ``{"parameter_set", ["ambient_temperature_K"], ["initial_soc"],
        ["negative_diffusivity_scale"]}``."""
        cfg = self.config
        task: dict[str, Any] = {"parameter_set": str(self._rng.choice(cfg.meta_tasks))}
        if cfg.task_ambient_temperature_K is not None:
            task["ambient_temperature_K"] = float(self._rng.uniform(*cfg.task_ambient_temperature_K))
        if cfg.task_initial_soc is not None:
            task["initial_soc"] = [float(v) for v in cfg.task_initial_soc]
        if cfg.task_negative_diffusivity_scale is not None:
            low, high = np.log(cfg.task_negative_diffusivity_scale)
            task["negative_diffusivity_scale"] = float(np.exp(self._rng.uniform(low, high)))
        return task

    def set_task(self, task: dict[str, Any]) -> None:
        """Set ``task`` on every env runner (the local one too) as restorable state."""
        self.task = dict(task)
        self.env_runner_group.foreach_env_runner(lambda runner: runner.set_battery_state(task=dict(task)),
                                                 local_env_runner=True)

    def _new_buffer(self, seed: int, stream: int | None) -> Any:
        """An empty replay buffer of the config's kind, seeded by
        :func:`rl_battery.algorithms.callbacks.seed_replay_buffer`: a meta-training task's
        from (config seed, the set's index), an adaptation's from its seed alone (stream
        None, as the README's benchmarks were measured)."""
        buffer = copy.deepcopy(self._empty_buffer)
        seed_replay_buffer(buffer, seed, stream)
        return buffer

    def _load(self, weights: dict) -> None:
        self.learner_group.set_weights(weights)
        sync_weights(self, force=True)

    # ------------------------------------------------------------------ training
    @override(SAC)
    def training_step(self) -> None:
        cfg = self.config
        task = self.sample_task()
        self._load(self.meta_weights)
        self.set_task(task)
        name = task["parameter_set"]
        if name not in self._buffers:
            self._buffers[name] = self._new_buffer(int(cfg.seed or 0), SUPPORTED_PARAMETER_SETS.index(name))
        buffer = self._buffers[name]
        on_task = other_task = 0
        for _ in range(int(cfg.inner_steps)):
            with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
                fragments, runner_results = synchronous_parallel_sample(
                    worker_set=self.env_runner_group, concat=True, sample_timeout_s=cfg.sample_timeout_s,
                    _uses_new_env_runners=True, _return_metrics=True)
            self.metrics.aggregate(runner_results, key=ENV_RUNNER_RESULTS)
            for fragment in fragments:
                infos = fragment.get_infos()
                if len(infos) and infos[-1].get("task_id") == f"cell:{name}":
                    on_task += 1
                else:
                    other_task += 1
            buffer.add(fragments)
            sampled = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
            if sampled >= cfg.num_steps_sampled_before_learning_starts:
                sac_updates(self, buffer, num_updates=int(cfg.inner_updates_per_step))
        adapted = _numpy_weights(self.learner_group.get_weights())
        step = _squared_distance(self.meta_weights, adapted)
        rate = meta_lr_at(cfg.meta_lr, self.iteration)
        self.meta_weights = _interpolate(self.meta_weights, adapted, rate)
        interval = int(cfg.meta_check_interval)
        if interval and (self.iteration + 1) % interval == 0:
            self._load(self.meta_weights)  # the check acts with phi
            record = self.check_meta_policy()
            # Ties go to the later weights: they have averaged more tasks.
            rank = functools.partial(check_rank, prefer_shorter_charge=bool(cfg.meta_check_prefer_shorter_charge))
            if self.deployed is None or rank(record) <= rank(self.deployed["record"]):
                self.deployed = {"weights": self.meta_weights, "record": record}
            for key in ("violations", "sets_short", "charge_time_min"):
                self.metrics.log_value(("reptile", f"check_{key}"), float(record[key]), window=1)
        # Evaluation and checkpoints act with the deployed weights; the next step starts from phi.
        self._load(self.deployed_weights())
        self.task_counts[name] = self.task_counts.get(name, 0) + 1
        for key, value in (("task_index", SUPPORTED_PARAMETER_SETS.index(name)),
                           ("task_ambient_temperature_K", task.get("ambient_temperature_K", float("nan"))),
                           ("task_negative_diffusivity_scale", task.get("negative_diffusivity_scale", float("nan"))),
                           ("fragments_on_task", on_task), ("fragments_on_other_task", other_task),
                           ("adapted_distance", math.sqrt(step)), ("meta_lr", rate),
                           ("task_buffer_size", buffer.get_num_timesteps()),
                           ("tasks_seen", len(self.task_counts)),
                           ("deployed_iteration", self.deployed["record"]["iteration"] if self.deployed
                            else float("nan"))):
            self.metrics.log_value(("reptile", key), float(value), window=1)

    # ------------------------------------------------------------------ the safety check
    def check_meta_policy(self) -> dict[str, Any]:
        """The meta policy's deterministic charge on every training set as the env_config
        configures it (its ambient temperature, diffusivity scale 1 unless given; or once
        per factor of ``meta_check_negative_diffusivity_scales``), from
        ``meta_check_initial_soc`` to the target SOC, with the local env runner's module
        (``num_env_runners: 0``, as :meth:`adapt` needs). A few seconds per set; the envs
        are built once and kept, and no random generator of training is drawn from.

        Such a check is what one would run before deploying a meta policy on cells it
        knows; it cannot see held-out cells, and on the training sets the benchmark's
        k = 0 charge is the same charge, so that number is no longer independent of it.

        Returns:
            {"iteration" (1 = after the first meta step), "violations" (voltage,
            temperature and plating violation steps summed over the sets), "sets_short"
            (charges that stopped short of the target: the safety cut-off or the step
            limit), "charge_time_min" (mean over the charges), "sets": {set (with the
            factors: "set x0.05"): {"charge_time_min", "final_soc", "constraint_violations",
            "short"}}}.
        """
        sets = {}
        for label, task in self._check_tasks():
            row = self.charge(task)
            sets[label] = {key: row[key] for key in ("charge_time_min", "final_soc", "constraint_violations", "short")}
        return {"iteration": int(self.iteration) + 1,
                "violations": int(sum(row["constraint_violations"] for row in sets.values())),
                "sets_short": int(sum(row["short"] for row in sets.values())),
                "charge_time_min": float(np.mean([row["charge_time_min"] for row in sets.values()])),
                "sets": sets}

    def _check_tasks(self):
        """(label, whole task) of every charge of the check: each training set as the
        env_config gives it, or once per diffusivity factor ("Chen2020 x0.05")."""
        cfg = self.config
        factors = cfg.meta_check_negative_diffusivity_scales
        for name in cfg.meta_tasks:
            task = CellFastCharge.configured_task(cfg.env_config, name)
            if factors is None:
                yield name, task
            else:
                for factor in map(float, factors):
                    yield f"{name} x{factor:g}", dict(task, negative_diffusivity_scale=factor)

    def charge(self, task: dict[str, Any]) -> dict[str, Any]:
        """The local env runner's policy charging ``task`` (a whole task:
        ``CellFastCharge.configured_task``) once, deterministically, from
        ``meta_check_initial_soc`` to the target: the charge of the safety check and of the
        adaptation gate. One env per distinct task is built and kept.

        Returns:
            The episode metrics (``rl_battery.envs.METRIC_KEYS``, floats) plus ``short``
            (the charge stopped below the target SOC: the safety cut-off or the step limit).
        """
        key = repr(sorted(task.items()))
        if key not in self._check_envs:
            env = self.env_creator(dict(self.config.env_config, parameter_set=task["parameter_set"]))
            env.unwrapped.set_task(**task)
            self._check_envs[key] = env
        env = self._check_envs[key]
        act = deterministic_policy(self.env_runner.module)
        metrics = run_episode(env, lambda obs, info: act(obs), initial_soc=float(self.config.meta_check_initial_soc))
        row: dict[str, Any] = {k: float(v) for k, v in metrics.items()}
        row["short"] = stopped_short(metrics["final_soc"], env.unwrapped.target_soc)
        return row

    def deployed_weights(self) -> dict:
        """The weights the algorithm acts with outside meta-training (evaluation,
        checkpoints' RLModule, the start of every adaptation): with ``meta_check_interval``,
        the latest checked meta weights of the lowest :func:`check_rank` (fewest violation
        steps, then fewest charges short of the target, then with
        ``meta_check_prefer_shorter_charge`` the shortest mean charge); else (or before the
        first check) the meta weights phi themselves. Meta-training always goes on from phi."""
        return self.deployed["weights"] if self.deployed is not None else self.meta_weights

    def adapt(self, task: dict[str, Any], *, num_episodes: int, updates_per_step: float = 1.0,
              start_from_meta: bool = True, gate: bool = False, seed: int | None = None) -> dict[str, Any]:
        """Fine-tune on one task with online SAC: ``num_episodes`` times, one whole episode
        (exploring) on the local env runner into a fresh buffer, then
        ``ceil(updates_per_step * its steps)`` SAC updates. The Learner and the env runners
        then hold the adapted weights (:meth:`restore_meta` goes back). On a fresh
        algorithm with ``start_from_meta=False`` this is SAC from scratch with the same
        episodes and updates. ``num_episodes = 0`` keeps the starting weights. ``gate`` and
        ``seed``: see :meth:`begin_adaptation`.

        Returns:
            {"episodes", "env_steps", "updates", "mean_return", "initial_socs"} of the
            adaptation episodes (``initial_socs``: each episode's start SOC).
        """
        self.begin_adaptation(task, start_from_meta=start_from_meta, gate=gate, seed=seed)
        return self.adapt_more(num_episodes, updates_per_step=updates_per_step)

    def begin_adaptation(self, task: dict[str, Any], *, start_from_meta: bool = True, gate: bool = False,
                         seed: int | None = None) -> None:
        """Start an adaptation on ``task`` (:meth:`adapt`): the Learner as it was before the
        first adaptation (weights, optimizer state and SAC's entropy temperature, so
        adaptations never build on each other), then the deployed meta weights
        (:meth:`deployed_weights`; or, with
        ``start_from_meta=False``, those weights), the task on the env runners, an empty
        adaptation buffer. Parts ``task`` leaves out keep the env's present values (those of
        the last task set, e.g. a meta-training draw); ``CellFastCharge.configured_task``
        gives a whole task.

        ``gate``: the adaptation gate of the module docstring. The starting weights charge
        ``task`` now (:meth:`charge`, where a part ``task`` leaves out is the env_config's: give
        a whole task), and each episode of
        :meth:`adapt_more` ends with one more charge; ``self.gate`` keeps every charge
        (``"history"``, each row with ``"episodes"``, the episodes trained before it) and
        the best weights and charge by :func:`gate_rank` (``"best"``; ties go to the later
        weights). Without the gate ``self.gate`` is None.

        ``seed`` (default: the config's seed) seeds the adaptation's own randomness: the
        replay buffer's sampling, and the env's generator at the first episode, which later
        episodes continue (so their start SOCs differ where the task gives a range). With
        torch's global generator seeded too (the policy explores with it), an adaptation
        repeats exactly, whatever ran before it in the process."""
        if self._adaptation_start is None:
            # The Learner's state leaves out SAC's alpha; it starts every adaptation too.
            self._adaptation_start = (self.learner_group.get_state(), entropy_temperatures(self))
        self.learner_group.set_state(self._adaptation_start[0])
        set_entropy_temperatures(self, self._adaptation_start[1])
        if start_from_meta:
            self._load(self.deployed_weights())
        else:
            sync_weights(self, force=True)
        self.set_task(task)
        seed = int(self.config.seed or 0) if seed is None else int(seed)
        self._adaptation_buffer = self._new_buffer(seed, None)
        self._adaptation_env_seed = seed  # the first episode's; later ones go on
        self.gate = None
        if gate:
            self.gate = {"best": None, "history": []}
            self._gate_charge()

    def _gate_charge(self) -> None:
        # One charge per episode, the start's first: the history's length is the episodes trained.
        row = dict(self.charge(self.task), episodes=len(self.gate["history"]))
        self.gate["history"].append(row)
        best = self.gate["best"]
        if best is None or gate_rank(row) <= gate_rank(best["row"]):
            self.gate["best"] = {"weights": _numpy_weights(self.learner_group.get_weights()), "row": row}

    def gated_weights(self) -> dict:
        """The weights to deploy after a gated adaptation: the best charge's (see
        :meth:`begin_adaptation`).

        Raises:
            RuntimeError: the adaptation was not gated."""
        if self.gate is None:
            raise RuntimeError("begin_adaptation(task, gate=True) first")
        return self.gate["best"]["weights"]

    def load_gated_weights(self) -> None:
        """Act with :meth:`gated_weights`: into the Learner and the env runners (a later
        :meth:`adapt_more` goes on from them).

        Raises:
            RuntimeError: the adaptation was not gated."""
        self._load(self.gated_weights())

    def adapt_more(self, num_episodes: int, *, updates_per_step: float = 1.0) -> dict[str, float]:
        """Continue the adaptation begun by :meth:`begin_adaptation` by ``num_episodes``
        episodes, each followed by its updates (:meth:`adapt`).

        Raises:
            RuntimeError: no adaptation was begun.
        """
        buffer = getattr(self, "_adaptation_buffer", None)
        if buffer is None:
            raise RuntimeError("call begin_adaptation(task) first")
        steps = updates = 0
        returns, initial_socs = [], []
        for _ in range(max(int(num_episodes), 0)):
            # RLlib would reseed the env at every call, and every episode would start alike.
            episodes = self.env_runner.sample(num_episodes=1, explore=True, env_seed=self._adaptation_env_seed)
            self._adaptation_env_seed = None
            buffer.add(episodes)
            initial_socs += [float(e.get_infos(0)["soc"]) for e in episodes]
            n = int(sum(len(e) for e in episodes))
            steps += n
            returns += [e.get_return() for e in episodes]
            k = int(math.ceil(updates_per_step * n))
            sac_updates(self, buffer, num_updates=k)
            updates += k
            if self.gate is not None:
                self._gate_charge()
        return {"episodes": len(returns), "env_steps": steps, "updates": updates,
                "mean_return": float(np.mean(returns)) if returns else float("nan"), "initial_socs": initial_socs}

    def restore_meta(self) -> None:
        """The deployed meta weights (:meth:`deployed_weights`) back into the Learner and
        the env runners."""
        self._load(self.deployed_weights())

    # ------------------------------------------------------------------ checkpoints
    @override(SAC)
    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component("reptile", components, not_components):
            state["reptile"] = {"meta_weights": self.meta_weights, "rng": self._rng.bit_generator.state,
                                "task": self.task, "task_counts": dict(self.task_counts),
                                "deployed": self.deployed}
        return state

    @override(SAC)
    def set_state(self, state) -> None:
        super().set_state(state)
        if "reptile" in state:
            saved = state["reptile"]
            self.meta_weights = _numpy_weights(saved["meta_weights"])
            self._rng.bit_generator.state = saved["rng"]
            self.task_counts = dict(saved["task_counts"])
            deployed = saved.get("deployed")  # absent in checkpoints from before the check
            self.deployed = None if deployed is None else {"weights": _numpy_weights(deployed["weights"]),
                                                           "record": deployed["record"]}
            if saved["task"] is not None:
                self.set_task(saved["task"])
            self._load(self.deployed_weights())
