"""The built-in book written out as a lender's CSV files with its own column names, read back
through `data.source: history`, gives the same feature table and the same model as the
synthetic source. What must differ: the ids are text (as a lender writes them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.contracts import RAW_ATTRIBUTES, RAW_CUSTOMERS, RAW_OBSERVATIONS, RAW_STATEMENTS
from features.build import FeaturesConfig, run_features
from features.raw import RawData, read_raw
from features.split import SplitConfig
from models.training import train_pd
from tests.features.history_helpers import export_history, history_params, small_book
from tests.features.test_history_ingest import config, ingest
from tests.models.train_helpers import fast_train_config

CFG = FeaturesConfig(
    windows=(3, 6, 12),
    max_lookback_months=24,
    leakage_auc_threshold=0.95,
    allow_leaky_features=(),
    date_parts=False,
    max_categories=50,
    split=SplitConfig(0.2, 0.2, 1, 42),
)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("roundtrip")
    book = small_book(2500, seed=9)
    tables = {
        RAW_CUSTOMERS.file: book.customers,
        RAW_STATEMENTS.file: book.statements,
        RAW_OBSERVATIONS.file: book.observations,
        RAW_ATTRIBUTES.file: book.attributes,
    }
    synthetic = run_features(RawData("synthetic", tables, [], root), CFG)
    files = export_history(book, root / "ext")
    raw, _ = ingest(root, config(root, history_params(files)))
    history = run_features(read_raw(raw), CFG)
    return synthetic, history


def test_the_same_feature_table_with_ids_as_text(both):
    synthetic, history = both
    s, h = synthetic.frame, history.frame
    assert list(h.columns) == list(s.columns)
    assert h["account_id"].tolist() == s["account_id"].astype(str).tolist()
    for column in s.columns.drop("account_id"):
        pd.testing.assert_series_equal(h[column], s[column], check_names=True), column
    assert history.catalogue == synthetic.catalogue
    assert history.summary["skipped_features"] == synthetic.summary["skipped_features"] == []


def test_the_same_model(both):
    synthetic, history = both
    config = fast_train_config(num_boost_round=60)
    s = train_pd(synthetic.frame, synthetic.catalogue, None, config)
    h = train_pd(history.frame, history.catalogue, None, config)
    assert h.model.booster.model_to_string() == s.model.booster.model_to_string()
    np.testing.assert_array_equal(h.scores["pd"].to_numpy(), s.scores["pd"].to_numpy())
    assert h.metrics["test"]["auc"] == s.metrics["test"]["auc"]


def test_a_lender_without_the_optional_columns_gets_fewer_features_never_filled(tmp_path):
    book = small_book(1500, seed=4)
    gone = ("min_due", "payment_date", "instalment_plans", "overdue_amount")
    files = export_history(book, tmp_path / "ext", drop_statement_columns=gone)
    params = history_params(files)
    for name in gone:
        params["columns"].pop(name)
    raw, _ = ingest(tmp_path, config(tmp_path, params))
    result = run_features(read_raw(raw), CFG)
    skipped = {s["feature"]: s["missing"] for s in result.summary["skipped_features"]}
    assert "payment_ratio_min_mean_3m" in skipped and "overdue_amount_current" in skipped
    assert all(m and all(c.startswith("statements.") for c in m) for m in skipped.values())
    frame = result.frame
    for name in result.catalogue.model_columns:  # nothing is constant because of filler
        assert frame[name].nunique(dropna=True) > 1, name
    assert frame["policy__overdue_amount"].isna().all()  # never guessed
