"""Differential surrogate G^ for an aged pack, and the combined model G = G0 (+) G^.

The static surrogate G0 (an :class:`EnsembleSurrogate` fitted in cycle 0, then frozen) knows
the pack as it was. After ageing, the same current moves the SOC faster (less capacity),
raises the voltage more (more resistance) and heats the cells more. G^ corrects every
prediction of G0 with those physical effects, then with an optional linear residual:

* SOC (observations 8-10): ``dSOC = dSOC_G0 / q`` (q: capacity factor, aged capacity over
  the capacity G0 learned; charge throughput ``I dt / Q``, coulomb counting);
* voltage (observations 0-2): ``V = V_G0 + dR * I_cell + k_ocv * (dSOC - dSOC_G0)``: the
  added ohmic drop (dR: resistance increase per cell [Ohm]) and the open-circuit voltage
  reached by the extra SOC gain (k_ocv: OCV slope [V per unit SOC], equivalent-circuit
  terminal voltage ``V = OCV(SOC) + I R``, e.g. Plett 2015, "Battery Management Systems,
  Vol. I", eq. 2.4 without RC pairs);
* temperature (observations 4-6): ``T = T_G0 + h * I_cell^2``, the extra Joule heat
  ``dR I^2`` over the step (Bernardi et al. 1985, J. Electrochem. Soc. 132:5, the
  irreversible term) through the lumped heat capacity; h [K/A^2] is fitted, not derived;
* reward: ``r = r_G0 + w_soc * (dSOC - dSOC_G0)`` (the env's reward is linear in dSOC).

The four parameters ``theta = (q, dR, k_ocv, h)`` are for the pack as a whole (the issue's
"capacity and resistance factor for the pack"); :mod:`rl_battery.health.calibration` fits
them (maximum a posteriori, toward an SOH prior). The residual is a ridge-regression linear
map of (observation, action, 1) onto what the physical terms leave in the constrained and
SOC observations: a small, data-cheap correction that needs no network training.

The layout is :class:`rl_battery.envs.PackFastCharge`'s 14-dimensional observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rl_battery.envs.charging import TEMPERATURE_SCALE_K, VOLTAGE_SCALE_V
from rl_battery.surrogate.ensemble import EnsembleSurrogate

VOLTAGE_DIMS, TEMPERATURE_DIMS, SOC_DIMS, SOC_MEAN_DIM = [0, 1, 2], [4, 5, 6], [8, 9, 10], 10
#: Observations the residual corrects: voltage and temperature max/min/mean, SOC max/min/mean.
RESIDUAL_DIMS = VOLTAGE_DIMS + TEMPERATURE_DIMS + SOC_DIMS
PARAMETER_NAMES = ("capacity_factor", "resistance_increase_Ohm", "ocv_slope_V", "heat_gain_K_per_A2")
#: G^ of a pack that has not aged: no correction.
IDENTITY_PARAMETERS = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class PackCurrent:
    """The pack env's action -> cell current map (the env's ``action_to_current``):
    ``I_pack = lo + (a + 1) / 2 * (hi - lo)`` with ``lo, hi = min -/+ h (max - min)``,
    clipped to [min, max], split evenly over ``Np`` parallel cells."""

    min_current_A: float
    max_current_A: float
    Np: int
    action_headroom: float = 0.0

    @classmethod
    def of(cls, env) -> "PackCurrent":
        env = env.unwrapped
        return cls(float(env.min_current_A), float(env.max_current_A), int(env.sim.Np),
                   float(env.settings.action_headroom))

    def cell_current(self, action):
        """(B, 1) action in [-1, 1] -> (B,) cell current [A] (numpy or torch, as given)."""
        a = action[..., 0].clip(-1.0, 1.0)
        margin = self.action_headroom * (self.max_current_A - self.min_current_A)
        lo, hi = self.min_current_A - margin, self.max_current_A + margin
        return (lo + 0.5 * (a + 1.0) * (hi - lo)).clip(self.min_current_A, self.max_current_A) / self.Np


@dataclass
class DifferentialSurrogate:
    """G^: physical correction of G0's predictions for an aged pack (module docstring).

    Args:
        current: the env's action -> current map (:meth:`PackCurrent.of`).
        w_soc: the env's reward weight of dSOC (``env.settings.w_soc``).
        theta: (q, dR [Ohm], k_ocv [V], h [K/A^2]); q > 0. Default: no correction.
        residual: (obs_dim + 2, len(RESIDUAL_DIMS)) ridge weights, or None (no residual).
    """

    current: PackCurrent
    w_soc: float
    theta: np.ndarray = field(default_factory=lambda: np.array(IDENTITY_PARAMETERS))
    residual: np.ndarray | None = None

    def __post_init__(self):
        self.theta = np.asarray(self.theta, float).reshape(len(PARAMETER_NAMES))
        if not self.theta[0] > 0:
            raise ValueError(f"capacity_factor must be > 0, got {self.theta[0]}")

    def correct(self, obs, action, next_obs_g0, reward_g0=None):
        """Apply G^ to G0's prediction. numpy or torch arrays (one kind), any leading shape:

        Args:
            obs: (..., B, obs_dim) observation the step starts from.
            action: (B, 1) action in [-1, 1].
            next_obs_g0: (..., B, obs_dim) G0's next observation (e.g. (E, B, obs_dim)).
            reward_g0: (..., B) G0's reward, or None.

        Returns:
            The corrected next observation (same shape), and the corrected reward if given.
        """
        torch_mode = torch.is_tensor(next_obs_g0)
        q, d_r, k_ocv, h = (float(v) for v in self.theta)
        i_cell = self.current.cell_current(action)
        y = next_obs_g0.clone() if torch_mode else np.array(next_obs_g0, copy=True)
        d_soc0 = next_obs_g0[..., SOC_DIMS] - obs[..., SOC_DIMS]
        y[..., SOC_DIMS] = obs[..., SOC_DIMS] + d_soc0 / q
        extra_soc = d_soc0[..., 2] * (1.0 / q - 1.0)  # the mean-SOC gain G0 did not predict
        y[..., VOLTAGE_DIMS] = y[..., VOLTAGE_DIMS] + ((d_r * i_cell + k_ocv * extra_soc) / VOLTAGE_SCALE_V)[..., None]
        y[..., TEMPERATURE_DIMS] = y[..., TEMPERATURE_DIMS] + (h * i_cell**2 / TEMPERATURE_SCALE_K)[..., None]
        if self.residual is not None:
            features = residual_features(obs, action)
            w = torch.as_tensor(self.residual, dtype=y.dtype) if torch_mode else self.residual
            y[..., RESIDUAL_DIMS] = y[..., RESIDUAL_DIMS] + features @ w
        if reward_g0 is None:
            return y
        return y, reward_g0 + self.w_soc * extra_soc

    def fit_residual(self, obs, action, next_obs, next_obs_g0, *, ridge: float = 1.0) -> None:
        """Fit the linear residual (ridge regression, closed form) on real transitions to what
        the physical terms leave; ``ridge`` (> 0) is the L2 weight on standardized features."""
        self.residual = None
        y = self.correct(obs, action, next_obs_g0)
        target = (np.asarray(next_obs) - y)[:, RESIDUAL_DIMS]
        x = residual_features(np.asarray(obs), np.asarray(action))
        self.residual = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ target)

    def to_spec(self) -> dict:
        """Plain-data description (numpy arrays, floats) for :meth:`from_spec`."""
        c = self.current
        return {"current": (c.min_current_A, c.max_current_A, c.Np), "w_soc": self.w_soc,
                "theta": self.theta.copy(), "residual": None if self.residual is None else self.residual.copy()}

    @classmethod
    def from_spec(cls, spec: dict) -> "DifferentialSurrogate":
        lo, hi, np_ = spec["current"]
        return cls(PackCurrent(lo, hi, int(np_)), spec["w_soc"], spec["theta"], spec["residual"])


def residual_features(obs, action):
    """(B, obs_dim), (B, 1) -> (B, obs_dim + 2): the observation, the action and a constant."""
    if torch.is_tensor(obs):
        return torch.cat([obs, action.expand(*obs.shape[:-1], 1), torch.ones_like(obs[..., :1])], -1)
    obs = np.asarray(obs)
    return np.concatenate([obs, np.broadcast_to(np.asarray(action), obs.shape[:-1] + (1,)), np.ones_like(obs[..., :1])], -1)


class CombinedSurrogate:
    """G = G0 (+) G^: every prediction of the frozen ensemble ``static``, corrected by
    ``differential``. Offers what the planner, the shield and the rollouts call on an
    :class:`EnsembleSurrogate` (``predict_members``, ``predict``, ``disagreement``), so it
    replaces G0 wherever a model is used."""

    def __init__(self, static: EnsembleSurrogate, differential: DifferentialSurrogate):
        self.static, self.differential = static, differential
        self.obs_dim, self.act_dim, self.ensemble_size = static.obs_dim, static.act_dim, static.ensemble_size

    @torch.no_grad()
    def predict_members(self, obs, action, *, n_std: float = 0.0) -> torch.Tensor:
        """(E, B, obs_dim) next observations, as :meth:`EnsembleSurrogate.predict_members`."""
        obs, action = torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(action, dtype=torch.float32)
        return self.differential.correct(obs, action, self.static.predict_members(obs, action, n_std=n_std))

    @torch.no_grad()
    def predict(self, obs, action, *, sample: bool = True):
        """(next_obs (B, obs_dim), reward (B,), P(terminated) (B,)), as
        :meth:`EnsembleSurrogate.predict`."""
        obs, action = torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(action, dtype=torch.float32)
        next_obs, reward, p_done = self.static.predict(obs, action, sample=sample)
        next_obs, reward = self.differential.correct(obs, action, next_obs, reward)
        return next_obs, reward, p_done

    @torch.no_grad()
    def disagreement(self, obs, action) -> torch.Tensor:
        """(B,) largest standard deviation over members of the predicted next observation."""
        return self.predict_members(obs, action).std(0).amax(-1)

    def to_spec(self, sizes: dict) -> dict:
        return {"kind": "combined", "static": ensemble_spec(self.static, sizes), "differential": self.differential.to_spec()}


def ensemble_spec(model: EnsembleSurrogate, sizes: dict) -> dict:
    """Plain data (weights as numpy arrays, constructor sizes) to rebuild an ensemble anywhere."""
    return {"kind": "ensemble", "weights": {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()},
            "sizes": dict(sizes)}


def surrogate_from_spec(spec: dict):
    """Rebuild an :class:`EnsembleSurrogate` or :class:`CombinedSurrogate` from its spec
    (:func:`ensemble_spec`, :meth:`CombinedSurrogate.to_spec`).

    Raises:
        ValueError: an unknown ``kind``.
    """
    if spec["kind"] == "ensemble":
        weights = {k: torch.as_tensor(v) for k, v in spec["weights"].items()}
        return EnsembleSurrogate.from_weights(weights, **spec["sizes"])
    if spec["kind"] == "combined":
        return CombinedSurrogate(surrogate_from_spec(spec["static"]), DifferentialSurrogate.from_spec(spec["differential"]))
    raise ValueError(f"unknown surrogate kind {spec['kind']!r}; valid: 'ensemble', 'combined'")
