"""Map the booster's raw log-odds to a PD that means what it says.

Calibrators are fit on held-out rows (the validation split), never on the rows the trees were
grown on, and serialise to small JSON documents so the model directory holds no pickles:
isotonic as its breakpoints (applied with `np.interp`, which is exactly how sklearn's
`IsotonicRegression.predict` interpolates), Platt as two coefficients.
Every PD is clipped to [pd_floor, 1 - PD_CAP_MARGIN]: a zero PD is not credible for any account
and would make the points scale infinite.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

PD_CAP_MARGIN = 1e-6


def _clip(pd_values: np.ndarray, pd_floor: float) -> np.ndarray:
    return np.clip(pd_values, pd_floor, 1.0 - PD_CAP_MARGIN)


def _check_fit_input(raw: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(raw, dtype="float64").ravel()
    t = np.asarray(y, dtype="float64").ravel()
    if r.shape != t.shape or r.size == 0:
        raise ValueError("calibration needs equal-length, non-empty scores and outcomes")
    if not np.isfinite(r).all():
        raise ValueError("calibration scores must be finite")
    if not (0 < t.sum() < t.size):
        raise ValueError("calibration needs both defaults and non-defaults in the held-out rows")
    return r, t


class Calibrator(Protocol):
    method: str
    pd_floor: float

    def fit(self, raw: Any, y: Any) -> Calibrator: ...

    def transform(self, raw: Any) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class IsotonicCalibrator:
    """Monotone non-parametric map; keeps the ranking, fixes the probability scale."""

    pd_floor: float = 0.0003
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    method: str = "isotonic"

    def fit(self, raw: Any, y: Any) -> IsotonicCalibrator:
        from sklearn.isotonic import IsotonicRegression

        r, t = _check_fit_input(raw, y)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(r, t)
        self.x = [float(v) for v in iso.X_thresholds_]
        self.y = [float(v) for v in iso.y_thresholds_]
        log.info("isotonic calibrator: %d breakpoints", len(self.x))
        return self

    def transform(self, raw: Any) -> np.ndarray:
        if not self.x:
            raise RuntimeError("calibrator is not fitted")
        r = np.asarray(raw, dtype="float64").ravel()
        return _clip(np.interp(r, self.x, self.y), self.pd_floor)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "pd_floor": self.pd_floor, "x": self.x, "y": self.y}


@dataclass
class PlattCalibrator:
    """Logistic map pd = sigmoid(a * raw + b); smooth, two parameters, good on small held-out sets."""

    pd_floor: float = 0.0003
    a: float = 1.0
    b: float = 0.0
    fitted: bool = False
    method: str = "platt"

    def fit(self, raw: Any, y: Any) -> PlattCalibrator:
        from sklearn.linear_model import LogisticRegression

        r, t = _check_fit_input(raw, y)
        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(r.reshape(-1, 1), t)
        self.a, self.b, self.fitted = float(lr.coef_[0, 0]), float(lr.intercept_[0]), True
        log.info("platt calibrator: a=%.4f b=%.4f", self.a, self.b)
        return self

    def transform(self, raw: Any) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("calibrator is not fitted")
        r = np.asarray(raw, dtype="float64").ravel()
        return _clip(1.0 / (1.0 + np.exp(-(self.a * r + self.b))), self.pd_floor)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "pd_floor": self.pd_floor, "a": self.a, "b": self.b}


METHODS = ("isotonic", "platt")


def make_calibrator(method: str, pd_floor: float) -> IsotonicCalibrator | PlattCalibrator:
    if method == "isotonic":
        return IsotonicCalibrator(pd_floor=pd_floor)
    if method == "platt":
        return PlattCalibrator(pd_floor=pd_floor)
    raise ValueError(f"unknown calibration method {method!r}; use one of {METHODS}")


def calibrator_from_dict(data: dict[str, Any]) -> IsotonicCalibrator | PlattCalibrator:
    method = data.get("method")
    if "pd_floor" not in data:  # a PD of 0 would break points and grades downstream
        raise ValueError("calibrator.json has no 'pd_floor'")
    floor = float(data["pd_floor"])
    if method == "isotonic":
        return IsotonicCalibrator(
            pd_floor=floor, x=[float(v) for v in data["x"]], y=[float(v) for v in data["y"]]
        )
    if method == "platt":
        return PlattCalibrator(pd_floor=floor, a=float(data["a"]), b=float(data["b"]), fitted=True)
    raise ValueError(f"unknown calibration method {method!r} in calibrator.json")
