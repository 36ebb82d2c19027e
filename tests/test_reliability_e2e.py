"""Issue 16 end to end: a failed `dvc repro` leaves every report and data file as it was, an invalid
policy stops the pipeline before training, and replacing the loan table makes ingest stale."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import copy_repo, set_params, subprocess_env

pytestmark = pytest.mark.slow


def _run(repo: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(PYTHONPATH=str(repo))
    return subprocess.run(
        list(args), cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
    )


def _commit(repo: Path, message: str) -> None:
    git = ("git", "-c", "user.email=t@t", "-c", "user.name=t")
    _run(repo, *git, "commit", "-qam", message)


def _md5s(repo: Path) -> dict[str, str]:
    """md5 of every file under reports/ and data/ (temp siblings included: none may be left)."""
    return {
        str(p.relative_to(repo)): hashlib.md5(p.read_bytes()).hexdigest()
        for top in ("reports", "data")
        for p in sorted((repo / top).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("reliability") / "repo")
    set_params(repo, {"data.synthetic.n_customers": 3000})
    _commit(repo, "small book")
    run = _run(repo, "dvc", "repro")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return repo


def test_a_failed_repro_keeps_every_report_and_data_file(small_run: Path):
    repo = small_run
    before = _md5s(repo)
    assert "reports/promotion.json" in before and "data/model/booster.txt" in before
    params = repo / "params.yaml"
    original = params.read_text()
    try:
        params.write_text(original.replace("learning_rate: 0.03", 'learning_rate: "fast"'))
        assert params.read_text() != original
        run = _run(repo, "dvc", "repro")
        assert run.returncode != 0
        assert "Traceback" not in run.stderr, run.stderr[-4000:]
        assert "learning_rate" in run.stderr, run.stderr[-4000:]
        assert _md5s(repo) == before
    finally:
        params.write_text(original)


def test_an_invalid_policy_stops_repro_before_training(small_run: Path):
    """A train param edit makes train stale; an invalid policy must still stop the run first."""
    repo = small_run
    before = _md5s(repo)
    policy_path, params_path = repo / "configs/collection_policy.yaml", repo / "params.yaml"
    policy_text, params_text = policy_path.read_text(), params_path.read_text()
    try:
        policy = yaml.safe_load(policy_text)
        policy["monotone_in"] = []
        policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
        params_path.write_text(params_text.replace("num_leaves: 15", "num_leaves: 14"))
        run = _run(repo, "dvc", "repro")
        assert run.returncode != 0
        assert "monotone_in: must name at least one field" in run.stderr, run.stderr[-4000:]
        assert "Running stage 'train'" not in run.stdout, run.stdout[-4000:]
        assert "Traceback" not in run.stderr
        assert _md5s(repo) == before
    finally:
        policy_path.write_text(policy_text)
        params_path.write_text(params_text)
    restored = _run(repo, "dvc", "repro", "check_policy")
    assert restored.returncode == 0, restored.stderr[-3000:]
    status = _run(repo, "dvc", "status", "--json")
    assert json.loads(status.stdout) == {}, status.stdout


def test_replacing_the_loan_table_makes_ingest_stale(tmp_path: Path):
    repo = copy_repo(tmp_path / "repo")
    table = repo / "data/external/loans.csv"
    table.write_text("id,grade,loan_status\n1,A,Fully Paid\n")
    set_params(repo, {"data.synthetic.n_customers": 3000})
    _commit(repo, "small book")
    run = _run(repo, "dvc", "repro", "ingest")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    def ingest_stale() -> bool:
        status = _run(repo, "dvc", "status", "--json", "ingest")
        assert status.returncode == 0, status.stderr
        return "ingest" in json.loads(status.stdout)

    assert not ingest_stale()
    table.write_text("id,grade,loan_status\n1,B,Charged Off\n")
    assert ingest_stale()


def _outputs(stage: dict) -> list[str]:
    return [
        next(iter(o)) if isinstance(o, dict) else o
        for o in stage.get("outs", []) + stage.get("metrics", [])
    ]


def _stamp(repo: Path, outputs: list[str]) -> dict[Path, bytes | None]:
    """Mark each output so that a freshly written one differs from it; returns what to put back
    (file bytes, or None for a folder that got a stamp file)."""
    saved: dict[Path, bytes | None] = {}
    for out in outputs:
        path = repo / out
        if path.is_dir():
            (path / "stamp.txt").write_text("last good")
            saved[path] = None
        else:
            saved[path] = path.read_bytes()
            path.write_bytes(saved[path] + b"\n#stamp\n")
    return saved


def _unstamp(saved: dict[Path, bytes | None]) -> None:
    for path, content in saved.items():
        if content is None:
            (path / "stamp.txt").unlink()
        else:
            path.write_bytes(content)


@pytest.mark.parametrize(
    "name",
    [
        "check_policy",
        "ingest",
        "features",
        "train",
        "explain",
        "collection_rates",
        "register",
        "validate",
        "tiers",
        "monitor",
    ],
)
def test_a_kill_9_in_the_middle_of_a_stage_is_undone_by_its_next_run(small_run: Path, name: str):
    """SIGKILL a stage while it swaps its outputs in (after the first of several, or just before
    a single one): the next run of the stage puts every last good output back and leaves no
    temp file, so DVC sees the stage exactly as before the killed run."""
    import shlex

    from tests.helpers import dvc_stages

    repo = small_run
    stage = dvc_stages(repo)[name]
    outputs = _outputs(stage)
    saved = _stamp(repo, outputs)
    try:
        last_good = _md5s(repo)
        argv = shlex.split(stage["cmd"])
        env = subprocess_env(PYTHONPATH=str(repo), CREDITRISK_FAULT="kill-mid-commit")
        killed = subprocess.run(
            argv, cwd=repo, env=env, capture_output=True, text=True, timeout=600
        )
        assert killed.returncode == -9, killed.stderr[-3000:]
        journal = repo / Path(outputs[0]).parent / f".{name}.commit.json"
        assert journal.is_file()  # killed inside the swap
        if len(outputs) > 1:
            assert _md5s(repo) != last_good  # one output was already the new one
        repair = (
            "import sys\n"
            f"from pipelines.{name} import STAGE\n"
            "STAGE.repair(STAGE.parse(sys.argv[1:])[0])\n"
        )
        fixed = _run(repo, "python", "-c", repair, *argv[3:])
        assert fixed.returncode == 0, fixed.stderr[-3000:]
        assert _md5s(repo) == last_good  # every output back, no temp or journal left
    finally:
        _unstamp(saved)
    status = _run(repo, "dvc", "status", "--json", name)
    assert json.loads(status.stdout) == {}, status.stdout
