"""The PD model: LightGBM on the catalogue's features, calibrated, scaled to points and grades.

`PDModel` is the single code path from a feature-table frame to (raw log-odds, PD, points, grade):
the train stage, explanations, tiers and the served MLflow model all go through it. It saves to a
directory of plain files (no pickles): `booster.txt` (LightGBM text format, trimmed to the best
iteration), `calibrator.json` and `model_meta.json` (catalogue, scaling, grades, floor, metrics).

A `PDModel` is fitted, never fits: `models.pd_estimator.PDEstimator` makes one (the training
recipe, its settings in `models.train_config`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, model_matrix, to_model_frame
from core.dpd import in_default
from core.errors import DataValidationError, PipelineError
from models.calibration import calibrator_from_dict
from models.scaling import DEFAULT_GRADE, MasterScale, ScoreScaling

#: Rows scored per block by `PDModel.predict_raw` (bounded memory, same scores).
PREDICT_BLOCK_ROWS = 500_000

log = logging.getLogger(__name__)

BOOSTER_FILE = "booster.txt"
CALIBRATOR_FILE = "calibrator.json"
META_FILE = "model_meta.json"
FORMAT_VERSION = 1


@dataclass
class PDModel:
    """Booster + calibrator + scaling + grades + catalogue: frame in, PD / points / grade out."""

    booster: Any
    calibrator: Any
    scaling: ScoreScaling
    master_scale: MasterScale
    catalogue: Catalogue
    pd_floor: float
    meta: dict[str, Any] = field(default_factory=dict)

    def model_frame(self, frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
        return to_model_frame(frame, self.catalogue, source)

    def predict_raw(self, frame: pd.DataFrame, source: str = "input") -> np.ndarray:
        """Uncalibrated log-odds of default (the booster's raw margin).

        Rows are scored in blocks of `PREDICT_BLOCK_ROWS`: each row's score depends on that row
        alone, so the result is the same, and the model matrix of a book of millions of rows is
        never built whole (a 12M-row table would need a 2.4 GB copy at once).
        """
        if len(frame) == 0:
            self.model_frame(frame, source)  # the column checks still apply
            return np.zeros(0, dtype="float64")
        out = np.empty(len(frame), dtype="float64")
        for start in range(0, len(frame), PREDICT_BLOCK_ROWS):
            block = frame.iloc[start : start + PREDICT_BLOCK_ROWS]
            try:
                matrix = model_matrix(self.model_frame(block, source))
            except DataValidationError as exc:  # name the row of the whole frame, not the block
                raise exc.shifted(start) from None
            out[start : start + len(block)] = self.raw_from_matrix(matrix)
        return out

    def raw_from_matrix(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Raw scores of a model matrix (`model_matrix`, `direct_model_matrix`) as float64.

        `num_threads=1` for a few rows: on a busy machine LightGBM's OpenMP threads cost more than
        the trees of one row (the served model scores small requests so); scores are the same.
        """
        threads = {} if num_threads is None else {"num_threads": num_threads}
        return np.asarray(self.booster.predict(matrix, raw_score=True, **threads), dtype="float64")

    def pd_from_raw(self, raw: Any) -> np.ndarray:
        return self.calibrator.transform(raw)

    def predict_pd(self, frame: pd.DataFrame, source: str = "input") -> np.ndarray:
        return self.pd_from_raw(self.predict_raw(frame, source))

    def scores(self, pd_values: Any) -> np.ndarray:
        return self.scaling.points(pd_values)

    def grades(self, pd_values: Any) -> np.ndarray:
        return self.master_scale.assign(pd_values)

    def predict_frame(
        self, frame: pd.DataFrame, source: str = "input", days_past_due: Any | None = None
    ) -> pd.DataFrame:
        """raw_score, pd, score (points, rounded to 0.1) and grade per row, on the frame's index.

        With `days_past_due` (one value per row), an account already in default (90+ DPD) is not
        scored: PD 1, grade `DEFAULT_GRADE`, raw score and points null (`outcome_columns`, which
        the served model calls on its own raw scores, so the rule has one code path).
        """
        cols = self.outcome_columns(self.predict_raw(frame, source), days_past_due, source)
        cols["grade"] = pd.Series(cols["grade"], dtype="str").to_numpy()
        return pd.DataFrame(cols, index=frame.index)

    def outcome_columns(
        self, raw: np.ndarray, days_past_due: Any | None = None, source: str = "input"
    ) -> dict[str, np.ndarray]:
        """raw_score, pd, score (points, rounded to 0.1) and grade (object) from raw scores.

        With `days_past_due` (one value per raw score), an account already in default (90+ DPD,
        `core.dpd.in_default`) is not scored: PD 1, grade `DEFAULT_GRADE`, raw score and points
        null. Raises DataValidationError when the days past due do not match the raw scores.
        """
        pd_values = self.pd_from_raw(raw)
        points = np.round(self.scores(pd_values), 1)
        grades = pd.Series(self.grades(pd_values), dtype="str").to_numpy(dtype=object)
        if days_past_due is not None:
            defaulted = in_default(days_past_due)
            if defaulted.size != len(raw):
                raise DataValidationError(
                    source, f"days_past_due has {defaulted.size} values for {len(raw)} rows"
                )
            raw = np.where(defaulted, np.nan, raw)
            pd_values = np.where(defaulted, 1.0, pd_values)
            points = np.where(defaulted, np.nan, points)
            grades[defaulted] = DEFAULT_GRADE
        return {"raw_score": raw, "pd": pd_values, "score": points, "grade": grades}

    @property
    def grade_order(self) -> list[str]:
        """The master scale's grades, best first (`DEFAULT_GRADE`, a status, comes after them)."""
        return list(self.master_scale.names)

    def save(self, directory: str | Path) -> None:
        """Write booster.txt, calibrator.json and model_meta.json into `directory` (created)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(d / BOOSTER_FILE))
        (d / CALIBRATOR_FILE).write_text(json.dumps(self.calibrator.to_dict(), indent=1) + "\n")
        meta = {
            "format_version": FORMAT_VERSION,
            "catalogue": self.catalogue.to_dict(),
            "scaling": self.scaling.to_dict(),
            "grades": self.master_scale.to_list(),
            "pd_floor": self.pd_floor,
            **{k: v for k, v in self.meta.items() if k not in _RESERVED_META},
        }
        from core.io import json_safe

        (d / META_FILE).write_text(json.dumps(json_safe(meta), indent=2, default=str) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> PDModel:
        import lightgbm as lgb

        d = Path(directory)
        for name in (BOOSTER_FILE, CALIBRATOR_FILE, META_FILE):
            if not (d / name).exists():
                raise PipelineError(
                    f"model directory '{d}' lacks {name}; run the train stage first"
                )
        meta = json.loads((d / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise PipelineError(
                f"{d / META_FILE}: format_version {meta.get('format_version')} is not supported"
            )
        booster = lgb.Booster(model_file=str(d / BOOSTER_FILE))
        calibrator = calibrator_from_dict(json.loads((d / CALIBRATOR_FILE).read_text()))
        return cls(
            booster=booster,
            calibrator=calibrator,
            scaling=ScoreScaling.from_dict(meta["scaling"]),
            master_scale=MasterScale.from_pairs(meta["grades"]),
            catalogue=Catalogue.from_dict(meta["catalogue"]),
            pd_floor=float(meta["pd_floor"]),
            meta={k: v for k, v in meta.items() if k not in _RESERVED_META},
        )


_RESERVED_META = {"format_version", "catalogue", "scaling", "grades", "pd_floor"}
