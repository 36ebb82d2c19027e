"""run_features on the generated book and on a loan table: table, splits, quality, guards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue, to_model_frame
from core.contracts import FEATURES, RAW_LOANS, RAW_STATEMENTS
from core.errors import ConfigError, DataValidationError
from features.build import run_features
from features.ingest import ingest_synthetic
from features.quality import LeakageError
from features.raw import RawData
from tests.features.configs import features_config, synthetic_config


@pytest.fixture(scope="module")
def synthetic_raw() -> RawData:
    result = ingest_synthetic(synthetic_config(n_customers=6000, seed=3), 0.2)
    return RawData("synthetic", result.tables, [], Path("raw"))


@pytest.fixture(scope="module")
def synthetic_result(synthetic_raw):
    return run_features(synthetic_raw, features_config())


def test_synthetic_book_strongest_features_are_delinquency_history(synthetic_result):
    frame, cat, summary = (
        synthetic_result.frame,
        synthetic_result.catalogue,
        synthetic_result.summary,
    )
    assert list(frame.columns[:4]) == ["account_id", "observation_date", "default", "split"]
    assert set(frame["split"]) == {"train", "validation", "test", "score"}
    assert frame.loc[frame["split"] == "score", "default"].isna().all()
    assert frame.loc[frame["split"] != "score", "default"].notna().all()
    FEATURES.check(frame, "features.parquet")
    model = to_model_frame(frame, cat)
    assert model.shape == (len(frame), len(cat.features))
    top = [r["feature"] for r in summary["features"][:5]]
    history = ("dpd", "delinquen", "late_payments", "payment_ratio")
    assert all(any(h in f for h in history) for f in top), top
    assert summary["max_auc"] < 0.95  # leakage guard silent on the built-in book
    assert {"missing_rate", "distinct", "iv", "auc", "psi"} <= set(summary["features"][0])
    assert summary["comparison_split"] == "score"
    synthetic_result.raise_if_unusable()


def test_headline_is_the_few_numbers_a_reviewer_compares(synthetic_result):
    summary = synthetic_result.summary
    assert synthetic_result.headline == {
        "rows": summary["rows"],
        "n_features": len(synthetic_result.catalogue.features),
        "max_single_feature_auc": summary["max_auc"],
        "max_psi": summary["max_psi"],
    }
    assert summary["max_psi"] == pytest.approx(float(synthetic_result.quality["psi"].max()))


def test_the_built_in_book_skips_nothing(synthetic_result):
    assert synthetic_result.summary["skipped_features"] == []


def test_skipped_features_are_reported_in_the_data_quality_summary(synthetic_raw):
    """A book without minimum dues: the features that read them are absent (not filled) and the
    summary (reports/data_quality.json) names each with the column it lacks."""
    tables = dict(synthetic_raw.tables)
    tables[RAW_STATEMENTS.file] = tables[RAW_STATEMENTS.file].drop(columns=["min_due"])
    raw = RawData("synthetic", tables, [], Path("raw"))
    result = run_features(raw, features_config())
    skipped = result.summary["skipped_features"]
    windows = features_config().windows
    assert [s["feature"] for s in skipped] == [
        *(f"payment_ratio_min_mean_{w}m" for w in windows),
        *(f"late_payments_{w}m" for w in windows),
    ]
    assert all("statements.min_due" in s["missing"] for s in skipped)
    names = {s["feature"] for s in skipped}
    assert not names & set(result.catalogue.model_columns)
    assert not names & set(result.frame.columns)
    assert not names & {f["feature"] for f in result.summary["features"]}
    assert result.summary["n_features"] == len(result.catalogue.features)
    json.dumps(result.summary, allow_nan=False)  # written as JSON by the stage


def test_catalogue_round_trips(synthetic_result):
    cat = synthetic_result.catalogue
    assert Catalogue.from_dict(cat.to_dict()).model_columns == cat.model_columns


def table_raw(leaky: bool, n: int = 3000) -> RawData:
    rng = np.random.default_rng(0)
    y = rng.random(n) < 0.15
    loans = pd.DataFrame(
        {
            "account_id": [str(i) for i in range(n)],
            "observation_date": pd.Timestamp("2019-01-01") + pd.to_timedelta(np.arange(n), "D"),
            "default": pd.array(y, dtype="Int8"),
            "income": rng.lognormal(10, 0.5, n),
            "dti": y * 5 + rng.normal(20, 8, n),
            "purpose": rng.choice(["car", "home", "debt"], n),
            "sex": rng.choice(["f", "m"], n),
        }
    )
    if leaky:
        loans["recoveries"] = np.where(y, rng.uniform(100, 900, n), 0.0)
    return RawData("table", {RAW_LOANS.file: loans}, ["sex"], Path("raw"))


def test_table_source_out_of_time_with_protected():
    result = run_features(table_raw(leaky=False), features_config())
    frame, cat = result.frame, result.catalogue
    assert cat.model_columns == ["income", "dti", "purpose"]
    assert cat.protected == ["protected__sex"] and "protected__sex" in frame
    test_dates = frame.loc[frame["split"] == "test", "observation_date"]
    assert test_dates.min() > frame.loc[frame["split"] != "test", "observation_date"].max()
    assert result.summary["comparison_split"] == "test"
    result.raise_if_unusable()


def test_a_leaky_column_is_reported_then_stops_unless_allowed():
    result = run_features(table_raw(leaky=True), features_config())
    assert result.quality.iloc[0]["feature"] == "recoveries"
    assert bool(result.quality.iloc[0]["leak_suspect"])
    with pytest.raises(LeakageError, match="recoveries"):
        result.raise_if_unusable()
    allowed = run_features(
        table_raw(leaky=True), features_config(allow_leaky_features=("recoveries",))
    )
    allowed.raise_if_unusable()
    assert allowed.summary["features"][0]["feature"] == "recoveries"
    assert allowed.summary["allowed_leaky_features"] == ["recoveries"]


def test_an_unknown_name_in_the_leak_allow_list_is_a_params_error():
    result = run_features(
        table_raw(leaky=False, n=400),
        features_config(allow_leaky_features=("income", "recoverys")),
    )
    with pytest.raises(
        ConfigError, match=r"params.yaml: features.allow_leaky_features: .*\['recoverys'\]"
    ):
        result.raise_if_unusable()


def test_no_labelled_training_rows_stops():
    raw = table_raw(leaky=False, n=400)
    result = run_features(raw, features_config())
    import pyarrow as pa

    frame = result.frame  # a copy: the result holds the Arrow table the stage writes
    frame.loc[frame["split"] == "train", "default"] = pd.NA
    result.table = pa.Table.from_pandas(frame, preserve_index=False)
    with pytest.raises(DataValidationError, match="no labelled training rows"):
        result.raise_if_unusable()
