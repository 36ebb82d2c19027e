"""DVC stage `features`: raw book or loan table -> feature table, catalogue, data-quality report.

    python -m pipelines.features --raw-dir data/raw --out-dir data/features \
        --report reports/data_quality.json
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.catalogue import Catalogue
from features.errors import ConfigError, DataValidationError
from features.io import atomic_dir, atomic_path, read_json, write_json
from features.split import SplitConfig, random_split, snapshot_split, time_fraction_split
from pipelines.common import base_parser, load_params, run_stage, section

log = logging.getLogger("pipelines.features")


@dataclass(frozen=True)
class FeaturesConfig:
    windows: tuple[int, ...] = (3, 6, 12)
    leakage_auc_threshold: float = 0.95
    allow_leaky_features: tuple[str, ...] = ()
    date_parts: bool = False
    max_categories: int = 50
    split: SplitConfig = field(default_factory=SplitConfig)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FeaturesConfig:
        sec = section(params, "features")
        windows = sec.get("windows", [3, 6, 12])
        if (
            not isinstance(windows, list)
            or not windows
            or not all(
                isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 60 for w in windows
            )
        ):
            raise ConfigError(
                "features.windows", "must be a list of month counts in 1..60", windows
            )
        thr = sec.get("leakage_auc_threshold", 0.95)
        if not isinstance(thr, int | float) or isinstance(thr, bool) or not 0.5 < thr <= 1.0:
            raise ConfigError("features.leakage_auc_threshold", "must be a number in (0.5, 1]", thr)
        allow = sec.get("allow_leaky_features") or []
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            raise ConfigError(
                "features.allow_leaky_features", "must be a list of feature names", allow
            )
        date_parts = sec.get("date_parts", False)
        if not isinstance(date_parts, bool):
            raise ConfigError("features.date_parts", "must be true or false", date_parts)
        max_cat = sec.get("max_categories", 50)
        if not isinstance(max_cat, int) or isinstance(max_cat, bool) or max_cat < 2:
            raise ConfigError("features.max_categories", "must be an integer >= 2", max_cat)
        sp = sec.get("split") or {}
        if not isinstance(sp, dict):
            raise ConfigError("features.split", "must be a mapping", sp)
        seed = params.get("seed", 42)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError("seed", "must be an integer", seed)
        split = SplitConfig(
            validation_fraction=sp.get("validation_fraction", 0.2),
            test_fraction=sp.get("test_fraction", 0.2),
            seed=seed,
        )
        return cls(
            tuple(sorted(set(windows))), float(thr), tuple(allow), date_parts, max_cat, split
        )


def _read(raw_dir: Path, name: str) -> pd.DataFrame:
    path = raw_dir / name
    if not path.exists():
        raise DataValidationError(str(path), "file not found; run the ingest stage first")
    return pd.read_parquet(path)


def build_synthetic(raw_dir: Path, cfg: FeaturesConfig) -> tuple[pd.DataFrame, Catalogue]:
    from features.behavioural import build_behavioural_features

    frame, catalogue = build_behavioural_features(
        _read(raw_dir, "customers.parquet"),
        _read(raw_dir, "statements.parquet"),
        _read(raw_dir, "observations.parquet"),
        windows=cfg.windows,
    )
    split = snapshot_split(frame, cfg.split)
    frame = frame.drop(columns=["is_current"])
    frame.insert(3, "split", split.to_numpy())
    return frame, catalogue


def build_table(raw_dir: Path, meta: dict[str, Any], cfg: FeaturesConfig):
    from features.tabular import TableFeatureConfig, build_table_features

    loans = _read(raw_dir, "loans.parquet")
    has_dates = "observation_date" in loans and loans["observation_date"].notna().any()
    split = (time_fraction_split if has_dates else random_split)(loans, cfg.split)
    protected = list(meta.get("protected_columns") or [])
    return build_table_features(
        loans,
        split,
        protected=protected,
        cfg=TableFeatureConfig(date_parts=cfg.date_parts, max_categories=cfg.max_categories),
        source=str(raw_dir / "loans.parquet"),
    )


def run(raw_dir: Path, out_dir: Path, report_path: Path, cfg: FeaturesConfig) -> dict[str, Any]:
    """Build, check and write everything; returns the report summary."""
    from features.quality import check_leakage, data_quality_report

    meta_path = raw_dir / "meta.json"
    if not meta_path.exists():
        raise DataValidationError(str(meta_path), "file not found; run the ingest stage first")
    meta = read_json(meta_path)
    source = meta.get("source")
    if source == "synthetic":
        frame, catalogue = build_synthetic(raw_dir, cfg)
        comparison_split = "score"
    elif source == "table":
        frame, catalogue = build_table(raw_dir, meta, cfg)
        comparison_split = "test"
    else:
        raise DataValidationError(str(meta_path), f"unknown source {source!r}", column="source")

    split = frame["split"].to_numpy()
    report = data_quality_report(
        frame,
        catalogue,
        reference=split == "train",
        comparison=split == comparison_split,
        seed=cfg.split.seed,
    )
    over = report["auc"] > cfg.leakage_auc_threshold
    report["leak_suspect"] = over.to_numpy()
    counts = pd.Series(split).value_counts().to_dict()
    train_lab = (split == "train") & frame["default"].notna().to_numpy()
    summary = {
        "source": source,
        "rows": int(len(frame)),
        "rows_by_split": {k: int(v) for k, v in counts.items()},
        "train_default_rate": float(frame.loc[train_lab, "default"].astype(float).mean()),
        "n_features": len(catalogue.features),
        "reference_split": "train",
        "comparison_split": comparison_split,
        "leakage_auc_threshold": cfg.leakage_auc_threshold,
        "allowed_leaky_features": list(cfg.allow_leaky_features),
        "max_auc": float(report["auc"].max()),
        "max_psi": float(report["psi"].max()) if report["psi"].notna().any() else None,
        "features": report.to_dict(orient="records"),
    }
    write_json(summary, report_path)
    with atomic_path(report_path.with_suffix(".csv")) as tmp:
        report.to_csv(tmp, index=False)
    log.info(
        "strongest single features (AUC, IV):\n%s",
        report.head(10)[["feature", "auc", "iv", "psi"]].to_string(index=False),
    )
    check_leakage(report, cfg.leakage_auc_threshold, cfg.allow_leaky_features)

    unknown = sorted(set(cfg.allow_leaky_features) - set(catalogue.model_columns))
    if unknown:
        log.warning("features.allow_leaky_features names unknown features: %s", unknown)
    if frame["default"][split == "train"].notna().sum() == 0:
        raise DataValidationError(str(raw_dir), "no labelled training rows")
    with atomic_dir(out_dir) as tmp:
        frame.to_parquet(tmp / "features.parquet", index=False)
        write_json(catalogue.to_dict(), tmp / "catalogue.json")
    log.info(
        "wrote %d rows x %d features to %s (splits %s)",
        len(frame),
        len(catalogue.features),
        out_dir,
        summary["rows_by_split"],
    )
    return summary


def main(args: argparse.Namespace) -> None:
    cfg = FeaturesConfig.from_params(load_params(args.params))
    run(Path(args.raw_dir), Path(args.out_dir), Path(args.report), cfg)


def parser() -> argparse.ArgumentParser:
    p = base_parser(__doc__.strip().splitlines()[0])
    p.add_argument("--raw-dir", default="data/raw")
    p.add_argument("--out-dir", default="data/features")
    p.add_argument("--report", default="reports/data_quality.json")
    return p


if __name__ == "__main__":
    run_stage(main, parser())
