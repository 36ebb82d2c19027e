"""The validation document of a PD model: discrimination and calibration with their uncertainty.

One function, `run_validate`, reads the feature and score tables the pipeline already wrote and
answers a validator's questions with numbers on named samples: does the model rank (AUC, Gini, KS
with intervals, per delinquency segment and out-of-time period), is each grade's PD high enough
(binomial and Jeffreys tests, traffic lights, O/E, Hosmer-Lemeshow), is it stable (score PSI
against a fixed development reference), and does it beat a WoE scorecard a committee can read?

Samples: `test` is out of time; `holdout` is the validation split's early-stopping part, which
the calibrator never saw; `calibration` is the calibrator's own part (in-sample for calibration).
The train stage recorded which rows are which in the scores' `sample` column: they are read there,
never cut again.
A red out-of-time grade next to a green holdout says the period moved, not that the model was
mis-fitted; with the generator's true PD (`true_pd`) the `oracle` block shows whether the
observed defaults are what the true risk of the period predicts.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, to_model_frame
from core.contracts import DPD_FEATURE_COLUMN, check_samples
from core.io import json_safe
from core.stats import has_both_classes, psi
from models.metrics import DPD_SEGMENTS, month_labels
from models.scaling import DEFAULT_GRADE, ScoreScaling
from models.scorecard import BINNING_COLUMNS, WoeScorecard, monotonic_from_catalogue
from models.validation.calibration_tests import calibration_by_grade, hosmer_lemeshow, oe_ratio
from models.validation.discrimination import delong_auc, delong_paired, ks_bootstrap_ci

log = logging.getLogger(__name__)

DATE_COLUMN = "observation_date"
LIGHTS = ("red", "amber", "green", "n/a")
#: PSI rule of thumb: below the first stable, up to the second watch, above it a shift.
PSI_WATCH, PSI_SHIFT = 0.1, 0.25


@dataclass(frozen=True, kw_only=True)
class ValidationConfig:
    """Test levels, group counts and the scorecard challenger's settings; `seed` draws the KS
    bootstrap and the scorecard's fitting sample."""

    seed: int
    level: float = 0.95
    amber: float = 0.05
    red: float = 0.01
    hl_groups: int = 10
    ks_bootstrap: int = 200
    scorecard_max_bins: int = 6
    scorecard_min_bin_size: float = 0.05
    scorecard_max_fit_rows: int = 200_000

    def __post_init__(self) -> None:
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {self.level}")
        if not 0.0 < self.red < self.amber < 1.0:
            raise ValueError(
                f"need 0 < red < amber < 1 (p-value thresholds), got red={self.red}, "
                f"amber={self.amber}"
            )
        if self.hl_groups < 3:
            raise ValueError(f"hl_groups must be >= 3, got {self.hl_groups}")
        if self.ks_bootstrap < 1:
            raise ValueError(f"ks_bootstrap must be >= 1, got {self.ks_bootstrap}")
        if self.scorecard_max_bins < 2:
            raise ValueError(f"scorecard_max_bins must be >= 2, got {self.scorecard_max_bins}")
        if not 0.0 < self.scorecard_min_bin_size < 0.5:
            raise ValueError(
                f"scorecard_min_bin_size must lie in (0, 0.5), got {self.scorecard_min_bin_size}"
            )
        if self.scorecard_max_fit_rows < 100:
            raise ValueError(
                f"scorecard_max_fit_rows must be >= 100, got {self.scorecard_max_fit_rows}"
            )


@dataclass(frozen=True)
class ModelCard:
    """The model card's free text; counts, windows and exclusions are computed from the data.

    The defaults describe the built-in synthetic book; a stage passes its own from params.
    """

    model_name: str = "credit-pd"
    purpose: str = (
        "Probability of default of revolving credit accounts, used to rank the performing book "
        "and to set collection tiers."
    )
    intended_use: str = (
        "Monthly scoring of performing (not yet defaulted) accounts of the same product; PDs "
        "feed the master-scale grades and the collection policy's tiers."
    )
    limitations: tuple[str, ...] = (
        "Trained on a synthetic book: the numbers validate the pipeline, not a real portfolio.",
        "No macroeconomic inputs: the PD does not follow a stress the account data does not "
        "show, so out-of-time calibration can fail in a downturn while ranking holds.",
        "Not for accounts already in default, for new applicants without history, or for other "
        "products.",
    )
    exclusion_notes: tuple[str, ...] = ()
    owner: str = "credit risk modelling"

    def __post_init__(self) -> None:
        for name in ("model_name", "purpose", "intended_use", "owner"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"model card field '{name}' must be non-empty text")
        for name in ("limitations", "exclusion_notes"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"model card field '{name}' must be a sequence of texts")


@dataclass(frozen=True)
class ValidationResult:
    """The JSON document (strict JSON: None for NaN) and the scorecard's binning table."""

    doc: dict[str, Any]
    binning_table: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=BINNING_COLUMNS)
    )

    def headline(self) -> dict[str, Any]:
        """reports/headline/validate.json: the interval, the red grades, HL and the scorecard."""
        doc = self.doc
        summary = doc.get("calibration_summary", {})
        vs = doc.get("vs_scorecard") or {}
        low, high = doc["auc_ci"]
        return {
            "test_auc_low": low,
            "test_auc_high": high,
            "red_grades_test": (summary.get("test") or {}).get("red"),
            "red_grades_holdout": (summary.get("holdout") or {}).get("red"),
            "hosmer_lemeshow_p": doc["hosmer_lemeshow"]["p"],
            "scorecard_auc": vs.get("auc_scorecard"),
            "gbm_vs_scorecard_p": vs.get("p"),
        }


#: The feature rows validation reads: the scorecard fits on train and is compared on test.
FEATURE_SPLITS = ("train", "test")


def feature_columns(catalogue: Catalogue, present: list[str]) -> list[str]:
    """Keys, split, the model's inputs and days past due (when the table has it): what
    `run_validate` reads of the feature table (not the protected attributes or the other policy
    inputs)."""
    dpd = [DPD_FEATURE_COLUMN] if DPD_FEATURE_COLUMN in present else []  # optional: segments
    return [catalogue.id_column, DATE_COLUMN, "split", *catalogue.model_columns, *dpd]


# ----------------------------------------------------------------------------------- helpers


def _window(dates: pd.Series) -> str:
    d = pd.to_datetime(dates, errors="coerce").dropna()
    return "" if d.empty else f"{d.min().date()}..{d.max().date()}"


def _auc_block(y: np.ndarray, p: np.ndarray, level: float) -> dict[str, Any]:
    """n, defaults, bad rate and the DeLong AUC / Gini interval (auc None for one class)."""
    n, d = int(y.size), int(y.sum())
    out: dict[str, Any] = {"n": n, "defaults": d, "bad_rate": d / n if n else None}
    keys = ("auc", "auc_low", "auc_high", "gini", "gini_low", "gini_high")
    if n == 0 or not has_both_classes(y):
        return out | dict.fromkeys(keys)
    ci = delong_auc(y, p, level)
    gini, g_low, g_high = ci.gini_interval()
    return out | dict(zip(keys, (ci.auc, ci.low, ci.high, gini, g_low, g_high), strict=True))


@dataclass(frozen=True)
class _Sample:
    """Labelled rows of one sample: outcome, PD and grade as arrays."""

    y: np.ndarray
    pd: np.ndarray
    grade: np.ndarray

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _Sample:
        return cls(
            y=rows["default"].to_numpy(dtype="float64", na_value=np.nan),
            pd=rows["pd"].to_numpy(dtype="float64", na_value=np.nan),
            grade=rows["grade"].astype(str).to_numpy(dtype=object),
        )

    def subset(self, mask: np.ndarray) -> _Sample:
        return _Sample(self.y[mask], self.pd[mask], self.grade[mask])


def _calibration(
    s: _Sample, grade_order: list[str], config: ValidationConfig
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """(rows per grade, summary: light counts and pooled O/E, Hosmer-Lemeshow)."""
    table = calibration_by_grade(
        s.y,
        s.pd,
        s.grade,
        grades=grade_order,
        amber=config.amber,
        red=config.red,
        level=config.level,
    )
    rows = table.to_dict(orient="records")
    counts = table["light"].value_counts()
    d, e = int(s.y.sum()), float(s.pd.sum())
    ratio, low, high = oe_ratio(d, e, config.level)
    summary = {light: int(counts.get(light, 0)) for light in LIGHTS} | {
        "n": int(s.y.size),
        "defaults": d,
        "expected": e,
        "oe_ratio": ratio,
        "oe_low": low,
        "oe_high": high,
    }
    if s.y.size == 0:
        hl: dict[str, Any] = {"statistic": None, "df": None, "p": None}
    else:
        full = hosmer_lemeshow(s.y, s.pd, config.hl_groups)
        hl = {k: full[k] for k in ("statistic", "df", "p")}
    return rows, summary, hl


def _true_pd_of_test(
    true_pd: pd.Series | pd.DataFrame, scores: pd.DataFrame, test_index: pd.Index, keys: list[str]
) -> np.ndarray:
    """The true PD of each test row, in test-row order; every test row must have one."""
    if isinstance(true_pd, pd.DataFrame):
        if "true_pd" not in true_pd.columns or not set(keys) <= set(true_pd.columns):
            raise ValueError(f"a true PD table needs the columns {[*keys, 'true_pd']}")
        left = scores.loc[test_index, keys].reset_index(drop=True)
        merged = left.merge(true_pd[[*keys, "true_pd"]], on=keys, how="left", validate="m:1")
        values = merged["true_pd"].to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = true_pd.reindex(test_index).to_numpy(dtype="float64", na_value=np.nan)
    missing = int(np.isnan(values).sum())
    if missing:
        raise ValueError(
            f"true_pd lacks {missing} of {values.size} test rows; the oracle must be measured "
            "on the same rows as the model (pass a Series indexed like `scores`, or the TRUE_PD "
            "table)"
        )
    if ((values < 0) | (values > 1)).any():
        raise ValueError("true_pd values must lie in [0, 1]")
    return values


# ------------------------------------------------------------------------------------- main
def run_validate(
    features: pd.DataFrame,
    scores: pd.DataFrame,
    catalogue: Catalogue,
    grade_order: list[str],
    scaling: ScoreScaling,
    config: ValidationConfig,
    promotion: dict[str, Any] | None = None,
    *,
    label_definition: str,
    card: ModelCard | None = None,
    true_pd: pd.Series | pd.DataFrame | None = None,
    rejected_rows: int | None = None,
) -> ValidationResult:
    """The validation document of a scored book (see the module docstring for the samples).

    `features` is the FEATURES table and `scores` the SCORES table; rows are matched on
    (id column, observation_date), never by position. Rows in default at their snapshot (grade
    "D") leave every labelled sample. `true_pd` is optional: a Series indexed like `scores`, or
    the TRUE_PD table (keys + true_pd); every test row must have a value. `promotion` is the
    register stage's decision (reports/promotion.json), `rejected_rows` the rows ingest rejected
    (None: unknown).
    """
    started = time.perf_counter()
    card = card or ModelCard()
    if not label_definition.strip():
        raise ValueError("label_definition must say what a default is, e.g. '90+ DPD in 6 months'")
    if not grade_order or DEFAULT_GRADE in grade_order:
        raise ValueError(f"grade_order must list the performing grades (not '{DEFAULT_GRADE}')")
    keys = [catalogue.id_column, DATE_COLUMN]
    needed = (*keys, "split", "sample", "default", "pd", "score", "grade")
    missing = [c for c in needed if c not in scores]
    if missing:
        raise ValueError(f"scores lacks the column(s) {missing}")
    check_samples(scores, "scores")
    if not scores.index.is_unique:
        raise ValueError("scores needs a unique index (rows are tracked by it)")
    split = scores["split"].astype(str)
    in_default = scores["grade"].astype(str).eq(DEFAULT_GRADE)
    labelled = scores["default"].notna() & ~in_default

    def rows(name: str) -> pd.DataFrame:
        return scores[split.eq(name) & labelled]

    test, valid, train = rows("test"), rows("validation"), rows("train")
    for name, part in (("test", test), ("validation", valid), ("train", train)):
        if part.empty:
            raise ValueError(f"scores has no labelled '{name}' rows outside default")
    sample = valid["sample"].astype(str)
    holdout, calibration = valid[sample.eq("early_stopping")], valid[sample.eq("calibration")]

    # Features of the rows that need them (scorecard fit and scoring, DPD segments), by key.
    wanted = [*catalogue.model_columns] + (
        [DPD_FEATURE_COLUMN] if DPD_FEATURE_COLUMN in features else []
    )
    lacking = [c for c in (*keys, *catalogue.model_columns) if c not in features]
    if lacking:
        raise ValueError(f"features lacks the column(s) {lacking}")
    # each needed row's position in `features`, by key; then one take of the wanted columns (the
    # train and test rows of a 5M-customer book are 8M rows: no merged or re-indexed copies)
    needed = pd.concat([train[keys], test[keys]], ignore_index=True)
    located = needed.merge(
        features[keys].assign(_pos=np.arange(len(features))), on=keys, how="left", validate="1:1"
    )
    unmatched = int(located["_pos"].isna().sum())
    if unmatched:
        raise ValueError(
            f"{unmatched} labelled train/test score rows have no feature row with the same "
            f"({', '.join(keys)})"
        )
    positions = located["_pos"].to_numpy(dtype=np.int64)
    columns = [features.columns.get_loc(c) for c in wanted]
    feat_train = features.iloc[positions[: len(train)], columns].set_axis(train.index)
    feat_test = features.iloc[positions[len(train) :], columns].set_axis(test.index)
    del needed, located, positions

    t, h, c = _Sample.of(test), _Sample.of(holdout), _Sample.of(calibration)
    level = config.level
    months = month_labels(test[DATE_COLUMN])
    periods = sorted(m for m in set(months) if m)

    # Discrimination ------------------------------------------------------------------------
    test_block = _auc_block(t.y, t.pd, level)
    ks_point, ks_low, ks_high = ks_bootstrap_ci(t.y, t.pd, config.ks_bootstrap, level, config.seed)
    test_block |= {"ks": ks_point, "ks_low": ks_low, "ks_high": ks_high}
    segments: dict[str, Any] | None = None
    if DPD_FEATURE_COLUMN in feat_test:
        dpd = feat_test[DPD_FEATURE_COLUMN].to_numpy(dtype="float64", na_value=np.nan)
        segments = {
            name: _auc_block(t.y[m], t.pd[m], level)
            for name, low, high in DPD_SEGMENTS
            for m in [(dpd >= low) & (dpd <= high)]
        }
    discrimination = {
        "test": test_block,
        "holdout": _auc_block(h.y, h.pd, level),
        "segments": segments,
        "periods": {m: _auc_block(t.y[months == m], t.pd[months == m], level) for m in periods},
    }

    # Calibration ---------------------------------------------------------------------------
    samples_cal = {"test": t, "holdout": h, "calibration": c}
    samples_cal |= {m: t.subset(months == m) for m in periods}
    cal = {name: _calibration(s, grade_order, config) for name, s in samples_cal.items()}

    def split_by(idx: int) -> dict[str, Any]:
        return {
            "test": cal["test"][idx],
            "holdout": cal["holdout"][idx],
            "calibration": cal["calibration"][idx],
            "periods": {m: cal[m][idx] for m in periods},
        }

    # Oracle ---------------------------------------------------------------------------------
    oracle = None
    if true_pd is not None:
        truth = _true_pd_of_test(true_pd, scores, test.index, keys)
        o = _Sample(t.y, truth, t.grade)
        rows_o, summary_o, hl_o = _calibration(o, grade_order, config)
        by_period = {}
        for m in periods:
            r, s, hl = _calibration(o.subset(months == m), grade_order, config)
            by_period[m] = {"calibration_by_grade": r, "summary": s, "hosmer_lemeshow": hl}
        oracle = {
            "what": "the generator's true PD tested as if it were the model, on the same test "
            "rows grouped by the model's grades",
            "n": int(o.y.size),
            "auc": _auc_block(o.y, o.pd, level)["auc"],
            "discrimination": _auc_block(o.y, o.pd, level),
            # how far the model is from the best possible model of the data, tested on the
            # same rows (diff = model - oracle)
            "model_vs_oracle": delong_paired(t.y, t.pd, o.pd, level).as_dict(),
            "calibration_by_grade": rows_o,
            "summary": summary_o,
            "hosmer_lemeshow": hl_o,
            "periods": by_period,
        }

    # Stability ---------------------------------------------------------------------------------
    reference = holdout["score"].to_numpy(dtype="float64", na_value=np.nan)
    current = scores[split.eq("score") & ~in_default]["score"]
    targets: dict[str, np.ndarray] = {
        m: test["score"].to_numpy(dtype="float64", na_value=np.nan)[months == m] for m in periods
    }
    targets["test"] = test["score"].to_numpy(dtype="float64", na_value=np.nan)
    if current.notna().any():
        targets["score"] = current.to_numpy(dtype="float64", na_value=np.nan)
    psi_values = {
        name: psi(reference, values) for name, values in targets.items() if values.size > 0
    }
    stability = {
        "variable": "score (points)",
        "reference": "holdout",
        "reference_n": int(np.isfinite(reference).sum()),
        "psi": psi_values,
        "rows": {name: int(np.isfinite(v).sum()) for name, v in targets.items()},
        "status": {
            name: "stable" if v < PSI_WATCH else "watch" if v <= PSI_SHIFT else "shift"
            for name, v in psi_values.items()
        },
        "thresholds": {"watch": PSI_WATCH, "shift": PSI_SHIFT},
    }

    # Scorecard challenger -----------------------------------------------------------------------
    scorecard_doc, vs_scorecard, binning = _scorecard(
        feat_train, train, feat_test, t, catalogue, scaling, config
    )

    # Samples and the model card ----------------------------------------------------------------
    samples = {
        "train": {"n": len(train), "window": _window(train[DATE_COLUMN]), "used_for": "fit"},
        "holdout": {
            "n": len(holdout),
            "window": _window(holdout[DATE_COLUMN]),
            "used_for": "early stopping; out of sample for the calibrator (validation split, "
            "early-stopping customers)",
        },
        "calibration": {
            "n": len(calibration),
            "window": _window(calibration[DATE_COLUMN]),
            "used_for": "fitting the calibrator: in-sample for calibration",
        },
        "test": {
            "n": len(test),
            "window": _window(test[DATE_COLUMN]),
            "periods": periods,
            "used_for": "nothing: out-of-time measurement",
        },
        "score": {
            "n": int(current.notna().sum()),
            "window": _window(scores.loc[current.index, DATE_COLUMN]),
            "used_for": "stability only (unlabelled current book)",
        },
        "excluded_in_default": int(in_default.sum()),
    }
    model_card = _model_card(
        card,
        label_definition,
        scores,
        split=split,
        in_default=in_default,
        labelled=labelled,
        catalogue=catalogue,
        scaling=scaling,
        grade_order=grade_order,
        rejected_rows=rejected_rows,
        samples=samples,
    )

    doc = {
        "samples": samples,
        "config": asdict(config),
        "model_card": model_card,
        "auc_ci": [test_block["auc_low"], test_block["auc_high"]],
        "discrimination": discrimination,
        "calibration_by_grade": cal["test"][0],
        "calibration_by_period": {m: cal[m][0] for m in periods},
        "calibration_holdout": cal["holdout"][0],
        "calibration_calibration": cal["calibration"][0],
        "hosmer_lemeshow": cal["test"][2],
        "hosmer_lemeshow_by_sample": split_by(2),
        "calibration_summary": split_by(1),
        "oracle": oracle,
        "stability": stability,
        "scorecard": scorecard_doc,
        "vs_scorecard": vs_scorecard,
        "gate": promotion,
    }
    doc["findings"] = _findings(doc)
    log.info("validation document built in %.1fs", time.perf_counter() - started)
    return ValidationResult(doc=json_safe(doc), binning_table=binning)


def _scorecard(
    feat_train: pd.DataFrame,
    train: pd.DataFrame,
    feat_test: pd.DataFrame,
    t: _Sample,
    catalogue: Catalogue,
    scaling: ScoreScaling,
    config: ValidationConfig,
) -> tuple[dict[str, Any], dict[str, Any] | None, pd.DataFrame]:
    """Fit the WoE scorecard on train, score test, compare with the model (paired DeLong).

    Points use the model's scaling, so a bin's points read on the model's score scale. A fit
    that fails (no variable informative enough) is reported, not raised: the rest of the
    validation stands without the benchmark.
    """
    card = WoeScorecard(
        monotonic=monotonic_from_catalogue(catalogue),
        max_n_bins=config.scorecard_max_bins,
        min_bin_size=config.scorecard_min_bin_size,
        pdo=scaling.pdo,
        base_score=scaling.base_points,
        base_odds=scaling.base_odds,
        random_state=config.seed,
        max_fit_rows=config.scorecard_max_fit_rows,
    )
    y_train = train["default"].to_numpy(dtype="float64", na_value=np.nan)
    started = time.perf_counter()
    try:
        card.fit(
            to_model_frame(feat_train, catalogue, "validation: train"),
            y_train,
            categorical=catalogue.categorical,
        )
    except ValueError as err:
        log.warning("scorecard benchmark skipped: %s", err)
        empty = pd.DataFrame(columns=BINNING_COLUMNS)
        return {"error": str(err)}, None, empty
    # a timing changes every run: the log has it, the tracked document does not
    log.info("scorecard challenger fitted in %.1fs", time.perf_counter() - started)
    p_card = card.predict_pd(to_model_frame(feat_test, catalogue, "validation: test"))
    iv = card.iv()
    selected = set(card.selected_)
    doc = {
        "fit_rows": int(min(len(feat_train), config.scorecard_max_fit_rows)),
        "train_rows": len(feat_train),
        "variables_offered": len(catalogue.model_columns),
        "variables_selected": len(card.selected_),
        "selected": list(card.selected_),
        "iv": [{"variable": v, "iv": float(x), "selected": v in selected} for v, x in iv.items()],
        "test": _auc_block(t.y, p_card, config.level),
    }
    paired = delong_paired(t.y, t.pd, p_card, config.level)
    vs = {
        "auc_gbm": paired.auc_a,
        "auc_scorecard": paired.auc_b,
        "diff": paired.diff,
        "se": paired.se,
        "low": paired.low,
        "high": paired.high,
        "p": paired.p_value,
        "level": paired.level,
        "sample": "test",
    }
    return doc, vs, card.binning_table()


def _model_card(
    card: ModelCard,
    label_definition: str,
    scores: pd.DataFrame,
    *,
    split: pd.Series,
    in_default: pd.Series,
    labelled: pd.Series,
    catalogue: Catalogue,
    scaling: ScoreScaling,
    grade_order: list[str],
    rejected_rows: int | None,
    samples: dict[str, Any],
) -> dict[str, Any]:
    """The card: free text from `card`, every count and window from the tables."""
    names = list(dict.fromkeys(split))
    y = scores["default"].to_numpy(dtype="float64", na_value=np.nan)
    data = {
        "rows_by_split": {s: int(split.eq(s).sum()) for s in names},
        "labelled_rows_by_split": {s: int((split.eq(s) & labelled).sum()) for s in names},
        "bad_rate_by_split": {
            s: float(np.nanmean(y[(split.eq(s) & labelled).to_numpy()]))
            for s in names
            if (split.eq(s) & labelled).any()
        },
        "windows": {s: _window(scores.loc[split.eq(s), DATE_COLUMN]) for s in names},
        "samples": {k: v["n"] for k, v in samples.items() if isinstance(v, dict)},
        "features": len(catalogue.model_columns),
        "categorical_features": len(catalogue.categorical),
    }
    exclusions = {
        "in_default_at_snapshot": {
            "rule": f"grade '{DEFAULT_GRADE}': 90+ days past due at the snapshot; not scored, "
            "outside every labelled sample",
            "by_split": {s: int((split.eq(s) & in_default).sum()) for s in names},
            "total": int(in_default.sum()),
        },
        "rejected_at_ingest": rejected_rows,
        "notes": list(card.exclusion_notes),
    }
    return {
        "model_name": card.model_name,
        "owner": card.owner,
        "purpose": card.purpose,
        "intended_use": card.intended_use,
        "label_definition": label_definition,
        "data": data,
        "exclusions": exclusions,
        "limitations": list(card.limitations),
        "scaling": scaling.to_dict(),
        "grades": list(grade_order),
    }


def _findings(doc: dict[str, Any]) -> list[str]:
    """Plain sentences a reader needs first, each quoting its numbers."""
    out = []
    summ = doc["calibration_summary"]
    for name in ("test", "holdout", "calibration"):
        s = summ[name]
        out.append(
            f"{name}: {s['red']} red, {s['amber']} amber, {s['green']} green grades; O/E "
            f"{_num(s['oe_ratio'])} [{_num(s['oe_low'])}, {_num(s['oe_high'])}]; "
            f"Hosmer-Lemeshow p {_num(doc['hosmer_lemeshow_by_sample'][name]['p'])}"
        )
    oracle = doc["oracle"]
    if oracle is not None:
        s = oracle["summary"]
        out.append(
            f"oracle (true PD on the test rows): {s['red']} red, {s['amber']} amber, "
            f"{s['green']} green; O/E {_num(s['oe_ratio'])} [{_num(s['oe_low'])}, "
            f"{_num(s['oe_high'])}]; Hosmer-Lemeshow p {_num(oracle['hosmer_lemeshow']['p'])}"
        )
        if summ["test"]["red"] > 0 and s["red"] == 0 and summ["holdout"]["red"] == 0:
            out.append(
                "red out-of-time grades while the holdout and the true PD pass: the test period "
                "carries more risk than the account data shows (a shift of the period), not a "
                "mis-fitted model"
            )
    vs = doc["vs_scorecard"]
    if vs is not None:
        out.append(
            f"model AUC {_num(vs['auc_gbm'])} vs scorecard {_num(vs['auc_scorecard'])}: diff "
            f"{_num(vs['diff'])} [{_num(vs['low'])}, {_num(vs['high'])}], p {_num(vs['p'])}"
        )
    return out


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.4f}".rstrip("0").rstrip(".")
