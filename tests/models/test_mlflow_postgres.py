"""The team tracking server of docs/scale.md: `mlflow server` on PostgreSQL with an artifact root.

A throwaway PostgreSQL cluster (the machine's initdb/pg_ctl, or Debian's `postgresql` installed
with apt-get; skipped where neither works) backs a real `mlflow server`; the real train and
register stages run against it, and the registered version and champion alias are read back
through MlflowClient and straight from the PostgreSQL tables.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port, mlflow_tracking_server

pytestmark = pytest.mark.slow

DATABASE = "mlflow"


@dataclass(frozen=True)
class Postgres:
    port: int
    uri: str  # SQLAlchemy URI of the `mlflow` database (psycopg2: SQLAlchemy 2.1 defaults to psycopg 3)


def _pg_bin_dir() -> Path:
    """Where initdb and pg_ctl live: PATH, else Debian's package (installed here if missing)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    packaged = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not packaged:
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.skip("PostgreSQL is not installed and apt-get is unavailable to install it")
        cmd = f"{apt} update -q && DEBIAN_FRONTEND=noninteractive {apt} install -y -q postgresql"
        proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=900)
        packaged = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if proc.returncode != 0 or not packaged:
            pytest.skip(
                f"postgresql could not be installed (apt-get rc={proc.returncode}): "
                f"{proc.stderr.strip()[-300:]}"
            )
    return Path(packaged[-1]).parent


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server's tools as `postgres` then."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as `postgres`")
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    import psycopg2

    bin_dir = _pg_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="pg-mlflow-"))  # not under pytest's root-only tmp dirs
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    data, log, port = root / "data", root / "server.log", free_port()
    pg_ctl = _as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data)])

    def run(cmd: list[str]) -> None:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            logged = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{cmd} failed: {proc.stdout}{proc.stderr}{logged}")

    try:
        run(
            _as_postgres_user(
                [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
            )
        )
        run([*pg_ctl, "-o", f"-p {port} -k {root} -h 127.0.0.1", "-l", str(log), "-w", "start"])
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {DATABASE}")
            conn.close()
            yield Postgres(port, f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{DATABASE}")
        finally:
            run([*pg_ctl, "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mlflow_on_postgres(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[str, Postgres]]:
    with mlflow_tracking_server(postgres.uri, tmp_path, timeout=180) as url:
        yield url, postgres


def test_train_and_register_on_a_postgres_backed_server(
    mlflow_on_postgres, tmp_path, monkeypatch, feature_table, catalogue, fast_config, write_features
):
    import mlflow
    import psycopg2

    from tests.models.train_helpers import mlflow_config, train_and_register

    url, postgres = mlflow_on_postgres
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    fdir, truth = write_features(tmp_path, feature_table, catalogue)
    run = train_and_register(
        tmp_path,
        fdir,
        truth,
        fast_config,
        mlflow_config(url, experiment="team", model_name="pd-pg"),
    )
    promotion = run.promotion
    assert promotion["promote"] is True and promotion["challenger_version"] == "1"
    assert promotion["tracking_uri"] == url

    client = mlflow.MlflowClient(tracking_uri=url)
    champion = client.get_model_version_by_alias("pd-pg", "champion")
    assert champion.version == "1"
    assert [v.version for v in client.search_model_versions("name='pd-pg'")] == ["1"]
    tracked = client.get_run(champion.run_id)
    assert tracked.data.metrics["test_auc"] == pytest.approx(run.train.metrics["test"]["auc"])
    artifacts = [a.path for a in client.list_artifacts(champion.run_id)]
    assert artifacts, "the run's artifacts did not reach the server's artifact root"
    assert any((tmp_path / "artifacts").rglob("*")), "nothing under --artifacts-destination"

    # The registry really lives in PostgreSQL.
    conn = psycopg2.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname=DATABASE)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version FROM model_versions WHERE name = 'pd-pg'")
            assert cur.fetchall() == [(1,)]
            cur.execute(
                "SELECT alias, version FROM registered_model_aliases WHERE name = 'pd-pg' "
                "AND alias = 'champion'"
            )
            assert cur.fetchall() == [("champion", 1)]
    finally:
        conn.close()
