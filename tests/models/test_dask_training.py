"""Training on a real Dask LocalCluster through the real switch (DASK_SCHEDULER_ADDRESS).

Two worker processes (one thread each, with nannies) stand for a team cluster: the model trained
there must match the local one, be a plain monotone Booster, and a worker killed mid-fit must end
in a retried model or a clear error, never a hang.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from core.catalogue import to_model_frame
from core.errors import PipelineError
from models.distributed import (
    SCHEDULER_ENV,
    DistributedTrainingError,
    check_categories,
    cluster_params,
    partition_positions,
    scheduler_address,
)
from models.metrics import auc
from models.pd_estimator import PDEstimator, check_monotone, train_booster
from tests.models.conftest import make_catalogue, make_feature_table
from tests.models.train_helpers import fast_train_config

N_ROWS = 30_000  # ~1,000 test defaults: enough for AUCs 0.005 apart to mean something


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as lc:
        yield lc


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_feature_table(N_ROWS, seed=3)


def _split(df: pd.DataFrame, name: str) -> pd.DataFrame:
    return df[df["split"] == name]


@pytest.fixture(scope="module")
def fits(cluster, table):
    """The same data and config fitted locally and on the cluster (through the env switch)."""
    catalogue, config = make_catalogue(), fast_train_config()
    train, valid = _split(table, "train"), _split(table, "validation")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(SCHEDULER_ENV, raising=False)
        local = PDEstimator(config, catalogue).fit(train, valid)
        mp.setenv(SCHEDULER_ENV, cluster.scheduler_address)
        start = time.perf_counter()
        on_cluster = PDEstimator(config, catalogue).fit(train, valid)
        seconds = time.perf_counter() - start
    return (local.model_, local.report_), (on_cluster.model_, on_cluster.report_), seconds


def test_cluster_model_discriminates_like_the_local_one(fits, table):
    (local, _), (dask_model, report), _ = fits
    test = _split(table, "test")
    y = test["default"].astype(int).to_numpy()
    auc_local, auc_dask = auc(y, local.predict_pd(test)), auc(y, dask_model.predict_pd(test))
    assert abs(auc_dask - auc_local) < 0.005, (auc_local, auc_dask)
    assert report.best_iteration < fast_train_config().num_boost_round  # early stopping worked


def test_cluster_booster_is_plain_monotone_and_explains_itself(fits, table):
    _, (dask_model, report), _ = fits
    catalogue = make_catalogue()
    booster = dask_model.booster
    assert type(booster) is lgb.Booster
    assert report.monotone_violations == {}
    assert check_monotone(booster, table, catalogue, n_rows=300) == {}
    x = to_model_frame(_split(table, "test").head(500), catalogue)
    contrib = booster.predict(x, pred_contrib=True)
    reloaded = lgb.Booster(model_str=booster.model_to_string())
    np.testing.assert_array_equal(contrib, reloaded.predict(x, pred_contrib=True))
    np.testing.assert_allclose(contrib.sum(axis=1), booster.predict(x, raw_score=True), atol=1e-9)


def test_killed_worker_retries_or_fails_clearly_never_hangs(cluster, table, monkeypatch):
    from distributed import Client

    catalogue = make_catalogue()
    # Slow enough (many small steps, no early stop) that the kill lands mid-fit.
    config = fast_train_config(learning_rate=0.02, num_boost_round=1500, early_stopping_rounds=1500)
    config = replace(config, dask=replace(config.dask, time_out_minutes=1, retries=1))
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    outcome: dict[str, object] = {}

    def fit() -> None:
        try:
            outcome["booster"] = train_booster(
                _split(table, "train"), _split(table, "validation"), catalogue, config
            )
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            running = {
                w: keys
                for w, keys in client.processing().items()
                if any("_train_part" in str(k) for k in keys)
            }
            victim = next(iter(sorted(running)), None)
            time.sleep(0.1)
        assert victim is not None, "the fit never started on the cluster"
        pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    thread.join(240)  # one LightGBM time-out (1 min) plus a refit, with room to spare
    assert not thread.is_alive(), "training hung after a worker was killed"
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, DistributedTrainingError), repr(error)
        assert "worker" in str(error) and SCHEDULER_ENV in str(error)
    else:
        booster = outcome["booster"]
        assert type(booster) is lgb.Booster and booster.current_iteration() > 0


def test_no_scheduler_means_local():
    assert scheduler_address({}) is None
    assert scheduler_address({SCHEDULER_ENV: "  "}) is None
    assert scheduler_address({SCHEDULER_ENV: "tcp://10.0.0.5:8786"}) == "tcp://10.0.0.5:8786"


def test_unreachable_scheduler_fails_clearly(table, monkeypatch):
    from tests.helpers import free_port

    monkeypatch.setenv(SCHEDULER_ENV, f"tcp://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setattr("models.distributed.CONNECT_TIMEOUT_S", 3)
    catalogue, config = make_catalogue(), fast_train_config()
    with pytest.raises(DistributedTrainingError, match="cannot reach the Dask scheduler"):
        train_booster(_split(table, "train"), _split(table, "validation"), catalogue, config)


def test_partitions_cover_every_row_once():
    parts = partition_positions(1001, 3, seed=7)
    assert len(parts) == 3 and {len(p) for p in parts} <= {333, 334}
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(1001))
    assert not np.array_equal(parts[0], np.arange(len(parts[0])))  # shuffled, not contiguous
    assert [p.tolist() for p in parts] == [p.tolist() for p in partition_positions(1001, 3, 7)]


def test_inferred_categories_are_refused():
    x = pd.DataFrame({"channel": pd.Categorical(["web", "app"])})  # categories inferred, sorted
    with pytest.raises(PipelineError, match="catalogue's categories"):
        check_categories(x, {"channel": ["app", "web", "partner"]})
    fixed = x.astype(pd.CategoricalDtype(["app", "web", "partner"]))
    check_categories(fixed, {"channel": ["app", "web", "partner"]})


def test_cluster_params_leave_ports_to_lightgbm():
    out = cluster_params({"num_threads": 2, "local_listen_port": 12400, "seed": 1}, 7)
    assert out == {"seed": 1, "time_out": 7, "tree_learner": "data"}
