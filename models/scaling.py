"""PD -> points and PD -> master-scale grade, the two views lenders read a PD through.

Points follow the usual scorecard convention: points = offset + factor * ln(odds good:bad), with
`factor = pdo / ln 2` (PDO points double the odds) and the offset chosen so that `base_odds` sits at
`base_points`. Higher points = safer. Grades are a master scale of upper PD bounds, best first; a PD
falls in the first grade whose bound it does not exceed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The grade of an account already in default (90+ days past due): not a band of the master
#: scale but a status, so no performing grade may carry the name.
DEFAULT_GRADE = "D"


def sorted_grades(labels: Iterable[Any]) -> list[str]:
    """Grade labels best-first without the scale at hand: numbers in numeric order before text
    (so '10' follows '9' and the status 'D' of a numbered scale comes last; A..G stay A..G)."""

    def key(label: str) -> tuple[int, int, str]:
        return (0, int(label), "") if label.isdigit() else (1, 0, label)

    return sorted({str(x) for x in labels}, key=key)


@dataclass(frozen=True)
class ScoreScaling:
    """Points = offset + factor * ln(odds good:bad), anchored at `base_points` for `base_odds`."""

    base_points: float
    base_odds: float
    pdo: float

    def __post_init__(self) -> None:
        # A sanity check for direct construction and model files; params are checked by their reader.
        finite = all(math.isfinite(v) for v in (self.base_points, self.base_odds, self.pdo))
        if not (finite and self.base_odds > 0 and self.pdo > 0):
            raise ValueError(
                f"score scaling needs finite values and positive base odds and PDO, got {self}"
            )

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
        """Read back `to_dict` (a saved model's meta); every key must be there."""
        return cls(
            base_points=float(data["base_points"]),
            base_odds=float(data["base_odds"]),
            pdo=float(data["pdo"]),
        )


@dataclass(frozen=True)
class MasterScale:
    """Ordered grades with upper PD bounds; the last bound must be 1.0 so every PD gets a grade.

    The rules live here (ValueError); the params reader reports a broken `train.grades` with them.
    """

    names: tuple[str, ...]
    upper_bounds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.names or len(self.names) != len(self.upper_bounds):
            raise ValueError("must map at least one grade name to an upper PD bound")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"grade names must be unique, got {list(self.names)}")
        if DEFAULT_GRADE in self.names:
            raise ValueError(
                f"grade name '{DEFAULT_GRADE}' is reserved for accounts in default (90+ days past "
                f"due), got {list(self.names)}"
            )
        b = self.upper_bounds
        if any(not (0 < x <= 1) for x in b):
            raise ValueError(f"upper PD bounds must lie in (0, 1], got {list(b)}")
        if any(b2 <= b1 for b1, b2 in zip(b, b[1:], strict=False)):
            raise ValueError(f"upper PD bounds must increase, best grade first, got {list(b)}")
        if b[-1] != 1.0:
            raise ValueError(f"the last grade's upper bound must be 1.0, got {b[-1]}")

    @classmethod
    def from_pairs(cls, pairs: Sequence[Sequence[Any]]) -> MasterScale:
        """Read back `to_list` (a saved model's meta)."""
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
