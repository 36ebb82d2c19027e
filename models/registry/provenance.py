"""Provenance of a registered run: file hashes, the git commit, and the tracking URI as resolved
(environment, params, or the repository's SQLite file) and as a tracked report may record it
(relative to the repository, without credentials)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def resolve_tracking_uri(configured: str | None, repo_root: str | Path) -> str:
    """MLFLOW_TRACKING_URI wins, then the params value, else an SQLite file at the repo root."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if configured:
        return configured
    return f"sqlite:///{Path(repo_root).resolve() / 'mlflow.db'}"


def file_md5(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_hashes(paths: Sequence[str | Path]) -> dict[str, str]:
    """md5 of each existing input file (the same digest DVC records for single files)."""
    return {str(p): file_md5(p) for p in paths if Path(p).is_file()}


def git_commit(repo_root: str | Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def tracking_store(configured: str | None) -> str:
    """Which setting chose the tracking URI (the order `resolve_tracking_uri` applies)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return "environment"
    return "params" if configured else "default"


def portable_tracking_uri(uri: str, repo_root: str | Path) -> str:
    """The URI as a report may record it: a local store relative to the repository root (or
    named only by its file when it lies elsewhere); a server URI without user credentials."""
    root = Path(repo_root).resolve()
    for prefix in ("sqlite:///", "file://"):
        if uri.startswith(prefix):
            path = Path(uri[len(prefix) :])
            if not path.is_absolute():
                return uri
            try:
                return prefix + path.resolve().relative_to(root).as_posix()
            except ValueError:
                return f"{prefix}<outside the repository>/{path.name}"
    parts = urlsplit(uri)
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return uri
