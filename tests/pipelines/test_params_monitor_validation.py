"""Readers of params.yaml `monitor` and `validation`: the real values, and clear errors."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from pipelines.params import load_params
from pipelines.params.monitor import read_monitor
from pipelines.params.validation import read_validation
from tests.pipelines.params_helpers import DELETE, REPO, edited_params


def test_real_params():
    params = load_params(REPO / "params.yaml")
    monitor = read_monitor(params)
    assert monitor.reference_split == "train"
    assert (monitor.config.psi_amber, monitor.config.psi_red) == (0.10, 0.25)
    assert monitor.config.protected == ("protected__age_band",)
    validation = read_validation(params)
    assert validation.config.seed == 42
    assert validation.label_definition is None  # the definition ingest labelled the book by
    assert validation.model_name == "credit-pd"


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"monitor__psi_red": 0.05}, "monitor: need 0 < psi_amber < psi_red"),
        ({"monitor__p_red": 0.1}, "monitor: need 0 < p_red < p_amber"),
        ({"monitor__air_outcome": "sms"}, "monitor.air_outcome"),
        ({"monitor__reference_split": "score"}, "monitor.reference_split"),
        ({"monitor__roll_months": 0}, "monitor.roll_months"),
        ({"monitor__psi_amberr": 0.1}, "monitor.psi_amberr: is not a known key"),
        ({"monitor__protected": "protected__age_band"}, "monitor.protected"),
    ],
)
def test_bad_monitor_params_fail_cleanly(tmp_path, changes, match):
    with pytest.raises(ConfigError, match=match):
        read_monitor(edited_params(tmp_path, **changes))


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"validation__red": 0.1}, "validation: need 0 < red < amber"),
        ({"validation__hl_groups": 2}, "validation.hl_groups"),
        ({"validation__level": 1.0}, "validation.level"),
        ({"validation__scorecard_min_bin_size": 0.6}, "validation.scorecard_min_bin_size"),
        ({"validation__ks_bootstrap": DELETE}, "validation.ks_bootstrap: is required"),
    ],
)
def test_bad_validation_params_fail_cleanly(tmp_path, changes, match):
    with pytest.raises(ConfigError, match=match):
        read_validation(edited_params(tmp_path, **changes))


def test_a_loan_table_must_say_what_a_default_is(tmp_path):
    with pytest.raises(ConfigError, match="validation.label_definition: must say what a default"):
        read_validation(edited_params(tmp_path, data__source="table"))
    text = "loan_status is Charged Off"
    settings = read_validation(
        edited_params(tmp_path, data__source="table", validation__label_definition=text)
    )
    assert settings.label_definition == text


def test_validation_reads_no_train_key(tmp_path):
    """The samples come from the scores (train's record): validate needs no train param."""
    settings = read_validation(edited_params(tmp_path, train__calibration_fraction=DELETE))
    assert settings.config.seed == 42
