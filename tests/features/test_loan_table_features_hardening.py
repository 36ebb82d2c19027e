"""Loan-table features (issue 16): Unicode names, float32 range, borrower groups, leak suspects,
too-small tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue, FeatureSpec
from core.errors import DataValidationError
from features.build import run_features
from features.loan_table_features import TableFeatureConfig, build_table_features
from features.quality import (
    POST_OUTCOME_NAME_PATTERNS,
    LeakageError,
    TooFewRowsError,
    check_leakage,
    data_quality_report,
    flag_leak_suspects,
    post_outcome_name,
)
from features.split import GROUP, SplitConfig, random_split, time_fraction_split
from models.explain.explain_report import build_html, leak_suspects_from_quality
from tests.features.configs import features_config
from tests.features.test_build import table_raw

CFG = TableFeatureConfig(date_parts=False, max_categories=50)


def _loans(n: int = 200, seed: int = 0, **columns) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "account_id": [f"L{i}" for i in range(n)],
            "observation_date": pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(n), "D"),
            "default": pd.array(rng.random(n) < 0.2, dtype="Int8"),
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


# ---------------------------------------------------------------------------------- names
def test_unicode_column_names_keep_their_meaning():
    rng = np.random.default_rng(1)
    loans = _loans(**{"amount": rng.uniform(1, 9, 200)})
    loans["住房 类型"] = rng.choice(["租房", "自有"], 200)
    loans["月收入"] = rng.uniform(1000, 9000, 200)
    frame, cat = build_table_features(loans, pd.Series(["train"] * 200), cfg=CFG)
    assert cat.model_columns == ["amount", "住房_类型", "月收入"]  # never `col`, `col_2`
    assert cat.spec("住房_类型").sources == ["住房 类型"]  # the original name is kept
    assert "住房 类型" in cat.spec("住房_类型").description
    assert set(frame["住房_类型"].dropna()) == {"租房", "自有"}


def test_a_value_beyond_float32_stops_the_features_stage():
    amounts = np.r_[1e300, np.arange(199.0)]
    with pytest.raises(DataValidationError, match="column 'amount', row 0: value 1e\\+300"):
        build_table_features(_loans(amount=amounts), pd.Series(["train"] * 200), cfg=CFG)


# ---------------------------------------------------------------------------------- groups
def _borrowers(n_borrowers: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    loans_each = rng.integers(1, 5, n_borrowers)
    group = np.repeat([f"B{i}" for i in range(n_borrowers)], loans_each)
    n = len(group)
    return pd.DataFrame(
        {
            "observation_date": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 700, n), "D"),
            "default": pd.array(rng.random(n) < 0.15, dtype="Int8"),
            GROUP: group,
        }
    )


def _one_split_each(frame: pd.DataFrame, split: pd.Series) -> bool:
    return bool((pd.Series(split.to_numpy()).groupby(frame[GROUP].to_numpy()).nunique() == 1).all())


@pytest.mark.parametrize("splitter", [random_split, time_fraction_split])
def test_group_column_keeps_each_borrower_in_one_split(splitter):
    frame = _borrowers()
    cfg = SplitConfig(0.2, 0.2, test_periods=1, seed=3)
    split = splitter(frame, cfg)
    assert _one_split_each(frame, split)
    assert set(split) == {"train", "validation", "test"}
    assert not _one_split_each(frame, splitter(frame.drop(columns=[GROUP]), cfg))  # the old way


def test_group_id_is_never_a_feature():
    loans = _loans(amount=np.arange(200.0), **{GROUP: [f"B{i // 2}" for i in range(200)]})
    _, cat = build_table_features(loans, pd.Series(["train"] * 200), cfg=CFG)
    assert cat.model_columns == ["amount"]


# ---------------------------------------------------------------------------- leak suspects
LENDING_CLUB_POST_OUTCOME = [
    "paid_total",
    "paid_principal",
    "paid_late_fees",
    "recoveries",
    "collection_recovery_fee",
    "last_pymnt_amnt",
    "out_prncp",
    "total_rec_prncp",
    "total_rec_int",
    "settlement_amount",
    "chargeoff_within_12_mths",
]


@pytest.mark.parametrize("name", LENDING_CLUB_POST_OUTCOME)
def test_post_outcome_names_are_suspects(name):
    assert post_outcome_name(name), POST_OUTCOME_NAME_PATTERNS


@pytest.mark.parametrize("name", ["loan_amnt", "annual_inc", "dti", "grade", "租房类型"])
def test_application_names_are_not(name):
    assert post_outcome_name(name) is None


def _report(**features) -> pd.DataFrame:
    rows = [
        {"feature": k, "auc": auc, "iv": iv, "train_rows": 5000, "train_defaults": 800}
        for k, (auc, iv) in features.items()
    ]
    return pd.DataFrame(rows)


def test_suspects_short_of_the_stop_are_flagged_with_a_reason(caplog):
    report = _report(
        paid_total=(0.80, 0.9),
        out_prncp=(0.62, 0.1),
        strong=(0.85, 0.7),
        dti=(0.60, 0.05),
    )
    flagged = flag_leak_suspects(report, 0.95, allowed=["out_prncp"])
    suspect = dict(zip(flagged["feature"], flagged["leak_suspect"], strict=True))
    assert suspect == {"paid_total": True, "out_prncp": True, "strong": True, "dti": False}
    reason = dict(zip(flagged["feature"], flagged["leak_reason"], strict=True))
    assert (
        "IV 0.90 above 0.5" in reason["paid_total"] and "payments received" in reason["paid_total"]
    )
    assert reason["strong"] == "IV 0.70 above 0.5" and reason["dti"] is None
    acknowledged = flagged.set_index("feature")["leak_acknowledged"]
    assert acknowledged["out_prncp"] and not acknowledged["paid_total"]
    assert "leak suspect 'paid_total'" in caplog.text
    assert check_leakage(flagged, 0.95) == []  # a warning, not a stop


def test_the_built_in_book_is_not_judged_by_name_or_iv():
    flagged = flag_leak_suspects(_report(paid_ratio_3m=(0.7, 0.8)), 0.95, by_name_and_iv=False)
    assert not flagged["leak_suspect"].any()


def test_a_loan_table_reports_suspects_in_data_quality():
    raw = table_raw(leaky=False, n=2000)
    rng = np.random.default_rng(5)
    raw.tables["loans.parquet"]["last_pymnt_amnt"] = rng.uniform(0, 500, 2000)
    result = run_features(raw, features_config())
    records = {r["feature"]: r for r in result.summary["features"]}
    assert records["last_pymnt_amnt"]["leak_suspect"] is True
    assert "last payment" in records["last_pymnt_amnt"]["leak_reason"]
    assert records["income"]["leak_suspect"] is False
    result.raise_if_unusable()  # suspects warn; only the AUC threshold stops


def test_the_explanation_report_lists_leak_suspects():
    records = [
        {"feature": "paid_total", "leak_suspect": True, "leak_reason": "IV 0.9 above 0.5"},
        {"feature": "dti", "leak_suspect": False, "leak_reason": None},
        {
            "feature": "out_prncp",
            "leak_suspect": True,
            "leak_reason": "x",
            "leak_acknowledged": True,
        },
    ]
    suspects = leak_suspects_from_quality(records)
    assert list(suspects) == ["paid_total", "out_prncp"] and "acknowledged" in suspects["out_prncp"]
    empty = pd.DataFrame()
    page = build_html(
        title="t",
        summary={},
        metrics=None,
        importance=empty,
        images={k: b"" for k in ("importance", "beeswarm", "by_grade", "reasons")},
        dependence={},
        distribution=empty,
        accounts=[],
        checks={},
        leak_suspects=suspects,
    )
    assert "Leak suspects" in page and "paid_total" in page and "IV 0.9 above 0.5" in page


# --------------------------------------------------------------------------- too few rows
def test_a_tiny_table_says_too_few_rows_not_leakage():
    n = 30
    y = np.r_[np.ones(6), np.zeros(n - 6)]
    frame = pd.DataFrame({"default": pd.array(y, dtype="Int8"), "loan_amount": y * 10 + 1})
    cat = Catalogue(features=[FeatureSpec("loan_amount", "float")])
    report = data_quality_report(frame, cat, reference=np.ones(n, bool), comparison=None)
    assert report.loc[0, "auc"] == 1.0
    with pytest.raises(TooFewRowsError, match="too few rows.*30 labelled training rows") as err:
        check_leakage(report, 0.95)
    assert not isinstance(err.value, LeakageError)
