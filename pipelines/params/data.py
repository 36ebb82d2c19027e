"""Readers of the `data` and `ingest` sections of params.yaml (the ingest stage).

Both sources' sections are read and checked whichever is selected, so a typo in the one not in
use fails now, not when someone switches to it. Keys that are legitimately unset
(`data.table.positive_values`, `negative_values`, `id_column`, `date_column`, `date_format`,
`group_column`) are present and null.
"""

from __future__ import annotations

from core.config import Section
from features.ingest import IngestConfig
from features.loan_table import TableConfig
from features.synthetic import SyntheticConfig
from pipelines.params import Params, build_config

DATA_KEYS = ("source", "synthetic", "table")
SOURCES = ("synthetic", "table")
SYNTHETIC_KEYS = ("n_customers", "months", "start_date", "observation_months", "outcome_months")
TABLE_KEYS = (
    "path",
    "target_column",
    "positive_values",
    "negative_values",
    "id_column",
    "date_column",
    "date_format",
    "group_column",
    "drop_columns",
    "protected_columns",
)
INGEST_KEYS = ("max_reject_fraction", "partitions")


def read_synthetic(params: Params) -> SyntheticConfig:
    """data.synthetic and seed: the size and shape of the generated book."""
    sec = params.section("data", DATA_KEYS).section("synthetic", SYNTHETIC_KEYS)
    return build_config(
        sec,
        SyntheticConfig,
        n_customers=sec.integer("n_customers", lo=10),
        months=sec.integer("months", lo=6),
        start_date=sec.string("start_date"),
        observation_months=tuple(sec.int_list("observation_months")),
        outcome_months=sec.integer("outcome_months", lo=1),
        seed=params.seed(),
    )


def read_table_source(params: Params) -> TableConfig:
    """data.table: the user's loan table and what its columns mean."""
    sec = params.section("data", DATA_KEYS).section("table", TABLE_KEYS)
    return build_config(
        sec,
        TableConfig,
        path=sec.string("path"),
        target_column=sec.string("target_column"),
        positive_values=_optional_values(sec, "positive_values"),
        negative_values=_optional_values(sec, "negative_values"),
        id_column=sec.optional_string("id_column"),
        date_column=sec.optional_string("date_column"),
        date_format=sec.optional_string("date_format"),
        group_column=sec.optional_string("group_column"),
        drop_columns=tuple(sec.str_list("drop_columns")),
        protected_columns=tuple(sec.str_list("protected_columns")),
    )


def _optional_values(sec: Section, name: str) -> tuple[str, ...] | None:
    """Null, or a non-empty list of target values (text or numbers, compared as text)."""
    value = sec.raw(name)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    ):
        raise sec.parser.fail(sec.path(name), "expected null or a non-empty list of values", value)
    return tuple(str(v) for v in value)


def read_data(params: Params) -> SyntheticConfig | TableConfig:
    """The `data` section: the config of the selected source (both sources are checked)."""
    source = params.section("data", DATA_KEYS).choice("source", SOURCES)
    synthetic, table = read_synthetic(params), read_table_source(params)
    return synthetic if source == "synthetic" else table


def read_partitions(params: Params) -> int:
    """ingest.partitions: buckets by account id of the built-in book's raw tables."""
    return params.section("ingest", INGEST_KEYS).integer("partitions", lo=1, hi=4096)


def read_ingest(params: Params) -> IngestConfig:
    """The ingest stage's config: `data` plus ingest.max_reject_fraction."""
    sec = params.section("ingest", INGEST_KEYS)
    return IngestConfig(
        source=read_data(params),
        max_reject_fraction=sec.number("max_reject_fraction", lo=0, hi=1),
    )
