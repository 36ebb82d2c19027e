"""The features stage on a real Dask cluster (DASK_SCHEDULER_ADDRESS set) equals the local run."""

from __future__ import annotations

import pandas as pd
import pytest

from core.partitions import SCHEDULER_ENV, map_partitions
from features.build import run_features
from features.raw import read_raw
from tests.features import test_partitions
from tests.features.configs import features_config

# the book and the expected table: test_partitions' module-scoped fixtures
raw_dirs = test_partitions.raw_dirs
in_memory = test_partitions.in_memory
expected = test_partitions.expected

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as local:
        yield local


@pytest.fixture
def on_cluster(cluster, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    return cluster


def test_the_same_function_runs_on_the_workers(on_cluster):
    assert map_partitions(abs, 3) == [0, 1, 2]


def test_cluster_features_equal_the_single_process_ones(on_cluster, raw_dirs, expected):
    result = run_features(read_raw(raw_dirs[4]), features_config())
    pd.testing.assert_frame_equal(result.frame, expected, check_exact=True)
    assert result.summary["rows"] == len(expected)
