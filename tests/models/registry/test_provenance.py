"""Provenance: the tracking URI as resolved and as a report records it, file hashes."""

from __future__ import annotations

from models.registry.provenance import (
    data_hashes,
    file_md5,
    portable_tracking_uri,
    resolve_tracking_uri,
    tracking_store,
)


def test_tracking_uri_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert resolve_tracking_uri("http://x:5000", tmp_path) == "http://x:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:1")
    assert resolve_tracking_uri("http://x:5000", tmp_path) == "http://env:1"


def test_tracking_uri_in_reports_is_portable(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    default = f"sqlite:///{repo.resolve()}/mlflow.db"
    assert portable_tracking_uri(default, repo) == "sqlite:///mlflow.db"
    assert portable_tracking_uri(f"file://{repo.resolve()}/mlruns", repo) == "file://mlruns"
    elsewhere = portable_tracking_uri(f"sqlite:///{tmp_path.resolve()}/other.db", repo)
    assert elsewhere == "sqlite:///<outside the repository>/other.db"
    assert str(tmp_path) not in elsewhere
    assert portable_tracking_uri("http://127.0.0.1:5000", repo) == "http://127.0.0.1:5000"
    assert portable_tracking_uri("https://me:secret@host/mlflow", repo) == "https://host/mlflow"
    assert portable_tracking_uri("sqlite:///mlflow.db", repo) == "sqlite:///mlflow.db"


def test_tracking_store_names_the_setting_that_won(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_store(None) == "default"
    assert tracking_store("http://x:5000") == "params"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:1")
    assert tracking_store(None) == "environment"


def test_hashes(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    assert file_md5(f) == "900150983cd24fb0d6963f7d28e17f72"
    assert data_hashes([f, tmp_path / "missing"]) == {str(f): "900150983cd24fb0d6963f7d28e17f72"}
