"""PD -> points and PD -> master-scale grade, the two views lenders read a PD through.

Points follow the usual scorecard convention: points = offset + factor * ln(odds good:bad), with
`factor = pdo / ln 2` (PDO points double the odds) and the offset chosen so that `base_odds` sits at
`base_points`. Higher points = safer. Grades are a master scale of upper PD bounds, best first; a PD
falls in the first grade whose bound it does not exceed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.errors import ConfigError


@dataclass(frozen=True)
class ScoreScaling:
    base_points: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self) -> None:
        if not (self.base_odds > 0 and math.isfinite(self.base_odds)):
            raise ConfigError(
                "train.scaling.base_odds", "must be a positive number", self.base_odds
            )
        if not (self.pdo > 0 and math.isfinite(self.pdo)):
            raise ConfigError("train.scaling.pdo", "must be a positive number", self.pdo)
        if not math.isfinite(self.base_points):
            raise ConfigError("train.scaling.base_points", "must be a number", self.base_points)

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def points(self, pd_values: Any) -> np.ndarray:
        """Points for each PD (PDs must lie strictly inside (0, 1); the calibrator's floor ensures it)."""
        p = np.asarray(pd_values, dtype="float64")
        if ((p <= 0) | (p >= 1)).any():
            raise ValueError("PD must lie strictly between 0 and 1 to be scaled to points")
        return self.offset + self.factor * np.log((1.0 - p) / p)

    def pd_from_points(self, points: Any) -> np.ndarray:
        s = np.asarray(points, dtype="float64")
        odds = np.exp((s - self.offset) / self.factor)
        return 1.0 / (1.0 + odds)

    def to_dict(self) -> dict[str, float]:
        return {"base_points": self.base_points, "base_odds": self.base_odds, "pdo": self.pdo}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreScaling:
        try:
            return cls(
                base_points=float(data.get("base_points", 600)),
                base_odds=float(data.get("base_odds", 50)),
                pdo=float(data.get("pdo", 20)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError("train.scaling", f"must hold numbers ({exc})", dict(data)) from None


@dataclass(frozen=True)
class MasterScale:
    """Ordered grades with upper PD bounds; the last bound must be 1.0 so every PD gets a grade."""

    names: tuple[str, ...]
    upper_bounds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.names or len(self.names) != len(self.upper_bounds):
            raise ConfigError(
                "train.grades", "must map at least one grade name to an upper PD bound"
            )
        if len(set(self.names)) != len(self.names):
            raise ConfigError("train.grades", "grade names must be unique", list(self.names))
        b = self.upper_bounds
        if any(not (0 < x <= 1) for x in b):
            raise ConfigError("train.grades", "upper PD bounds must lie in (0, 1]", list(b))
        if any(b2 <= b1 for b1, b2 in zip(b, b[1:], strict=False)):
            raise ConfigError(
                "train.grades", "upper PD bounds must increase, best grade first", list(b)
            )
        if b[-1] != 1.0:
            raise ConfigError("train.grades", "the last grade's upper bound must be 1.0", b[-1])

    @classmethod
    def from_mapping(cls, grades: Mapping[str, Any]) -> MasterScale:
        if not isinstance(grades, Mapping) or not grades:
            raise ConfigError("train.grades", "must be a mapping grade -> upper PD bound", grades)
        try:
            bounds = tuple(float(v) for v in grades.values())
        except (TypeError, ValueError):
            raise ConfigError("train.grades", "bounds must be numbers", dict(grades)) from None
        return cls(names=tuple(str(k) for k in grades), upper_bounds=bounds)

    @classmethod
    def from_pairs(cls, pairs: Sequence[Sequence[Any]]) -> MasterScale:
        return cls(
            names=tuple(str(p[0]) for p in pairs), upper_bounds=tuple(float(p[1]) for p in pairs)
        )

    def assign(self, pd_values: Any) -> np.ndarray:
        """Grade name per PD (object array)."""
        p = np.asarray(pd_values, dtype="float64")
        idx = np.searchsorted(np.asarray(self.upper_bounds), p, side="left")
        idx = np.minimum(idx, len(self.names) - 1)
        return np.asarray(self.names, dtype=object)[idx]

    def to_list(self) -> list[list[Any]]:
        return [[n, b] for n, b in zip(self.names, self.upper_bounds, strict=True)]
