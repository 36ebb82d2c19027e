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
"""

from features.behavioural.context import ATTRIBUTE_COLUMNS, CUSTOMER_COLUMNS, STATEMENT_COLUMNS
from features.behavioural.definitions import NEVER_DELINQUENT_MONTHS, STATIC_CATEGORIES
from features.behavioural.frame import (
    PROTECTED_ATTRIBUTES,
    behavioural_catalogue,
    build_behavioural_features,
    core_window_aggregates,
)
from features.behavioural.policy_inputs import DEFAULT_TIMEZONE, POLICY_FLAGS
from features.behavioural.signals import PAYMENT_RATIO_CAP

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "CUSTOMER_COLUMNS",
    "DEFAULT_TIMEZONE",
    "NEVER_DELINQUENT_MONTHS",
    "PAYMENT_RATIO_CAP",
    "POLICY_FLAGS",
    "PROTECTED_ATTRIBUTES",
    "STATEMENT_COLUMNS",
    "STATIC_CATEGORIES",
    "behavioural_catalogue",
    "build_behavioural_features",
    "core_window_aggregates",
]
