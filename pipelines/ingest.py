"""DVC stage `ingest`: generate or read the credit book, validate it, write Parquet + a summary."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import ConfigError, DataValidationError
from features.io import atomic_dir, write_json
from features.schema import CUSTOMERS, OBSERVATIONS, REJECT_COLUMNS, STATEMENTS, validate_table
from features.synthetic import SyntheticConfig, generate_book
from features.table import TableConfig, read_table, standardise_table
from pipelines.common import base_parser, load_params, run_stage, section

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestConfig:
    source: str
    synthetic: SyntheticConfig | None
    table: TableConfig | None
    max_reject_fraction: float


KNOWN_KEYS = {
    "data": {"source", "synthetic", "table"},
    "data.synthetic": {
        "n_customers",
        "months",
        "start_date",
        "observation_months",
        "outcome_months",
    },
    "data.table": {
        "path",
        "target_column",
        "positive_values",
        "id_column",
        "date_column",
        "drop_columns",
        "protected_columns",
    },
    "ingest": {"max_reject_fraction"},
}


def _check_keys(name: str, value: Any) -> None:
    """A typo (`n_customer`) must fail, not silently fall back to a default."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - KNOWN_KEYS[name])
        if unknown:
            raise ConfigError(
                name, f"has unknown key(s) {unknown}; known: {sorted(KNOWN_KEYS[name])}"
            )


def _int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(key, f"must be an integer >= {minimum}", value)
    return value


def parse_config(params: dict[str, Any]) -> IngestConfig:
    data = section(params, "data")
    _check_keys("data", data)
    _check_keys("ingest", params.get("ingest"))
    for sub in ("synthetic", "table"):
        _check_keys(f"data.{sub}", data.get(sub))
    source = data.get("source")
    if source not in ("synthetic", "table"):
        raise ConfigError("data.source", "must be 'synthetic' or 'table'", source)
    ingest = params.get("ingest") or {}
    frac = ingest.get("max_reject_fraction", 0.2)
    if not isinstance(frac, int | float) or not 0 <= frac <= 1:
        raise ConfigError("ingest.max_reject_fraction", "must be a number in [0, 1]", frac)
    synthetic = table = None
    if source == "synthetic":
        s = section(data, "synthetic") if "synthetic" in data else {}
        seed = params.get("seed", 42)
        if not isinstance(seed, int):
            raise ConfigError("seed", "must be an integer", seed)
        obs = s.get("observation_months", [9, 12, 15, 18])
        if not isinstance(obs, list) or not all(isinstance(m, int) for m in obs):
            raise ConfigError(
                "data.synthetic.observation_months", "must be a list of month indices", obs
            )
        synthetic = SyntheticConfig(
            n_customers=_int("data.synthetic.n_customers", s.get("n_customers", 100_000), 10),
            months=_int("data.synthetic.months", s.get("months", 24), 6),
            start_date=str(s.get("start_date", "2024-01-01")),
            observation_months=tuple(obs),
            outcome_months=_int("data.synthetic.outcome_months", s.get("outcome_months", 6), 1),
            seed=seed,
        )
    else:
        t = data.get("table")
        if not isinstance(t, dict):
            raise ConfigError("data.table", "must be a mapping when data.source is 'table'", t)
        pos = t.get("positive_values")
        if pos is not None and not isinstance(pos, list):
            raise ConfigError("data.table.positive_values", "must be a list or null", pos)
        for key in ("drop_columns", "protected_columns"):
            if not isinstance(t.get(key) or [], list):
                raise ConfigError(f"data.table.{key}", "must be a list", t.get(key))
        table = TableConfig(
            path=t.get("path"),
            target_column=t.get("target_column"),
            positive_values=tuple(str(v) for v in pos) if pos is not None else None,
            id_column=t.get("id_column"),
            date_column=t.get("date_column"),
            drop_columns=tuple(t.get("drop_columns") or []),
            protected_columns=tuple(t.get("protected_columns") or []),
        )
    return IngestConfig(source, synthetic, table, float(frac))


def _check_reject_share(path: str, rows_in: int, rejected: int, limit: float) -> None:
    if rows_in and rejected / rows_in > limit:
        raise DataValidationError(
            path,
            f"{rejected} of {rows_in} rows failed validation, more than ingest.max_reject_fraction={limit}",
            hint="See the rejected rows and their rules in the log; fix the data or raise the limit.",
        )


def _summarise(tables: dict[str, tuple[int, pd.DataFrame, pd.DataFrame]]) -> dict[str, Any]:
    by_rule: dict[str, int] = {}
    out: dict[str, Any] = {"tables": {}}
    for name, (rows_in, kept, rejects) in tables.items():
        rules = rejects["_rule"].value_counts().to_dict() if len(rejects) else {}
        for rule, count in rules.items():
            key = f"{name}: {rejects.loc[rejects['_rule'] == rule, '_column'].iloc[0]}: {rule}"
            by_rule[key] = by_rule.get(key, 0) + int(count)
        out["tables"][name] = {
            "rows_in": rows_in,
            "rows_kept": len(kept),
            "rows_rejected": len(rejects),
        }
    out["rows_in"] = sum(t["rows_in"] for t in out["tables"].values())
    out["rows_kept"] = sum(t["rows_kept"] for t in out["tables"].values())
    out["rows_rejected"] = sum(t["rows_rejected"] for t in out["tables"].values())
    out["rejected_by_rule"] = by_rule
    return out


def ingest_synthetic(
    cfg: SyntheticConfig, out_dir: Path, truth_dir: Path, limit: float
) -> dict[str, Any]:
    book = generate_book(cfg)
    source = "synthetic"
    customers, rej_c = validate_table(book.customers, CUSTOMERS, f"{source}:customers")
    keys = {"customers": pd.Index(customers["account_id"])}
    statements, rej_s = validate_table(book.statements, STATEMENTS, f"{source}:statements", keys)
    n_statements = len(book.statements)
    book.statements = statements  # drop the unvalidated copy: the book is the biggest object here
    observations, rej_o = validate_table(
        book.observations, OBSERVATIONS, f"{source}:observations", keys
    )
    observations["default"] = observations["default"].astype("Int8")
    tables = {
        "customers": (len(book.customers), customers, rej_c),
        "statements": (n_statements, statements, rej_s),
        "observations": (len(book.observations), observations, rej_o),
    }
    for name, (rows_in, _, rej) in tables.items():
        _check_reject_share(f"{source}:{name}", rows_in, len(rej), limit)
    rejects = pd.concat(
        [r for r in (rej_c, rej_s, rej_o) if len(r)] or [pd.DataFrame(columns=REJECT_COLUMNS)]
    )
    with atomic_dir(out_dir) as tmp:
        customers.to_parquet(tmp / "customers.parquet", index=False)
        statements.to_parquet(tmp / "statements.parquet", index=False)
        observations.to_parquet(tmp / "observations.parquet", index=False)
        rejects.astype("string").to_parquet(tmp / "rejects.parquet", index=False)
        write_json(
            {
                "source": source,
                "files": ["customers.parquet", "statements.parquet", "observations.parquet"],
                "id_column": "account_id",
                "protected_columns": [],
                "synthetic": {**cfg.__dict__, "observation_months": list(cfg.observation_months)},
                "generator_stats": book.stats,
            },
            tmp / "meta.json",
        )
    with atomic_dir(truth_dir) as tmp:
        book.true_pd.to_parquet(tmp / "true_pd.parquet", index=False)
    summary = _summarise(tables)
    summary.update(source=source, default_rate=book.stats["default_rate"])
    return summary


def ingest_table(cfg: TableConfig, out_dir: Path, truth_dir: Path, limit: float) -> dict[str, Any]:
    raw = read_table(cfg.path)
    kept, rejects = standardise_table(raw, cfg, cfg.path)
    _check_reject_share(cfg.path, len(raw), len(rejects), limit)
    with atomic_dir(out_dir) as tmp:
        kept.to_parquet(tmp / "loans.parquet", index=False)
        (rejects if len(rejects) else pd.DataFrame(columns=REJECT_COLUMNS)).astype(
            "string"
        ).to_parquet(tmp / "rejects.parquet", index=False)
        write_json(
            {
                "source": "table",
                "files": ["loans.parquet"],
                "id_column": "account_id",
                "input_path": cfg.path,
                "target_column": cfg.target_column,
                "has_dates": cfg.date_column is not None,
                "protected_columns": list(cfg.protected_columns),
                "dropped_columns": [c for c in cfg.drop_columns if c in raw.columns],
            },
            tmp / "meta.json",
        )
    with atomic_dir(truth_dir) as tmp:  # no truth for a user's table: an empty, typed file
        pd.DataFrame(
            {
                "account_id": pd.Series(dtype=str),
                "observation_date": pd.Series(dtype="datetime64[ns]"),
                "true_pd": pd.Series(dtype=float),
            }
        ).to_parquet(tmp / "true_pd.parquet", index=False)
    summary = _summarise({"loans": (len(raw), kept, rejects)})
    summary.update(source="table", default_rate=float(kept["default"].mean()))
    return summary


def main(args: argparse.Namespace) -> None:
    cfg = parse_config(load_params(args.params))
    out_dir, truth_dir = Path(args.out_dir), Path(args.truth_dir)
    if cfg.source == "synthetic":
        assert cfg.synthetic is not None
        summary = ingest_synthetic(cfg.synthetic, out_dir, truth_dir, cfg.max_reject_fraction)
    else:
        assert cfg.table is not None
        summary = ingest_table(cfg.table, out_dir, truth_dir, cfg.max_reject_fraction)
    write_json(summary, args.summary)
    log.info(
        "ingest: %d rows in, %d kept, %d rejected; default rate %.4f",
        summary["rows_in"],
        summary["rows_kept"],
        summary["rows_rejected"],
        summary["default_rate"],
    )


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__ or "ingest")
    parser.add_argument("--out-dir", default="data/raw")
    parser.add_argument("--truth-dir", default="data/truth")
    parser.add_argument("--summary", default="reports/ingest.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())
