"""The `explain` params reader: exact keys, typed values, shared rules, the policy's contact line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from pipelines.params import load_params
from pipelines.params.explain import EXPLAIN_KEYS, read_explain, read_explain_policy

REPO = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((REPO / "params.yaml").read_text())


def _params(tmp_path: Path, **explain):
    """The repo's params with explain keys replaced; file paths made absolute."""
    data = copy.deepcopy(BASE)
    data["explain"]["reasons"] = str(REPO / data["explain"]["reasons"])
    data["tiers"]["policy"] = str(REPO / data["tiers"]["policy"])
    data["explain"].update(explain)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_params(path)


def test_the_real_params_file_reads(monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = read_explain(load_params(REPO / "params.yaml"))
    assert set(BASE["explain"]) == set(EXPLAIN_KEYS)
    assert cfg.population == "actionable" and cfg.test_sample_rows == 20000
    assert cfg.top_k == BASE["explain"]["top_k"] and cfg.seed == BASE["seed"]
    # not a param: the collection policy's pre-due nudge line, read by the library
    assert "actionable_min_pd" not in BASE["explain"]
    assert cfg.actionable_min_pd is None
    from models.explain.from_files import with_contact_line

    policy = read_explain_policy(load_params(REPO / "params.yaml"))
    assert with_contact_line(cfg, policy).actionable_min_pd == 0.10


def test_values_are_typed(tmp_path):
    cfg = read_explain(_params(tmp_path, top_k=4, batch_rows=10))
    assert (cfg.top_k, cfg.batch_rows) == (4, 10)
    cfg = read_explain(_params(tmp_path, population="all", test_sample_rows=None))
    assert (cfg.population, cfg.test_sample_rows) == ("all", None)
    assert isinstance(cfg.reasons, Path) and cfg.reasons.is_file()


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("top_k", 0),
        ("top_k", True),
        ("batch_rows", 0),
        ("check_tolerance", "tight"),
        ("raw_score_tolerance", 1),
        ("population", "everyone"),
        ("test_sample_rows", 10),
        ("test_sample_rows", True),
        ("plot_rows", 10),
        ("reasons", "configs/no_such_file.yaml"),
    ],
)
def test_bad_values_name_the_key(tmp_path, key, bad):
    with pytest.raises(ConfigError, match=rf"params.yaml: explain\.{key}: "):
        read_explain(_params(tmp_path, **{key: bad}))


def test_unknown_and_missing_keys_fail(tmp_path):
    with pytest.raises(ConfigError, match="explain.topk: is not a known key"):
        read_explain(_params(tmp_path, topk=4))
    # the old threshold param is gone: the policy file states it
    with pytest.raises(ConfigError, match="explain.actionable_min_pd: is not a known key"):
        read_explain(_params(tmp_path, actionable_min_pd=0.2))
    params = _params(tmp_path)
    del params.data["explain"]["plot_rows"]
    with pytest.raises(ConfigError, match="explain.plot_rows: is required"):
        read_explain(params)


def test_the_policy_is_read_from_the_tiers_section(tmp_path):
    params = _params(tmp_path)
    params.data["tiers"]["policy"] = str(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="tiers.policy: file not found"):
        read_explain_policy(params)
