"""Point-in-time behavioural features for the built-in credit book.

Every feature of an (account, observation_date) row is computed from what was known strictly
before that date, so training snapshots and the current book share one code path and nothing
from the outcome window leaks in. The package, one idea a module:

- `point_in_time`: the index of what was known before each date (statements by statement date,
  dated attributes by effective date); no feature knows how it is found.
- `signals`: per-statement quantities, each known at its own statement date.
- `context`: what a feature's computation reads (history, signals, values in force at the date).
- `definitions`: every feature, its catalogue entry (name, dtype, direction, description,
  sources, reason family, look-back) beside its computation; the catalogue is derived from it.
- `policy_inputs`: the collection policy's `policy__` columns, beside the features.
- `frame`: the build (`build_behavioural_features`) and its catalogue (`behavioural_catalogue`).

Every feature reads a fixed look-back (its windows, or `max_lookback_months`), never the whole
history, and a build computes exactly the features whose input columns the tables have: the
others are skipped and listed (`BehaviouralFeatures.skipped`), never filled.
"""

from features.behavioural.context import (
    ATTRIBUTE_COLUMNS,
    CUSTOMER_COLUMNS,
    REQUIRED_COLUMNS,
    STATEMENT_COLUMNS,
    available_sources,
)
from features.behavioural.definitions import no_delinquency_months
from features.behavioural.frame import (
    PROTECTED_ATTRIBUTES,
    BehaviouralFeatures,
    behavioural_catalogue,
    build_behavioural_features,
    check_lookback,
    core_window_aggregates,
)
from features.behavioural.policy_inputs import POLICY_FLAGS, POLICY_SOURCES
from features.behavioural.signals import PAYMENT_RATIO_CAP

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "CUSTOMER_COLUMNS",
    "PAYMENT_RATIO_CAP",
    "POLICY_FLAGS",
    "POLICY_SOURCES",
    "PROTECTED_ATTRIBUTES",
    "REQUIRED_COLUMNS",
    "STATEMENT_COLUMNS",
    "BehaviouralFeatures",
    "available_sources",
    "behavioural_catalogue",
    "build_behavioural_features",
    "check_lookback",
    "core_window_aggregates",
    "no_delinquency_months",
]
