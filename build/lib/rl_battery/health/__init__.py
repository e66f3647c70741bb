"""Pack health: SOH from charging-segment features, SOH -> parameter prior, fast calibration."""

from rl_battery.health.calibration import CalibrationResult, calibrate
from rl_battery.health.estimator import SOHEstimator
from rl_battery.health.features import FEATURE_NAMES, ChargingSegment, segment_features
from rl_battery.health.prior import ParameterPrior, prior_from_soh

__all__ = ["CalibrationResult", "ChargingSegment", "FEATURE_NAMES", "ParameterPrior", "SOHEstimator", "calibrate",
           "prior_from_soh", "segment_features"]
