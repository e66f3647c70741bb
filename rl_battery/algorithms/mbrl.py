"""MBRL: Dyna-style model-based SAC (MBPO, Janner et al. 2019) as an RLlib Algorithm.

One ``training_step``:
  1. sample real episodes from the env runners (RLlib's SAC sampling);
  2. write every real transition to Parquet (``<offline_data_dir>/<run>/iter_XXXXXX.parquet``,
     schema in :mod:`rl_battery.data.rollouts`);
  3. refit the probabilistic ensemble surrogate on the run's Parquet files, and report its
     error on held-out real transitions;
  4. branch short rollouts (``model_rollout_horizon`` steps) from real start states in the
     surrogate with the current policy -> a synthetic replay buffer;
  5. SAC updates on batches mixing real and synthetic transitions (``synthetic_ratio``);
  6. sync weights to the env runners.
The surrogate and its optimizer are part of the checkpoint (``get_state``/``set_state``).

Actions: the surrogate sees actions clipped to [-1, 1], as the env applies them; the policy's
squashed-Gaussian samples already lie there, so real and synthetic episodes share one scale.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.sac import SAC, SACConfig
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)
from ray.rllib.utils.replay_buffers.episode_replay_buffer import EpisodeReplayBuffer

from rl_battery.data.rollouts import read_rollouts, transitions_table, write_table_atomic
from rl_battery.surrogate.ensemble import EnsembleSurrogate
from rl_battery.surrogate.rollout import branched_rollout, transition_arrays

_MBRL_FIELDS = (
    "offline_data_dir", "surrogate_ensemble_size", "surrogate_hidden_size", "surrogate_num_layers",
    "surrogate_lr", "surrogate_epochs", "surrogate_max_transitions", "surrogate_holdout_fraction",
    "model_rollout_horizon", "num_model_rollouts", "synthetic_ratio", "synthetic_buffer_capacity",
    "num_updates_per_iteration",
)


class MBRLConfig(SACConfig):
    """SAC config plus the surrogate and Dyna settings.

    New fields (set through :meth:`training`):
        offline_data_dir: folder for the run's Parquet rollouts (a per-run subfolder is made).
        surrogate_ensemble_size (5), surrogate_hidden_size (200), surrogate_num_layers (3),
        surrogate_lr (1e-3): the probabilistic ensemble.
        surrogate_epochs (5): passes over the real data per refit.
        surrogate_max_transitions (50_000): newest real transitions used per refit.
        surrogate_holdout_fraction (0.2): held-out share for the validation error.
        model_rollout_horizon (1..): surrogate steps per branch (MBPO's k). Default 3.
        num_model_rollouts (400): branches started per training step.
        synthetic_ratio (0.5, in [0, 1)): synthetic share of each SAC train batch.
        synthetic_buffer_capacity (100_000): synthetic transitions kept.
        num_updates_per_iteration (20): SAC gradient updates per training step.
    """

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or MBRL)
        self.offline_data_dir = "offline_data/mbrl"
        self.surrogate_ensemble_size = 5
        self.surrogate_hidden_size = 200
        self.surrogate_num_layers = 3
        self.surrogate_lr = 1e-3
        self.surrogate_epochs = 5
        self.surrogate_max_transitions = 50_000
        self.surrogate_holdout_fraction = 0.2
        self.model_rollout_horizon = 3
        self.num_model_rollouts = 400
        self.synthetic_ratio = 0.5
        self.synthetic_buffer_capacity = 100_000
        self.num_updates_per_iteration = 20
        # Changed SAC defaults: sample a fragment per step; a plain (non-prioritized) buffer,
        # since TD-error priorities would not line up with the mixed real/synthetic batches.
        self.rollout_fragment_length = 64
        self.num_steps_sampled_before_learning_starts = 256
        self.replay_buffer_config = {"type": "EpisodeReplayBuffer", "capacity": 100_000}

    @override(SACConfig)
    def training(self, **kwargs) -> "MBRLConfig":
        own = {k: kwargs.pop(k) for k in list(kwargs) if k in _MBRL_FIELDS}
        super().training(**kwargs)
        for key, value in own.items():
            if value is not NotProvided:
                setattr(self, key, value)
        return self

    @override(SACConfig)
    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.synthetic_ratio < 1.0:
            self._value_error("`synthetic_ratio` must be in [0, 1)")
        if self.model_rollout_horizon < 1 or self.num_model_rollouts < 1:
            self._value_error("`model_rollout_horizon` and `num_model_rollouts` must be >= 1")
        if not 0.0 < self.surrogate_holdout_fraction < 0.5:
            self._value_error("`surrogate_holdout_fraction` must be in (0, 0.5)")
        if self.surrogate_ensemble_size < 1 or self.surrogate_epochs < 1:
            self._value_error("`surrogate_ensemble_size` and `surrogate_epochs` must be >= 1")


class MBRL(SAC):
    """Dyna-style model-based SAC; see the module docstring for the training step."""

    @classmethod
    @override(SAC)
    def get_default_config(cls) -> MBRLConfig:
        # Tune hands the config over as a dict, rebuilt from this class: it must be ours.
        return MBRLConfig()

    @override(SAC)
    def setup(self, config) -> None:
        super().setup(config)
        module = self.env_runner.module
        self._obs_space, self._act_space = module.observation_space, module.action_space
        cfg = self.config
        self.surrogate = EnsembleSurrogate(
            self._obs_space.shape[0], self._act_space.shape[0], ensemble_size=cfg.surrogate_ensemble_size,
            hidden_size=cfg.surrogate_hidden_size, num_layers=cfg.surrogate_num_layers, lr=cfg.surrogate_lr,
            seed=cfg.seed or 0,
        )
        self.synthetic_buffer = EpisodeReplayBuffer(capacity=cfg.synthetic_buffer_capacity)
        # Under Tune, name the folder like the trial's folder in ray_results/ (so rollouts and
        # checkpoints pair up, and a resumed trial keeps writing to its own folder). RLlib
        # turns the config dict into an AlgorithmConfig before Trainable pops Tune's trial
        # info, so trial_name is empty here; Tune's StorageContext still has the folder name.
        # Outside Tune, a fresh run id.
        trial = getattr(getattr(self, "_storage", None), "trial_dir_name", None)
        run = trial or f"run_{uuid.uuid4().hex[:8]}"
        self.rollout_dir = Path(cfg.offline_data_dir) / run
        self._start_obs = np.zeros((0, self._obs_space.shape[0]), np.float32)
        self._last_fit = None

    # ------------------------------------------------------------------ data
    def _write_real(self, episodes) -> int:
        """Real episode chunks -> one Parquet file; keeps start states for branching."""
        rows = []
        for ep in episodes:
            n = len(ep)
            if n == 0:
                continue
            obs, infos = ep.get_observations(), ep.get_infos()
            actions, rewards = ep.get_actions(), ep.get_rewards()
            for t in range(n):
                info = infos[t + 1]
                last = t == n - 1
                rows.append(dict(
                    info=info, episode_id=ep.id_, step_index=int(ep.t_started + t),
                    task_id=str(info.get("task_id", "")), cycle_index=int(self.iteration), source="real",
                    obs=obs[t], next_obs=obs[t + 1], reward=float(rewards[t]),
                    action=np.clip(np.asarray(actions[t], np.float32), -1.0, 1.0),
                    terminated=bool(ep.is_terminated and last), truncated=bool(ep.is_truncated and last),
                ))
        if not rows:
            return 0
        table = transitions_table(rows)
        write_table_atomic(table, self.rollout_dir / f"iter_{self.iteration:06d}_{uuid.uuid4().hex[:6]}.parquet")
        return len(rows)

    def _fit_surrogate(self) -> dict:
        table = read_rollouts(self.rollout_dir, source="real")
        data = transition_arrays(table.slice(max(0, len(table) - self.config.surrogate_max_transitions)))
        self._start_obs = data["obs"]
        report = self.surrogate.fit(
            data["obs"], data["action"], data["reward"], data["next_obs"], data["terminated"],
            epochs=self.config.surrogate_epochs, holdout_fraction=self.config.surrogate_holdout_fraction,
        )
        self._last_fit = report.as_dict()
        return self._last_fit

    def _policy_actions(self, obs: torch.Tensor) -> torch.Tensor:
        module = self.env_runner.module
        out = module.forward_exploration({Columns.OBS: obs})
        dist = module.get_exploration_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
        return torch.clamp(dist.sample(), -1.0, 1.0)

    def _generate_synthetic(self) -> int:
        idx = np.random.default_rng(self.iteration).integers(0, len(self._start_obs), self.config.num_model_rollouts)
        roll = branched_rollout(
            self.surrogate, self._policy_actions, self._start_obs[idx], self.config.model_rollout_horizon,
            obs_low=self._obs_space.low, obs_high=self._obs_space.high,
        )
        episodes = [
            SingleAgentEpisode(
                observations=[o, o2], actions=[a], rewards=[float(r)], terminated=bool(d),
                observation_space=self._obs_space, action_space=self._act_space, len_lookback_buffer=0,
            )
            for o, a, r, o2, d in zip(roll["obs"], roll["action"], roll["reward"], roll["next_obs"], roll["terminated"])
        ]
        if episodes:
            self.synthetic_buffer.add(episodes)
        return len(episodes)

    # ------------------------------------------------------------------ training step
    @override(SAC)
    def training_step(self) -> None:
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, runner_results = synchronous_parallel_sample(
                worker_set=self.env_runner_group, concat=True, sample_timeout_s=self.config.sample_timeout_s,
                _uses_new_env_runners=True, _return_metrics=True,
            )
        self.metrics.aggregate(runner_results, key=ENV_RUNNER_RESULTS)
        self.local_replay_buffer.add(episodes)
        n_written = self._write_real(episodes)
        self.metrics.log_value(("mbrl", "real_transitions_written"), n_written, reduce="sum")

        current_ts = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        if current_ts < self.config.num_steps_sampled_before_learning_starts:
            return

        with self.metrics.log_time((TIMERS, "surrogate_fit")):
            fit = self._fit_surrogate()
        for key, value in fit.items():
            self.metrics.log_value(("mbrl", f"surrogate_{key}"), value, window=1)
        with self.metrics.log_time((TIMERS, "synthetic_rollouts")):
            n_synthetic = self._generate_synthetic()
        self.metrics.log_value(("mbrl", "synthetic_transitions"), n_synthetic, reduce="sum")
        self.metrics.log_value(("mbrl", "synthetic_buffer_size"), self.synthetic_buffer.get_num_timesteps(), window=1)

        batch = self.config.total_train_batch_size
        n_fake = int(batch * self.config.synthetic_ratio) if self.synthetic_buffer.get_num_timesteps() else 0
        sample_kw = dict(n_step=1, gamma=self.config.gamma, sample_episodes=True)
        learner_results = []
        for _ in range(self.config.num_updates_per_iteration):
            batch_episodes = self.local_replay_buffer.sample(num_items=batch - n_fake, **sample_kw)
            if n_fake:
                batch_episodes += self.synthetic_buffer.sample(num_items=n_fake, **sample_kw)
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                learner_results = self.learner_group.update(
                    episodes=batch_episodes,
                    timesteps={
                        NUM_ENV_STEPS_SAMPLED_LIFETIME: current_ts,
                        NUM_AGENT_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                            (ENV_RUNNER_RESULTS, NUM_AGENT_STEPS_SAMPLED_LIFETIME), default={}
                        ),
                    },
                )
            for result in learner_results:  # TD errors only matter to prioritized buffers
                for module_result in result.values():
                    module_result.pop("td_error", None)
            self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)

        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(
                from_worker_or_learner_group=self.learner_group,
                policies=set(learner_results[0].keys()) - {ALL_MODULES},
                inference_only=True,
            )

    # ------------------------------------------------------------------ checkpoints
    @override(SAC)
    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component("surrogate", components, not_components):
            state["surrogate"] = {
                "model": self.surrogate.state_dict(),
                "optimizer": self.surrogate.optimizer.state_dict(),
                "rollout_dir": str(self.rollout_dir),
            }
        return state

    @override(SAC)
    def set_state(self, state) -> None:
        super().set_state(state)
        if "surrogate" in state:
            self.surrogate.load_state_dict(state["surrogate"]["model"])
            self.surrogate.optimizer.load_state_dict(state["surrogate"]["optimizer"])
            self.rollout_dir = Path(state["surrogate"]["rollout_dir"])
