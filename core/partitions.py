"""Tables bucketed by account id between stages, and running one function per bucket.

Layout: a partitioned table is a directory named like its contract file, holding one Parquet file
per bucket, `<raw dir>/<table>.parquet/part-0000.parquet` ... (`pd.read_parquet` of the directory
still reads the whole table). Row r goes to bucket `account_id % partitions` (a hash of a text id), in every table, so
everything one account has is in the same bucket and per-account functions run bucket by bucket.

Where it runs is one switch: with no `DASK_SCHEDULER_ADDRESS` the buckets run here one after
another (memory bounded by one bucket); with it set, the same function runs on that Dask cluster
(`client.map` over bucket numbers; each worker reads its bucket's files itself).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
PART_FORMAT = "part-{:04d}.parquet"
T = TypeVar("T")


def bucket_of(account_id: np.ndarray | pd.Series, partitions: int) -> np.ndarray:
    """The bucket of each account id: `account_id % partitions` for whole-number ids (the
    built-in book), a stable hash of the text for ids a lender writes (the same bucket on every
    run and machine: pandas' siphash with its fixed key)."""
    values = np.asarray(account_id)
    if values.dtype.kind in "iu":
        return values.astype(np.int64) % np.int64(partitions)
    text = pd.Series(values, dtype="string").to_numpy(dtype=object, na_value="")
    hashed = pd.util.hash_array(text, categorize=False)
    return (hashed % np.uint64(partitions)).astype(np.int64)


def part_path(directory: str | os.PathLike[str], file: str, partition: int) -> Path:
    """The file of one bucket of the table `file` under `directory`."""
    return Path(directory) / file / PART_FORMAT.format(partition)


def part_files(table_dir: str | os.PathLike[str]) -> list[Path]:
    """The bucket files of a partitioned table directory, in bucket order."""
    return sorted(Path(table_dir).glob("part-*.parquet"))


class PartitionedWriter:
    """Append frames to bucketed tables: each `write` splits its rows by account bucket and
    appends one row group to each bucket's file, so memory is bounded by the frame written.

    Every bucket file exists after `close` (an empty, typed file for a bucket with no rows).
    The first frame written to a table fixes its Arrow schema.
    """

    def __init__(
        self, directory: str | os.PathLike[str], partitions: int, id_column: str = "account_id"
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.directory = Path(directory)
        self.partitions = partitions
        self.id_column = id_column
        self._schemas: dict[str, pa.Schema] = {}
        self._writers: dict[tuple[str, int], pq.ParquetWriter] = {}

    def write(self, file: str, frame: pd.DataFrame) -> None:
        schema = self._schemas.get(file)
        if schema is None:
            schema = pa.Schema.from_pandas(frame, preserve_index=False)
            self._schemas[file] = schema
            (self.directory / file).mkdir(parents=True, exist_ok=True)
        buckets = bucket_of(frame[self.id_column].to_numpy(), self.partitions)
        order = np.argsort(buckets, kind="stable")  # stable: rows keep their order in a bucket
        bounds = np.searchsorted(buckets[order], np.arange(self.partitions + 1))
        for p in range(self.partitions):
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            if lo == hi:
                continue
            piece = frame.iloc[order[lo:hi]]
            table = pa.Table.from_pandas(piece, schema=schema, preserve_index=False)
            writer = self._writers.get((file, p))
            if writer is None:
                writer = pq.ParquetWriter(part_path(self.directory, file, p), schema)
                self._writers[(file, p)] = writer
            writer.write_table(table)

    def close(self) -> None:
        """Finish every bucket file (and write the empty ones)."""
        for writer in self._writers.values():
            writer.close()
        for file, schema in self._schemas.items():
            for p in range(self.partitions):
                if (file, p) not in self._writers:
                    pq.write_table(schema.empty_table(), part_path(self.directory, file, p))
        self._writers.clear()

    def __enter__(self) -> PartitionedWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        for writer in self._writers.values():  # a failed run: the caller discards the directory
            writer.close()
        self._writers.clear()


def release_free_memory() -> None:
    """Hand memory freed by a finished bucket back to the system.

    Building a bucket's features allocates many mid-sized arrays; glibc keeps the freed pages in
    its heap and Arrow's allocator keeps its own, so without this the resident size after bucket
    k holds the peak of bucket k-1 on top of the results kept (measured at 1M customers, 8
    buckets: 940 MiB after the first bucket, 256 MiB after release; benchmarks/README.md).
    Where `malloc_trim` does not exist (not glibc) only Arrow's pool is released.
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, looked up once (`find_library` may start a subprocess)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def scheduler_address() -> str | None:
    """The Dask scheduler to run on (`DASK_SCHEDULER_ADDRESS`), or None to run here."""
    return os.environ.get(SCHEDULER_ENV) or None


def map_partitions(fn: Callable[[int], T], partitions: int) -> list[T]:
    """`[fn(0), ..., fn(partitions - 1)]`, in bucket order.

    Without a scheduler address the buckets run in this process one after another; with one,
    the same `fn` runs on the cluster (`distributed.Client`, one task per bucket) and the
    results are gathered here. `fn` must be picklable (a module-level function or a partial).
    """
    address = scheduler_address()
    if address is None:
        results = []
        for p in range(partitions):
            results.append(fn(p))
            release_free_memory()  # the next bucket reuses it; the results list keeps growing
        return results
    from distributed import Client

    log.info("running %d partitions on the Dask cluster at %s", partitions, address)
    with Client(address) as client:
        futures = client.map(fn, range(partitions), pure=False)
        return client.gather(futures)
