"""The deterministic action of an RLlib RLModule as a plain ``obs -> action`` function.

Used where a trained policy acts without exploration: the algorithm's own evaluation of an
adaptive cycle, checkpoint evaluation and the benchmarks. The rule per distribution: SAC's
squashed Gaussian acts with tanh(mean) (``to_deterministic`` returns the mean before the
squash), other Gaussians (PPO) with the mean, discrete ones with the argmax (a
MultiDiscrete action: the argmax of each component's slice of the logits; DQN's module
returns its greedy action directly). Box actions
are mapped from [-1, 1] to the action-space bounds.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule


def deterministic_policy(module: RLModule) -> Callable[[np.ndarray], np.ndarray]:
    """obs (obs_dim,) -> the module's deterministic action in its action space (the rule
    per distribution is in the module docstring)."""
    dist_cls = module.get_inference_action_dist_cls()
    space = module.action_space

    @torch.no_grad()
    def act(obs: np.ndarray) -> np.ndarray:
        out = module.forward_inference({Columns.OBS: torch.as_tensor(np.asarray(obs, np.float32)[None])})
        if Columns.ACTION_DIST_INPUTS not in out:  # DQN: the greedy action itself
            return np.asarray(out[Columns.ACTIONS][0].numpy(), dtype=np.int64)
        logits = out[Columns.ACTION_DIST_INPUTS]
        if hasattr(space, "n"):
            return np.asarray(int(torch.argmax(logits, -1)[0]))
        if hasattr(space, "nvec"):
            parts = torch.split(logits[0], [int(n) for n in space.nvec])
            return np.array([int(torch.argmax(part)) for part in parts], dtype=np.int64)
        mean = logits[..., : space.shape[0]]
        squashed = "Squashed" in dist_cls.__name__
        a = torch.tanh(mean) if squashed else torch.clamp(mean, -1.0, 1.0)
        a = a[0].numpy()
        return (space.low + 0.5 * (a + 1.0) * (space.high - space.low)).astype(space.dtype)

    return act
