"""Issue 16: a failed or killed run keeps the last good outputs and leaves nothing half-done.

Train checks its inputs before writing anything; stale temp siblings of a killed run go at the
next run of the stage; register ends MLflow runs a dead process left RUNNING; the policy is
checked (with params `tiers`) by its own first stage; `pipelines.score` answers bad input files
and model URIs with one line; every DVC output is persistent."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from core.errors import ConfigError, DataValidationError
from pipelines import train as train_stage
from pipelines.stage import remove_stale_temps
from tests.helpers import REPO, dvc_stages, subprocess_env
from tests.models.conftest import make_catalogue, make_feature_table, write_feature_dir
from tests.models.train_helpers import StagePaths, fast_train_config, mlflow_config


def _stage(module: str, *args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line_error(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.stderr[-3000:]
    return errors[0]


# ------------------------------------------------------------------ train: check before writing
def test_train_refuses_missing_flags_before_overwriting_anything(tmp_path):
    """A loan table with arrears but no dispute/deceased flags: the features stage leaves them
    missing (never guessed). Train used to fit and replace the model, and register then failed
    with MLflow's `cannot convert float NaN to bool`; now train stops first and writes nothing."""
    table = make_feature_table(n=3000, seed=2)
    for flag in ("dispute", "deceased"):
        table[f"policy__{flag}"] = pd.array([pd.NA] * len(table), dtype="boolean")
    fdir, truth = write_feature_dir(tmp_path, table, make_catalogue())
    paths = StagePaths.under(tmp_path / "out", fdir, truth).train
    last_good = {
        paths.model_dir / "booster.txt": b"last good model",
        paths.metrics: b'{"last": "good"}',
        paths.scores: b"last good scores",
        paths.headline: b'{"test_auc": 0.7}',
    }
    for path, content in last_good.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    with pytest.raises(DataValidationError, match=r"\['deceased', 'dispute'\].*never guessed"):
        train_stage.run(paths, fast_train_config())
    assert {p: p.read_bytes() for p in last_good} == last_good
    assert not paths.deciles.exists() and not paths.plots_dir.exists()


# ---------------------------------------------------------------- stale temps of a killed run
def test_stale_temp_siblings_are_removed_and_a_moved_aside_output_is_put_back(tmp_path):
    reports = tmp_path / "reports"
    (reports / "explain").mkdir(parents=True)
    (reports / "explain" / "report.html").write_text("last good")
    half_dir = reports / ".explain.ab12cd_9"  # atomic_dir of a killed explain
    half_dir.mkdir()
    (half_dir / "partial.png").write_bytes(b"x")
    half_file = reports / ".explain.json.k3x9q0zz.tmp"  # atomic_path of a killed explain
    half_file.write_text("{")
    aside = tmp_path / "data" / ".model.old"  # killed between atomic_dir's two renames
    aside.mkdir(parents=True)
    (aside / "booster.txt").write_text("last good model")
    keep = [reports / ".explain.json", reports / ".explainer", reports / ".other.ab12cd34"]
    for path in keep:
        path.write_text("not ours")

    swept = remove_stale_temps(
        [reports / "explain", reports / "explain.json", tmp_path / "data" / "model", None]
    )
    assert set(swept) == {half_dir, half_file, aside}
    assert not half_dir.exists() and not half_file.exists() and not aside.exists()
    assert (tmp_path / "data" / "model" / "booster.txt").read_text() == "last good model"
    assert (reports / "explain" / "report.html").read_text() == "last good"
    assert all(path.exists() for path in keep)


def test_the_next_run_of_a_stage_sweeps_its_stale_temps(tmp_path):
    out = tmp_path / "reports" / "policy_check.json"
    out.parent.mkdir()
    stale = out.parent / ".policy_check.json.zz9kq1ab.tmp"
    stale.write_text("{")
    run = _stage("pipelines.check_policy", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    assert not stale.exists()
    assert json.loads(out.read_text()) == {"valid": True}


# ------------------------------------------------------------- MLflow runs of a dead process
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_register_ends_runs_a_killed_process_left_running(tmp_path, monkeypatch):
    from models.registry.stale_runs import HOST_TAG, PID_TAG
    from models.registry.tracking import ensure_experiment
    from tests.models.train_helpers import train_and_register

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    exp_id = ensure_experiment(mlflow, "reliability", uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    host = socket.gethostname()
    killed = client.create_run(exp_id, tags={PID_TAG: str(_dead_pid()), HOST_TAG: host})
    alive = client.create_run(exp_id, tags={PID_TAG: str(os.getppid()), HOST_TAG: host})
    elsewhere = client.create_run(exp_id, tags={PID_TAG: str(_dead_pid()), HOST_TAG: "other"})
    untagged = client.create_run(exp_id)

    fdir, truth = write_feature_dir(tmp_path, make_feature_table(n=3000, seed=5), make_catalogue())
    ml = mlflow_config(None, "reliability", "pd-reliability")
    run = train_and_register(tmp_path, fdir, truth, fast_train_config(), ml)

    status = {r: client.get_run(r.info.run_id).info.status for r in (killed, alive)}
    assert status == {killed: "KILLED", alive: "RUNNING"}
    for left_alone in (elsewhere, untagged):
        assert client.get_run(left_alone.info.run_id).info.status == "RUNNING"
    new = client.get_run(run.registration.result.run_id)
    assert new.info.status == "FINISHED"
    assert new.data.tags[PID_TAG] == str(os.getpid()) and new.data.tags[HOST_TAG] == host


# ------------------------------------------------------------------ policy and params checks
def _policy(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((REPO / "configs/collection_policy.yaml").read_text())
    data.update(changes)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_an_empty_monotone_in_is_refused(tmp_path):
    from collection_policy.loader import load_policy

    with pytest.raises(ConfigError, match="monotone_in: must name at least one field"):
        load_policy(_policy(tmp_path, monotone_in=[]))
    with pytest.raises(ConfigError, match="monotone_in: must name at least one field"):
        load_policy(_policy(tmp_path, monotone_in=None))
    assert load_policy(_policy(tmp_path, monotone_in=["pd"])).monotone_in == ("pd",)


def _params(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda d: d["tiers"].update(polcy="x"), "tiers.polcy: is not a known key"),
        (lambda d: d["tiers"].update(mode="rule"), "tiers.mode: expected one of"),
        (lambda d: d.update(tier={"mode": "rules"}), "tier: is not a known key"),
        (lambda d: d.update(seeds=1), "seeds: is not a known key"),
        ("monotone_off", "monotone_in: must name at least one field"),
        ("bad_rule", "rules[x].tier: expected an integer in"),
    ],
)
def test_check_policy_stage_stops_on_typos_and_invalid_policies(tmp_path, edit, match):
    if edit == "monotone_off":
        policy = _policy(tmp_path, monotone_in=[])
        params = _params(tmp_path, lambda d: d["tiers"].update(policy=str(policy)))
    elif edit == "bad_rule":
        policy = _policy(tmp_path, rules=[{"name": "x", "tier": 99, "when": {}}])
        params = _params(tmp_path, lambda d: d["tiers"].update(policy=str(policy)))
    else:
        params = _params(tmp_path, edit)
    out = tmp_path / "policy_check.json"
    out.write_text('{"valid": true}\n')
    line = _one_line_error(_stage("pipelines.check_policy", "--params", str(params), "--out", out))
    assert match in line
    assert out.read_text() == '{"valid": true}\n'  # the last good output stays


def test_check_policy_output_is_constant_for_any_valid_policy(tmp_path):
    out = tmp_path / "policy_check.json"
    first = _stage("pipelines.check_policy", "--out", str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    content = out.read_bytes()
    policy = _policy(tmp_path, version="edited", monotone_in=["pd"])
    params = _params(tmp_path, lambda d: d["tiers"].update(policy=str(policy)))
    again = _stage("pipelines.check_policy", "--params", str(params), "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert out.read_bytes() == content == b'{\n  "valid": true\n}\n'


# ----------------------------------------------------------------------------- DVC wiring
def test_dvc_wiring_for_a_failed_run():
    stages = dvc_stages()
    for name, stage in stages.items():
        for out in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []):
            path, flags = next(iter(out.items())) if isinstance(out, dict) else (out, {})
            assert flags.get("persist") is True, f"{name}: {path} is not persist"
    deps = {
        n: {next(iter(d)) if isinstance(d, dict) else d for d in s["deps"]}
        for n, s in stages.items()
    }
    check = stages["check_policy"]
    assert {"configs/collection_policy.yaml", "collection_policy"} <= deps["check_policy"]
    assert check["params"] == ["tiers"]
    assert "reports/policy_check.json" in deps["train"]
    assert "data/external" in deps["ingest"]  # params data.table.path's folder
    assert not any(d.startswith(("collection_policy", "configs/")) for d in deps["train"])


# ------------------------------------------------------------------ pipelines.score one-liners
@pytest.mark.parametrize(
    "name,content,match",
    [
        ("empty.csv", b"", "is not a readable CSV file (EmptyDataError"),
        ("garbage.parquet", b"\x00\x01 not parquet \xff", "is not a readable Parquet file"),
        ("truncated.parquet", b"PAR1xxxxPAR1", "is not a readable Parquet file"),
        ("missing.csv", None, "file not found"),
    ],
)
def test_score_answers_a_bad_input_file_in_one_line(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "scored.csv"
    run = _stage("pipelines.score", "--input", str(path), "--output", str(out))
    assert match in _one_line_error(run)
    assert not out.exists()


def test_score_answers_a_bad_model_uri_in_one_line(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("account_id,x\n1,2\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for model_uri, match in (
        ("models:/nope@champion", "Registered Model with name=nope not found"),
        ("runs:/abc/model", "Run with id=abc not found"),
    ):
        run = _stage(
            "pipelines.score",
            "--input",
            str(path),
            "--output",
            str(tmp_path / "scored.csv"),
            "--model-uri",
            model_uri,
            MLFLOW_TRACKING_URI=uri,
        )
        line = _one_line_error(run)
        assert f"cannot load model '{model_uri}'" in line and match in line


def test_sigterm_unwinds_a_stage_so_its_temps_are_removed(tmp_path):
    import signal
    import time

    script = (
        "import time\n"
        "from pipelines.stage import Stage\n"
        "STAGE = Stage('t', 't', outputs=('out',))\n"
        "def main(paths, params):\n"
        "    with STAGE.writing(paths) as out:\n"
        "        (out.dir('out') / 'part').write_text('x')\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(60)\n"
        "STAGE.main(main)\n"
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "--out", str(out)],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "writing"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    time.sleep(0.1)
    assert list(tmp_path.iterdir()) == []
