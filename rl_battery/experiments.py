"""tune_configs/NAME.yaml -> validated spec -> AlgorithmConfig -> Tune run.

The one place that knows both the YAML files and RLlib/Tune. An experiment file:

```yaml
description: text
algorithm: MBRL            # MBRL, Reptile, SAC, PPO or DQN
env: PackFastCharge-v0     # a registered rl_battery env id
env_config: {pack_seed: {grid_search: [0, 1]}, soh_mean: 0.9}   # grid_search sweeps tasks
config:                    # AlgorithmConfig method -> keyword arguments
  training: {gamma: 0.99}
  env_runners: {num_env_runners: 0}
stop: {training_iteration: 40}
tune: {metric: env_runners/episode_return_mean, mode: max, checkpoint_frequency: 5}
smoke: {stop: {training_iteration: 2}, config: {training: {...}}}   # deep-merged by --smoke
```
Unknown keys anywhere raise :class:`ExperimentConfigError` naming the key; before Ray starts,
every grid variant's env config and AlgorithmConfig are checked (:func:`check_experiment`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rl_battery.algorithms import BatteryMetricsCallback, MBRLConfig, ReptileConfig, SACConfig, SeededReplayCallback
from rl_battery.envs import ENV_CLASSES
from rl_battery.progress import battery_reporter

#: Folder names under the working folder (each overridable per run).
CONFIG_DIR_NAME, STORAGE_DIR_NAME, OFFLINE_DIR_NAME = "tune_configs", "ray_results", "offline_data"
#: AlgorithmConfig methods an experiment file may call.
CONFIG_SECTIONS = ("training", "env_runners", "learners", "evaluation", "fault_tolerance", "reporting", "debugging", "resources", "rl_module")


class ExperimentConfigError(ValueError):
    """An experiment file is missing, malformed or names an unknown key; the message says which."""


class TuneSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = "env_runners/episode_return_mean"
    mode: Literal["max", "min"] = "max"
    num_samples: int = Field(1, ge=1)
    max_concurrent_trials: int | None = Field(None, ge=1)
    checkpoint_frequency: int = Field(5, ge=0)
    num_to_keep: int = Field(2, ge=1)
    max_failures: int = Field(1, ge=0)


class ExperimentSpec(BaseModel):
    """A validated experiment file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    description: str = ""
    algorithm: Literal["MBRL", "Reptile", "SAC", "PPO", "DQN"]
    env: str
    env_config: dict[str, Any] = {}
    config: dict[str, dict[str, Any]] = {}
    stop: dict[str, float] = {}
    tune: TuneSettings = TuneSettings()
    smoke: dict[str, Any] = {}


def _config_dir(config_dir: str | Path | None) -> Path:
    """``config_dir``, or ``tune_configs/`` in the working folder."""
    return Path(config_dir) if config_dir is not None else Path.cwd() / CONFIG_DIR_NAME


def _root(project_root: str | Path | None) -> Path:
    """The folder results and rollouts go under: ``project_root`` or the working folder."""
    return Path(project_root).resolve() if project_root is not None else Path.cwd()


def available_experiments(config_dir: str | Path | None = None) -> list[str]:
    """Experiment names in ``config_dir`` (default ``tune_configs/`` in the working folder)."""
    return sorted(p.stem for p in _config_dir(config_dir).glob("*.yaml"))


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_experiment(name: str, *, smoke: bool = False, config_dir: str | Path | None = None) -> ExperimentSpec:
    """Load and validate ``<config_dir>/<name>.yaml`` (with its ``smoke`` override if asked);
    ``config_dir`` defaults to ``tune_configs/`` in the working folder.

    Raises:
        ExperimentConfigError: unknown experiment (lists the valid names), YAML error, or a
            validation error naming the bad key.
    """
    config_dir = _config_dir(config_dir)
    path = config_dir / f"{name}.yaml"
    if not path.is_file():
        raise ExperimentConfigError(
            f"unknown experiment {name!r}; valid experiments in {config_dir}: {', '.join(available_experiments(config_dir)) or '(none)'}"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ExperimentConfigError(f"{path}: not valid YAML: {exc}") from exc
    if smoke:
        raw = _deep_merge(raw, {k: v for k, v in (raw.get("smoke") or {}).items()})
    try:
        spec = ExperimentSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ExperimentConfigError(f"{path}: {problems}") from exc
    if spec.env not in ENV_CLASSES:
        raise ExperimentConfigError(f"{path}: env: unknown env {spec.env!r}; valid: {', '.join(ENV_CLASSES)}")
    for section in spec.config:
        if section not in CONFIG_SECTIONS:
            raise ExperimentConfigError(f"{path}: config.{section}: unknown section; valid: {', '.join(CONFIG_SECTIONS)}")
    return spec


def _with_grid_search(value):
    """YAML ``{grid_search: [...]}`` -> ``tune.grid_search([...])``, recursively."""
    from ray import tune

    if isinstance(value, dict):
        if set(value) == {"grid_search"}:
            return tune.grid_search(list(value["grid_search"]))
        return {k: _with_grid_search(v) for k, v in value.items()}
    return value


def _algorithm_config_class(algorithm: str):
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.ppo import PPOConfig

    # SACConfig is rl_battery's: RLlib's with alpha in its checkpoints
    return {"MBRL": MBRLConfig, "Reptile": ReptileConfig, "SAC": SACConfig, "PPO": PPOConfig, "DQN": DQNConfig}[algorithm]


def build_algorithm_config(spec: ExperimentSpec, *, experiment: str, project_root: str | Path | None = None,
                           offline_data: str | Path | None = None):
    """ExperimentSpec -> RLlib AlgorithmConfig (with Tune grid searches left in place).

    The env is passed as its class, so env runners and restored checkpoints need no string
    registration. MBRL writes its Parquet rollouts to ``<offline_data>/<experiment>``, by
    default ``<project_root>/offline_data/<experiment>`` (``project_root``: the working folder).

    Raises:
        ExperimentConfigError: a config section got an argument RLlib does not accept.
    """
    config = _algorithm_config_class(spec.algorithm)()
    config.environment(ENV_CLASSES[spec.env], env_config=_with_grid_search(spec.env_config))
    config.callbacks([BatteryMetricsCallback, SeededReplayCallback])
    # Recreate a broken env inside its runner instead of restarting the runner (60 s).
    config.fault_tolerance(restart_failed_sub_environments=True)
    if spec.algorithm == "MBRL":
        rollouts = Path(offline_data).resolve() if offline_data is not None else _root(project_root) / OFFLINE_DIR_NAME
        config.training(offline_data_dir=str(rollouts / experiment))
    for section, kwargs in spec.config.items():
        try:
            getattr(config, section)(**_with_grid_search(kwargs))
        except TypeError as exc:
            raise ExperimentConfigError(f"config.{section}: {exc}") from exc
    return config


def _grids(value, path: tuple = ()) -> list[tuple[tuple, list]]:
    """(path, values) of every ``{grid_search: [...]}`` in a nested dict."""
    if isinstance(value, dict):
        if set(value) == {"grid_search"}:
            return [(path, list(value["grid_search"]))]
        return [g for k, v in value.items() for g in _grids(v, path + (k,))]
    return []


def _set_path(tree: dict, path: tuple, value) -> dict:
    out = dict(tree)
    out[path[0]] = value if len(path) == 1 else _set_path(tree[path[0]], path[1:], value)
    return out


def _column_key(path: tuple) -> str:
    """A grid's path in the spec -> its key in the trial config Tune reports: env_config keys
    stay nested (``env_config/pack_seed``), AlgorithmConfig settings are top-level (``seed``)."""
    return "/".join(path) if path[0] == "env_config" else path[-1]


def experiment_variants(spec: ExperimentSpec, *, limit: int = 64) -> list[ExperimentSpec]:
    """The concrete experiments of ``spec``'s grid searches (env_config and config), each
    grid replaced by one of its values; at most ``limit`` (the full product is small for
    every shipped file)."""
    import itertools

    grids = _grids({"env_config": spec.env_config, "config": spec.config})
    variants = []
    for values in itertools.islice(itertools.product(*(v for _, v in grids)), limit):
        tree = {"env_config": spec.env_config, "config": spec.config}
        for (path, _), value in zip(grids, values):
            tree = _set_path(tree, path, value)
        variants.append(spec.model_copy(update=tree))
    return variants


def check_experiment(spec: ExperimentSpec, *, experiment: str, project_root: str | Path | None = None) -> None:
    """Everything that can be checked before Ray starts, for every grid variant: the env
    config (the env's settings are built, no simulator) and RLlib's ``validate()`` of the
    AlgorithmConfig.

    Raises:
        ExperimentConfigError: one line naming the experiment, the section and what is wrong.
    """
    env_class = ENV_CLASSES[spec.env]
    for variant in experiment_variants(spec):
        try:
            env_class.check_config(variant.env_config)
        except (TypeError, ValueError) as exc:
            raise ExperimentConfigError(f"{experiment}: env_config: {str(exc).splitlines()[0]}") from exc
        config = build_algorithm_config(variant, experiment=experiment, project_root=project_root)
        try:
            config.validate()
        except (TypeError, ValueError) as exc:
            raise ExperimentConfigError(f"{experiment}: config: {str(exc).splitlines()[0]}") from exc


def run_experiment(name: str, *, smoke: bool = False, address: str | None = None, resume: bool = False,
                   config_dir: str | Path | None = None, project_root: str | Path | None = None,
                   storage_path: str | Path | None = None, offline_data: str | Path | None = None,
                   verbose: bool = False):
    """Run experiment ``name`` with Tune; results in ``<storage_path>/<name>``.

    Paths follow the working folder, never the installed package: the experiment file from
    ``<config_dir>`` (default ``./tune_configs``), results to ``<storage_path>`` (default
    ``<project_root>/ray_results``), MBRL rollouts to ``<offline_data>/<name>`` (default
    ``<project_root>/offline_data``); ``project_root`` defaults to the working folder. On a
    cluster, point ``storage_path`` and ``offline_data`` at storage every node shares.

    Args:
        smoke: apply the file's ``smoke`` override (a short run for demos and CI).
        address: Ray cluster address (e.g. "auto"); None starts Ray embedded.
        resume: continue an interrupted run in the same folder if Tune can restore it.
        verbose: more columns in the progress table, and Tune's per-trial result lines.

    Returns:
        The Tune ``ResultGrid``.
    """
    import os

    import ray
    from ray import tune

    # A pack episode is 30-60 steps and an iteration samples 32-64, so the first results may
    # hold no finished episode and no episode-return metric yet; Tune's strict check would
    # end the run there.
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    # Tune saves its experiment state (which trial checkpoints exist) every 10 s or more; a
    # driver killed in between is resumed from an older checkpoint, or from scratch. Every
    # second instead (the state is small), so --resume starts from the newest checkpoint.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    spec = load_experiment(name, smoke=smoke, config_dir=config_dir)
    check_experiment(spec, experiment=name, project_root=project_root)  # before Ray starts
    config = build_algorithm_config(spec, experiment=name, project_root=project_root, offline_data=offline_data)
    if storage_path is None:
        storage = str(_root(project_root) / STORAGE_DIR_NAME)
    else:  # a folder, or a URI Tune's pyarrow filesystem takes (s3://, gs://)
        storage = str(storage_path) if "://" in str(storage_path) else str(Path(storage_path).resolve())
    # Tune's default output engine prints the best trial's whole config every update and
    # ignores a custom reporter; the classic one takes ours (rl_battery.progress).
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    reporter = battery_reporter(
        task="balancing" if spec.env == "PassiveBalancing-v0" else "charging",
        # the seed always (an empty list would make Tune print the whole config again)
        swept={"seed": "seed", **{_column_key(path): path[-1]
                                  for path, _ in _grids({"env_config": spec.env_config, "config": spec.config})}},
        mbrl=spec.algorithm == "MBRL", verbose=verbose,
        stop_iterations=int(spec.stop["training_iteration"]) if "training_iteration" in spec.stop else None)
    if not ray.is_initialized():
        ray.init(address=address)
    trainable = config.algo_class
    run_dir = f"{storage.rstrip('/')}/{name}"
    if resume and tune.Tuner.can_restore(run_dir):
        tuner = tune.Tuner.restore(run_dir, trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=config,
            tune_config=tune.TuneConfig(
                metric=spec.tune.metric, mode=spec.tune.mode, num_samples=spec.tune.num_samples,
                max_concurrent_trials=spec.tune.max_concurrent_trials,
            ),
            run_config=tune.RunConfig(
                storage_path=storage,
                name=name,
                stop=spec.stop,
                checkpoint_config=tune.CheckpointConfig(
                    checkpoint_frequency=spec.tune.checkpoint_frequency, num_to_keep=spec.tune.num_to_keep,
                    checkpoint_at_end=True,
                ),
                failure_config=tune.FailureConfig(max_failures=spec.tune.max_failures),
                progress_reporter=reporter,
                verbose=2 if verbose else 1,
            ),
        )
    return tuner.fit()
