"""An RLlib env runner that carries the battery's deployment state across restarts.

MBRL changes what its env runners' envs are (the pack's age, a pinned pack, the SOH the
BMS reports) and how they act (the surrogate planner or shield as an action filter);
Reptile changes the task (the cell's parameter set, ambient temperature, start SOC). Set
only by a ``foreach_env_runner`` call, both would be lost when RLlib restarts a failed env
runner or recreates its envs. :class:`BatteryEnvRunner` keeps them as part of its state:
``get_state`` returns them under :data:`BATTERY_STATE`, ``set_state`` applies them, and
``make_env`` re-applies them to new envs. RLlib restores a restarted runner with the local
runner's ``get_state()`` (``Algorithm.restore_env_runners``), so MBRL sets the state on the
local runner as well as on the remote ones.

The state is plain data (numbers, lists, numpy arrays) so it travels through Ray's object
store: ``{"condition": kwargs of PackFastCharge.set_condition or None,
"action_filter": {"kind": "plan" | "shield", "surrogate": spec, "low", "high", "kappa",
"bias_correction" (plan only)}
or None, "task": kwargs of CellFastCharge.set_task or None}``. Setting a task restarts
the runner's episodes at its next ``sample`` (an episode never mixes two tasks); so does
setting the same task again, because ``set_task`` ends the env's running episode either way.

``sample(env_seed=...)`` chooses how the call's first env reset is seeded. RLlib seeds it
with the runner's seed at every ``sample(num_episodes=...)`` call, so successive calls
start their episodes from the same random state (the same start SOC, for one): right for
evaluation rollouts that should repeat, wrong for an agent learning episode by episode.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.annotations import override

from rl_battery.surrogate.differential import surrogate_from_spec
from rl_battery.surrogate.planner import SurrogatePlanner
from rl_battery.surrogate.shield import SurrogateShield

BATTERY_STATE = "battery_state"
#: ``sample(env_seed=RUNNER_SEED)``: RLlib's own seeding of the call's first reset.
RUNNER_SEED = "runner"
_FILTERS = {"plan": SurrogatePlanner, "shield": SurrogateShield}


def action_filter_factory(spec: dict | None):
    """A callable that makes the planner or shield a spec describes (None -> None). The model
    is built from the spec once; each call makes a new filter over it (a bias-correcting
    planner keeps per-episode state, so every env needs its own)."""
    if spec is None:
        return lambda: None
    model = surrogate_from_spec(spec["surrogate"])
    extra = {"bias_correction": bool(spec.get("bias_correction", False))} if spec["kind"] == "plan" else {}
    return lambda: _FILTERS[spec["kind"]](model, spec["low"], spec["high"], kappa=spec["kappa"], **extra)


class BatteryEnvRunner(SingleAgentEnvRunner):
    """SingleAgentEnvRunner whose state includes the battery deployment state (module doc)."""

    def __init__(self, *args, **kwargs):
        self._battery_state: dict[str, Any] = {"condition": None, "action_filter": None, "task": None}
        self._reset_pending = False
        self._env_seed: int | None | str = RUNNER_SEED
        super().__init__(*args, **kwargs)

    def set_battery_state(self, *, condition: dict | None = None, action_filter: dict | None = None,
                          task: dict | None = None) -> None:
        """Set the condition, the action filter spec and the task and apply them to every env."""
        self._battery_state = {"condition": condition, "action_filter": action_filter, "task": task}
        self._apply_battery_state()

    def _apply_battery_state(self) -> None:
        if getattr(self, "env", None) is None:
            return
        condition, task = self._battery_state["condition"], self._battery_state.get("task")
        make_filter = action_filter_factory(self._battery_state["action_filter"])
        for env in self.env.unwrapped.envs:
            base = env.unwrapped
            if condition is not None and hasattr(base, "set_condition"):
                base.set_condition(**condition)
            if task is not None:
                base.set_task(**task)
            base.set_action_filter(make_filter())
        if task is not None:
            # set_task ended every env's running episode, the same task included (stepping on
            # would raise "call reset() before step()"): restart them at the next sample.
            self._reset_pending = True

    @override(SingleAgentEnvRunner)
    def sample(self, *, force_reset: bool = False, env_seed: int | None | str = RUNNER_SEED, **kwargs):
        """RLlib's ``sample``, plus ``env_seed`` for the first env reset of this call:
        :data:`RUNNER_SEED` (RLlib's choice: the runner's seed whenever the call resets
        for new episodes), an int (the envs are seeded with it; a vector env seeds sub-env
        i with ``env_seed + i``), or None (no seed: the envs' generators go on from where
        they are). Resets later in the call are never seeded, as in RLlib."""
        # After a task change the envs' running episodes belong to the old task: restart them.
        force_reset, self._reset_pending = force_reset or self._reset_pending, False
        self._env_seed = env_seed
        try:
            return super().sample(force_reset=force_reset, **kwargs)
        finally:
            self._env_seed = RUNNER_SEED

    @override(SingleAgentEnvRunner)
    def _try_env_reset(self, *, seed: int | None = None, options: dict | None = None):
        if self._env_seed != RUNNER_SEED:
            seed, self._env_seed = self._env_seed, None  # only the call's first reset takes it
        return super()._try_env_reset(seed=seed, options=options)

    @override(SingleAgentEnvRunner)
    def make_env(self) -> None:
        super().make_env()
        self._apply_battery_state()

    @override(SingleAgentEnvRunner)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(BATTERY_STATE, components, not_components):
            state[BATTERY_STATE] = dict(self._battery_state)
        return state

    @override(SingleAgentEnvRunner)
    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if BATTERY_STATE in state:
            new = {"condition": None, "action_filter": None, "task": None, **state[BATTERY_STATE]}
            self._battery_state = new
            self._apply_battery_state()
