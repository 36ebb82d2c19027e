"""LightGBM on a Dask cluster: the fit call of `models.pd_estimator.train_booster` when a scheduler is set.

The switch is the environment, not params.yaml: with `DASK_SCHEDULER_ADDRESS` set (the variable
`distributed.Client()` itself honours), the booster is trained by `lightgbm.dask` on the training
rows spread over the cluster's workers; without it, training stays local. Everything around the fit
(labels, the model frame, calibration, monotonicity checks, the booster text, the registry) is the
same code for both: this module returns a plain `lightgbm.Booster`.

What lightgbm.dask needs to be safe here (measured with LightGBM 4.7 and Dask 2026.8, see
docs/scale.md):

* Early stopping: every worker evaluates its own local validation rows; with different rows the
  workers stop at different rounds and the survivors die on 'Socket recv error'. Each training
  partition therefore carries a full copy of the validation frame, so every worker sees the same
  metric and stops at the same round (duplicated copies on one worker change neither log-loss nor
  AUC).
* Categories: the model frame carries the catalogue's fixed `CategoricalDtype` per column, checked
  here before the rows leave, so no partition infers its own category list.
* Ports: no `local_listen_port` (several workers on one host would collide); lightgbm.dask picks a
  free port per worker.
* Failures: LightGBM's network `time_out` (minutes, params.yaml) bounds a silent peer; a lost
  worker fails the attempt at once (the scheduler's worker list is watched every second); it is
  retried `retries` times on the idle workers (a restarted one, or peers once LightGBM's time-out
  freed them), then the stage stops with `DistributedTrainingError`. The client waits no longer
  than the time-out for a result, so a fit never hangs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import PipelineError

log = logging.getLogger(__name__)

#: The environment variable that switches training onto a cluster (Dask's own name for it).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"

#: Seconds given to connect to the scheduler and to find a worker.
CONNECT_TIMEOUT_S = 60

#: Seconds between checks that every worker of a running fit is still there.
WATCH_INTERVAL_S = 1.0

#: Message fragments of LightGBM's network errors when a peer disappears.
_NETWORK_MESSAGES = ("socket", "network", "connect", "linker", "time out", "timeout")


@dataclass(frozen=True)
class DaskConfig:
    """params.yaml `train.dask`: how a cluster fit fails (only used with a scheduler set)."""

    time_out_minutes: int  # LightGBM network time_out: a silent worker fails the fit after this
    retries: int  # further attempts after a lost worker, before the stage stops


class DistributedTrainingError(PipelineError):
    """The cluster fit failed on every attempt (lost workers, network time-outs)."""


def scheduler_address(environ: Mapping[str, str] | None = None) -> str | None:
    """The scheduler to train on, from `DASK_SCHEDULER_ADDRESS`; None = train locally.

    Read from the environment at call time (Dask reads it once, when `dask` is imported).
    """
    value = (os.environ if environ is None else environ).get(SCHEDULER_ENV, "").strip()
    return value or None


def check_categories(x: pd.DataFrame, categories: Mapping[str, list[str]]) -> None:
    """Every categorical column must carry exactly the catalogue's categories, in order.

    Partitions of a frame with inferred categories can each hold their own list, and LightGBM then
    reads the same code as different levels on different workers, silently.
    """
    for name, cats in categories.items():
        dtype = x[name].dtype
        if not isinstance(dtype, pd.CategoricalDtype) or list(dtype.categories) != list(cats):
            raise PipelineError(
                f"column '{name}' must carry the catalogue's categories {list(cats)} before it is "
                f"partitioned, found dtype {dtype}"
            )


def partition_positions(n_rows: int, n_parts: int, seed: int) -> list[np.ndarray]:
    """Row positions of each training partition: a seeded shuffle cut into near-equal parts.

    Shuffled, not contiguous: in data-parallel LightGBM each machine finds the bin boundaries of
    some features from its own rows, so a partition holding one period only would bias them.
    """
    if n_parts < 1:
        raise ValueError(f"n_parts must be >= 1, got {n_parts}")
    order = np.random.default_rng(seed).permutation(n_rows)
    return [np.sort(part) for part in np.array_split(order, min(n_parts, max(n_rows, 1)))]


def cluster_params(params: Mapping[str, Any], time_out_minutes: int) -> dict[str, Any]:
    """Local LightGBM params for lightgbm.dask: threads per worker, network time_out, free ports.

    `num_threads` is dropped (each worker uses its own thread count), and so are any port or
    machine list settings: lightgbm.dask finds a free port on each worker itself.
    """
    dropped = {"num_threads", "local_listen_port", "machines", "num_machines", "n_jobs"}
    out = {k: v for k, v in params.items() if k not in dropped}
    out["time_out"] = int(time_out_minutes)
    out["tree_learner"] = "data"
    return out


def _is_worker_loss(exc: BaseException) -> bool:
    """Errors that mean a worker (or its LightGBM peer) went away, worth one more attempt."""
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker
    from lightgbm.basic import LightGBMError

    if isinstance(exc, KilledWorker | CommClosedError | CancelledError | TimeoutError | OSError):
        return True
    if isinstance(exc, LightGBMError):
        text = str(exc).lower()
        return any(fragment in text for fragment in _NETWORK_MESSAGES)
    return isinstance(exc, WorkerLost) or type(exc).__name__ == "FutureCancelledError"


def fit_on_cluster(
    address: str,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: Mapping[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    categories: Mapping[str, list[str]],
    config: DaskConfig,
) -> tuple[Any, dict[str, Any]]:
    """Train on the cluster at `address`; returns (plain Booster, evaluation record).

    The booster is `DaskLGBMClassifier(...).to_local().booster_` with `best_iteration` set by
    early stopping on the replicated validation rows; the record is LightGBM's `evals_result_`
    for the validation set ({"validation": {metric: [per round]}}).
    """
    from distributed import Client

    for frame in (x_train, x_valid):
        check_categories(frame, categories)
    attempts = config.retries + 1
    last: BaseException | None = None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except OSError as exc:
        raise DistributedTrainingError(
            f"cannot reach the Dask scheduler at {address} ({SCHEDULER_ENV}): {exc}. Start the "
            f"scheduler and workers (docs/scale.md), or unset {SCHEDULER_ENV} to train locally."
        ) from exc
    with client:
        for attempt in range(1, attempts + 1):
            try:
                return _fit_once(
                    client,
                    x_train,
                    y_train,
                    x_valid,
                    y_valid,
                    params,
                    num_boost_round,
                    early_stopping_rounds,
                    config,
                )
            except Exception as exc:
                if not _is_worker_loss(exc):
                    raise
                last = exc
                time.sleep(2 * WATCH_INTERVAL_S)  # let the scheduler notice a dead worker
                log.warning(
                    "Dask fit attempt %d of %d failed (%s: %s)",
                    attempt,
                    attempts,
                    type(exc).__name__,
                    str(exc)[:300],
                )
    raise DistributedTrainingError(
        f"LightGBM training on the Dask cluster at {address} failed {attempts} time(s): a worker "
        f"was lost or stopped answering ({type(last).__name__}: {str(last)[:300]}). Check the "
        f"workers' logs, or unset {SCHEDULER_ENV} to train locally."
    ) from last


def _fit_once(
    client: Any,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: Mapping[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    config: DaskConfig,
) -> tuple[Any, dict[str, Any]]:
    """One attempt: place one partition (+ a validation copy) per live worker, fit, gather."""
    import dask.dataframe as dd
    import lightgbm as lgb
    from lightgbm.dask import DaskLGBMClassifier

    client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    workers = idle_workers(client, seconds=config.time_out_minutes * 60 + CONNECT_TIMEOUT_S)
    positions = partition_positions(len(x_train), len(workers), int(params.get("seed", 0)))
    y_tr = pd.Series(np.asarray(y_train), index=x_train.index, name="label")
    y_va = pd.Series(np.asarray(y_valid), index=x_valid.index, name="label")
    parts_x, parts_y, eval_x, eval_y = [], [], [], []
    for rows, worker in zip(positions, workers, strict=False):
        on = {"workers": [worker], "hash": False}
        parts_x.append(client.scatter(x_train.iloc[rows], **on))
        parts_y.append(client.scatter(y_tr.iloc[rows], **on))
        eval_x.append(client.scatter(x_valid, **on))
        eval_y.append(client.scatter(y_va, **on))
    log.info(
        "Dask fit on %d worker(s) at %s: %d training rows, a %d-row validation copy on each",
        len(parts_x),
        client.scheduler.address,
        len(x_train),
        len(x_valid),
    )

    def frame(futures: list[Any], meta: pd.DataFrame | pd.Series) -> Any:
        return dd.from_delayed(futures, meta=meta.iloc[:0], verify_meta=False)

    model = DaskLGBMClassifier(
        client=client,
        n_estimators=num_boost_round,
        **cluster_params(params, config.time_out_minutes),
    )
    fit_kwargs = {
        "eval_X": (frame(eval_x, x_valid),),
        "eval_y": (frame(eval_y, y_va),),
        "eval_names": ["validation"],
        "callbacks": [
            lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False)
        ],
    }

    def fit() -> None:
        with client.as_current():  # lightgbm.dask looks up the default client
            model.fit(frame(parts_x, x_train), frame(parts_y, y_tr), **fit_kwargs)

    _watch(client, fit, workers, seconds=config.time_out_minutes * 60 + CONNECT_TIMEOUT_S)
    local = model.to_local()
    booster = local.booster_
    return booster, dict(local.evals_result_)


class WorkerLost(RuntimeError):
    """A worker of the running fit left the cluster (its peers are blocked on it)."""


def _watch(client: Any, fit: Any, workers: list[str], seconds: float) -> None:
    """Run `fit` in a thread; fail as soon as one of `workers` leaves, or after `seconds`.

    LightGBM's own `time_out` bounds a silent peer, but a fit task pinned to a worker that died
    can keep the client waiting for ever, and the surviving peers wait for the time-out: the
    scheduler's worker list is checked every second instead.
    """
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fit()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="dask-lgbm-fit", daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds
    while thread.is_alive():
        thread.join(WATCH_INTERVAL_S)
        if not thread.is_alive():
            break
        gone = set(workers) - set(client.scheduler_info(n_workers=-1)["workers"])
        if gone:
            raise WorkerLost(f"worker(s) {sorted(gone)} left the cluster during the fit")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Dask fit gave no result within {seconds:.0f} s")
    if "error" in outcome:
        raise outcome["error"]


def idle_workers(client: Any, seconds: float) -> list[str]:
    """The workers running nothing, waiting up to `seconds` for at least one.

    After a lost worker, the peers of the failed fit stay blocked in LightGBM until its network
    time-out; a new attempt placed on them would queue behind that. Workers a nanny restarted (or
    any other idle ones) take the new attempt at once.
    """
    deadline = time.monotonic() + seconds
    while True:
        busy = {w for w, keys in client.processing().items() if keys}
        idle = sorted(set(client.scheduler_info(n_workers=-1)["workers"]) - busy)
        if idle:
            return idle
        if time.monotonic() > deadline:
            raise TimeoutError(f"no idle Dask worker within {seconds:.0f} s")
        time.sleep(WATCH_INTERVAL_S / 2)


__all__ = [
    "SCHEDULER_ENV",
    "DaskConfig",
    "DistributedTrainingError",
    "check_categories",
    "cluster_params",
    "fit_on_cluster",
    "partition_positions",
    "scheduler_address",
]
