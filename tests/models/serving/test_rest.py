"""`mlflow models serve` answers the champion over HTTP like batch scoring does; bad requests 4xx."""

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

from models.serving.pyfunc import to_request_frame
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
    ],
)
def test_bad_requests_get_4xx_naming_the_column(server, trained_registry, mutate, column):
    _, request = _request(trained_registry, n=2)
    status, body = post(server, split_json(mutate(request)))
    assert 400 <= status < 500, body
    assert column in body.get("message", ""), body


def test_empty_body_is_4xx(server):
    status, _ = post(server, b"")
    assert 400 <= status < 500
    status, _ = post(server, "{}")
    assert 400 <= status < 500
