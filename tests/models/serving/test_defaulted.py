"""The served model treats an account in default (90+ DPD) as the train stage does: not scored."""

from __future__ import annotations

import numpy as np

from models.scaling import DEFAULT_GRADE
from models.serving.pyfunc import ServingBundle, request_columns, to_request_frame

from .conftest import POLICY, REASONS, TOP_K, serving_catalogue, serving_config, serving_table


def test_a_request_at_90_dpd_gets_pd_one_grade_d_no_score_and_a_tier(tmp_path):
    from models.pd_estimator import PDEstimator
    from tests.models.train_helpers import fast_train_config

    df = serving_table(n=3000, seed=5)
    model = (
        PDEstimator(fast_train_config(num_boost_round=50), serving_catalogue())
        .fit(df[df["split"] == "train"], df[df["split"] == "validation"])
        .model_
    )
    model.save(tmp_path / "model")
    bundle = ServingBundle.load(tmp_path / "model", POLICY, REASONS, serving_config(top_k=TOP_K))
    rows = df[df["split"] == "test"].head(20).reset_index(drop=True)
    request = to_request_frame(rows, bundle.model.catalogue, with_policy=True)
    dpd_column = request_columns(bundle.model.catalogue)["days_past_due"]
    request[dpd_column] = [90.0, 120.0] + [0.0] * (len(request) - 2)
    out = bundle.score(request, reasons=False)
    assert (out.loc[:1, "pd"] == 1.0).all() and (out.loc[:1, "grade"] == DEFAULT_GRADE).all()
    assert out.loc[:1, "score"].isna().all()
    assert out.loc[:1, "tier"].notna().all()
    assert (out.loc[2:, "grade"] != DEFAULT_GRADE).all() and out.loc[2:, "score"].notna().all()
    expected = bundle.model.predict_frame(rows.iloc[2:])
    np.testing.assert_allclose(out.loc[2:, "pd"], expected["pd"], atol=1e-12)
