"""Exceptions raised by the simulators."""


class UnknownParameterSetError(ValueError):
    """A PyBaMM parameter set name that this project cannot run; the message lists valid ones."""


class SimulationError(RuntimeError):
    """The solver failed on a step. The simulator state is unchanged (the step is discarded)."""
