"""The single-cell workflow of the meta-RL fast-charging work this project grew from, as
library functions: evaluate a policy on a cell, and replay a current sequence on a cell;
and a diagnostic of how far below the constraint boundary a policy charges.

Both run the real ``CellFastCharge-v0`` env (PyBaMM SPMe + lumped thermal, 90 s steps), so
their numbers are the ones training, the baselines and the benchmark see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rl_battery.envs import CellFastCharge, run_episode, schedule_policy

#: Columns of :func:`feasible_current_trace`'s trace.
FEASIBLE_TRACE_COLUMNS = ("time_s", "soc", "current_A", "feasible_current_A", "current_ratio",
                          "surface_stoichiometry", "constraint_violated")

#: Columns of :func:`charge_battery_with_sequence`'s trace.
TRACE_COLUMNS = ("time_s", "current_A", "voltage_V", "step_max_voltage_V", "temperature_K", "soc",
                 "plating_potential_V", "reward")


def _env(env, env_config: dict[str, Any]):
    if env is not None:
        if env_config:
            raise ValueError("give either env or env_config keywords, not both")
        return env
    return CellFastCharge(env_config)


def _as_policy(policy, env) -> Callable:
    """A callable ``(obs, info) -> action``, an RLlib checkpoint folder, or a number (a
    constant current [A])."""
    if isinstance(policy, (str, Path)):
        from rl_battery.evaluation.checkpoint_policy import load_checkpoint_policy

        controller = load_checkpoint_policy(policy).controller(env.unwrapped)
        return controller
    if isinstance(policy, (int, float)):
        return lambda obs, info: env.unwrapped.current_to_action(float(policy))
    if not callable(policy):
        raise TypeError(f"policy must be callable, a checkpoint path or a current in A, got {type(policy).__name__}")
    return policy


def eval_policy(policy, env=None, *, initial_soc: float | None = None, seed: int | None = None,
                **env_config) -> dict[str, Any]:
    """One episode of ``policy`` on a cell.

    Args:
        policy: ``(obs, info) -> action`` in [-1, 1], an RLlib checkpoint folder (its
            deterministic controller), or a constant current [A].
        env: a ``CellFastCharge`` env; or leave it None and give its env_config as keywords
            (``parameter_set="Mohtat2020", plating_is_constraint=True``...).
        initial_soc: start SOC (else the env's own setting).
        seed: ``env.reset`` seed.

    Returns:
        ``{"currents_A": [A per step], "mean_reward", "peak_temperature_K", "peak_voltage_V",
        "steps", "charge_time_min", "final_soc", "constraint_violations",
        "plating_violations", "min_plating_potential_V", "episode_return"}``; peaks are
        in-step maxima.

    Raises:
        UnknownParameterSetError, TypeError: as the env does for a bad env_config.
    """
    env = _env(env, env_config)
    act = _as_policy(policy, env)
    currents, rewards = [], []

    def on_step(info):
        if info["time_s"] > 0:
            currents.append(float(info["current_A"]))
            rewards.append(float(info["reward"]))

    metrics = run_episode(env, act, initial_soc=initial_soc, seed=seed, on_step=on_step)
    return {
        "currents_A": currents,
        "mean_reward": float(np.mean(rewards)) if rewards else float("nan"),
        "peak_temperature_K": metrics["max_cell_temperature_K"],
        "peak_voltage_V": metrics["max_cell_voltage_V"],
        "steps": len(currents),
        "charge_time_min": metrics["charge_time_min"],
        "final_soc": metrics["final_soc"],
        "constraint_violations": int(metrics["constraint_violations"]),
        "plating_violations": int(metrics["plating_violations"]),
        "min_plating_potential_V": metrics["min_plating_potential_V"],
        "episode_return": metrics["episode_return"],
    }


def charge_battery_with_sequence(currents_A: Sequence[float], parameter_set: str = "Chen2020", *,
                                 initial_soc: float = 0.1, stop_at_target: bool = False, env=None,
                                 **env_config) -> pd.DataFrame:
    """Replay a charging-current sequence on a cell, one current per ``dt_s`` step (90 s).

    Args:
        currents_A: charging currents [A] (positive = charge), one per step, each within
            the env's current range (``min_current_A`` .. ``max_current_A``: by default
            0.2C .. 1.5C of the set; widen it with those keywords).
        parameter_set: the PyBaMM set (ignored when ``env`` is given).
        initial_soc: start SOC in [0, 1).
        stop_at_target: stop when the env's ``target_soc`` is reached (the env's episode end);
            by default the whole sequence runs (the target is raised to 1.0 and ``max_steps``
            to the sequence length). A step stopped by the safety cut-off or a solver failure
            ends the replay either way.
        env: a ``CellFastCharge`` env to use instead of building one from ``env_config``.

    Returns:
        A DataFrame with :data:`TRACE_COLUMNS`, one row at the start (time 0) and one per
        step: end-of-step voltage [V], in-step maximum voltage [V], temperature [K], SOC,
        in-step minimum plating indicator [V] (phi_s - phi_e at the separator), reward.

    Raises:
        ValueError: an empty or non-finite sequence, or a current outside the env's range.
    """
    currents = np.asarray(currents_A, dtype=float).reshape(-1)
    if currents.size == 0 or not np.all(np.isfinite(currents)):
        raise ValueError(f"currents_A must be a non-empty sequence of finite numbers, got {currents_A!r}")
    if env is None:
        config = {"parameter_set": parameter_set, **env_config}
        if not stop_at_target:
            config.update(target_soc=1.0, max_steps=max(int(currents.size), 1))
        env = CellFastCharge(config)
    base = env.unwrapped
    outside = currents[(currents < base.min_current_A - 1e-9) | (currents > base.max_current_A + 1e-9)]
    if outside.size:
        raise ValueError(f"currents {outside.tolist()} A are outside the env's range [{base.min_current_A:.3f}, "
                         f"{base.max_current_A:.3f}] A; pass min_current_A / max_current_A to widen it")
    rows: list[dict] = []

    def on_step(info):
        rows.append({"time_s": info["time_s"], "current_A": info["current_A"], "voltage_V": info["pack_voltage_V"],
                     "step_max_voltage_V": info["step_max_cell_voltage_V"],
                     "temperature_K": float(np.max(info["cell_temperature_K"])), "soc": info["soc"],
                     "plating_potential_V": info["step_min_plating_potential_V"], "reward": info["reward"]})

    run_episode(env, schedule_policy(base, currents), initial_soc=initial_soc, on_step=on_step)
    return pd.DataFrame(rows, columns=list(TRACE_COLUMNS))


def feasible_current_trace(policy, env=None, *, initial_soc: float | None = None, seed: int | None = None,
                           **env_config) -> pd.DataFrame:
    """One episode of ``policy``, and at every step the largest current that would have kept
    every constraint from the same state: where and by how much a policy charges below the
    boundary the look-ahead rides.

    Before each step the look-ahead (:class:`rl_battery.baselines.LookaheadPolicy`: bisection
    on the simulator itself, each probe tried from a snapshot and undone) finds that current;
    then the policy's own action is taken, so the episode is the policy's. One look-ahead per
    step costs about 8 simulator steps (about 1 s per step on SPMe).

    Args:
        policy, env, initial_soc, seed, env_config: as :func:`eval_policy`.

    Returns:
        A DataFrame with :data:`FEASIBLE_TRACE_COLUMNS`, one row per step: the step's start
        time [s] and SOC, the policy's current [A], the largest feasible current [A] from
        that state (``min_current_A`` where none is), their ratio, the graphite surface
        stoichiometry x at the step's end [-], and whether the step broke a constraint.

    Raises:
        UnknownParameterSetError, TypeError: as the env does for a bad env_config.
    """
    from rl_battery.baselines import LookaheadPolicy

    env = _env(env, env_config)
    base = env.unwrapped
    act, lookahead = _as_policy(policy, env), LookaheadPolicy(base)
    rows: list[dict] = []

    def probing(obs, info):
        if info["time_s"] == 0:
            lookahead.reset()
        rows.append({"time_s": float(info["time_s"]), "soc": float(info["soc"]),
                     "feasible_current_A": lookahead.current(info)})
        return act(obs, info)

    def on_step(info):
        if info["time_s"] > 0:
            record = base.last_record
            # a failed step (solver error, invalid action) reports the last valid record
            rows[-1].update(current_A=float(info["current_A"]),
                            constraint_violated=bool(info.get("constraint_violated", False)),
                            surface_stoichiometry=float(getattr(record, "surface_stoichiometry", np.nan)))

    run_episode(env, probing, initial_soc=initial_soc, seed=seed, on_step=on_step)
    trace = pd.DataFrame(rows)
    trace["current_ratio"] = trace["current_A"] / trace["feasible_current_A"]
    return trace[list(FEASIBLE_TRACE_COLUMNS)]
