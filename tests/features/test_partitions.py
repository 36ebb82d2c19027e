"""Raw tables bucketed by account id, and features built bucket by bucket (issue 15).

The book is generated in several blocks (a small `GENERATOR_BLOCK`), written with 1 and with 4
buckets, and the feature table built from each must equal the one built in memory, bit for bit.
The Dask path is in `test_dask_features.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import features.synthetic as synthetic
from core.contracts import RAW_ATTRIBUTES, RAW_CUSTOMERS, RAW_OBSERVATIONS, RAW_STATEMENTS
from core.io import write_json
from core.partitions import PartitionedWriter, bucket_of, map_partitions, part_path
from features.behavioural.point_in_time import Runs, account_cumsum
from features.build import run_features
from features.ingest import ingest_synthetic
from features.raw import META_FILE, PARTITIONS_KEY, RawData, read_partition, read_raw
from tests.features.configs import features_config, synthetic_config

N_CUSTOMERS = 1300
BLOCK = 500  # three generator blocks
RAW_TABLES = (RAW_CUSTOMERS, RAW_STATEMENTS, RAW_OBSERVATIONS, RAW_ATTRIBUTES)


def write_partitioned_raw(directory: Path, partitions: int) -> Path:
    """What the ingest stage writes for the built-in book, with `partitions` buckets."""
    directory.mkdir(parents=True)
    with PartitionedWriter(directory, partitions) as writer:
        result = ingest_synthetic(
            synthetic_config(n_customers=N_CUSTOMERS, seed=5), 0.2, writer.write
        )
    write_json({**result.meta, PARTITIONS_KEY: partitions}, directory / META_FILE)
    return directory


@pytest.fixture(scope="module")
def raw_dirs(tmp_path_factory) -> dict[int, Path]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synthetic, "GENERATOR_BLOCK", BLOCK)
        root = tmp_path_factory.mktemp("raw")
        return {n: write_partitioned_raw(root / f"p{n}", n) for n in (1, 4)}


@pytest.fixture(scope="module")
def in_memory() -> RawData:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synthetic, "GENERATOR_BLOCK", BLOCK)
        result = ingest_synthetic(synthetic_config(n_customers=N_CUSTOMERS, seed=5), 0.2)
    return RawData("synthetic", result.tables, [], Path("raw"))


@pytest.fixture(scope="module")
def expected(in_memory) -> pd.DataFrame:
    return run_features(in_memory, features_config()).frame


def test_every_table_is_bucketed_by_account_id(raw_dirs):
    for p in range(4):
        tables = read_partition(raw_dirs[4], "synthetic", p)
        for contract in RAW_TABLES:
            ids = tables[contract.file]["account_id"].to_numpy()
            assert len(ids) and (bucket_of(ids, 4) == p).all()
            assert part_path(raw_dirs[4], contract.file, p).is_file()


def test_the_book_does_not_depend_on_the_partition_count(raw_dirs, in_memory):
    for contract in RAW_TABLES:
        whole = in_memory.tables[contract.file]
        for n in (1, 4):  # a bucketed table reads back whole through its contract
            back = contract.read(raw_dirs[n] / contract.file)
            key = list(contract.key)
            pd.testing.assert_frame_equal(
                back.sort_values(key, ignore_index=True),
                whole.sort_values(key, ignore_index=True),
                check_exact=True,
            )


def test_generator_blocks_are_seeded_apart_and_block_zero_is_unchanged():
    cfg = synthetic_config(n_customers=300, seed=5)
    whole = synthetic.generate_book(cfg)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synthetic, "GENERATOR_BLOCK", 150)
        blocks = list(synthetic.iter_book(cfg))
    assert [len(b.customers) for b in blocks] == [150, 150]
    assert blocks[1].customers["account_id"].min() == blocks[0].customers["account_id"].max() + 1
    # the first block is the first block of a one-block book of its size
    first = synthetic.generate_book(synthetic_config(n_customers=150, seed=5))
    pd.testing.assert_frame_equal(blocks[0].customers, first.customers, check_exact=True)
    assert not whole.customers.iloc[150:].reset_index(drop=True).equals(blocks[1].customers)


@pytest.mark.parametrize("partitions", [1, 4])
def test_partitioned_features_equal_the_single_process_ones(raw_dirs, expected, partitions):
    raw = read_raw(raw_dirs[partitions])
    assert raw.partitions == partitions and raw.tables == {}
    result = run_features(raw, features_config())
    pd.testing.assert_frame_equal(result.frame, expected, check_exact=True)


def test_account_prefix_sums_depend_on_the_account_alone():
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(50), rng.integers(1, 40, 50))
    values = rng.normal(size=len(codes)).astype(np.float32)
    values[rng.random(len(codes)) < 0.1] = np.nan
    prefix = account_cumsum(values, Runs.of(codes))
    for code in (0, 17, 49):
        rows = np.flatnonzero(codes == code)
        alone = account_cumsum(values[rows], Runs.of(codes[rows]))
        assert np.array_equal(prefix[rows], alone)
        assert np.array_equal(alone, np.cumsum(np.nan_to_num(values[rows].astype(np.float64))))


def test_map_partitions_runs_here_without_a_scheduler(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert map_partitions(lambda p: p * p, 4) == [0, 1, 4, 9]


def test_empty_buckets_are_typed_files(tmp_path):
    frame = pd.DataFrame({"account_id": np.array([4, 8], dtype=np.int64), "x": ["a", "b"]})
    with PartitionedWriter(tmp_path, 4) as writer:
        writer.write("t.parquet", frame)
    assert len(pd.read_parquet(part_path(tmp_path, "t.parquet", 0))) == 2
    empty = pd.read_parquet(part_path(tmp_path, "t.parquet", 3))
    assert len(empty) == 0 and list(empty.columns) == ["account_id", "x"]
    assert empty["account_id"].dtype == np.int64


def test_combining_buckets_orders_the_book_and_unifies_column_types():
    """Buckets come back in whole-book order (date, then account) with the split in place of
    `is_current`; a text column with no value in one bucket (null-typed there) keeps its text."""
    from functools import partial

    from features.build import combine_partitions
    from features.split import SplitConfig, snapshot_split

    def bucket(ids: list[int], note: list[str | None]) -> pd.DataFrame:
        n = len(ids)
        return pd.DataFrame(
            {
                "account_id": np.array(ids, dtype=np.int64),
                "observation_date": pd.to_datetime(["2025-01-01", "2025-04-01"] * (n // 2)),
                "default": np.array([0.0, 1.0] * (n // 2)),
                "x": np.arange(n, dtype=np.float32) + ids[0],
                "note": pd.Series(note, dtype=object),
                "is_current": False,
            }
        )

    frames = [bucket([2, 2, 4, 4], ["a", "b", "c", None]), bucket([1, 1, 3, 3], [None] * 4)]
    config = SplitConfig(validation_fraction=0.2, test_fraction=0.2, test_periods=1, seed=0)
    table = combine_partitions(frames, partial(snapshot_split, cfg=config))
    assert frames == []  # taken off as they are converted
    out = table.to_pandas()
    assert out.columns.tolist() == [
        "account_id",
        "observation_date",
        "default",
        "split",
        "x",
        "note",
    ]
    assert out["account_id"].tolist() == [1, 2, 3, 4, 1, 2, 3, 4]
    assert (out["observation_date"].diff().dropna() >= pd.Timedelta(0)).all()
    assert out["split"].tolist()[4:] == ["test"] * 4  # the latest date
    notes = [v if isinstance(v, str) else None for v in out["note"]]
    assert notes == [None, "a", None, "c", None, "b", None, None]
    assert out["x"].dtype == np.float32
