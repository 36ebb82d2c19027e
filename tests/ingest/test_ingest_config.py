"""params.yaml sections of the ingest stage: typos and wrong types fail with the key named."""

from __future__ import annotations

import copy

import pytest
import yaml

from features.errors import ConfigError
from pipelines.ingest import parse_config
from tests.helpers import REPO

PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def _with(path: str, value: object) -> dict:
    params = copy.deepcopy(PARAMS)
    node = params
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return params


def test_repo_params_parse():
    cfg = parse_config(PARAMS)
    assert (
        cfg.source == "synthetic"
        and cfg.synthetic.n_customers == PARAMS["data"]["synthetic"]["n_customers"]
    )


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        ("data.synthetic.n_customer", 10, "data.synthetic"),  # typo: unknown key
        ("data.synthetic.n_customers", "many", "data.synthetic.n_customers"),
        ("data.synthetic.observation_months", 9, "data.synthetic.observation_months"),
        ("data.synthetic.outcome_months", "6", "data.synthetic.outcome_months"),
        ("data.source", "sql", "data.source"),
        ("ingest.max_reject_fraction", 2, "ingest.max_reject_fraction"),
        ("ingest.max_rejects", 2, "ingest"),
    ],
)
def test_bad_values_name_the_key(path, value, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(_with(path, value))
