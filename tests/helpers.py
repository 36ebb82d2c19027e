"""Test and benchmark helpers: subprocess environment, a temp copy of the repo, real servers.

The benchmarks import these too (`benchmarks/harness.py`), so each exists once."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Copied into a temp repo for end-to-end runs (generated data and envs stay behind).
REPO_ITEMS = [
    "pyproject.toml",
    "params.yaml",
    "dvc.yaml",
    "core",
    "features",
    "models",
    "pipelines",
    "collection_policy",
    "configs",
    ".dvc/config",
    ".dvcignore",
    "data/external/.gitkeep",  # the loan-table folder: a dependency of the ingest stage
]


def subprocess_env(**extra: str) -> dict[str, str]:
    """Env for child processes: the venv first on PATH (DVC runs the first `python`), no telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DVC_NO_ANALYTICS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        PYTHONPATH=str(REPO),
    )
    env.pop("MLFLOW_TRACKING_URI", None)  # an earlier in-process test may have exported these
    env.pop("MLFLOW_REGISTRY_URI", None)
    env.update(extra)
    return env


def copy_source(dest: Path) -> Path:
    """Copy the project's source and configuration (not data, envs or caches) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in REPO_ITEMS:
        src = REPO / item
        if not src.exists():
            continue
        target = dest / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    return dest


def copy_repo(dest: Path) -> Path:
    """Copy the project's source into `dest` and make it a git+dvc repo with one commit."""
    copy_source(dest)
    env = subprocess_env()
    env["PYTHONPATH"] = str(dest)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"],
    ):
        subprocess.run(cmd, cwd=dest, check=True, env=env)
    return dest


def set_params(repo: Path, updates: dict[str, object]) -> None:
    """Set dotted keys in a repo's params.yaml (test helper; pipelines never write params)."""
    import yaml

    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        node = params
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    probe_url: str,
    log_path: Path,
    timeout: float = 120,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a real server process, wait until `probe_url` answers 200, always stop it (whole group)."""
    import signal
    import time
    import urllib.request

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    with urllib.request.urlopen(probe_url, timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{cmd[:5]} did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield proc
        finally:
            # the server may already be gone (it died at start-up): keep its own error visible
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def mlflow_tracking_server(backend_uri: str, workdir: Path, timeout: float = 90) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (one worker, no job runner) over `backend_uri`, with its
    artifacts under `workdir`; yields its URL and stops it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with running_server(cmd, workdir, env, f"{url}/health", workdir / "server.log", timeout):
        yield url


def dvc_stages(root: Path = REPO) -> dict[str, dict]:
    """dvc.yaml's stages with `${paths.<name>}` filled in from its `vars` (the only templating
    the file uses; `test_dvc_wiring` checks this against DVC's own reading)."""
    import re

    import yaml

    doc = yaml.safe_load((root / "dvc.yaml").read_text())
    values: dict[str, str] = {}
    for entry in doc.get("vars", []):
        for key, mapping in entry.items():
            for name, value in mapping.items():
                values[f"{key}.{name}"] = str(value)

    def fill(node: object) -> object:
        if isinstance(node, str):
            return re.sub(r"\$\{([\w.]+)\}", lambda m: values[m.group(1)], node)
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, dict):
            return {fill(k): fill(v) for k, v in node.items()}
        return node

    return fill(doc["stages"])  # type: ignore[return-value]
