"""Readers of the `data` and `ingest` sections of params.yaml (the ingest stage).

Both sources' sections are read and checked whichever is selected, so a typo in the one not in
use fails now, not when someone switches to it. Keys that are legitimately unset
(`data.table.positive_values`, `negative_values`, `id_column`, `date_column`, `date_format`,
`group_column`) are present and null.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from core.config import Section
from features.history import (
    FLAGS,
    FLAGS_ABSENT,
    KNOWN_FIELDS,
    OVERDUE_WHEN_MISSING,
    HistoryConfig,
    ObservationSchedule,
)
from features.ingest import IngestConfig
from features.labels import DefaultDefinition
from features.loan_table import TableConfig
from features.synthetic import SyntheticConfig
from pipelines.params import Params, build_config

DATA_KEYS = ("source", "synthetic", "table", "history")
SOURCES = ("synthetic", "table", "history")
HISTORY_KEYS = (
    "accounts",
    "statements",
    "attributes",
    "labels",
    "columns",
    "date_format",
    "currency",
    "fx_to_policy",
    "protected_columns",
    "drop_columns",
    "flags",
    "flags_absent",
    "observation_dates",
    "default_definition",
    "current_date",
    "overdue_when_missing",
)
DEFINITION_KEYS = (
    "dpd_threshold",
    "horizon_months",
    "materiality_abs",
    "materiality_rel",
    "probation_months",
)
SYNTHETIC_KEYS = (
    "n_customers",
    "months",
    "start_date",
    "observation_months",
    "outcome_months",
    "default_definition",
)
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


def read_default_definition(sec: Section) -> DefaultDefinition:
    """A `default_definition` block: what a default is (features.labels)."""
    d = sec.section("default_definition", DEFINITION_KEYS)
    return build_config(
        d,
        DefaultDefinition,
        dpd_threshold=d.integer("dpd_threshold", lo=1, hi=365),
        horizon_months=d.integer("horizon_months", lo=1, hi=60),
        materiality_abs=d.number("materiality_abs", lo=0),
        materiality_rel=d.number("materiality_rel", lo=0, hi=1),
        probation_months=d.integer("probation_months", lo=0, hi=36),
    )


def _optional_path(sec: Section, name: str) -> Path | None:
    value = sec.optional_string(name)
    return None if value is None else Path(value)


def _date(sec: Section, key: str, value: object) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise sec.parser.fail(key, "expected a date written YYYY-MM-DD", value)


def _schedule(sec: Section) -> ObservationSchedule | None:
    """observation_dates: null, a list of dates, or {every_months: k}."""
    value = sec.raw("observation_dates")
    key = sec.path("observation_dates")
    if value is None:
        return None
    if isinstance(value, list) and value:
        dates = tuple(_date(sec, f"{key}[{i}]", v) for i, v in enumerate(value))
        if len(set(dates)) != len(dates):
            raise sec.parser.fail(key, "lists a date twice", value)
        return ObservationSchedule(dates=dates)
    if isinstance(value, dict):
        every = sec.section("observation_dates", ("every_months",))
        return ObservationSchedule(every_months=every.integer("every_months", lo=1, hi=24))
    raise sec.parser.fail(key, "expected null, a list of dates or {every_months: k}", value)


def _mapping(sec: Section, name: str, keys: frozenset[str] | tuple[str, ...]) -> dict:
    value = sec.raw(name)
    key = sec.path(name)
    if not isinstance(value, dict):
        raise sec.parser.fail(key, "expected a mapping", value)
    sec.parser.known_keys(value, key, keys)
    return value


def read_history(params: Params) -> HistoryConfig:
    """data.history: a lender's accounts and statements files and what their columns mean."""
    sec = params.section("data", DATA_KEYS).section("history", HISTORY_KEYS)
    columns = _mapping(sec, "columns", KNOWN_FIELDS)
    for name, column in columns.items():
        sec.parser.string(column, f"{sec.path('columns')}.{name}")
    flags = _mapping(sec, "flags", FLAGS)
    for flag in FLAGS:
        if flag not in flags:
            raise sec.parser.fail(f"{sec.path('flags')}.{flag}", "is required (null: none)")
        sec.parser.optional_string(flags[flag], f"{sec.path('flags')}.{flag}")
    fx = sec.raw("fx_to_policy")
    current = sec.raw("current_date")
    return build_config(
        sec,
        HistoryConfig,
        accounts=Path(sec.string("accounts")),
        statements=Path(sec.string("statements")),
        attributes=_optional_path(sec, "attributes"),
        labels=_optional_path(sec, "labels"),
        columns=dict(columns),
        date_format=sec.optional_string("date_format"),
        currency=sec.string("currency"),
        fx_to_policy=None if fx is None else sec.number("fx_to_policy", lo=0, lo_open=True),
        protected_columns=tuple(sec.str_list("protected_columns")),
        drop_columns=tuple(sec.str_list("drop_columns")),
        flags=dict(flags),
        flags_absent=sec.choice("flags_absent", FLAGS_ABSENT),
        observation_dates=_schedule(sec),
        default_definition=read_default_definition(sec),
        current_date=None if current is None else _date(sec, sec.path("current_date"), current),
        overdue_when_missing=sec.choice("overdue_when_missing", OVERDUE_WHEN_MISSING),
        seed=params.seed(),
    )


def read_data(params: Params) -> SyntheticConfig | TableConfig | HistoryConfig:
    """The `data` section: the config of the selected source (every source is checked)."""
    source = params.section("data", DATA_KEYS).choice("source", SOURCES)
    configs = {
        "synthetic": read_synthetic(params),
        "table": read_table_source(params),
        "history": read_history(params),
    }
    return configs[source]


def read_partitions(params: Params) -> int:
    """ingest.partitions: buckets by account id of the built-in book's raw tables."""
    return params.section("ingest", INGEST_KEYS).integer("partitions", lo=1, hi=4096)


def read_synthetic_definition(params: Params) -> DefaultDefinition:
    """data.synthetic.default_definition: what the built-in book's labels mean."""
    sec = params.section("data", DATA_KEYS).section("synthetic", SYNTHETIC_KEYS)
    return read_default_definition(sec)


def read_ingest(params: Params) -> IngestConfig:
    """The ingest stage's config: `data` plus ingest.max_reject_fraction."""
    sec = params.section("ingest", INGEST_KEYS)
    return IngestConfig(
        source=read_data(params),
        max_reject_fraction=sec.number("max_reject_fraction", lo=0, hi=1),
        definition=read_synthetic_definition(params),
    )
