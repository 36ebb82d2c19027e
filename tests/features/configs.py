"""Library configs for tests, read from the repo's params.yaml (defaults live only there).

Tests change only what they test (`synthetic_config(n_customers=4000)`); everything else is the
value production uses, so a test cannot drift to a setting the pipeline never runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from features.build import FeaturesConfig
from features.loan_table import TableConfig
from features.loan_table_features import TableFeatureConfig
from features.split import SplitConfig
from features.synthetic import SyntheticConfig
from pipelines.params import Params, load_params
from pipelines.params.data import read_synthetic, read_table_source
from pipelines.params.features import read_features
from tests.helpers import REPO


def repo_params() -> Params:
    return load_params(REPO / "params.yaml")


def synthetic_config(**changes: Any) -> SyntheticConfig:
    return replace(read_synthetic(repo_params()), **changes)


def table_config(**changes: Any) -> TableConfig:
    return replace(read_table_source(repo_params()), **changes)


def features_config(**changes: Any) -> FeaturesConfig:
    return replace(read_features(repo_params()), **changes)


def split_config(**changes: Any) -> SplitConfig:
    return replace(read_features(repo_params()).split, **changes)


def table_feature_config(**changes: Any) -> TableFeatureConfig:
    return replace(read_features(repo_params()).table_features, **changes)


#: features.windows of params.yaml.
WINDOWS: tuple[int, ...] = read_features(repo_params()).windows
