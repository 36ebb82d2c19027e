"""Table and JSON I/O shared by every stage: atomic writes so a failed run keeps the last good outputs."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside `path`; move it into place only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp directory; swap it in for `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp_dir
        os.chmod(tmp_dir, 0o777 & ~_umask())
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp_dir, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a DataFrame to Parquet atomically (no index)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def json_safe(obj: Any) -> Any:
    """Strict-JSON copy, recursively: NaN/inf/NA/NaT -> None, numpy scalars and arrays -> Python,
    a DataFrame -> its records, a Timestamp -> ISO text. Every report goes through this."""
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, pd.DataFrame):
        return [json_safe(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    return obj


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write strict JSON atomically (NaN/inf become null)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_safe(obj), indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


# ----------------------------------------------------------------------------------------------
# A stage's outputs, swapped in together
# ----------------------------------------------------------------------------------------------

#: The suffix of a commit journal (`.<stage>.commit.json` beside the stage's first output).
JOURNAL_SUFFIX = ".commit.json"


class StagedOutputs:
    """The outputs of one stage run, written aside and swapped in together (all or nothing).

    `file(name)` / `dir(name)` hand out a temp path beside the output (same file system, so the
    swap is a rename). `commit()` records a journal of the swap, moves every last good output
    aside to `.<name>.old`, moves every staged one into place, then deletes the journal (the
    commit point) and the old ones. An error before or during the swap puts every last good
    output back; a SIGKILL during the swap leaves the journal, and `recover` (run before the
    stage's next run) puts every last good output back from it. Outputs not staged are left
    as they are.
    """

    def __init__(self, stage: str, targets: dict[str, Path]):
        if not targets:
            raise ValueError(f"stage {stage!r} declares no outputs")
        self.stage = stage
        self.targets = {name: Path(p) for name, p in targets.items()}
        self.staged: dict[str, Path] = {}

    @property
    def journal(self) -> Path:
        return journal_path(self.stage, next(iter(self.targets.values())))

    def file(self, name: str) -> Path:
        """A temp file path for output `name` (a file); the stage writes it, commit moves it."""
        target = self._target(name)
        if name not in self.staged:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            self.staged[name] = Path(tmp)
        return self.staged[name]

    def dir(self, name: str) -> Path:
        """A fresh temp directory for output `name` (a directory)."""
        target = self._target(name)
        if name not in self.staged:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.staged[name] = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        return self.staged[name]

    def _target(self, name: str) -> Path:
        if name not in self.targets:
            raise KeyError(f"stage {self.stage!r} declares no output {name!r}")
        return self.targets[name]

    def discard(self) -> None:
        """Remove every staged temp (nothing was swapped in)."""
        for tmp in self.staged.values():
            _remove(tmp)
        self.staged.clear()

    def commit(self, fault: str | None = None) -> None:
        """Swap every staged output in, all or nothing (see the class doc).

        `fault` is a test hook (`CREDITRISK_FAULT`): "kill-mid-commit" SIGKILLs this process after
        the first of several outputs has been swapped (a single output: just before its swap),
        "fail-mid-commit" raises there."""
        mask = 0o777 & ~_umask()
        entries = []
        for name, tmp in self.staged.items():
            target = self.targets[name]
            os.chmod(tmp, mask if tmp.is_dir() else mask & 0o666)
            entries.append(
                {"target": str(target), "staged": str(tmp), "aside": str(_aside(target))}
            )
        journal = self.journal
        with atomic_path(journal) as tmp_journal:
            tmp_journal.write_text(json.dumps({"stage": self.stage, "outputs": entries}))
        swapped: list[dict[str, str]] = []
        try:
            for entry in entries:
                target, aside = Path(entry["target"]), Path(entry["aside"])
                if aside.exists() or aside.is_symlink():
                    _remove(aside)
                if target.exists() or target.is_symlink():
                    os.replace(target, aside)
                if fault and not swapped and len(entries) == 1:
                    _inject(fault)  # a single output: killed with the journal written
                swapped.append(entry)
                os.replace(entry["staged"], target)
                if fault and len(swapped) == 1 and len(entries) > 1:
                    _inject(fault)  # several: killed after the first swap
        except BaseException:
            _roll_back(swapped)
            journal.unlink(missing_ok=True)
            self.discard()
            raise
        journal.unlink()  # the commit point: from here on the new outputs stand
        self.staged.clear()
        for entry in entries:
            _remove(Path(entry["aside"]))


def journal_path(stage: str, first_output: Path) -> Path:
    """Where a stage's commit journal lives: beside its first declared output."""
    return Path(first_output).parent / f".{stage}{JOURNAL_SUFFIX}"


def recover(stage: str, first_output: Path) -> list[str]:
    """Undo a swap a killed run left half done (its journal still there): every output goes back
    to its last good state. Returns the targets restored."""
    journal = journal_path(stage, first_output)
    if not journal.is_file():
        return []
    try:
        entries = json.loads(journal.read_text())["outputs"]
    except (ValueError, KeyError, TypeError):  # a torn journal: the swap never started
        journal.unlink()
        return []
    restored = _roll_back(entries)
    for entry in entries:
        _remove(Path(entry["staged"]))
    journal.unlink()
    return restored


def _roll_back(entries: list[dict[str, str]]) -> list[str]:
    """Put each entry's last good output back (or remove an output that had none before)."""
    restored = []
    for entry in reversed(entries):
        target, aside = Path(entry["target"]), Path(entry["aside"])
        if aside.exists() or aside.is_symlink():
            if target.exists() or target.is_symlink():
                _remove(target)
            os.replace(aside, target)
            restored.append(str(target))
        elif Path(entry["staged"]).exists() is False and target.exists():
            # swapped in where there was no output before: the run never happened
            _remove(target)
            restored.append(str(target))
    return restored


def _aside(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _inject(fault: str) -> None:
    import signal

    if fault == "kill-mid-commit":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "fail-mid-commit":
        raise OSError("injected failure in the middle of a commit (CREDITRISK_FAULT)")


def read_user_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A table a user brings (an outcome log, a newer scored book): Parquet, or CSV by suffix.
    A missing file names itself."""
    from core.errors import DataValidationError

    p = Path(path)
    if not p.is_file():
        raise DataValidationError(str(p), "file not found")
    return pd.read_csv(p) if p.suffix.lower() == ".csv" else pd.read_parquet(p)
