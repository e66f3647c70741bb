"""rl_battery: Ray RLlib reinforcement learning on PyBaMM cells and liionpack packs.

Layers (an import only goes down): sim -> envs -> data -> surrogate -> baselines ->
algorithms -> evaluation -> experiments -> cli. The README's "Layout" section names each.
"""

import gymnasium as _gym

__version__ = "0.1.0"

# `import rl_battery` registers the envs for gymnasium.make; the entry points are strings, so
# PyBaMM and liionpack load only when an env is made.
_ENV_ENTRY_POINTS = {
    "CellFastCharge-v0": "rl_battery.envs.cell_fast_charge:CellFastCharge",
    "PackFastCharge-v0": "rl_battery.envs.pack_fast_charge:PackFastCharge",
    "PassiveBalancing-v0": "rl_battery.envs.passive_balancing:PassiveBalancing",
}
for _env_id, _entry_point in _ENV_ENTRY_POINTS.items():
    if _env_id not in _gym.registry:
        _gym.register(id=_env_id, entry_point=_entry_point)
