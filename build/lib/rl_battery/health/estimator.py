"""Pack SOH from one charging segment: a ridge-regression model on the health features.

A small linear model (ridge regression on standardized features, closed form; missing
features are imputed with the training mean) maps :func:`segment_features` to the pack SOH,
the capacity of the weakest series group over its nominal capacity. It is trained on
charging segments of simulated aged packs (:mod:`rl_battery.health.dataset`), evaluated on
packs held out by pack seed, and saved as a versioned JSON artifact: plain numbers, no
pickle, readable in any language. The package ships one (:data:`DEFAULT_ARTIFACT`);
``rl-battery soh train`` makes a new one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from rl_battery.data.atomic import atomic_path
from rl_battery.health.features import FEATURE_NAMES, ChargingSegment, segment_features

#: Artifact format version; :meth:`SOHEstimator.load` refuses others.
ARTIFACT_VERSION = 1
#: The estimator shipped with the package (made by ``rl-battery soh train``).
DEFAULT_ARTIFACT = "soh_estimator_v1.json"


@dataclass
class SOHEstimator:
    """Ridge regression SOH = intercept + coef . (features - mean) / scale.

    Attributes:
        feature_names: the features, in order (:data:`FEATURE_NAMES`).
        mean, scale: (F,) standardization of the training features (mean also imputes NaN).
        coef: (F,) weights; intercept: the training mean SOH.
        heldout_rmse: RMSE [SOH, absolute] on the held-out packs (the prior's spread).
        info: provenance (data sizes, seeds, settings), free-form.
    """

    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    heldout_rmse: float = float("nan")
    info: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, features: np.ndarray, soh: np.ndarray, *, ridge: float = 1e-2) -> "SOHEstimator":
        """Fit on (N, F) features (NaN allowed) and (N,) SOH; ``ridge`` (> 0) is the L2 weight.

        Raises:
            ValueError: mismatched shapes, fewer than 3 segments, or non-finite SOH.
        """
        x, y = np.asarray(features, float), np.asarray(soh, float)
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES) or len(x) != len(y) or len(y) < 3 or not np.all(np.isfinite(y)):
            raise ValueError(f"need features (N, {len(FEATURE_NAMES)}) and finite soh (N,), N >= 3; got {x.shape}, {y.shape}")
        mean = np.nanmean(x, 0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        z = np.where(np.isfinite(x), x, mean) - mean
        scale = z.std(0)
        scale = np.where(scale > 0, scale, 1.0)
        z /= scale
        coef = np.linalg.solve(z.T @ z + ridge * len(z) * np.eye(z.shape[1]), z.T @ (y - y.mean()))
        return cls(tuple(FEATURE_NAMES), mean, scale, coef, float(y.mean()), info={"n_train": int(len(y)), "ridge": ridge})

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N, F) or (F,) features -> (N,) or scalar SOH estimates, clipped to [0.5, 1]."""
        x = np.asarray(features, float)
        z = (np.where(np.isfinite(x), x, self.mean) - self.mean) / self.scale
        return np.clip(self.intercept + z @ self.coef, 0.5, 1.0)

    def estimate(self, segments: list[ChargingSegment]) -> float:
        """SOH estimate from one or more segments of the same pack (mean of the estimates).

        Raises:
            ValueError: no segments.
        """
        if not segments:
            raise ValueError("need at least one charging segment")
        return float(np.mean(self.predict(np.stack([segment_features(s) for s in segments]))))

    # ------------------------------------------------------------ artifact
    def save(self, path: str | Path) -> Path:
        """Write the JSON artifact atomically; returns the path."""
        data = {"artifact": "rl_battery.health.SOHEstimator", "version": ARTIFACT_VERSION,
                **{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "SOHEstimator":
        """Read an artifact (default: the one shipped with the package).

        Raises:
            ValueError: not an SOH estimator artifact, another version, or other features.
        """
        if path is None:
            text = resources.files("rl_battery.health").joinpath("artifacts", DEFAULT_ARTIFACT).read_text()
        else:
            text = Path(path).read_text()
        data = json.loads(text)
        if data.get("artifact") != "rl_battery.health.SOHEstimator" or data.get("version") != ARTIFACT_VERSION:
            raise ValueError(f"{path or DEFAULT_ARTIFACT}: not an SOH estimator artifact of version {ARTIFACT_VERSION}")
        if tuple(data["feature_names"]) != tuple(FEATURE_NAMES):
            raise ValueError(f"artifact features {data['feature_names']} differ from this version's {FEATURE_NAMES}")
        return cls(tuple(data["feature_names"]), np.array(data["mean"]), np.array(data["scale"]), np.array(data["coef"]),
                   float(data["intercept"]), float(data["heldout_rmse"]), dict(data.get("info", {})))
