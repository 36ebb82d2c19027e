"""The params loader: the top level of params.yaml is checked by every stage."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from pipelines.params import TOP_LEVEL_KEYS, load_params

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_real_params_file_has_exactly_the_known_sections():
    params = load_params(REPO / "params.yaml")
    assert set(params.data) == set(TOP_LEVEL_KEYS)
    assert params.seed() == yaml.safe_load((REPO / "params.yaml").read_text())["seed"]


def test_a_top_level_typo_fails(tmp_path):
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["trian"] = data.pop("train")
    with pytest.raises(ConfigError, match="trian: is not a known key"):
        load_params(_write(tmp_path, data))


def test_a_missing_section_fails(tmp_path):
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    del data["explain"]
    with pytest.raises(ConfigError, match="explain: is required"):
        load_params(_write(tmp_path, data))


@pytest.mark.parametrize("seed", [True, -1, "42", 4.2])
def test_seed_is_a_plain_non_negative_integer(tmp_path, seed):
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["seed"] = seed
    with pytest.raises(ConfigError, match="seed: expected an integer"):
        load_params(_write(tmp_path, data)).seed()
