"""The look-ahead (constraint-riding) reference controller.

At every step: the largest current whose next step keeps every constraint of the env
satisfied (cell voltage and temperature limits, and the plating limit where it is a
constraint), found by bisection on the simulator itself: each candidate step is tried from
a snapshot and undone (:meth:`FastChargeEnv.preview`). It is greedy (one step ahead) and
uses the true simulator, so it is the achievable reference every learned policy is measured
against, not an optimum: a controller that plans further ahead may charge faster.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class LookaheadPolicy:
    """Largest feasible current each step, by bisection with simulator look-ahead.

    Args:
        env: the (unwrapped) env.
        tolerance_A: bisection stops when the bracket is narrower (default 1 % of the
            current range); the returned current is the feasible end of the bracket.

    Cost: one simulator step per bisection probe (about log2(range / tolerance) + 2 per
    control step). Where even ``min_current_A`` violates a limit it is applied anyway
    (nothing lower is allowed) and the violation is counted by the env.
    """

    def __init__(self, env, tolerance_A: float | None = None):
        self.env = env
        self.tolerance_A = 0.01 * (env.max_current_A - env.min_current_A) if tolerance_A is None else float(tolerance_A)
        self._last = env.max_current_A

    def reset(self) -> None:
        self._last = self.env.max_current_A

    def feasible(self, current_A: float) -> bool:
        """Whether one step at ``current_A`` keeps every constraint (tried and undone)."""
        record = self.env.preview(current_A)
        return record is not None and record.event is None and not self.env.violates_limits(record)

    def current(self, info: dict[str, Any] | None = None) -> float:
        """The largest feasible current [A] for the next step."""
        lo, hi = self.env.min_current_A, self.env.max_current_A
        if self.feasible(hi):
            return hi
        # Bracket around the last step's current first: the answer moves little per step.
        guess = float(np.clip(self._last, lo, hi))
        if guess < hi and self.feasible(guess):
            lo = guess
        else:
            hi = guess
            if not self.feasible(lo):
                return lo
        while hi - lo > self.tolerance_A:
            mid = 0.5 * (lo + hi)
            if self.feasible(mid):
                lo = mid
            else:
                hi = mid
        self._last = lo
        return lo

    def __call__(self, obs, info) -> np.ndarray:
        if info["time_s"] == 0:
            self.reset()
        return self.env.current_to_action(self.current(info))
