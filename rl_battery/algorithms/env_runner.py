"""An RLlib env runner that carries the battery's deployment state across restarts.

MBRL changes what its env runners' envs are (the pack's age, a pinned pack, the SOH the
BMS reports) and how they act (the surrogate planner or shield as an action filter). Set
only by a ``foreach_env_runner`` call, both would be lost when RLlib restarts a failed env
runner or recreates its envs. :class:`BatteryEnvRunner` keeps them as part of its state:
``get_state`` returns them under :data:`BATTERY_STATE`, ``set_state`` applies them, and
``make_env`` re-applies them to new envs. RLlib restores a restarted runner with the local
runner's ``get_state()`` (``Algorithm.restore_env_runners``), so MBRL sets the state on the
local runner as well as on the remote ones.

The state is plain data (numbers, lists, numpy arrays) so it travels through Ray's object
store: ``{"condition": kwargs of PackFastCharge.set_condition or None,
"action_filter": {"kind": "plan" | "shield", "surrogate": spec, "low", "high", "kappa"}
or None}``.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.annotations import override

from rl_battery.surrogate.differential import surrogate_from_spec
from rl_battery.surrogate.planner import SurrogatePlanner
from rl_battery.surrogate.shield import SurrogateShield

BATTERY_STATE = "battery_state"
_FILTERS = {"plan": SurrogatePlanner, "shield": SurrogateShield}


def build_action_filter(spec: dict | None):
    """The planner or shield a spec describes (None -> None)."""
    if spec is None:
        return None
    model = surrogate_from_spec(spec["surrogate"])
    return _FILTERS[spec["kind"]](model, spec["low"], spec["high"], kappa=spec["kappa"])


class BatteryEnvRunner(SingleAgentEnvRunner):
    """SingleAgentEnvRunner whose state includes the battery deployment state (module doc)."""

    def __init__(self, *args, **kwargs):
        self._battery_state: dict[str, Any] = {"condition": None, "action_filter": None}
        super().__init__(*args, **kwargs)

    def set_battery_state(self, *, condition: dict | None = None, action_filter: dict | None = None) -> None:
        """Set the condition and the action filter spec and apply them to every env."""
        self._battery_state = {"condition": condition, "action_filter": action_filter}
        self._apply_battery_state()

    def _apply_battery_state(self) -> None:
        if getattr(self, "env", None) is None:
            return
        condition, action_filter = self._battery_state["condition"], build_action_filter(self._battery_state["action_filter"])
        for env in self.env.unwrapped.envs:
            base = env.unwrapped
            if condition is not None and hasattr(base, "set_condition"):
                base.set_condition(**condition)
            base.set_action_filter(action_filter)

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
            self._battery_state = dict(state[BATTERY_STATE])
            self._apply_battery_state()
