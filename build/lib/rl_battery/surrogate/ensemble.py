"""Probabilistic ensemble of MLPs: (obs, action) -> next obs, reward (mean and variance) and
the probability that the transition ends the episode.

The model of PETS (Chua et al. 2018, "Deep RL in a handful of trials using probabilistic
dynamics models", eq. 1-2) as used by MBPO (Janner et al. 2019): each member outputs a
diagonal Gaussian over the standardized target ``[next_obs - obs, reward]``, trained with the
Gaussian negative log-likelihood and soft-bounded log-variances; members differ by their
initialisation and by bootstrap-free random minibatches. A Bernoulli head predicts
``terminated``. The members are evaluated as one batched tensor program (no Python loop).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class _EnsembleLinear(nn.Module):
    """E independent linear layers applied with one batched matmul: (E, B, i) -> (E, B, o)."""

    def __init__(self, ensemble_size: int, in_features: int, out_features: int, generator: torch.Generator):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, out_features))
        with torch.no_grad():
            for w in self.weight:
                nn.init.trunc_normal_(w, std=1.0 / (2.0 * np.sqrt(in_features)), generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


@dataclass(frozen=True)
class FitReport:
    """Result of :meth:`EnsembleSurrogate.fit`; errors are on held-out real transitions.

    Attributes:
        train_loss: mean training loss of the last epoch (NLL + BCE, standardized units).
        val_obs_mse: mean squared error of the ensemble-mean next observation (obs units).
        val_reward_mse: mean squared error of the ensemble-mean reward (reward units).
        val_terminated_accuracy: accuracy of the termination head at p = 0.5.
        n_train, n_val: transitions used for training and validation.
    """

    train_loss: float
    val_obs_mse: float
    val_reward_mse: float
    val_terminated_accuracy: float
    n_train: int
    n_val: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class EnsembleSurrogate(nn.Module):
    """Probabilistic ensemble dynamics + reward + termination model.

    Args:
        obs_dim, act_dim: observation and action sizes (>= 1).
        ensemble_size: members E (>= 1). Default 5.
        hidden_size, num_layers: width and count of hidden layers (SiLU). Default 200 x 3.
        lr, weight_decay: Adam settings.
        seed: seed of the initialisation and of minibatch/member sampling.

    Shapes: ``obs`` (B, obs_dim), ``action`` (B, act_dim), in the env's units (normalized
    observation, action in [-1, 1]).
    """

    def __init__(self, obs_dim: int, act_dim: int, *, ensemble_size: int = 5, hidden_size: int = 200,
                 num_layers: int = 3, lr: float = 1e-3, weight_decay: float = 1e-5, seed: int = 0):
        super().__init__()
        if min(obs_dim, act_dim, ensemble_size, hidden_size, num_layers) < 1:
            raise ValueError("obs_dim, act_dim, ensemble_size, hidden_size and num_layers must be >= 1")
        self.obs_dim, self.act_dim, self.ensemble_size = obs_dim, act_dim, ensemble_size
        # Own generator for initialisation, minibatches and sampling: the global torch RNG
        # (which RLlib's learner also uses) is never touched.
        self.generator = torch.Generator().manual_seed(int(seed))
        out = obs_dim + 1  # delta obs, reward
        sizes = [obs_dim + act_dim] + [hidden_size] * num_layers
        self.hidden = nn.ModuleList(
            _EnsembleLinear(ensemble_size, a, b, self.generator) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.head = _EnsembleLinear(ensemble_size, hidden_size, 2 * out + 1, self.generator)  # mean, logvar, done
        self.max_logvar = nn.Parameter(torch.full((1, 1, out), 0.5))
        self.min_logvar = nn.Parameter(torch.full((1, 1, out), -10.0))
        for name in ("in_mean", "in_std", "out_mean", "out_std"):
            size = obs_dim + act_dim if name.startswith("in") else out
            self.register_buffer(name, torch.zeros(size) if name.endswith("mean") else torch.ones(size))
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)

    @classmethod
    def from_weights(cls, weights: dict, *, ensemble_size: int, hidden_size: int, num_layers: int) -> "EnsembleSurrogate":
        """An ensemble in eval mode rebuilt from a ``state_dict()``; the observation and action
        sizes are read from the weights (outputs: next-obs deltas and the reward)."""
        obs_dim = int(weights["max_logvar"].numel()) - 1
        act_dim = int(weights["in_mean"].numel()) - obs_dim
        model = cls(obs_dim, act_dim, ensemble_size=ensemble_size, hidden_size=hidden_size, num_layers=num_layers)
        model.load_state_dict(weights)
        return model.eval()

    # ---------------------------------------------------------------- forward
    def _forward(self, x: torch.Tensor):
        """x: (E, B, in) standardized -> mean, logvar (E, B, out), done logit (E, B)."""
        for layer in self.hidden:
            x = F.silu(layer(x))
        y = self.head(x)
        out = self.obs_dim + 1
        mean, logvar, done = y[..., :out], y[..., out : 2 * out], y[..., -1]
        # Soft bounds of PETS (Chua et al. 2018, appendix A.1).
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar, done

    def _inputs(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([obs, action], -1) - self.in_mean) / self.in_std
        return x.unsqueeze(0).expand(self.ensemble_size, -1, -1)

    # ---------------------------------------------------------------- training
    def fit(self, obs, action, reward, next_obs, terminated, *, epochs: int = 5, batch_size: int = 256,
            holdout_fraction: float = 0.2, min_updates: int = 0) -> FitReport:
        """Fit on arrays (N, obs_dim), (N, act_dim), (N,), (N, obs_dim), (N,) of real transitions.

        ``epochs`` passes over the training part, more if needed to make at least
        ``min_updates`` gradient steps (a few hundred transitions fill one minibatch, so a
        small data set would otherwise get a handful of steps).

        The last ``holdout_fraction`` of a random permutation is held out and never trained
        on; the report gives errors there. Normalisation statistics come from the training
        part. Raises ValueError for fewer than 10 transitions or mismatched shapes.
        """
        # np.array copies: Parquet-backed arrays are read-only, which torch warns about.
        obs, action, next_obs = (torch.as_tensor(np.array(a, dtype=np.float32)) for a in (obs, action, next_obs))
        reward = torch.as_tensor(np.asarray(reward), dtype=torch.float32).reshape(-1, 1)
        done = torch.as_tensor(np.asarray(terminated), dtype=torch.float32).reshape(-1)
        n = len(obs)
        if n < 10 or not (len(action) == len(reward) == len(next_obs) == len(done) == n):
            raise ValueError(f"need >= 10 transitions with matching lengths, got {n}")
        perm = torch.randperm(n, generator=self.generator)
        n_val = max(1, int(round(n * holdout_fraction)))
        train, val = perm[:-n_val], perm[-n_val:]
        x = torch.cat([obs, action], -1)
        y = torch.cat([next_obs - obs, reward], -1)
        self.in_mean.copy_(x[train].mean(0))
        self.in_std.copy_(x[train].std(0).clamp_min(1e-6))
        self.out_mean.copy_(y[train].mean(0))
        self.out_std.copy_(y[train].std(0).clamp_min(1e-6))
        xs, ys = (x - self.in_mean) / self.in_std, (y - self.out_mean) / self.out_std
        self.train()
        last_loss = float("nan")
        steps_per_epoch = -(-len(train) // batch_size)
        for _ in range(max(1, int(epochs), -(-int(min_updates) // steps_per_epoch))):
            # An independent permutation per member: members see different minibatches.
            order = torch.stack([train[torch.randperm(len(train), generator=self.generator)]
                                 for _ in range(self.ensemble_size)])
            losses = []
            for i in range(0, len(train), batch_size):
                idx = order[:, i : i + batch_size]
                mean, logvar, logit = self._forward(xs[idx])
                nll = (((mean - ys[idx]) ** 2) * torch.exp(-logvar) + logvar).mean()
                bce = F.binary_cross_entropy_with_logits(logit, done[idx])
                loss = nll + bce + 0.01 * (self.max_logvar.sum() - self.min_logvar.sum())
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
            last_loss = float(np.mean(losses))
        self.eval()
        with torch.no_grad():
            pred_obs, pred_rew, p_done = self.predict(obs[val], action[val], sample=False)
            return FitReport(
                train_loss=last_loss,
                val_obs_mse=float(((pred_obs - next_obs[val]) ** 2).mean()),
                val_reward_mse=float(((pred_rew - reward[val, 0]) ** 2).mean()),
                val_terminated_accuracy=float(((p_done > 0.5).float() == done[val]).float().mean()),
                n_train=len(train),
                n_val=n_val,
            )

    # ---------------------------------------------------------------- prediction
    @torch.no_grad()
    def predict_members(self, obs: torch.Tensor, action: torch.Tensor, *, n_std: float = 0.0):
        """Every member's predicted next observation, (E, B, obs_dim), in obs units.

        ``n_std`` adds that many of each member's predicted (aleatoric) standard deviations,
        with sign: +1 gives each member's upper one-sigma bound, -1 its lower one.
        """
        obs = torch.as_tensor(obs, dtype=torch.float32)
        mean, logvar, _ = self._forward(self._inputs(obs, torch.as_tensor(action, dtype=torch.float32)))
        y = (mean + float(n_std) * torch.exp(0.5 * logvar)) * self.out_std + self.out_mean
        return obs.unsqueeze(0) + y[..., :-1]

    @torch.no_grad()
    def disagreement(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(B,) largest standard deviation over members of the predicted next-observation mean
        (the epistemic spread; MBPO-style rollouts stop where it is large)."""
        return self.predict_members(obs, action).std(0).amax(-1)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, action: torch.Tensor, *, sample: bool = True):
        """Predict (next_obs (B, obs_dim), reward (B,), P(terminated) (B,)).

        ``sample=True``: each row uses one randomly chosen member and a draw from its
        Gaussian (MBPO's TS1 propagation). ``sample=False``: the ensemble mean.
        """
        obs = torch.as_tensor(obs, dtype=torch.float32)
        action = torch.as_tensor(action, dtype=torch.float32)
        mean, logvar, logit = self._forward(self._inputs(obs, action))
        if sample:
            rows = torch.arange(len(obs))
            member = torch.randint(self.ensemble_size, (len(obs),), generator=self.generator)
            noise = torch.randn(mean.shape[1:], generator=self.generator)
            y = mean[member, rows] + noise * torch.exp(0.5 * logvar[member, rows])
            p_done = torch.sigmoid(logit[member, rows])
        else:
            y, p_done = mean.mean(0), torch.sigmoid(logit).mean(0)
        y = y * self.out_std + self.out_mean
        return obs + y[:, :-1], y[:, -1], p_done
