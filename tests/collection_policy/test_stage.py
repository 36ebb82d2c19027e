"""The `tiers` stage end to end on small hand-made inputs (no other stage needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core.errors import ConfigError, DataValidationError, PipelineError
from pipelines.tiers import STAGE, main

from .conftest import POLICY_PATH, REPO, book_tables


def _write_params(path: Path, **tiers: object) -> None:
    """The repository's params.yaml with the tiers section changed."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["tiers"] = {**params["tiers"], "policy": str(POLICY_PATH), **tiers}
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _inputs(
    tmp: Path,
    n: int = 400,
    with_score_split: bool = True,
    currency: str | None = "CNY",
    fx_to_policy: float | None = None,
) -> dict[str, Path]:
    scores, features = book_tables(n, with_score_split)
    tmp.mkdir(parents=True, exist_ok=True)
    paths = {
        "scores": tmp / "scores.parquet",
        "features": tmp / "features.parquet",
        "params": tmp / "params.yaml",
    }
    scores.to_parquet(paths["scores"], index=False)
    features.to_parquet(paths["features"], index=False)
    _write_catalogue(tmp, currency=currency, fx_to_policy=fx_to_policy)
    _write_params(paths["params"], mode="rules", score_file=None)
    return paths


def _write_catalogue(tmp: Path, **amounts: object) -> None:
    """The catalogue beside the feature table (the tiers stage reads the book's currency)."""
    from core.catalogue import Catalogue, FeatureSpec
    from core.io import write_json

    catalogue = Catalogue([FeatureSpec("pd_proxy", "float")], **amounts)  # type: ignore[arg-type]
    write_json(catalogue.to_dict(), tmp / "catalogue.json")


def _run(tmp: Path, paths: dict[str, Path], *extra: str) -> dict[str, Path]:
    out = {
        "tiers": tmp / "out" / "tiers.parquet",
        "summary": tmp / "reports" / "tiers.json",
        "headline": tmp / "reports" / "headline" / "tiers.json",
        "plot": tmp / "reports" / "tiers.png",
        "policy_summary": tmp / "reports" / "policy_summary.md",
    }
    argv = [
        "--params", str(paths["params"]),
        "--scores", str(paths["scores"]),
        "--features", str(paths["features"]),
        *(["--reasons", str(paths["reasons"])] if "reasons" in paths else []),
        "--tiers", str(out["tiers"]),
        "--summary", str(out["summary"]),
        "--headline", str(out["headline"]),
        "--plot", str(out["plot"]),
        "--policy-summary", str(out["policy_summary"]),
        *extra,
    ]  # fmt: skip
    STAGE.invoke(main, argv)
    return out


def test_stage_tiers_the_current_book(tmp_path):
    paths = _inputs(tmp_path)
    out = _run(tmp_path, paths)
    tiers = pd.read_parquet(out["tiers"])
    assert len(tiers) == 200 and set(tiers["split"]) == {"score"}
    assert tiers["account_id"].is_unique
    for col in ("account_id", "pd", "score", "grade", "tier", "channels", "caps", "offer", "rule"):
        assert col in tiers
    assert {"guardrails", "reasons", "ev_tier", "rule_tier", "policy_version"} <= set(tiers.columns)
    assert (tiers["reasons"] == "").all()  # no --reasons: tiered without them, on purpose
    # joined on keys, not on position: the feature table was shuffled
    feats = pd.read_parquet(paths["features"]).set_index("account_id")
    np.testing.assert_array_equal(
        tiers["days_past_due"].to_numpy(),
        feats.loc[tiers["account_id"], "policy__days_past_due"].to_numpy(),
    )
    s = json.loads(out["summary"].read_text())
    assert s["accounts"] == 200 and s["population"] == "score"
    assert sum(t["accounts"] for t in s["tiers"].values()) == 200
    assert s["backtest"]["split"] == "test" and s["backtest"]["labelled"] == 200
    assert "bad_rate" in s["backtest"]["tiers"]["T0"]
    assert out["plot"].stat().st_size > 10_000
    headline = json.loads(out["headline"].read_text())
    assert headline["accounts"] == 200
    assert headline["tier_share"] == {k: t["share"] for k, t in s["tiers"].items()}
    assert (
        headline["bad_rate_rises_with_rules_tier"]
        == s["backtest"]["bad_rate_rises_with_rules_tier"]
    )
    assert "fingerprint" not in json.dumps(headline)  # only numbers a reviewer compares
    md = out["policy_summary"].read_text()
    assert md.startswith("# Collection policy") and "first_time_small_overdue_grace" in md


def test_stage_joins_top_reasons(tmp_path):
    paths = _inputs(tmp_path)
    scores = pd.read_parquet(paths["scores"])
    book = scores[scores["split"] == "score"].head(3)
    reasons = pd.DataFrame(
        {
            "account_id": np.repeat(book["account_id"].to_numpy(), 2),
            "observation_date": np.repeat(book["observation_date"].to_numpy(), 2),
            "rank": [2, 1] * 3,
            "feature": ["f2", "f1"] * 3,
            "value": ["x", "y"] * 3,
            "contribution": [0.1, 0.3] * 3,
            "text": ["second reason", "first reason"] * 3,
        }
    )
    paths["reasons"] = tmp_path / "reasons.parquet"
    reasons.to_parquet(paths["reasons"], index=False)
    tiers = pd.read_parquet(_run(tmp_path, paths)["tiers"]).set_index("account_id")
    assert tiers.loc[book["account_id"].iloc[0], "reasons"] == "first reason; second reason"
    assert (tiers["reasons"] != "").sum() == 3


def test_stage_expected_value_mode_and_test_split_fallback(tmp_path):
    paths = _inputs(tmp_path, with_score_split=False)
    _write_params(paths["params"], mode="expected_value")
    out = _run(tmp_path, paths)
    tiers = pd.read_parquet(out["tiers"])
    assert set(tiers["split"]) == {"test"} and (tiers["mode"] == "expected_value").all()
    assert (tiers["tier"] == tiers["ev_tier"]).all()
    s = json.loads(out["summary"].read_text())
    assert s["population"] == "test" and "backtest" not in s
    assert s["labelled"] == 200 and s["bad_rate_rises_with_rules_tier"] in (True, False, None)


def test_stage_rejects_unmatched_accounts(tmp_path):
    paths = _inputs(tmp_path)
    feats = pd.read_parquet(paths["features"])
    feats = feats[feats["account_id"] != 5]
    feats.to_parquet(paths["features"], index=False)
    with pytest.raises(DataValidationError, match="no row in the feature table"):
        _run(tmp_path, paths)


def test_stage_tiers_a_score_file_when_no_current_book(tmp_path):
    paths = _inputs(tmp_path, with_score_split=False)
    scores = pd.read_parquet(paths["scores"]).head(50)
    feats = pd.read_parquet(paths["features"]).drop(
        columns=["split", "default", "observation_date"]
    )
    book = scores.drop(columns=["split", "observation_date"]).merge(feats, on="account_id")
    book.to_parquet(tmp_path / "book.parquet", index=False)
    _write_params(paths["params"], score_file=str(tmp_path / "book.parquet"))
    out = _run(tmp_path, paths)
    tiers = pd.read_parquet(out["tiers"])
    assert len(tiers) == 50 and set(tiers["split"]) == {"score_file"}
    s = json.loads(out["summary"].read_text())
    assert s["population"].startswith("score_file:") and s["backtest"]["split"] == "test"


def test_stage_rejects_a_bad_tiers_param_before_reading_data(tmp_path):
    paths = _inputs(tmp_path)
    _write_params(paths["params"], backtest_split="score")
    with pytest.raises(ConfigError, match="tiers.backtest_split: expected one of"):
        _run(tmp_path, paths)
    assert not (tmp_path / "out").exists()


def test_stage_names_the_stage_to_run_when_scores_are_missing(tmp_path):
    paths = _inputs(tmp_path)
    paths["scores"].unlink()
    with pytest.raises(PipelineError, match="run the train stage"):
        _run(tmp_path, paths)


def test_stage_names_the_explain_stage_when_the_reasons_file_is_missing(tmp_path):
    paths = _inputs(tmp_path)
    paths["reasons"] = tmp_path / "explanations" / "reasons.parquet"
    with pytest.raises(PipelineError, match="reasons.parquet' not found; run the explain stage"):
        _run(tmp_path, paths)
    assert not (tmp_path / "out").exists()  # nothing tiered with an empty reasons column


def test_stage_takes_the_policy_from_params_only():
    flags = {a.dest: a for a in STAGE.parser()._actions}
    assert "policy" not in flags  # params.yaml tiers.policy is the one source
    assert not flags["reasons"].required  # tiering without reasons: omit --reasons


def _truth(tmp: Path, n: int) -> Path:
    """A truth folder as the ingest stage writes it for the built-in book (cure effects, macro)."""
    truth = tmp / "truth"
    truth.mkdir()
    rng = np.random.default_rng(4)
    pd.DataFrame(
        {"account_id": np.arange(n, dtype=np.int64), "slow_cure": rng.normal(0, 0.5, n)}
    ).to_parquet(truth / "customer_effects.parquet", index=False)
    pd.DataFrame(
        {"month": pd.date_range("2024-06-01", periods=24, freq="MS"), "macro_factor": 0.0}
    ).to_parquet(truth / "macro.parquet", index=False)
    return truth


def _rates(tmp: Path, paths: dict[str, Path], truth: Path | None = None) -> Path:
    """Run the collection_rates stage on the same inputs; its rates file."""
    from pipelines.collection_rates import STAGE as RATES
    from pipelines.collection_rates import main as rates_main

    out = tmp / "collection" / "ev_rates.json"
    argv = [
        "--params", str(paths["params"]),
        "--scores", str(paths["scores"]),
        "--features", str(paths["features"]),
        "--truth-dir", str(truth) if truth else "",
        "--ev-rates", str(out),
    ]  # fmt: skip
    RATES.invoke(rates_main, argv)
    return out


def test_rates_learned_from_a_simulated_history_reach_the_tiers_report(tmp_path):
    paths = _inputs(tmp_path, n=4000)
    truth = _truth(tmp_path, 4000)
    rates_file = _rates(tmp_path, paths, truth)
    stored = json.loads(rates_file.read_text())
    assert stored["format"] == "ev_rates/1" and stored["rows"] > 0
    out = _run(tmp_path, paths, "--truth-dir", str(truth), "--ev-rates", str(rates_file))
    summary = json.loads(out["summary"].read_text())
    rates = summary["ev_rates"]
    assert rates["source"].startswith("simulated history: the test split")
    assert rates["rows"] == stored["rows"] and rates["uplift"]["1-30"]["T1"] == 0.0
    assert set(rates["true_uplift"]) == set(rates["uplift"])  # the known answer beside it
    assert "simultaneous" in summary["experiment"]["uplift_intervals"]
    assert summary["arms"]["challenger"]["uplift"]["cure_rate"]["true"] is not None


def test_rates_learned_from_a_lenders_outcome_log(tmp_path):
    paths = _inputs(tmp_path)
    rng = np.random.default_rng(8)
    n = 3000
    log = pd.DataFrame(
        {
            "tier": rng.integers(1, 4, n),
            "days_past_due": rng.choice([5, 20, 45], n),
            "pd": rng.uniform(0.01, 0.6, n),
        }
    )
    log["cured"] = (rng.random(n) < 0.3 + 0.1 * log["tier"]).astype(int)
    log_path = tmp_path / "collection_log.csv"
    log.to_csv(log_path, index=False)
    _write_params(
        paths["params"], mode="expected_value", score_file=None, history_file=str(log_path)
    )
    rates_file = _rates(tmp_path, paths)
    summary = json.loads(
        _run(tmp_path, paths, "--ev-rates", str(rates_file))["summary"].read_text()
    )
    assert summary["ev_rates"]["source"] == f"outcome history {log_path}"
    assert summary["ev_rates"]["uplift"]["1-30"]["T3"] > summary["ev_rates"]["uplift"]["1-30"]["T2"]
    assert "true_uplift" not in summary["ev_rates"]  # a lender's book has no truth
    tiers = pd.read_parquet(tmp_path / "out" / "tiers.parquet")
    assert (tiers["tier"] == tiers["ev_tier"]).all()  # expected-value mode tiers with the rates

    log.drop(columns="cured").to_csv(log_path, index=False)
    with pytest.raises(DataValidationError, match=r"collection_log\.csv.*cured"):
        _rates(tmp_path, paths)


def test_without_history_the_policys_assumed_rates_stand(tmp_path):
    paths = _inputs(tmp_path)
    rates_file = _rates(tmp_path, paths)
    assert json.loads(rates_file.read_text()) == {
        "format": "ev_rates/1",
        "source": "policy assumptions",
    }
    summary = json.loads(
        _run(tmp_path, paths, "--ev-rates", str(rates_file))["summary"].read_text()
    )
    assert summary["ev_rates"] == {"source": "policy assumptions"}
    with pytest.raises(DataValidationError, match="collection_rates stage"):
        _run(tmp_path, paths, "--ev-rates", str(tmp_path / "absent.json"))


def test_amounts_in_another_currency_are_converted_or_refused(tmp_path):
    """A book in HKD against a CNY policy: the floors compare converted amounts; without a rate
    the stage stops naming both currencies."""
    base = _inputs(tmp_path / "cny", n=400)
    cny = pd.read_parquet(_run(tmp_path / "cny", base)["tiers"])
    hkd = _inputs(tmp_path / "hkd", n=400, currency="HKD", fx_to_policy=0.5)
    feats = pd.read_parquet(hkd["features"])
    for column in ("policy__overdue_amount", "policy__outstanding_balance"):
        feats[column] = feats[column] * 2  # the same debts written in a currency worth half
    feats.to_parquet(hkd["features"], index=False)
    out = _run(tmp_path / "hkd", hkd)
    converted = pd.read_parquet(out["tiers"])
    assert converted["tier"].tolist() == cny["tier"].tolist()
    np.testing.assert_allclose(converted["overdue_amount"], cny["overdue_amount"])
    summary = json.loads(out["summary"].read_text())
    assert summary["amounts"]["book_currency"] == "HKD"
    none = _inputs(tmp_path / "norate", n=400, currency="HKD", fx_to_policy=None)
    with pytest.raises(
        DataValidationError, match="in HKD but the collection policy's floors are in CNY"
    ):
        _run(tmp_path / "norate", none)
