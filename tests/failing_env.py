"""A pack env whose simulator fails on the third step of every episode (test helper)."""

from rl_battery.envs import PackFastCharge
from rl_battery.sim.errors import SimulationError


class FailingPack(PackFastCharge):
    """:class:`PackFastCharge` whose ``sim.step`` raises :class:`SimulationError` on the third
    step of every episode, as a failed solver does."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        step, calls = type(self.sim).step.__get__(self.sim), [0]

        def failing(current_A):
            calls[0] += 1
            if calls[0] == 3:
                raise SimulationError("injected solver failure")
            return step(current_A)

        self.sim.step = failing
        return obs, info
