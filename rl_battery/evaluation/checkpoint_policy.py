"""Deterministic policy from an RLlib checkpoint, without starting Ray (1-2 s)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ray.rllib.core.rl_module.rl_module import RLModule

from rl_battery.algorithms.deterministic import deterministic_policy


@dataclass
class CheckpointPolicy:
    """A checkpoint's default policy and the env it was trained on.

    Attributes:
        act: obs (obs_dim,) -> deterministic action in the env's action space.
        env_class: the env class from the checkpoint's config.
        env_config: the trial's concrete env_config.
        algorithm: the algorithm class name.
        surrogate: the run's surrogate ensemble when its controller uses one (a safety
            shield or the planner).
        shield_kappa: the margin of that shield or planner in predicted standard deviations.
        action_mode: "policy" or "plan" (an MBRL run whose controller is the planner).
        safety_margins: that shield's or planner's back-off from the (voltage [V],
            temperature [K]) limits.
        planner_bias_correction: the planner corrects its predictions by the last step's
            residual (:class:`rl_battery.surrogate.SurrogatePlanner`).
        cycle: the adaptive cycle the run had reached (0: no adaptive cycles yet); from
            cycle 1 on ``surrogate`` is the combined model G = G0 (+) G^.
        condition: the pack's deployment condition in that cycle (age, pinned pack,
            reported SOH; :meth:`rl_battery.envs.PackFastCharge.set_condition`), or None.
    """

    act: Callable[[np.ndarray], np.ndarray]
    env_class: type
    env_config: dict[str, Any]
    algorithm: str
    surrogate: Any = None
    shield_kappa: float | None = None
    action_mode: str = "policy"
    safety_margins: tuple[float, float] = (0.0, 0.0)
    planner_bias_correction: bool = False
    cycle: int = 0
    condition: dict[str, Any] | None = None

    @property
    def description(self) -> str:
        """What acts: "policy", "policy + safety shield" or "surrogate planner"."""
        if self.surrogate is None:
            return "policy"
        name = "surrogate planner" if self.action_mode == "plan" else "policy + safety shield"
        return f"{name}, adapted in cycle {self.cycle}" if self.cycle else name

    def controller(self, env, shield_kappa: float | None = None) -> Callable[..., np.ndarray]:
        """The learned controller on ``env`` (see :func:`learned_controller`), with margin
        ``shield_kappa`` (default: the trained one)."""
        if self.surrogate is None:
            return lambda obs, info=None: self.act(obs)
        return learned_controller(self.act, self.surrogate, env, action_mode=self.action_mode,
                                  kappa=self.shield_kappa if shield_kappa is None else shield_kappa,
                                  margins=self.safety_margins, bias_correction=self.planner_bias_correction)


def learned_controller(act: Callable[[np.ndarray], np.ndarray], surrogate, env, *, kappa: float,
                       action_mode: str = "policy", margins: tuple[float, float] = (0.0, 0.0),
                       bias_correction: bool = False) -> Callable[..., np.ndarray]:
    """A run's controller on ``env``, ``(obs, info=None) -> action``: with ``action_mode``
    "plan" the surrogate planner (the policy is not used; ``bias_correction`` as in
    :class:`rl_battery.surrogate.SurrogatePlanner`), else ``act`` behind the surrogate
    safety layer; both are built for ``env``'s limits, tightened by ``margins`` (voltage
    [V], temperature [K]), with ``kappa`` predicted standard deviations. A stateful
    (bias-correcting) planner starts a new episode when ``info["time_s"]`` is 0; without
    ``info`` the caller uses one controller per episode."""
    from rl_battery.surrogate import SurrogatePlanner, SurrogateShield

    limits = env.observation_limits(voltage_margin_V=margins[0], temperature_margin_K=margins[1])
    if action_mode == "plan":
        return SurrogatePlanner(surrogate, *limits, kappa=kappa, bias_correction=bias_correction).policy
    shield = SurrogateShield(surrogate, *limits, kappa=kappa)
    return lambda obs, info=None: shield(obs, act(obs))


def load_checkpoint_policy(checkpoint: str | Path) -> CheckpointPolicy:
    """Load ``checkpoint`` (an Algorithm checkpoint folder).

    The policy acts deterministically (:func:`rl_battery.algorithms.deterministic.deterministic_policy`).

    Raises:
        FileNotFoundError: not an RLlib Algorithm checkpoint folder.
    """
    checkpoint = Path(checkpoint).expanduser().resolve()
    ctor_file = checkpoint / "class_and_ctor_args.pkl"
    module_dir = checkpoint / "learner_group" / "learner" / "rl_module" / "default_policy"
    if not ctor_file.is_file() or not module_dir.is_dir():
        raise FileNotFoundError(f"{checkpoint} is not an RLlib Algorithm checkpoint (no class_and_ctor_args.pkl / default_policy)")
    with open(ctor_file, "rb") as f:
        ctor = pickle.load(f)
    config = ctor["ctor_args_and_kwargs"][0][0]
    env_class, env_config = config["env"], dict(config.get("env_config") or {})
    if isinstance(env_class, str):
        raise ValueError(f"checkpoint env {env_class!r} is a registered name; rl_battery passes env classes")
    module = RLModule.from_checkpoint(module_dir)
    action_mode = config.get("action_mode", "policy")
    uses_surrogate = config.get("safety_shield") or action_mode == "plan"
    with open(checkpoint / "algorithm_state.pkl", "rb") as f:
        state = pickle.load(f)
    cycles = state.get("adaptive_cycles") or {"cycle": 0, "condition": None}
    surrogate = _surrogate(state, config) if uses_surrogate else None
    return CheckpointPolicy(act=deterministic_policy(module), env_class=env_class, env_config=env_config,
                            algorithm=ctor["class"].__name__, surrogate=surrogate,
                            shield_kappa=config.get("shield_kappa") if surrogate is not None else None,
                            action_mode=action_mode,
                            safety_margins=(config.get("safety_margin_V", 0.0), config.get("safety_margin_K", 0.0)),
                            planner_bias_correction=bool(config.get("planner_bias_correction", False)),
                            cycle=int(cycles["cycle"]), condition=cycles["condition"])


def _surrogate(state: dict, config: dict):
    """The model an MBRL checkpoint's controller uses (from its ``algorithm_state.pkl``):
    the ensemble, or from the first adaptive cycle on G = G0 (+) G^."""
    from rl_battery.surrogate import CombinedSurrogate, DifferentialSurrogate, EnsembleSurrogate

    sizes = dict(ensemble_size=config["surrogate_ensemble_size"], hidden_size=config["surrogate_hidden_size"],
                 num_layers=config["surrogate_num_layers"])
    cycles = state.get("adaptive_cycles")
    if cycles and cycles["cycle"] >= 1:
        return CombinedSurrogate(EnsembleSurrogate.from_weights(cycles["static"], **sizes),
                                 DifferentialSurrogate.from_spec(cycles["differential"]))
    return EnsembleSurrogate.from_weights(state["surrogate"]["model"], **sizes)
