"""SAC learner updates from replay buffers, shared by the custom algorithms (MBRL, Reptile)."""

from __future__ import annotations

from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)


def sac_updates(algo, buffer, *, num_updates: int, synthetic_buffer=None, synthetic_ratio: float = 0.0,
                sync: bool = True) -> None:
    """``num_updates`` learner updates of ``algo`` (a SAC subclass) on batches of
    ``total_train_batch_size`` transitions from ``buffer``, a ``synthetic_ratio`` share of
    each batch from ``synthetic_buffer`` when it holds data; then (``sync``) the new
    weights go to the env runners."""
    current_ts = algo.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
    batch = algo.config.total_train_batch_size
    has_fake = synthetic_buffer is not None and synthetic_buffer.get_num_timesteps()
    n_fake = int(batch * synthetic_ratio) if has_fake else 0
    sample_kw = dict(n_step=1, gamma=algo.config.gamma, sample_episodes=True)
    learner_results = []
    for _ in range(num_updates):
        batch_episodes = buffer.sample(num_items=batch - n_fake, **sample_kw)
        if n_fake:
            batch_episodes += synthetic_buffer.sample(num_items=n_fake, **sample_kw)
        with algo.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            learner_results = algo.learner_group.update(
                episodes=batch_episodes,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: current_ts,
                    NUM_AGENT_STEPS_SAMPLED_LIFETIME: algo.metrics.peek(
                        (ENV_RUNNER_RESULTS, NUM_AGENT_STEPS_SAMPLED_LIFETIME), default={}),
                },
            )
        for result in learner_results:  # TD errors only matter to prioritized buffers
            for module_result in result.values():
                module_result.pop("td_error", None)
        algo.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
    if sync and learner_results:
        sync_weights(algo, set(learner_results[0].keys()) - {ALL_MODULES})


def sync_weights(algo, modules=None, *, force: bool = False) -> None:
    """The learner's weights to every env runner (inference-only modules).

    RLlib's sync skips a runner whose weights sequence number is already the learner's;
    the number only grows with learner updates, so weights *set* on the learner (Reptile's
    meta weights) need ``force``: sent without a sequence number, which runners always take.
    """
    with algo.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
        if not force:
            algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, policies=modules,
                                               inference_only=True)
            return
        learner = algo.learner_group.get_state(components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}",
                                               inference_only=True)[COMPONENT_LEARNER]
        state = {COMPONENT_RL_MODULE: learner[COMPONENT_RL_MODULE]}
        algo.env_runner_group.foreach_env_runner(lambda runner: runner.set_state(state), local_env_runner=True)


def entropy_temperatures(algo) -> dict[str, float]:
    """SAC's learned entropy temperature per module, as ``{module_id: log alpha}`` (of the
    first Learner: all Learners hold the same after each synchronous update)."""
    def read(learner):
        return {mid: float(value.detach().cpu()) for mid, value in learner.curr_log_alpha.items()}

    return next(iter(algo.learner_group.foreach_learner(read))).get()


def set_entropy_temperatures(algo, log_alphas: dict[str, float]) -> None:
    """Write ``{module_id: log alpha}`` into every Learner's SAC entropy temperature (in
    place: the alpha optimizer keeps its parameter)."""
    def write(learner):
        import torch

        with torch.no_grad():
            for mid, value in log_alphas.items():
                learner.curr_log_alpha[mid].fill_(float(value))

    for result in algo.learner_group.foreach_learner(write):
        result.get()


class CheckpointsEntropyTemperature:
    """Mixin for SAC subclasses: the entropy temperature alpha goes into checkpoints.

    RLlib 2.x ``Learner.get_state`` saves the RLModule, the optimizers and the metrics, but
    not ``SACLearner.curr_log_alpha``: a restored SAC would act on with its trained weights
    and ``initial_alpha`` (1.0 by default). A Reptile meta-trained to alpha 0.05 then
    adapted with 20x the entropy bonus: on Chen2020 its deterministic charge after 3
    adaptation episodes took 1.54x the optimum, against 1.08x with alpha kept.
    """

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component("entropy_temperature", components, not_components):
            state["entropy_temperature"] = entropy_temperatures(self)
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if "entropy_temperature" in state:
            set_entropy_temperatures(self, state["entropy_temperature"])
