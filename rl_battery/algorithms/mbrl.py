"""MBRL: Dyna-style model-based SAC (MBPO, Janner et al. 2019) as an RLlib Algorithm.

Set-up (optional warm start): ``prefill_episodes`` episodes of a reference controller
(``prefill_policy``: the look-ahead, CC-CT-CV or CC-CV of :mod:`rl_battery.baselines`) run on
a local copy of the env, optionally with each step's current scaled down by a random
factor (``prefill_excitation``); they are written to Parquet (``source`` = the controller's
name) and put in the replay buffer and the surrogate's data, so SAC starts from transitions
that ride the limits instead of from random high-current episodes that all violate them.

One ``training_step``:
  1. sample real episodes from the env runners (RLlib's SAC sampling);
  2. write every real transition to Parquet (``<offline_data_dir>/<run>/iter_XXXXXX.parquet``,
     schema in :mod:`rl_battery.data.rollouts`) and keep the newest
     ``surrogate_max_transitions`` of them in memory (Parquet is read back only on restore);
  3. refit the probabilistic ensemble surrogate on that window, and report its error on
     held-out real transitions; before the refit, its open-loop 1-, 5- and 10-step errors
     on the step's new real episodes (``mbrl/surrogate_new_data_k*_rmse``, and ``_limits``
     for the observations the env's limits constrain);
  4. branch short rollouts (``model_rollout_horizon`` steps) from real start states (drawn
     with the run's seed) in the surrogate with the current policy; one branch is one
     synthetic episode in a separate replay buffer;
  5. SAC updates on batches mixing real and synthetic transitions (``synthetic_ratio``);
     with ``synthetic_ratio = 0`` step 4 is skipped (and step 3 too unless the safety
     layer needs the surrogate): plain SAC on the same loop;
  6. sync weights to the env runners.
The surrogate and its optimizer are part of the checkpoint (``get_state``/``set_state``).

Safety layer (``safety_shield``): after every refit the surrogate ensemble caps the policy's
action on every env runner (:class:`rl_battery.surrogate.shield.SurrogateShield` installed
with the env's ``set_action_filter``) and in the synthetic rollouts, so the learner acts in
"the env behind the shield"; the learned controller is policy + shield, and evaluation
applies the same shield from the checkpoint's surrogate.

Planning (``action_mode="plan"``): the env runners act with
:class:`rl_battery.surrogate.planner.SurrogatePlanner`, model-predictive control over the
ensemble (the largest action it predicts keeps every limit, with ``shield_kappa`` standard
deviations and the ``safety_margin_V`` / ``safety_margin_K`` back-off), fitted
at set-up on the warm-start data and refitted every step. SAC still trains, off-policy, on
the planner's real transitions and the synthetic ones, but the run's controller is the
planner, and evaluation uses it.

Adaptive cycles (``adaptive_cycles`` > 0, pack env): the first ``cycle0_iterations``
training steps are cycle 0, as above, on fresh packs: the ensemble fitted there is G0. At
each later cycle k = 1 .. ``adaptive_cycles`` (every ``adaptive_cycle_iterations`` steps):
  1. G0 is frozen (at k = 1) and the pack is pinned to the env's first pack
     (``PackFastCharge.pinned_pack``), aged by k x ``ageing_cycles_per_cycle`` equivalent
     full cycles; observation 13 keeps reporting the SOH G0 knew, as a BMS would until it
     recalibrates. The condition is set on every env runner as restorable state
     (:class:`rl_battery.algorithms.env_runner.BatteryEnvRunner`);
  2. ``adaptive_real_episodes`` whole real charges, one at a time -> Parquet
     (``cycle_index`` = k) and the replay buffer; after each,
  3. :func:`rl_battery.algorithms.adaptation.adapt`: SOH estimate from the cycle's charges
     so far -> prior -> MAP calibration of the differential surrogate G^ (the next charge
     runs with it); G0's and G's held-out 1/5/10-step errors on them;
  4. the planner (or shield) acts with G = G0 (+) G^; synthetic branches start from the
     cycle's real states and run in G; SAC keeps training on real + synthetic data;
  5. with ``adaptive_evaluation`` the adapted controller, the cycle-0 controller (over G0)
     and the look-ahead charge a local copy of the aged pack (``cycle/*`` metrics).
The cycle, G0, G^, the reference pack and the per-cycle metrics (``MBRL.cycle_history``)
are part of the checkpoint; a restored run continues with the next cycle.

Actions: the surrogate sees the actions the env applied (``info["applied_action"]``: clipped
to [-1, 1] and, with the shield, capped); the policy's squashed-Gaussian samples lie in
[-1, 1] too, so real and synthetic episodes share one scale.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from ray.rllib.algorithms.algorithm import TrainIterCtx
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.sac import SAC, SACConfig
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_TRAINING_STEP_CALLS_PER_ITERATION,
    RESTORE_ENV_RUNNERS_TIMER,
    TIMERS,
    TRAINING_ITERATION_TIMER,
    TRAINING_STEP_TIMER,
)
from ray.rllib.utils.replay_buffers.episode_replay_buffer import EpisodeReplayBuffer

from rl_battery.algorithms.adaptation import PackReference, adapt, parameter_truth
from rl_battery.algorithms.callbacks import REPLAY_STREAM, seed_replay_buffer
from rl_battery.algorithms.deterministic import deterministic_policy
from rl_battery.algorithms.env_runner import BatteryEnvRunner
from rl_battery.algorithms.updates import CheckpointsEntropyTemperature, sac_updates
from rl_battery.data.rollouts import (file_iteration, read_rollouts, rollout_file_name, set_aside,
                                      transitions_table, write_table_atomic)
from rl_battery.envs.rollout import run_episode
from rl_battery.health import SOHEstimator
from rl_battery.surrogate.differential import (
    CombinedSurrogate,
    DifferentialSurrogate,
    PackCurrent,
    ensemble_spec,
)
from rl_battery.surrogate.ensemble import EnsembleSurrogate
from rl_battery.surrogate.planner import SurrogatePlanner
from rl_battery.surrogate.rollout import branched_rollout, transition_arrays
from rl_battery.surrogate.shield import SurrogateShield
from rl_battery.surrogate.validation import open_loop_errors

PREFILL_POLICIES = ("lookahead", "cc_ct_cv", "cccv")
ACTION_MODES = ("policy", "plan")


class MBRLConfig(SACConfig):
    """SAC config plus the surrogate, Dyna and warm-start settings (see :meth:`training`)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or MBRL)
        self.offline_data_dir = "offline_data/mbrl"
        self.surrogate_ensemble_size = 5
        self.surrogate_hidden_size = 200
        self.surrogate_num_layers = 3
        self.surrogate_lr = 1e-3
        self.surrogate_epochs = 5
        self.surrogate_min_updates = 0
        self.surrogate_max_transitions = 50_000
        self.surrogate_holdout_fraction = 0.2
        self.model_rollout_horizon = 3
        self.num_model_rollouts = 400
        self.synthetic_ratio = 0.5
        self.synthetic_buffer_capacity = 100_000
        self.num_updates_per_iteration = 20
        self.prefill_policy = None
        self.prefill_episodes = 0
        self.prefill_excitation = None
        self.safety_shield = False
        self.shield_kappa = 1.0
        self.safety_margin_V = 0.0
        self.safety_margin_K = 0.0
        self.action_mode = "policy"
        self.planner_bias_correction = False
        self.max_disagreement = None
        self.adaptive_cycles = 0
        self.cycle0_iterations = 1
        self.adaptive_cycle_iterations = 1
        self.ageing_cycles_per_cycle = 300.0
        self.adaptive_real_episodes = 2
        self.soh_prior = True
        self.soh_estimator_path = None
        self.differential_residual = False
        self.adaptive_evaluation = True
        self.adaptive_evaluation_soc = 0.1
        # Env runners that keep the pack's condition and the action filter across restarts.
        self.env_runner_cls = BatteryEnvRunner
        # Changed SAC defaults: sample a fragment per step; a plain (non-prioritized) buffer,
        # since TD-error priorities would not line up with the mixed real/synthetic batches.
        self.rollout_fragment_length = 64
        self.num_steps_sampled_before_learning_starts = 256
        self.replay_buffer_config = {"type": "EpisodeReplayBuffer", "capacity": 100_000}

    @override(SACConfig)
    def training(
        self,
        *,
        offline_data_dir: str | None = NotProvided,
        surrogate_ensemble_size: int | None = NotProvided,
        surrogate_hidden_size: int | None = NotProvided,
        surrogate_num_layers: int | None = NotProvided,
        surrogate_lr: float | None = NotProvided,
        surrogate_epochs: int | None = NotProvided,
        surrogate_min_updates: int | None = NotProvided,
        surrogate_max_transitions: int | None = NotProvided,
        surrogate_holdout_fraction: float | None = NotProvided,
        model_rollout_horizon: int | None = NotProvided,
        num_model_rollouts: int | None = NotProvided,
        synthetic_ratio: float | None = NotProvided,
        synthetic_buffer_capacity: int | None = NotProvided,
        num_updates_per_iteration: int | None = NotProvided,
        prefill_policy: str | None = NotProvided,
        prefill_episodes: int | None = NotProvided,
        prefill_excitation: tuple[float, float] | None = NotProvided,
        safety_shield: bool | None = NotProvided,
        shield_kappa: float | None = NotProvided,
        safety_margin_V: float | None = NotProvided,
        safety_margin_K: float | None = NotProvided,
        action_mode: str | None = NotProvided,
        planner_bias_correction: bool | None = NotProvided,
        max_disagreement: float | None = NotProvided,
        adaptive_cycles: int | None = NotProvided,
        cycle0_iterations: int | None = NotProvided,
        adaptive_cycle_iterations: int | None = NotProvided,
        ageing_cycles_per_cycle: float | None = NotProvided,
        adaptive_real_episodes: int | None = NotProvided,
        soh_prior: bool | None = NotProvided,
        soh_estimator_path: str | None = NotProvided,
        differential_residual: bool | None = NotProvided,
        adaptive_evaluation: bool | None = NotProvided,
        adaptive_evaluation_soc: float | None = NotProvided,
        **kwargs,
    ) -> "MBRLConfig":
        """Sets the training-related configuration (SAC's own arguments pass through).

        Args:
            offline_data_dir: folder for the run's Parquet rollouts; a per-trial subfolder
                is made. Default "offline_data/mbrl".
            surrogate_ensemble_size: members of the probabilistic ensemble (>= 1). Default 5.
            surrogate_hidden_size: width of each member's hidden layers. Default 200.
            surrogate_num_layers: hidden layers per member. Default 3.
            surrogate_lr: Adam learning rate of the surrogate. Default 1e-3.
            surrogate_epochs: passes over the real window per refit (>= 1). Default 5.
            surrogate_min_updates: at least this many gradient steps per refit (>= 0), more
                passes if the window is small (early in a run). Default 0.
            surrogate_max_transitions: newest real transitions kept in memory and fitted
                on. Default 50,000.
            surrogate_holdout_fraction: share held out for the validation error, in
                (0, 0.5). Default 0.2.
            model_rollout_horizon: surrogate steps per branch (MBPO's k, >= 1). Default 3.
            num_model_rollouts: branches started per training step (>= 1). Default 400.
            synthetic_ratio: synthetic share of each SAC train batch, in [0, 1). 0 skips the
                surrogate: plain SAC on the same loop. Default 0.5.
            synthetic_buffer_capacity: synthetic transitions kept. Default 100,000.
            num_updates_per_iteration: SAC gradient updates per training step. Default 20.
            prefill_policy: reference controller whose episodes warm-start the replay
                buffer and the surrogate: one of "lookahead", "cc_ct_cv", "cccv", or None.
                Default None.
            prefill_episodes: how many such episodes (>= 0). Default 0.
            prefill_excitation: (low, high), 0 < low <= high <= 1, or None: each warm-start
                step applies the reference controller's current times a factor drawn
                uniformly from [low, high] (drawn with the run's seed), so the first model
                sees how voltage and temperature respond to the current at each state,
                not only along the reference's one current per state (persistent
                excitation, as in system identification). Factors <= 1 keep every
                warm-start step within the limits the reference keeps. None: the
                reference's own currents. Default None.
            safety_shield: cap every action at the largest one the surrogate ensemble
                predicts to keep the env's limits (see the module docstring). The surrogate
                is fitted every step even with ``synthetic_ratio`` 0 (then it serves only as
                the safety layer). Default False.
            shield_kappa: predicted standard deviations the shield, and the planner, keep
                from each limit (>= 0). Default 1.
            safety_margin_V, safety_margin_K: fixed back-off from the voltage [V] and
                temperature [K] limits for the shield and the planner (>= 0), against the
                model's bias, which no number of standard deviations covers once the
                ensemble is confident. Default 0.
            action_mode: who acts on the env runners: "policy" (the SAC policy, behind the
                shield if ``safety_shield``) or "plan" (the surrogate planner; see the
                module docstring; needs ``prefill_episodes`` > 0 so that a model exists
                before the first step). Default "policy".
            planner_bias_correction: the planner adds the last real step's residual on the
                constrained entries (observed minus predicted, per episode) to its
                predictions: offset-free model-predictive control
                (:class:`rl_battery.surrogate.SurrogatePlanner`), so the fixed back-off
                need not cover the model's worst bias. Default False.
            max_disagreement: a synthetic branch stops before a step where the model's
                ensemble disagreement (largest member standard deviation of the predicted
                next observation, normalized units) exceeds this; None: no limit. Default
                None.
            adaptive_cycles: adaptive cycles after cycle 0 (>= 0; see the module docstring);
                0 trains on a pack that never ages. Needs a pack env and a surrogate (the
                planner, the shield or synthetic data). Default 0.
            cycle0_iterations: training iterations of cycle 0 (>= 1). Default 1.
            adaptive_cycle_iterations: training iterations per adaptive cycle (>= 1): the
                first samples the cycle's real episodes and adapts, the others train the
                policy on the combined model only. Default 1.
            ageing_cycles_per_cycle: equivalent full cycles the pack ages between adaptive
                cycles (> 0), at the env's ``ageing_c_rate`` and ``ageing_temperature_K``.
                Default 300.
            adaptive_real_episodes: real charges per adaptive cycle (>= 1). Default 2.
            soh_prior: calibrate the differential surrogate toward the prior from the SOH
                estimate (else toward an uninformative prior). Default True.
            soh_estimator_path: SOH estimator artifact (JSON); None: the one shipped with
                the package. Default None.
            differential_residual: also fit the differential surrogate's linear residual.
                Default False.
            adaptive_evaluation: after adapting, charge the aged pack once on a local env with
                the adapted controller, the cycle-0 controller and the look-ahead reference
                (``cycle/*`` metrics). Default True.
            adaptive_evaluation_soc: start SOC of those charges. Default 0.1.

        Returns:
            This updated config object.
        """
        super().training(**kwargs)
        for key, value in (
            ("offline_data_dir", offline_data_dir), ("surrogate_ensemble_size", surrogate_ensemble_size),
            ("surrogate_hidden_size", surrogate_hidden_size), ("surrogate_num_layers", surrogate_num_layers),
            ("surrogate_lr", surrogate_lr), ("surrogate_epochs", surrogate_epochs),
            ("surrogate_min_updates", surrogate_min_updates),
            ("surrogate_max_transitions", surrogate_max_transitions),
            ("surrogate_holdout_fraction", surrogate_holdout_fraction),
            ("model_rollout_horizon", model_rollout_horizon), ("num_model_rollouts", num_model_rollouts),
            ("synthetic_ratio", synthetic_ratio), ("synthetic_buffer_capacity", synthetic_buffer_capacity),
            ("num_updates_per_iteration", num_updates_per_iteration), ("prefill_policy", prefill_policy),
            ("prefill_episodes", prefill_episodes), ("prefill_excitation", prefill_excitation),
            ("safety_shield", safety_shield), ("shield_kappa", shield_kappa),
            ("safety_margin_V", safety_margin_V), ("safety_margin_K", safety_margin_K),
            ("action_mode", action_mode), ("planner_bias_correction", planner_bias_correction),
            ("max_disagreement", max_disagreement),
            ("adaptive_cycles", adaptive_cycles), ("cycle0_iterations", cycle0_iterations),
            ("adaptive_cycle_iterations", adaptive_cycle_iterations),
            ("ageing_cycles_per_cycle", ageing_cycles_per_cycle), ("adaptive_real_episodes", adaptive_real_episodes),
            ("soh_prior", soh_prior), ("soh_estimator_path", soh_estimator_path),
            ("differential_residual", differential_residual), ("adaptive_evaluation", adaptive_evaluation),
            ("adaptive_evaluation_soc", adaptive_evaluation_soc),
        ):
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
        if self.surrogate_min_updates < 0:
            self._value_error("`surrogate_min_updates` must be >= 0")
        if self.prefill_policy is not None and self.prefill_policy not in PREFILL_POLICIES:
            self._value_error(f"`prefill_policy` must be None or one of {PREFILL_POLICIES}, got {self.prefill_policy!r}")
        if self.prefill_episodes < 0:
            self._value_error("`prefill_episodes` must be >= 0")
        if self.prefill_excitation is not None:
            band = tuple(self.prefill_excitation)
            if len(band) != 2 or not 0.0 < band[0] <= band[1] <= 1.0:
                self._value_error(f"`prefill_excitation` must be None or (low, high) with 0 < low <= high <= 1, "
                                  f"got {self.prefill_excitation!r}")
        if self.shield_kappa < 0 or self.safety_margin_V < 0 or self.safety_margin_K < 0:
            self._value_error("`shield_kappa`, `safety_margin_V` and `safety_margin_K` must be >= 0")
        if self.action_mode not in ACTION_MODES:
            self._value_error(f"`action_mode` must be one of {ACTION_MODES}, got {self.action_mode!r}")
        if self.action_mode == "plan" and not (self.prefill_policy and self.prefill_episodes > 0):
            self._value_error("`action_mode='plan'` needs a warm start (`prefill_policy` and `prefill_episodes` > 0)")
        if self.max_disagreement is not None and not self.max_disagreement > 0:
            self._value_error("`max_disagreement` must be None or > 0")
        if self.adaptive_cycles < 0:
            self._value_error("`adaptive_cycles` must be >= 0")
        if self.adaptive_cycles:
            if min(self.cycle0_iterations, self.adaptive_cycle_iterations, self.adaptive_real_episodes) < 1:
                self._value_error("`cycle0_iterations`, `adaptive_cycle_iterations` and `adaptive_real_episodes` "
                                  "must be >= 1")
            if not self.ageing_cycles_per_cycle > 0:
                self._value_error("`ageing_cycles_per_cycle` must be > 0")
            if not self.uses_surrogate:
                self._value_error("adaptive cycles adapt a surrogate: set `action_mode='plan'`, `safety_shield` or "
                                  "`synthetic_ratio` > 0")

    @property
    def uses_surrogate(self) -> bool:
        """Whether the surrogate is fitted: for synthetic data, the shield or the planner."""
        return self.synthetic_ratio > 0 or self.safety_shield or self.action_mode == "plan"


class MBRL(CheckpointsEntropyTemperature, SAC):
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
        self._seed = int(cfg.seed or 0)
        self.surrogate = EnsembleSurrogate(
            self._obs_space.shape[0], self._act_space.shape[0], ensemble_size=cfg.surrogate_ensemble_size,
            hidden_size=cfg.surrogate_hidden_size, num_layers=cfg.surrogate_num_layers, lr=cfg.surrogate_lr,
            seed=self._seed,
        )
        self.synthetic_buffer = EpisodeReplayBuffer(capacity=cfg.synthetic_buffer_capacity)
        # Both buffers sample from the run's seed (RLlib's draw from OS entropy).
        seed_replay_buffer(self.local_replay_buffer, self._seed)
        seed_replay_buffer(self.synthetic_buffer, self._seed, stream=REPLAY_STREAM + 1)
        # Under Tune, name the folder like the trial's folder in ray_results/ (so rollouts and
        # checkpoints pair up, and a resumed trial keeps writing to its own folder). RLlib
        # turns the config dict into an AlgorithmConfig before Trainable pops Tune's trial
        # info, so trial_name is empty here; Tune's StorageContext still has the folder name.
        # Outside Tune, a fresh run id.
        trial = getattr(getattr(self, "_storage", None), "trial_dir_name", None)
        run = trial or f"run_{uuid.uuid4().hex[:8]}"
        self.rollout_dir = Path(cfg.offline_data_dir) / run
        self._window = self._empty_window()
        self._last_fit = None
        self.shield: SurrogateShield | None = None
        # A local env (never shielded): the env's limits on its observation, and the warm start.
        self._local_env = cfg.env(dict(cfg.env_config))
        self._obs_limits = self._local_env.observation_limits(voltage_margin_V=cfg.safety_margin_V,
                                                              temperature_margin_K=cfg.safety_margin_K)
        self._limited_dims = np.nonzero(np.isfinite(self._obs_limits[0]) | np.isfinite(self._obs_limits[1]))[0]
        # What every env runner holds (BatteryEnvRunner): the pack's condition, the action filter.
        self._runner_state: dict = {"condition": None, "action_filter": None}
        # Adaptive cycles: the cycle, the frozen G0, G^, the pack as G0 knew it, the metrics.
        self._cycle = 0
        self.static_surrogate: EnsembleSurrogate | None = None
        self.differential: DifferentialSurrogate | None = None
        self._reference: PackReference | None = None
        self._cycle_arrays: dict[str, np.ndarray] | None = None
        self._cycle_metrics: dict[str, float] = {}
        self.cycle_history: list[dict[str, float]] = []
        self._lookahead_cache: dict[float, dict[str, float]] = {}
        self._estimator = None
        if cfg.adaptive_cycles:
            if not hasattr(self._local_env, "set_condition"):
                raise ValueError(f"adaptive cycles need an env with set_condition (the pack env), got {cfg.env}")
            if cfg.soh_prior:
                self._estimator = SOHEstimator.load(cfg.soh_estimator_path)
        # The resume rule, part 1: a trial folder that already holds rollouts is an earlier,
        # interrupted attempt of the same trial; its files are set aside before this attempt
        # writes anything (restore() brings back those written before its checkpoint).
        self._attempt = f"attempt_{time.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:4]}"
        self._earlier_attempt = set_aside(self._rollout_files(), self.rollout_dir, f"before_{self._attempt}")
        self._prefilled = 0
        if cfg.prefill_policy and cfg.prefill_episodes:
            self._prefilled = self._prefill(cfg.prefill_policy, cfg.prefill_episodes)
        if cfg.action_mode == "plan":  # the planner acts from the first step on
            self._fit_surrogate()
            self._install_action_filter()

    @property
    def model(self):
        """The model in use: the ensemble in cycle 0, G = G0 (+) G^ in adaptive cycles."""
        if self._cycle >= 1:
            return CombinedSurrogate(self.static_surrogate, self.differential)
        return self.surrogate

    @property
    def cycle(self) -> int:
        """The current cycle: 0, then 1 .. ``adaptive_cycles``."""
        return self._cycle

    # ------------------------------------------------------------------ data
    def _empty_window(self) -> dict[str, np.ndarray]:
        """The in-memory window of real transitions, empty: column -> (0, width) array."""
        obs_dim, act_dim = self._obs_space.shape[0], self._act_space.shape[0]
        widths = {"obs": obs_dim, "action": act_dim, "reward": 1, "next_obs": obs_dim, "terminated": 1}
        return {k: np.zeros((0, d), np.float32) for k, d in widths.items()}

    def _remember(self, arrays: dict[str, np.ndarray]) -> None:
        """Append transitions to the in-memory window of the newest real transitions."""
        keep = self.config.surrogate_max_transitions
        for key in self._window:
            new = np.asarray(arrays[key], np.float32).reshape(len(arrays["obs"]), -1)
            self._window[key] = np.concatenate([self._window[key], new])[-keep:]

    def _write_episodes(self, episodes, *, source: str, prefix: str) -> pa.Table | None:
        """Episode chunks -> one Parquet file and the in-memory window; returns the rows
        written (None if there were none)."""
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
                    task_id=str(info.get("task_id", "")), cycle_index=int(self._cycle), source=source,
                    obs=obs[t], next_obs=obs[t + 1], reward=float(rewards[t]),
                    action=info.get("applied_action", np.clip(np.asarray(actions[t], np.float32), -1.0, 1.0)),
                    terminated=bool(ep.is_terminated and last), truncated=bool(ep.is_truncated and last),
                ))
        if not rows:
            return None
        table = transitions_table(rows)
        write_table_atomic(table, self.rollout_dir / rollout_file_name(prefix, int(self.iteration)))
        self._remember(transition_arrays(table))
        return table

    def _prefill(self, name: str, n_episodes: int) -> int:
        """Run reference-controller episodes on a local env (their currents scaled by the
        ``prefill_excitation`` factors): replay buffer, Parquet, window."""
        from rl_battery.baselines import CCCTCVPolicy, CCCVPolicy, LookaheadPolicy, best_cc_ct_cv, best_cccv

        env = self._local_env
        if name == "lookahead":
            policy = LookaheadPolicy(env)
        elif name == "cc_ct_cv":
            policy = CCCTCVPolicy(env, best_cc_ct_cv(env)[0])
        else:
            policy = CCCVPolicy(env, best_cccv(env)[0])
        band = self.config.prefill_excitation
        rng = np.random.default_rng((self._seed, 1))  # its own stream: the episodes' seeds stay as they were
        episodes = []
        for k in range(int(n_episodes)):
            obs, info = env.reset(seed=self._seed * 1000 + k)
            observations, infos, actions, rewards = [obs], [info], [], []
            done = terminated = False
            while not done:
                action = policy(obs, info)
                if band is not None:
                    current = max(env.min_current_A, env.action_to_current(action) * rng.uniform(*band))
                    action = env.current_to_action(current)
                obs, reward, terminated, truncated, info = env.step(action)
                observations.append(obs), infos.append(info), actions.append(action), rewards.append(reward)
                done = terminated or truncated
            episodes.append(SingleAgentEpisode(
                observations=observations, actions=actions, rewards=rewards, infos=infos, terminated=terminated,
                truncated=not terminated, observation_space=self._obs_space, action_space=self._act_space,
                len_lookback_buffer=0,
            ))
        self.local_replay_buffer.add(episodes)
        table = self._write_episodes(episodes, source=name, prefix="prefill")
        return 0 if table is None else len(table)

    def _fit_surrogate(self) -> dict:
        data = self._window
        report = self.surrogate.fit(
            data["obs"], data["action"], data["reward"][:, 0], data["next_obs"], data["terminated"][:, 0],
            epochs=self.config.surrogate_epochs, holdout_fraction=self.config.surrogate_holdout_fraction,
            min_updates=self.config.surrogate_min_updates,
        )
        self._last_fit = report.as_dict()
        return self._last_fit

    def _log_prediction_errors(self, table: pa.Table) -> None:
        """Open-loop 1/5/10-step errors of the surrogate on new real transitions, before it
        is refitted on them: all observation dims, and the ones the env's limits constrain."""
        arrays = transition_arrays(table)
        ids = np.asarray(table.column("episode_id").to_pylist())
        steps = table.column("step_index").to_numpy()
        for suffix, dims in (("", None), ("_limits", self._limited_dims)):
            errors = open_loop_errors(self.surrogate, arrays["obs"], arrays["action"], arrays["next_obs"], ids, steps,
                                      dims=dims)
            for k in (1, 5, 10):
                if errors[f"k{k}_windows"]:
                    self.metrics.log_value(("mbrl", f"surrogate_new_data_k{k}_rmse{suffix}"), errors[f"k{k}_rmse"],
                                           window=1)

    def _policy_actions(self, obs: torch.Tensor) -> torch.Tensor:
        module = self.env_runner.module
        out = module.forward_exploration({Columns.OBS: obs})
        dist = module.get_exploration_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
        action = torch.clamp(dist.sample(), -1.0, 1.0)
        return self.shield(obs, action) if self.shield is not None else action

    def _install_action_filter(self) -> None:
        """Build the shield (for the synthetic rollouts too) or the planner from the current
        model and install it on every env runner (as part of their restorable state)."""
        cfg = self.config
        if not (cfg.safety_shield or cfg.action_mode == "plan"):
            return
        low, high = self._obs_limits
        model = self.model
        if cfg.safety_shield:
            self.shield = SurrogateShield(model, low, high, kappa=cfg.shield_kappa)
        sizes = dict(ensemble_size=cfg.surrogate_ensemble_size, hidden_size=cfg.surrogate_hidden_size,
                     num_layers=cfg.surrogate_num_layers)
        spec = model.to_spec(sizes) if isinstance(model, CombinedSurrogate) else ensemble_spec(model, sizes)
        self._set_runner_state(action_filter={"kind": "plan" if cfg.action_mode == "plan" else "shield",
                                              "surrogate": spec, "low": low, "high": high, "kappa": cfg.shield_kappa,
                                              "bias_correction": cfg.planner_bias_correction})

    def _set_runner_state(self, **changes) -> None:
        """Update the battery state of every env runner, the local one included: RLlib
        restores a restarted runner from the local runner's state."""
        self._runner_state.update(changes)
        state = dict(self._runner_state)
        self.env_runner_group.foreach_env_runner(lambda runner: runner.set_battery_state(**state),
                                                 local_env_runner=True)

    def _generate_synthetic(self) -> int:
        """Branch from real start states (drawn with the run's seed); one episode per branch."""
        rng = np.random.default_rng((self._seed, int(self.iteration)))
        # In an adaptive cycle, branch from the aged pack's own states.
        pool = self._cycle_arrays["obs"] if self._cycle >= 1 else self._window["obs"]
        starts = pool[rng.integers(0, len(pool), self.config.num_model_rollouts)]
        roll = branched_rollout(
            self.model, self._policy_actions, starts, self.config.model_rollout_horizon,
            obs_low=self._obs_space.low, obs_high=self._obs_space.high, max_disagreement=self.config.max_disagreement,
        )
        episodes = [
            SingleAgentEpisode(
                observations=list(roll["obs"][b, : n + 1]), actions=list(roll["action"][b, :n]),
                rewards=[float(r) for r in roll["reward"][b, :n]], terminated=bool(roll["terminated"][b]),
                observation_space=self._obs_space, action_space=self._act_space, len_lookback_buffer=0,
            )
            for b, n in enumerate(roll["length"]) if n > 0
        ]
        if episodes:
            self.synthetic_buffer.add(episodes)
        return int(roll["length"].sum())

    # ------------------------------------------------------------------ training step
    @override(SAC)
    def _run_one_training_iteration(self):
        """RLlib repeats ``training_step`` until ``min_sample_timesteps_per_iteration`` env
        steps were sampled. An adaptive cycle samples whole charges once per cycle, and
        nothing in its other iterations, so there one training step is one iteration (the
        repeat would never end)."""
        if self._cycle_of(int(self.iteration)) == 0:
            return super()._run_one_training_iteration()
        with self.metrics.log_time((TIMERS, TRAINING_ITERATION_TIMER)):
            with TrainIterCtx(algo=self) as train_iter_ctx:
                with self.metrics.log_time((TIMERS, RESTORE_ENV_RUNNERS_TIMER)):
                    restored = self.restore_env_runners(self.env_runner_group)
                    if restored:
                        self._make_on_env_runners_recreated_callbacks(
                            config=self.config, env_runner_group=self.env_runner_group,
                            restored_env_runner_indices=restored)
                with self.metrics.log_time((TIMERS, TRAINING_STEP_TIMER)):
                    self.training_step()
                self.metrics.log_value(NUM_TRAINING_STEP_CALLS_PER_ITERATION, 1, reduce="sum")
                train_iter_ctx.should_stop(True)  # counts the steps sampled and trained
            return self.metrics.compile(), train_iter_ctx

    @override(SAC)
    def training_step(self) -> None:
        cycle = self._cycle_of(int(self.iteration))
        if cycle > self._cycle:
            with self.metrics.log_time((TIMERS, "adaptive_cycle")):
                self._run_adaptive_cycle(cycle)
        self.metrics.log_value(("mbrl", "prefill_transitions"), self._prefilled, window=1)
        for key, value in self._cycle_metrics.items():
            self.metrics.log_value(("cycle", key), value, window=1)
        if self._cycle == 0 and not self._sample_and_refit():
            return
        # In an adaptive cycle the real data of the cycle is in; the policy trains on G.
        if self.config.synthetic_ratio > 0 and self._last_fit is not None:
            with self.metrics.log_time((TIMERS, "synthetic_rollouts")):
                n_synthetic = self._generate_synthetic()
            self.metrics.log_value(("mbrl", "synthetic_transitions"), n_synthetic, reduce="sum")
            self.metrics.log_value(("mbrl", "synthetic_buffer_size"), self.synthetic_buffer.get_num_timesteps(), window=1)
        self._update_policy()

    def _sample_and_refit(self) -> bool:
        """Cycle 0: sample real fragments, write them, refit the surrogate. Returns whether
        SAC learns in this step (its warm-up is over)."""
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, runner_results = synchronous_parallel_sample(
                worker_set=self.env_runner_group, concat=True, sample_timeout_s=self.config.sample_timeout_s,
                _uses_new_env_runners=True, _return_metrics=True,
            )
        self.metrics.aggregate(runner_results, key=ENV_RUNNER_RESULTS)
        self.local_replay_buffer.add(episodes)
        table = self._write_episodes(episodes, source="real", prefix="iter")
        self.metrics.log_value(("mbrl", "real_transitions_written"), 0 if table is None else len(table), reduce="sum")
        if table is not None and self._last_fit is not None:
            self._log_prediction_errors(table)

        current_ts = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        learning = current_ts >= self.config.num_steps_sampled_before_learning_starts
        # The planner acts from the first step, so its model learns from the first step too;
        # the shield and the Dyna data wait for SAC's warm-up, like the learner.
        if (learning or self.config.action_mode == "plan") and self.config.uses_surrogate and len(self._window["obs"]) >= 10:
            with self.metrics.log_time((TIMERS, "surrogate_fit")):
                fit = self._fit_surrogate()
            for key, value in fit.items():
                self.metrics.log_value(("mbrl", f"surrogate_{key}"), value, window=1)
            self._install_action_filter()
        return learning

    def _update_policy(self) -> None:
        """SAC updates on batches mixing real and synthetic transitions, then weight sync."""
        sac_updates(self, self.local_replay_buffer, num_updates=self.config.num_updates_per_iteration,
                    synthetic_buffer=self.synthetic_buffer, synthetic_ratio=self.config.synthetic_ratio)

    # ------------------------------------------------------------------ adaptive cycles
    def _cycle_of(self, iteration: int) -> int:
        cfg = self.config
        if not cfg.adaptive_cycles or iteration < cfg.cycle0_iterations:
            return 0
        return min(1 + (iteration - cfg.cycle0_iterations) // cfg.adaptive_cycle_iterations, cfg.adaptive_cycles)

    def _run_adaptive_cycle(self, cycle: int) -> None:
        """Age the pack, charge it ``adaptive_real_episodes`` times with the current controller,
        adapt G^ on those charges (:func:`rl_battery.algorithms.adaptation.adapt`), act with
        G = G0 (+) G^ from now on, and measure the adapted controller on the aged pack."""
        cfg, env = self.config, self._local_env
        if self.static_surrogate is None:  # leaving cycle 0: freeze G0, remember its pack
            self.static_surrogate = copy.deepcopy(self.surrogate).eval().requires_grad_(False)
            env.set_condition(age_cycles=0.0, pack=env.pinned_pack)
            sim = env.sim
            self._reference = PackReference(sim.pack_soh, float(np.mean(sim.cell_capacity_Ah)),
                                            float(np.mean(sim.cells.contact_resistance_Ohm)))
            self.differential = DifferentialSurrogate(PackCurrent.of(env), env.settings.w_soc)
        condition = {"age_cycles": cycle * cfg.ageing_cycles_per_cycle, "pack": list(env.pinned_pack),
                     "reported_soh": self._reference.soh}
        env.set_condition(**condition)
        self._set_runner_state(condition=condition)
        self._cycle = cycle
        # One charge at a time, adapting after each: the first charge of the cycle runs with
        # G of the previous cycle, every later one with G calibrated on the charges before it.
        episodes, tables = [], []
        sim = env.sim
        for _ in range(cfg.adaptive_real_episodes):
            new = self._sample_complete_episodes(1)
            self.local_replay_buffer.add(new)
            episodes += new
            tables.append(self._write_episodes(new, source="real", prefix=f"cycle_{cycle:03d}"))
            table = pa.concat_tables(tables)
            report = adapt(self.static_surrogate, table, self.differential, estimator=self._estimator,
                           reference=self._reference, dt_s=env.settings.dt_s, Np=sim.Np,
                           cell_capacity_Ah=sim.cell_nominal_capacity_Ah, limited_dims=self._limited_dims,
                           residual=cfg.differential_residual)
            self._install_action_filter()
        self._cycle_arrays = transition_arrays(table)
        truth = parameter_truth(table, self._reference)
        finals = [ep.get_infos()[-1]["episode_metrics"] for ep in episodes]
        metrics = {
            "index": float(cycle), "age_cycles": condition["age_cycles"], "real_episodes": float(len(episodes)),
            "real_transitions": float(len(table)), "soh_true": truth["soh"],
            "soh_estimate_error": report["soh_estimate"] - truth["soh"],
            "capacity_factor_true": truth["capacity_factor"],
            "capacity_factor_error": report["capacity_factor"] - truth["capacity_factor"],
            "resistance_increase_true_Ohm": truth["resistance_increase_Ohm"],
            "resistance_increase_error_Ohm": report["resistance_increase_Ohm"] - truth["resistance_increase_Ohm"],
            "real_charge_time_min": float(np.mean([m["charge_time_min"] for m in finals])),
            "real_constraint_violations": float(np.sum([m["constraint_violations"] for m in finals])),
            "first_charge_constraint_violations": float(finals[0]["constraint_violations"]),
            **report,
        }
        if cfg.adaptive_evaluation:
            metrics.update(self._evaluate_cycle(condition["age_cycles"]))
        self._cycle_metrics = metrics
        self.cycle_history.append(metrics)

    def _sample_complete_episodes(self, n: int) -> list[SingleAgentEpisode]:
        """``n`` whole episodes from one env runner (the local one without remote runners)."""
        group = self.env_runner_group

        def sample(runner):
            return runner.sample(num_episodes=n, explore=False), runner.get_metrics()

        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            if group.num_remote_env_runners() == 0:
                episodes, metrics = sample(self.env_runner)
            else:
                runner_id = group.healthy_env_runner_ids()[0]
                episodes, metrics = group.foreach_env_runner(sample, remote_worker_ids=[runner_id],
                                                             local_env_runner=False)[0]
        self.metrics.aggregate([metrics], key=ENV_RUNNER_RESULTS)
        return episodes

    def _controller(self, model):
        """The run's controller over ``model`` as an ``(obs, info) -> action`` policy: the
        planner, or the deterministic policy behind the shield."""
        low, high = self._obs_limits
        kappa = self.config.shield_kappa
        if self.config.action_mode == "plan":
            return SurrogatePlanner(model, low, high, kappa=kappa,
                                    bias_correction=self.config.planner_bias_correction).policy
        act = deterministic_policy(self.env_runner.module)
        if not self.config.safety_shield:
            return lambda obs, info: act(obs)
        shield = SurrogateShield(model, low, high, kappa=kappa)
        return lambda obs, info: shield(obs, act(obs))

    def _evaluate_cycle(self, age_cycles: float) -> dict[str, float]:
        """Charge the aged pack on the local env from ``adaptive_evaluation_soc``: the adapted
        controller (over G), the cycle-0 controller (over G0, no adaptation) and the
        look-ahead reference (cached per age)."""
        env, soc0 = self._local_env, self.config.adaptive_evaluation_soc
        from rl_battery.baselines import LookaheadPolicy

        if age_cycles not in self._lookahead_cache:
            self._lookahead_cache[age_cycles] = run_episode(env, LookaheadPolicy(env), initial_soc=soc0)
        runs = {"lookahead": self._lookahead_cache[age_cycles],
                "adapted": run_episode(env, self._controller(self.model), initial_soc=soc0),
                "static": run_episode(env, self._controller(self.static_surrogate), initial_soc=soc0)}
        out = {}
        for name, m in runs.items():
            for key in ("charge_time_min", "constraint_violations", "final_soc", "max_cell_voltage_V",
                        "max_cell_temperature_K"):
                out[f"{name}_{key}"] = float(m[key])
        for name in ("adapted", "static"):
            out[f"{name}_ratio_to_lookahead"] = out[f"{name}_charge_time_min"] / out["lookahead_charge_time_min"]
        return out

    # ------------------------------------------------------------------ checkpoints
    @override(SAC)
    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component("surrogate", components, not_components):
            state["surrogate"] = {
                "model": self.surrogate.state_dict(),
                "optimizer": self.surrogate.optimizer.state_dict(),
                "rollout_dir": str(self.rollout_dir),
                "iteration": int(self.iteration),
            }
        if self._check_component("adaptive_cycles", components, not_components):
            state["adaptive_cycles"] = {
                "cycle": self._cycle,
                "static": None if self.static_surrogate is None else self.static_surrogate.state_dict(),
                "differential": None if self.differential is None else self.differential.to_spec(),
                "reference": None if self._reference is None else asdict(self._reference),
                "condition": self._runner_state["condition"],
                "metrics": dict(self._cycle_metrics), "history": list(self.cycle_history),
                "cycle_arrays": self._cycle_arrays, "lookahead_cache": dict(self._lookahead_cache),
            }
        return state

    @override(SAC)
    def set_state(self, state) -> None:
        super().set_state(state)
        if "surrogate" in state:
            self.surrogate.load_state_dict(state["surrogate"]["model"])
            self.surrogate.optimizer.load_state_dict(state["surrogate"]["optimizer"])
            self._apply_resume_rule(Path(state["surrogate"]["rollout_dir"]), state["surrogate"].get("iteration"))
            self._reload_window()
        if "adaptive_cycles" in state:
            self._set_cycle_state(state["adaptive_cycles"])
        if "surrogate" in state or "adaptive_cycles" in state:
            self._install_action_filter()

    def _set_cycle_state(self, cycles: dict) -> None:
        """Restore the cycle, G0, G^, the reference pack and the pack's condition."""
        self._cycle = int(cycles["cycle"])
        if cycles["static"] is not None:
            cfg = self.config
            self.static_surrogate = EnsembleSurrogate.from_weights(
                cycles["static"], ensemble_size=cfg.surrogate_ensemble_size, hidden_size=cfg.surrogate_hidden_size,
                num_layers=cfg.surrogate_num_layers).requires_grad_(False)
        if cycles["differential"] is not None:
            self.differential = DifferentialSurrogate.from_spec(cycles["differential"])
        if cycles["reference"] is not None:
            self._reference = PackReference(**cycles["reference"])
        self._cycle_metrics, self.cycle_history = dict(cycles["metrics"]), list(cycles["history"])
        self._cycle_arrays, self._lookahead_cache = cycles["cycle_arrays"], dict(cycles["lookahead_cache"])
        if cycles["condition"] is not None:
            self._local_env.set_condition(**cycles["condition"])
            self._set_runner_state(condition=cycles["condition"])

    def _rollout_files(self, directory: Path | None = None) -> list[Path]:
        """The run's readable rollout files (top level; not temporary, not set aside)."""
        return sorted(p for p in (directory or self.rollout_dir).glob("*.parquet") if not p.name.startswith("."))

    def _apply_resume_rule(self, restored_dir: Path, iteration: int | None) -> None:
        """The resume rule, part 2 (restore from a checkpoint taken after ``iteration``
        training iterations): the run goes on with exactly the rollouts written before the
        checkpoint. Files written after it (iteration >= the checkpoint's) are set aside as
        ``set_aside/after_iter_<N>_<attempt>/``; when an earlier attempt was set aside at
        set-up, its files from before the checkpoint come back, and this attempt's own
        set-up files (a second warm start) go to ``set_aside/<attempt>_superseded/``. So a
        resumed trial never reads two files for the same iteration."""
        if iteration is None:  # a checkpoint from before the rule: keep every file
            self.rollout_dir = restored_dir
            return
        if restored_dir == self.rollout_dir and self._earlier_attempt is not None:
            set_aside(self._rollout_files(), self.rollout_dir, f"{self._attempt}_superseded")
            for f in self._rollout_files(self._earlier_attempt):
                if file_iteration(f) < iteration:
                    f.rename(self.rollout_dir / f.name)
            self._earlier_attempt = None
        self.rollout_dir = restored_dir
        later = [f for f in self._rollout_files() if file_iteration(f) >= iteration]
        set_aside(later, self.rollout_dir, f"after_iter_{iteration:06d}_{self._attempt}")

    def _reload_window(self) -> None:
        """After a restore: the window again holds the newest transitions of the run's files."""
        try:
            table = read_rollouts(self.rollout_dir)
        except FileNotFoundError:
            return
        self._window = self._empty_window()
        self._remember(transition_arrays(table.slice(max(0, len(table) - self.config.surrogate_max_transitions))))
