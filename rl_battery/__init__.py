"""rl_battery: Ray RLlib reinforcement learning on PyBaMM cells and liionpack packs.

Layers (an import only goes down): sim -> envs -> data -> surrogate -> baselines ->
algorithms -> evaluation -> experiments -> cli. The README's "Layout" section names each.
"""

__version__ = "0.1.0"
