"""`mlflow models serve` answers the champion over HTTP like batch scoring does; bad requests get a
short 400 naming the column (never MLflow's dump of the request and the schema); compliance flags
arrive as sent (MLflow would cast null to False and "false" to True) and only true/false pass."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.contracts import POLICY_INPUTS
from models.serving.pyfunc import MAX_REQUEST_ROWS, request_columns, to_request_frame
from tests.helpers import free_port, running_server

from .conftest import MODEL_NAME

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(trained_registry):
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained_registry.tracking_uri}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        f"models:/{MODEL_NAME}@champion",
    ]
    cmd += ["--env-manager", "local", "-p", str(port), "--host", "127.0.0.1", "--workers", "1"]
    with running_server(
        cmd, trained_registry.root, env, f"{url}/ping", trained_registry.root / "serve.log"
    ):
        yield url


def post(url: str, body: bytes | str) -> tuple[int, dict]:
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(
        f"{url}/invocations", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def split_json(frame: pd.DataFrame, **extra) -> str:
    payload = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": payload, **extra})


def _request(trained, n=25):
    t = trained.features
    rows = t[t["split"] == "score"].head(n).reset_index(drop=True)
    return rows, to_request_frame(rows, trained.catalogue, with_policy=True)


def test_served_matches_batch_and_pipeline(
    server, trained_registry, pipeline_reference, same_outputs
):
    import mlflow

    rows, request = _request(trained_registry)
    status, body = post(server, split_json(request))
    assert status == 200, body
    served = pd.DataFrame(body["predictions"])
    mlflow.set_tracking_uri(trained_registry.tracking_uri)
    batch = mlflow.pyfunc.load_model(trained_registry.uri).predict(request)
    same_outputs(served, batch)
    same_outputs(served, pipeline_reference(trained_registry, rows))
    status, body = post(server, split_json(request, params={"reasons": False}))
    assert status == 200 and "reason_1" not in body["predictions"][0]


def test_unseen_category_and_missing_values_score(server, trained_registry):
    _, request = _request(trained_registry, n=3)
    request.loc[0, "income_band"] = "martian"
    request.loc[1, "utilisation"] = np.nan
    request.loc[2, "channel"] = None
    request = request.drop(columns="timezone")  # optional: the policy default applies
    status, body = post(server, split_json(request))
    assert status == 200, body
    assert all(0 < p["pd"] < 1 for p in body["predictions"])


@pytest.mark.parametrize(
    "mutate,column",
    [
        (lambda r: r.drop(columns="dispute"), "dispute"),
        (lambda r: r.drop(columns="utilisation"), "utilisation"),
        (lambda r: r.assign(months_on_book="ten"), "months_on_book"),
        (lambda r: r.assign(days_past_due=-4.0), "days_past_due"),
        (lambda r: r.assign(days_past_due=2.5), "days_past_due"),
        (lambda r: r.drop(columns="policy__first_time_delinquency"), "first_time_delinquency"),
    ],
)
def test_bad_requests_get_4xx_naming_the_column(server, trained_registry, mutate, column):
    _, request = _request(trained_registry, n=2)
    status, body = post(server, split_json(mutate(request)))
    assert 400 <= status < 500, body
    assert column in body.get("message", ""), body
    assert_short(body)


#: A 400 the model writes: column, row and rule, not the request frame or the signature.
MAX_MESSAGE_CHARS = 300


def assert_short(body: dict) -> None:
    message = body.get("message", "")
    assert len(message) <= MAX_MESSAGE_CHARS, message
    assert "Failed to predict data" not in message and "schema" not in message, message
    assert len(json.dumps(body)) <= MAX_MESSAGE_CHARS + 100, body


def _overdue_account(trained, **flags: object) -> pd.DataFrame:
    """One account 45 days and CNY 800 overdue, every flag false unless `flags` says otherwise."""
    _, request = _request(trained, n=1)
    request = request.assign(days_past_due=45.0, overdue_amount=800.0)
    names = request_columns(trained.catalogue)
    for p in POLICY_INPUTS:
        if p.dtype == "bool":
            request[names[p.name]] = False
    for flag, value in flags.items():
        request[flag] = pd.Series([value], dtype=object)
    return request


def test_a_null_flag_is_refused_over_rest_not_read_as_false(server, trained_registry):
    status, body = post(server, split_json(_overdue_account(trained_registry, dispute=None)))
    assert status == 400, body
    message = body["message"]
    assert "'dispute'" in message and "row 0" in message and "never guessed" in message, message
    assert_short(body)


@pytest.mark.parametrize("column", ["dispute", "deceased", "policy__first_time_delinquency"])
@pytest.mark.parametrize("text", ["false", "no", "0", "yes", "true"])
def test_a_text_flag_is_refused_over_rest(server, trained_registry, column, text):
    status, body = post(server, split_json(_overdue_account(trained_registry, **{column: text})))
    assert status == 400, body
    assert f"'{column}'" in body["message"] and "true or false" in body["message"], body
    assert repr(text) in body["message"], body
    assert_short(body)


def test_json_booleans_keep_working_and_decide_the_tier(server, trained_registry):
    import mlflow

    mlflow.set_tracking_uri(trained_registry.tracking_uri)
    model = mlflow.pyfunc.load_model(trained_registry.uri)
    answers = {}
    for dispute in (False, True):
        request = _overdue_account(trained_registry).assign(dispute=dispute)
        status, body = post(server, split_json(request))
        assert status == 200, body
        answers[dispute] = served = body["predictions"][0]
        local = model.predict(request).iloc[0]  # in-process, bool columns: the pipeline's answer
        assert served["tier"] == local["tier"] and served["handling"] == local["handling"]
        assert served["channels"] == local["channels"] and served["reason_1"] == local["reason_1"]
    assert answers[True]["tier"] == 0 and answers[True]["handling"] == "dispute_resolution"
    assert answers[False]["tier"] >= 1 and answers[False]["handling"] == "standard"


def test_mixed_flag_rows_name_the_first_bad_row(server, trained_registry):
    _, request = _request(trained_registry, n=3)
    request["hardship"] = pd.Series([False, True, None], dtype=object)
    status, body = post(server, split_json(request))
    assert status == 400 and "'hardship'" in body["message"] and "row 2" in body["message"], body
    assert_short(body)


def test_request_row_limit(server, trained_registry):
    _, request = _request(trained_registry, n=50)
    big = pd.concat([request] * (MAX_REQUEST_ROWS // 50 + 1), ignore_index=True)
    assert len(big) > MAX_REQUEST_ROWS
    status, body = post(server, split_json(big, params={"reasons": False}))
    assert status == 400, body
    assert f"at most {MAX_REQUEST_ROWS}" in body["message"], body
    assert_short(body)
    status, body = post(server, split_json(big.head(MAX_REQUEST_ROWS), params={"reasons": False}))
    assert status == 200 and len(body["predictions"]) == MAX_REQUEST_ROWS


def test_empty_body_is_4xx(server):
    status, _ = post(server, b"")
    assert 400 <= status < 500
    status, _ = post(server, "{}")
    assert 400 <= status < 500
