"""A safety layer: project a proposed action onto what the surrogate ensemble predicts is safe.

For each observation, candidate actions on a grid over [-1, 1] are pushed through every
ensemble member; a candidate is safe when, for every member, the predicted next observation
plus ``kappa`` of that member's predicted standard deviations stays within the env's
observation limits (e.g. the normalized highest cell voltage and temperature, see
:meth:`rl_battery.envs.charging.FastChargeEnv.observation_limits`). The projected action is
``min(proposed, largest safe candidate)``; where no candidate is safe, the lowest action.
Taking the worst member bounds the model's epistemic uncertainty, ``kappa`` the aleatoric
part: the idea of safe model-based control with an uncertainty-aware model, e.g. Berkenkamp
et al., "Safe model-based reinforcement learning with stability guarantees", NeurIPS 2017,
and the ensemble of PETS (Chua et al. 2018). One batched forward pass per call; it assumes
the constrained quantities rise with the action (a larger charging current), as they do here.
"""

from __future__ import annotations

import numpy as np
import torch

from rl_battery.surrogate.ensemble import EnsembleSurrogate


class SurrogateShield:
    """Cap actions at the largest one the ensemble predicts to keep every limit.

    Args:
        surrogate: a fitted :class:`EnsembleSurrogate` (single action dimension).
        obs_low, obs_high: (obs_dim,) limits on the next observation (``-inf`` / ``inf``
            where unconstrained), in the env's normalized units.
        kappa: predicted standard deviations added towards each limit (>= 0). Default 1.
        n_candidates: grid points over [-1, 1] (>= 2). Default 81 (1.25 % of the current range
            apart: 0.24 A for the 3P6S pack, near the look-ahead's 1 % bisection tolerance).

    Raises:
        ValueError: a multi-dimensional action, or invalid ``kappa`` / ``n_candidates``.
    """

    def __init__(self, surrogate: EnsembleSurrogate, obs_low: np.ndarray, obs_high: np.ndarray, *,
                 kappa: float = 1.0, n_candidates: int = 81):
        if surrogate.act_dim != 1:
            raise ValueError(f"the shield caps a single action dimension, got {surrogate.act_dim}")
        if kappa < 0 or n_candidates < 2:
            raise ValueError(f"need kappa >= 0 and n_candidates >= 2, got {kappa}, {n_candidates}")
        self.surrogate = surrogate
        self.obs_low = torch.as_tensor(np.asarray(obs_low, np.float32))
        self.obs_high = torch.as_tensor(np.asarray(obs_high, np.float32))
        self.kappa = float(kappa)
        self.candidates = torch.linspace(-1.0, 1.0, int(n_candidates))

    @torch.no_grad()
    def cap(self, obs, offset=None) -> torch.Tensor:
        """Largest safe action for each observation: (B, obs_dim) -> (B,).

        ``offset`` (obs_dim,), optional: added to every prediction before the limits are
        checked (a measured model bias, see :class:`rl_battery.surrogate.SurrogatePlanner`).
        """
        obs = torch.as_tensor(np.array(obs, np.float32)).reshape(-1, self.obs_low.numel())  # a writable copy
        b, k = len(obs), len(self.candidates)
        rep_obs = obs.repeat_interleave(k, 0)
        actions = self.candidates.repeat(b).unsqueeze(1)
        upper = self.surrogate.predict_members(rep_obs, actions, n_std=self.kappa)
        lower = self.surrogate.predict_members(rep_obs, actions, n_std=-self.kappa) if self.kappa else upper
        if offset is not None:
            offset = torch.as_tensor(np.asarray(offset, np.float32))
            upper, lower = upper + offset, lower + offset
        safe = ((upper <= self.obs_high).all(-1) & (lower >= self.obs_low).all(-1)).all(0).reshape(b, k)
        # Index of the largest safe candidate, -1 where none is (then the lowest action).
        idx = torch.where(safe, torch.arange(k).expand(b, k), torch.full((b, k), -1)).max(1).values
        return torch.where(idx >= 0, self.candidates[idx.clamp_min(0)], self.candidates[0])

    def __call__(self, obs, action):
        """Project ``action`` (shape (1,) or (B, 1)) for ``obs`` (obs_dim,) or (B, obs_dim)."""
        action_t = torch.as_tensor(np.asarray(action, np.float32) if not torch.is_tensor(action) else action)
        capped = torch.minimum(action_t.reshape(-1), self.cap(obs)).reshape(action_t.shape)
        return capped if torch.is_tensor(action) else capped.numpy()
