"""Pack load-current profiles of the passive-balancing task (charging-positive currents, A).

Three named profiles; the first two are those of the passive-balancing RL study (Results in
Engineering, 2024), at 2.35 A (about 0.7C of a 3.4 Ah cell):

=========================  ===========================================================  =========
name                       phases                                                       length
=========================  ===========================================================  =========
``discharge-rest-charge``  discharge 0-1900 s, rest 1900-2000 s, charge 2000-6200 s    6200 s
``charge-rest-discharge``  charge 0-2300 s, rest 2300-2400 s, discharge 2400-6600 s    6600 s
``drive-cycle``            US06 drive cycle repeated 0-3600 s, rest 3600-3700 s,       6600 s
                           charge at 2.35 A 3700-6600 s
=========================  ===========================================================  =========

The US06 current is PyBaMM's drive-cycle file (shipped in ``drive_cycles/US06.csv``, 1 s
resolution, 600 s), scaled so its largest discharge current is 2C of the 3.4 Ah cell (6.8 A);
its mean is then 0.21C. ``discharge-rest-charge`` is the training default,
``charge-rest-discharge`` the test profile.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rl_battery.sim.ecm_string import NOMINAL_CAPACITY_AH

#: The study's load current magnitude [A].
LOAD_CURRENT_A = 2.35


@dataclass(frozen=True)
class LoadProfile:
    """A piecewise-constant pack current over time.

    Attributes:
        name: profile name (a key of :data:`PROFILES`).
        breakpoints_s: start time of each piece [s], shape (n,), increasing, starting at 0.
        currents_A: current of each piece (charging-positive) [A], shape (n,).
        duration_s: end of the profile [s].
        phase_starts_s: start of each phase (discharge, rest, charge, drive) [s]; a load
            cut-off lasts until the next phase starts.
    """

    name: str
    breakpoints_s: np.ndarray
    currents_A: np.ndarray
    duration_s: float
    phase_starts_s: tuple[float, ...]

    def phase_index(self, t_s: float) -> int:
        """Index of the phase that contains time ``t_s``."""
        return int(np.searchsorted(self.phase_starts_s, t_s, side="right")) - 1

    def segments(self, t0_s: float, dt_s: float) -> list[tuple[float, float]]:
        """The constant-current pieces of [t0, t0 + dt] as (current [A], length [s]); time
        past the profile's end is at 0 A."""
        t1 = t0_s + dt_s
        edges = np.concatenate([self.breakpoints_s, [self.duration_s]])
        out = []
        first = max(int(np.searchsorted(self.breakpoints_s, t0_s, side="right")) - 1, 0)
        last = int(np.searchsorted(self.breakpoints_s, t1, side="left"))
        for k in range(first, min(last, len(self.currents_A))):
            lo, hi = max(edges[k], t0_s), min(edges[k + 1], t1)
            if hi > lo:
                out.append((float(self.currents_A[k]), float(hi - lo)))
        tail = t1 - max(self.duration_s, t0_s)
        if tail > 0:
            out.append((0.0, float(tail)))
        return out

    def phase_current(self, t_s: float) -> float:
        """The current at time ``t_s`` [A] (0 after the end)."""
        if t_s >= self.duration_s:
            return 0.0
        return float(self.currents_A[np.searchsorted(self.breakpoints_s, t_s, side="right") - 1])


def _phases(name: str, phases: list[tuple[float, float]]) -> LoadProfile:
    starts = np.cumsum([0.0] + [length for _, length in phases[:-1]])
    return LoadProfile(name, starts, np.array([c for c, _ in phases]), float(sum(length for _, length in phases)),
                       tuple(float(v) for v in starts))


@functools.lru_cache(maxsize=1)
def _us06() -> np.ndarray:
    """US06 current (discharge-positive as in the file) at 1 s, scaled to a 2C peak discharge."""
    data = np.loadtxt(Path(__file__).with_name("drive_cycles") / "US06.csv", delimiter=",", comments="#")
    current = data[:, 1]
    return current * (2.0 * NOMINAL_CAPACITY_AH / current.max())


def _drive_cycle() -> LoadProfile:
    cycle = -_us06()  # charging-positive
    drive = np.tile(cycle, 6)[:3600]
    starts = np.concatenate([np.arange(3600.0), [3600.0, 3700.0]])
    return LoadProfile("drive-cycle", starts, np.concatenate([drive, [0.0, LOAD_CURRENT_A]]), 6600.0,
                       (0.0, 3600.0, 3700.0))


@functools.lru_cache(maxsize=None)
def load_profile(name: str) -> LoadProfile:
    """The profile called ``name``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if name == "discharge-rest-charge":
        return _phases(name, [(-LOAD_CURRENT_A, 1900.0), (0.0, 100.0), (LOAD_CURRENT_A, 4200.0)])
    if name == "charge-rest-discharge":
        return _phases(name, [(LOAD_CURRENT_A, 2300.0), (0.0, 100.0), (-LOAD_CURRENT_A, 4200.0)])
    if name == "drive-cycle":
        return _drive_cycle()
    raise ValueError(f"unknown load profile {name!r}; valid: {', '.join(PROFILES)}")


#: Valid profile names.
PROFILES = ("discharge-rest-charge", "charge-rest-discharge", "drive-cycle")
