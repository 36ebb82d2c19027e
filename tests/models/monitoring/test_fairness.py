from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.monitoring.fairness import attach_tiers, contact_flags, fairness
from models.monitoring.thresholds import MonitorConfig
from tests.models.monitoring.book import tiers_for


def equal_risk_book(n_per_group: int = 1500) -> pd.DataFrame:
    """Two age bands with the very same PDs (so the same grades): any difference in treatment
    is not explained by risk."""
    pds = np.linspace(0.001, 0.2, n_per_group)
    rows = []
    for k, band in enumerate(("18-34", "35+")):
        rows.append(
            pd.DataFrame(
                {
                    "account_id": np.arange(n_per_group) + k * n_per_group,
                    "observation_date": pd.Timestamp("2026-01-01"),
                    "split": "score",
                    "default": pd.array([pd.NA] * n_per_group, dtype="Int8"),
                    "pd": pds,
                    "grade": np.where(
                        pds < 0.02, "1", np.where(pds < 0.05, "2", np.where(pds < 0.1, "3", "4"))
                    ),
                    "protected__age_band": band,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_tiers_skewed_against_a_group_at_equal_pd_are_flagged() -> None:
    frame = equal_risk_book()
    out = fairness(
        frame, MonitorConfig(), tiers_for(frame, skew_group="18-34"), ["1", "2", "3", "4"]
    )
    view = out["age_band"]
    groups = {g["group"]: g for g in view["groups"]}
    assert groups["18-34"]["phone_rate"] > groups["35+"]["phone_rate"]
    assert groups["18-34"]["mean_pd"] == pytest.approx(groups["35+"]["mean_pd"])
    assert view["adverse_impact_ratio"] < 0.8
    assert groups["18-34"]["air"] < 0.8 and groups["35+"]["air"] == 1.0
    # equal PD: the grade-adjusted view shows the same unequal treatment
    assert view["adverse_impact_ratio_equal_risk"] < 0.8
    kinds = {(f["kind"], f["group"]) for f in view["flags"]}
    assert ("adverse_impact", "18-34") in kinds
    assert ("adverse_impact_equal_risk", "18-34") in kinds
    # within grade 3 one group is phoned and the other is not
    g3 = {r["group"]: r for r in view["by_grade"] if r["grade"] == "3"}
    assert g3["18-34"]["phone_rate"] == 1.0 and g3["35+"]["phone_rate"] == 0.0
    assert g3["18-34"]["air"] == 0.0


def test_treatment_by_risk_alone_passes_the_four_fifths_rule() -> None:
    frame = equal_risk_book()
    out = fairness(frame, MonitorConfig(), tiers_for(frame), ["1", "2", "3", "4"])
    view = out["age_band"]
    assert view["adverse_impact_ratio"] >= 0.8
    assert view["adverse_impact_ratio_equal_risk"] >= 0.8
    assert not [f for f in view["flags"] if f["kind"].startswith("adverse_impact")]
    shares = {g["group"]: g["tier_shares"] for g in view["groups"]}
    assert shares["18-34"] == pytest.approx(shares["35+"])
    assert sum(shares["35+"].values()) == pytest.approx(1.0)


def test_riskier_group_contacted_more_is_raw_disparity_not_equal_risk_disparity() -> None:
    """One group holds the riskier accounts: raw AIR falls, the grade-adjusted AIR does not."""
    frame = equal_risk_book()
    risky = frame["pd"] > 0.1
    frame.loc[risky, "protected__age_band"] = np.where(
        np.arange(int(risky.sum())) % 5 == 0, "35+", "18-34"
    )
    view = fairness(frame, MonitorConfig(), tiers_for(frame))["age_band"]
    assert view["adverse_impact_ratio"] < 0.8
    assert view["adverse_impact_ratio_equal_risk"] >= 0.8


def test_labelled_rows_give_calibration_and_auc_per_group(mon_book) -> None:
    _, current = mon_book
    labelled = current[current["split"] != "score"].copy()
    out = fairness(labelled, MonitorConfig())["age_band"]
    assert out["labelled_rows"] == "out-of-sample: splits other than train/validation (test)"
    groups = {g["group"]: g for g in out["groups"]}
    assert set(groups) == {"18-34", "35+"}
    test = labelled[labelled["split"] == "test"]["protected__age_band"].value_counts()
    for name, g in groups.items():
        # n over every row, the label statistics over the out-of-sample (test) rows only
        assert g["n"] > g["n_labelled"] == test[name] > 0
        assert 0.6 < g["auc"] < 1.0
        assert g["oe_low"] < g["oe_ratio"] < g["oe_high"]
        assert g["contact_rate"] is None
    assert out["adverse_impact_ratio"] is None


def test_label_stats_ignore_the_development_rows(mon_book) -> None:
    """Train/validation labels are in-sample: changing them changes nothing but n and mean PD's
    rows stay all rows."""
    _, current = mon_book
    base = fairness(current, MonitorConfig())["age_band"]
    changed = current.copy()
    dev = changed["split"].isin(["train", "validation"])
    changed.loc[dev, "default"] = 1 - changed.loc[dev, "default"]  # every development label flipped
    changed.loc[changed.index[dev][:50], "split"] = "validation"
    out = fairness(changed, MonitorConfig())["age_band"]
    assert out == base
    # without a split column every labelled row counts
    everything = fairness(current.drop(columns="split"), MonitorConfig())["age_band"]
    assert everything["labelled_rows"] == "all labelled rows (no split column)"
    labelled = current["default"].notna()
    for g in everything["groups"]:
        in_group = current["protected__age_band"] == g["group"]
        assert g["n_labelled"] == int((labelled & in_group).sum())


def _random_book(seed: int, n: int = 4000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows with tied PDs, five splits, a missing group and an unlabelled current book."""
    rng = np.random.default_rng(seed)
    pd_values = np.round(rng.beta(1.0, 12.0, n), 3)  # ties across and within classes
    split = rng.choice(["train", "validation", "test", "oot", "score"], n)
    default = np.where(split == "score", np.nan, (rng.random(n) < pd_values).astype(float))
    band = rng.choice(["a", "b", "c", None], n, p=[0.45, 0.35, 0.18, 0.02])
    frame = pd.DataFrame(
        {
            "account_id": np.arange(n),
            "split": split,
            "default": pd.array(default, dtype="Float64").astype("Int8"),
            "pd": pd_values,
            "grade": np.searchsorted([0.02, 0.05, 0.1, 0.2], pd_values).astype(str),
            "protected__age_band": band,
        }
    )
    score = frame[frame["split"] == "score"]
    kept = score.sample(frac=0.8, random_state=seed)  # some of the current book untiered
    channels = rng.choice(["", "app_push", "sms;ivr", "agent_call;letter"], len(kept))
    tiers = pd.DataFrame(
        {
            "account_id": kept["account_id"].to_numpy(),
            "tier": [len(c) % 3 for c in channels],
            "tier_name": [f"T{len(c) % 3}" for c in channels],
            "channels": channels,
        }
    )
    return frame, tiers


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_statistics_equal_a_plain_groupby(seed: int) -> None:
    """Every per-group and per-grade number equals the one of a direct pandas computation over
    the rows (the cells fed to MetricFrame lose nothing), the AUC that of scikit-learn."""
    from sklearn.metrics import roc_auc_score

    frame, tiers = _random_book(seed)
    view = fairness(frame, MonitorConfig(min_group_size=1), tiers)["age_band"]
    rows = frame.assign(group=frame["protected__age_band"].fillna("missing"))
    rows = rows.merge(tiers[["account_id", "tier_name", "channels"]], on="account_id", how="left")
    rows["phoned"] = rows["channels"].str.contains("ivr|agent_call")
    rows["contacted"] = rows["channels"].str.len() > 0
    oos = rows[rows["default"].notna() & ~rows["split"].isin(["train", "validation"])]
    tiered = rows[rows["channels"].notna()]
    groups = {g["group"]: g for g in view["groups"]}
    assert list(groups) == sorted(rows["group"].unique())
    assert "missing" in groups and len(tiered) and len(oos)
    for name, g in groups.items():
        own = rows[rows["group"] == name]
        lab = oos[oos["group"] == name]
        tie = tiered[tiered["group"] == name]
        assert g["n"] == len(own)
        assert g["mean_pd"] == pytest.approx(own["pd"].mean(), rel=1e-12)
        assert g["n_labelled"] == len(lab)
        y = lab["default"].astype(float)
        assert g["observed_rate"] == pytest.approx(y.mean(), rel=1e-12)
        assert g["oe_ratio"] == pytest.approx(y.sum() / lab["pd"].sum(), rel=1e-12)
        assert g["auc"] == pytest.approx(roc_auc_score(y, lab["pd"]), rel=1e-12)
        assert g["n_tiered"] == len(tie)
        assert g["contact_rate"] == pytest.approx(tie["contacted"].mean(), rel=1e-12)
        assert g["phone_rate"] == pytest.approx(tie["phoned"].mean(), rel=1e-12)
        shares = tie["tier_name"].value_counts(normalize=True)
        assert g["tier_shares"] == pytest.approx(shares.reindex(sorted(g["tier_shares"])).to_dict())
    by_grade = tiered.groupby(["grade", "group"])
    expected = {
        (gr, gp): (len(s), s["contacted"].mean(), s["phoned"].mean()) for (gr, gp), s in by_grade
    }
    got = {
        (r["grade"], r["group"]): (r["n"], r["contact_rate"], r["phone_rate"])
        for r in view["by_grade"]
    }
    assert set(got) == set(expected)
    for key, (n, contact, phone) in expected.items():
        assert got[key][0] == n
        assert got[key][1:] == pytest.approx((contact, phone), rel=1e-12)
    # grade-mix adjusted rate: observed over what the book's per-grade rates predict
    grade_rate = tiered.groupby("grade")["phoned"].mean()
    book_rate = tiered["phoned"].mean()
    for name, g in groups.items():
        tie = tiered[tiered["group"] == name]
        adjusted = tie["phoned"].sum() / tie["grade"].map(grade_rate).sum() * book_rate
        assert g["adjusted_rate"] == pytest.approx(adjusted, rel=1e-12)


def test_group_with_understated_pd_is_flagged() -> None:
    n = 3000
    frame = pd.DataFrame(
        {
            "pd": np.full(2 * n, 0.05),
            "grade": "2",
            "default": np.r_[np.arange(n) < 150, np.arange(n) < 450].astype(float),
            "protected__age_band": ["a"] * n + ["b"] * n,
        }
    )
    out = fairness(frame, MonitorConfig())["age_band"]
    flagged = {f["group"] for f in out["flags"] if f["kind"] == "calibration"}
    assert flagged == {"b"}


def test_contact_flags_read_the_channel_vocabulary() -> None:
    contacted, phoned = contact_flags(
        ["", "app_push", "sms;email;priority_agent_call;letter", "legal_review_queue", None]
    )
    assert list(contacted) == [False, True, True, False, False]
    assert list(phoned) == [False, False, True, False, False]
    with pytest.raises(ValueError, match="unknown channel"):
        contact_flags(["carrier_pigeon"])


def test_tiers_join_the_current_book_only_when_the_tiers_have_no_date() -> None:
    frame = pd.DataFrame(
        {
            "account_id": [1, 1, 2],
            "observation_date": pd.to_datetime(["2025-01-01", "2026-01-01", "2026-01-01"]),
            "split": ["test", "score", "score"],
        }
    )
    tiers = pd.DataFrame(
        {"account_id": [1, 2], "tier": [2, 0], "tier_name": ["T2", "T0"], "channels": ["ivr", ""]}
    )
    out = attach_tiers(frame, tiers)
    assert out["phoned"].isna().tolist() == [True, False, False]
    assert out["phoned"].tolist()[1:] == [1.0, 0.0]


def test_a_configured_protected_column_missing_from_the_rows_is_an_error(mon_book) -> None:
    _, current = mon_book
    config = MonitorConfig(protected=("protected__age_band", "protected__gender"))
    with pytest.raises(ValueError, match=r"\['protected__gender'\] are not in the monitored rows"):
        fairness(current, config)
