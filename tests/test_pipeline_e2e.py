"""End to end: `dvc repro` of all nine stages on a small book in a temp copy of the repo, the DVC
wiring a user relies on (a readable `dvc metrics show`, a policy edit that does not retrain), a
`dvc exp run` that registers a second model version through the promotion gate, and the reviewer
notebook executed against the run's outputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from tests.helpers import REPO, set_params, subprocess_env

pytestmark = pytest.mark.slow


def _run(repo: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(PYTHONPATH=str(repo))
    return subprocess.run(
        list(args), cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers import copy_repo

    repo = copy_repo(tmp_path_factory.mktemp("e2e") / "repo")
    set_params(repo, {"data.synthetic.n_customers": 3000})
    _run(repo, "git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "small book")
    run = _run(repo, "dvc", "repro")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return repo


def test_all_stages_write_their_outputs(pipeline_run: Path):
    repo = pipeline_run
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    for split in ("test", "validation", "baseline_test"):
        assert set(metrics[split]) >= {
            "auc",
            "gini",
            "ks",
            "brier",
            "log_loss",
            "ece",
            "n",
            "bad_rate",
        }
    assert 0.6 < metrics["test"]["auc"] <= 1.0
    assert set(metrics["oracle_test"]) >= {"auc", "brier"}

    promotion = json.loads((repo / "reports/promotion.json").read_text())
    assert str(promotion["challenger_version"]) == "1" and promotion["promote"] is True

    features = pd.read_parquet(repo / "data/features/features.parquet")
    current = features.loc[features["split"] == "score", "account_id"]
    tiers = pd.read_parquet(repo / "data/tiers/tiers.parquet")
    assert set(tiers["account_id"]) == set(current)  # the tier stage covers the whole current book
    assert tiers["tier"].between(0, 5).all() and tiers["rule"].notna().all()

    reasons = pd.read_parquet(repo / "data/explanations/reasons.parquet")
    assert not reasons.empty and reasons["text"].str.len().gt(0).all()
    assert "age_band" not in set(reasons["feature"])  # protected attributes are never reasons
    html = (repo / "reports/explain/report.html").read_text()
    assert "<img" in html and "http://" not in html and "https://" not in html


def _leaves(node: object) -> list[object]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    return [node]


def test_metrics_show_lists_only_headline_numbers(pipeline_run: Path):
    show = _run(pipeline_run, "dvc", "metrics", "show", "--json")
    assert show.returncode == 0, show.stderr
    files = json.loads(show.stdout)[""]["data"]
    assert set(files) == {
        f"reports/headline/{stage}.json"
        for stage in (
            "ingest",
            "features",
            "train",
            "explain",
            "register",
            "validate",
            "tiers",
            "monitor",
        )
    }
    values = _leaves({name: body["data"] for name, body in files.items()})
    assert 20 <= len(values) <= 55, len(values)  # a screenful, not several hundred columns
    text = show.stdout
    for word in ("seconds", "timings", "run_id", "tracking_uri", str(pipeline_run)):
        assert word not in text
    for report in (
        "metrics.json",
        "promotion.json",
        "explain.json",
        "tiers.json",
        "ingest.json",
        "validation.json",
        "monitoring.json",
        "fairness.json",
    ):
        assert str(pipeline_run) not in (pipeline_run / "reports" / report).read_text()


def _stale_stages(repo: Path) -> set[str]:
    status = _run(repo, "dvc", "status", "--json")
    assert status.returncode == 0, status.stderr
    return set(json.loads(status.stdout))


def test_a_policy_or_reasons_edit_never_retrains(pipeline_run: Path):
    """Editing the collection policy re-checks it, re-learns the expected-value rates (the
    history's tiers come from its rules), re-registers and re-tiers; only a change of its contact
    rules also re-explains (they pick the accounts that get reasons). Nothing retrains: the policy
    check's output is constant, so train (which depends on it) stays put."""
    repo = pipeline_run
    assert _stale_stages(repo) == set()
    policy = repo / "configs/collection_policy.yaml"
    original = policy.read_text()
    try:
        policy.write_text(original.replace('version: "', 'version: "edited-', 1))
        assert _stale_stages(repo) == {"check_policy", "collection_rates", "register", "tiers"}
        checked = _run(repo, "dvc", "repro", "check_policy")
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
        assert _stale_stages(repo) == {"collection_rates", "register", "tiers"}
        policy.write_text(
            original.replace(
                "{days_past_due: {lte: 0}, pd: {gte: 0.10}}",
                "{days_past_due: {lte: 0}, pd: {gte: 0.12}}",
            ).replace(
                "{days_past_due: {lte: 0}, pd: {lt: 0.10}}",
                "{days_past_due: {lte: 0}, pd: {lt: 0.12}}",
            )
        )
        assert _stale_stages(repo) == {
            "check_policy",
            "collection_rates",
            "explain",
            "register",
            "tiers",
        }
    finally:
        policy.write_text(original)
    checked = _run(repo, "dvc", "repro", "check_policy")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    reasons = repo / "configs/reasons.yaml"
    original = reasons.read_text()
    try:
        reasons.write_text(original + "\n# edited\n")
        assert _stale_stages(repo) == {"explain", "register"}
    finally:
        reasons.write_text(original)
    assert _stale_stages(repo) == set()


def test_experiment_registers_version_2_through_the_gate(pipeline_run: Path):
    repo = pipeline_run
    run = _run(repo, "dvc", "exp", "run", "-S", "train.learning_rate=0.1")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    promotion = json.loads((repo / "reports/promotion.json").read_text())
    assert str(promotion["challenger_version"]) == "2" and str(promotion["champion_version"]) == "1"
    assert isinstance(promotion["promote"], bool) and promotion["reasons"]
    show = _run(repo, "dvc", "exp", "show", "--json")
    assert show.returncode == 0, show.stderr
    rows = []  # (learning_rate, test auc) for the workspace and every experiment
    for entry in json.loads(show.stdout):
        for item in [entry] + [
            e for x in entry.get("experiments") or [] for e in x.get("revs", [])
        ]:
            data = item.get("data") or {}
            lr = data["params"]["params.yaml"]["data"]["train"]["learning_rate"]
            metrics = (data.get("metrics") or {}).get("reports/headline/train.json", {}).get("data")
            rows.append((item.get("name"), lr, metrics["test_auc"] if metrics else None))
    experiments = [r for r in rows if r[0] and r[1] == 0.1]
    assert experiments, rows  # the experiment is listed with its param...
    assert all(auc is not None and 0.5 < auc <= 1 for _, _, auc in experiments)  # ...and metrics


def _champion(repo: Path) -> str:
    import mlflow

    uri = f"sqlite:///{repo / 'mlflow.db'}"  # both URIs: an earlier test may have set globals
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    return str(client.get_model_version_by_alias("credit-pd", "champion").version)


def test_a_clearly_worse_challenger_is_refused_and_the_champion_stays(pipeline_run: Path):
    """Twenty boosting rounds at a slow learning rate: registered, judged on the same test rows
    as the champion by the paired DeLong non-inferiority test, refused; the alias does not move."""
    repo = pipeline_run
    before = _champion(repo)
    run = _run(
        repo,
        "dvc",
        "exp",
        "run",
        "-S",
        "train.num_boost_round=20",
        "-S",
        "train.learning_rate=0.01",
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    promotion = json.loads((repo / "reports/promotion.json").read_text())
    assert promotion["status"] == "rejected" and promotion["promote"] is False
    assert str(promotion["champion_version"]) == before == _champion(repo)
    check = next(c for c in promotion["checks"] if c["check"] == "non_inferiority")
    assert check["passed"] is False and check["diff"] < 0 and check["low"] < -check["margin"]
    assert 0 <= check["p"] <= 1 and check["level"] == 0.95
    assert any(r.startswith("FAIL: paired DeLong") for r in promotion["reasons"])
    validation = json.loads((repo / "reports/validation.json").read_text())
    assert validation["gate"]["status"] == "rejected"  # the report carries the gate's decision


def test_validation_and_monitoring_reports(pipeline_run: Path):
    repo = pipeline_run
    validation = json.loads((repo / "reports/validation.json").read_text())
    low, high = validation["auc_ci"]
    assert low < validation["discrimination"]["test"]["auc"] < high
    grades = validation["calibration_by_grade"]
    assert grades and {"grade", "n", "defaults", "mean_pd", "observed_rate", "binomial_p"} <= set(
        grades[0]
    )
    assert {g["light"] for g in grades} <= {"green", "amber", "red", "n/a"}
    assert set(validation["hosmer_lemeshow"]) >= {"statistic", "p"}
    assert set(validation["vs_scorecard"]) >= {"auc_gbm", "auc_scorecard", "diff", "p"}
    page = (repo / "reports/validation/report.html").read_text()
    assert "http://" not in page and "https://" not in page and "Model card" in page
    monitoring = json.loads((repo / "reports/monitoring.json").read_text())
    periods = [p["period"] for p in monitoring["periods"]]
    assert periods == sorted(periods) and len(periods) >= 5
    assert {"score_psi", "rag", "n", "auc", "observed_rate", "mean_pd", "oe_ratio"} <= set(
        monitoring["periods"][0]
    )
    fairness = json.loads((repo / "reports/fairness.json").read_text())
    assert fairness["age_band"]["groups"] and "adverse_impact_ratio" in fairness["age_band"]
    assert "<img" in (repo / "reports/monitoring/report.html").read_text()


def test_reviewer_notebook_runs_on_the_outputs(pipeline_run: Path, monkeypatch: pytest.MonkeyPatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("CREDIT_REPO_DIR", str(pipeline_run))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    path = REPO / "notebooks" / "review_explanations.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5


def test_table_source_runs_all_stages(tmp_path: Path):
    """A user's loan table (text ids, a feature called `grade`, a protected column) goes through
    all stages without code changes."""
    import numpy as np

    from tests.helpers import copy_repo

    repo = copy_repo(tmp_path / "repo")
    rng = np.random.default_rng(3)
    n = 2000
    grade = rng.choice(list("ABCDE"), n)
    dti = rng.uniform(0, 40, n)
    logit = (
        -2.5
        + 0.5 * pd.Series(grade).map({g: i for i, g in enumerate("ABCDE")}).to_numpy()
        + 0.03 * dti
    )
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    (repo / "data/external").mkdir(parents=True, exist_ok=True)  # copy_repo makes it
    pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "issue_d": pd.date_range("2019-01-01", periods=n, freq="6h").strftime("%Y-%m-%d"),
            "grade": grade,
            "dti": dti.round(2),
            "purpose": rng.choice(["car", "home", "other"], n),
            "gender": rng.choice(["f", "m"], n),
            "loan_status": np.where(bad, "Charged Off", "Fully Paid"),
        }
    ).to_csv(repo / "data/external/loans.csv", index=False)
    set_params(
        repo,
        {
            "data.source": "table",
            "data.table.path": "data/external/loans.csv",
            "data.table.id_column": "id",
            "data.table.date_column": "issue_d",
            "data.table.protected_columns": ["gender"],
            "validation.label_definition": "loan_status is Charged Off",
            "monitor.protected": ["protected__gender"],
        },
    )
    run = _run(repo, "dvc", "repro")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    catalogue = json.loads((repo / "data/features/catalogue.json").read_text())
    assert "gender" not in [f["name"] for f in catalogue["features"]]
    reasons = pd.read_parquet(repo / "data/explanations/reasons.parquet")
    assert not reasons["feature"].str.contains("gender").any()
    tiers = pd.read_parquet(repo / "data/tiers/tiers.parquet")
    test = pd.read_parquet(repo / "data/features/features.parquet").query("split == 'test'")
    assert set(tiers["account_id"]) == set(test["account_id"])  # the test split is tiered
    fairness = json.loads((repo / "reports/fairness.json").read_text())
    assert {g["group"] for g in fairness["gender"]["groups"]} == {"f", "m"}
    card = json.loads((repo / "reports/validation.json").read_text())["model_card"]
    assert "Charged Off" in json.dumps(card)
