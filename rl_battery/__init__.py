"""rl_battery: Ray RLlib reinforcement learning on PyBaMM cells and liionpack packs.

Layers (an import only goes down): sim -> envs -> data -> surrogate -> baselines ->
algorithms -> evaluation -> experiments -> cli. See DESIGN.md in the shared folder.
"""

__version__ = "0.1.0"
