"""Train / validation / test / score splits, decided once here and recorded in the feature table.

Out-of-time whenever time is known: a credit model is always applied to a later period than it was
built on, so the test must be later too. Random splits are stratified so small default counts stay
comparable between splits. A loan table with a borrower group (`GROUP`, from
`data.table.group_column`) keeps each borrower's loans in one split: a borrower seen in training
would otherwise make validation and test look better than new borrowers will.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataValidationError, InvalidConfig

log = logging.getLogger(__name__)

#: The borrower-group column of a standardised loan table (`features.loan_table.GROUP`).
GROUP = "group_id"


@dataclass(frozen=True)
class SplitConfig:
    """Shares of the labelled rows held out, out-of-time test dates, and the seed; no defaults.

    `test_periods` is the number of latest labelled observation dates a snapshot split puts in
    test (the out-of-time periods); the fractions serve the random and date-share splits.
    """

    validation_fraction: float
    test_fraction: float
    test_periods: int
    seed: int

    def __post_init__(self) -> None:
        if self.test_periods < 1:
            raise InvalidConfig("test_periods", "must be at least 1", self.test_periods)
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise InvalidConfig(
                "",
                "validation_fraction + test_fraction must leave at least 10% for training",
                self.validation_fraction + self.test_fraction,
            )


def _stratified(y: np.ndarray, fractions: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Assign each row a name from `fractions` (the remainder is 'train'), per class."""
    out = np.full(len(y), "train", dtype=object)
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        pos = 0
        for name, frac in fractions.items():
            k = int(round(frac * len(idx)))
            out[idx[pos : pos + k]] = name
            pos += k
    return out


def _groups(frame: pd.DataFrame) -> np.ndarray | None:
    """Group code per row when the frame has a borrower group, else None."""
    if GROUP not in frame or frame[GROUP].isna().all():
        return None
    return pd.factorize(frame[GROUP].astype(str))[0]


def _grouped(
    y: np.ndarray,
    groups: np.ndarray,
    fractions: dict[str, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """`_stratified` over borrowers: a group is 'bad' when any of its loans defaulted."""
    codes, inverse = np.unique(groups, return_inverse=True)
    bad = np.zeros(len(codes), dtype=np.int8)
    np.maximum.at(bad, inverse, y.astype(np.int8))
    return _stratified(bad, fractions, rng)[inverse]


def _labelled(frame: pd.DataFrame, label: str) -> np.ndarray:
    lab = frame[label].notna().to_numpy().copy()
    if "is_current" in frame:
        lab &= ~frame["is_current"].fillna(False).astype(bool).to_numpy()
    return lab


def _finish(split: np.ndarray, what: str) -> pd.Series:
    s = pd.Series(split, dtype="str", name="split")
    log.info("%s split: %s", what, s.value_counts().to_dict())
    return s


def random_split(frame: pd.DataFrame, cfg: SplitConfig, label: str = "default") -> pd.Series:
    """Stratified random split of labelled rows; unlabelled rows are 'score'."""
    lab = _labelled(frame, label)
    split = np.full(len(frame), "score", dtype=object)
    rng = np.random.default_rng(cfg.seed)
    y = frame.loc[lab, label].astype(np.int8).to_numpy()
    fractions = {"test": cfg.test_fraction, "validation": cfg.validation_fraction}
    groups = _groups(frame)
    if groups is not None:
        split[lab] = _grouped(y, groups[lab], fractions, rng)
        return _finish(split, "stratified random by borrower group")
    split[lab] = _stratified(y, fractions, rng)
    return _finish(split, "stratified random")


def snapshot_split(frame: pd.DataFrame, cfg: SplitConfig, label: str = "default") -> pd.Series:
    """Out-of-time split over observation snapshots.

    The latest `test_periods` labelled dates -> test, the date before them -> validation, earlier
    dates -> train, current book (unlabelled) -> score. With exactly `test_periods + 1` dates,
    validation is a stratified sample of the one earlier date. Fewer dates cannot give an
    out-of-time test with rows to train on: an error, never a silent random split.
    """
    lab = _labelled(frame, label)
    dates = pd.DatetimeIndex(frame["observation_date"])
    distinct = np.sort(pd.unique(dates[lab].dropna()))
    needed = cfg.test_periods + 1
    if len(distinct) < needed:
        raise DataValidationError(
            "features",
            f"the snapshot split needs at least {needed} labelled observation dates "
            f"(features.split.test_periods = {cfg.test_periods} for test, at least one earlier "
            f"date to train on), but the book has {len(distinct)}",
            column="observation_date",
        )
    split = np.full(len(frame), "score", dtype=object)
    d = dates.to_numpy()
    split[lab] = "train"
    test_dates = distinct[-cfg.test_periods :]
    split[lab & np.isin(d, test_dates)] = "test"
    if len(distinct) >= needed + 1:
        split[lab & (d == distinct[-needed])] = "validation"
    else:
        train = np.flatnonzero(split == "train")
        rng = np.random.default_rng(cfg.seed)
        y = frame[label].to_numpy()[train].astype(np.int8)
        split[train] = _stratified(y, {"validation": cfg.validation_fraction}, rng)
    log.info(
        "out-of-time test dates: %s", ", ".join(str(pd.Timestamp(t).date()) for t in test_dates)
    )
    return _finish(split, "out-of-time (snapshots)")


def time_fraction_split(frame: pd.DataFrame, cfg: SplitConfig, label: str = "default") -> pd.Series:
    """Latest labelled rows (about `test_fraction`, whole dates) -> test; the rest random.

    For a loan table with an application date: many distinct dates, so the cut is by row share.
    With a borrower group, a borrower with any loan on or after the cut-off is wholly in test
    (their earlier loans too), and validation is drawn by borrower.
    """
    lab = _labelled(frame, label)
    dates = pd.DatetimeIndex(frame["observation_date"])
    if dates[lab].isna().all():
        return random_split(frame, cfg, label)
    lab_idx = np.flatnonzero(lab)
    d = dates.to_numpy()[lab_idx]
    cutoff = np.sort(d)[int(np.floor((1 - cfg.test_fraction) * (len(d) - 1)))]
    is_test = d >= cutoff
    groups = _groups(frame)
    if groups is not None:
        g = groups[lab_idx]
        with_test = np.isin(g, np.unique(g[is_test]))
        moved = int((with_test & ~is_test).sum())
        if moved:
            log.info("%d earlier loan(s) of test borrowers moved to test (one split each)", moved)
        is_test = with_test
    if is_test.all():  # a single date dominates: nothing earlier to train on
        log.warning(
            "test cut-off %s leaves no earlier rows; falling back to a random split", cutoff
        )
        return random_split(frame, cfg, label)
    split = np.full(len(frame), "score", dtype=object)
    split[lab_idx] = "train"
    split[lab_idx[is_test]] = "test"
    rest = lab_idx[~is_test]
    share = min(0.9, cfg.validation_fraction / max(1e-9, 1 - is_test.mean()))
    rng = np.random.default_rng(cfg.seed)
    y = frame[label].to_numpy()[rest].astype(np.int8)
    if groups is not None:
        split[rest] = _grouped(y, groups[rest], {"validation": share}, rng)
    else:
        split[rest] = _stratified(y, {"validation": share}, rng)
    log.info(
        "out-of-time test: observation_date >= %s (%.1f%% of labelled rows)",
        pd.Timestamp(cutoff).date(),
        100 * is_test.mean(),
    )
    return _finish(split, "out-of-time (date column)")
