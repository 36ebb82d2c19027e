"""Measure a command in a child process: wall time, CPU time and that child's peak RSS.

`os.wait4` returns the resource usage of exactly the child we started, so peak memory is the
stage's own, not the benchmark driver's.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the shared helpers in tests/ (copy list, servers)
    sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def bench_env(repo: Path = REPO) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", PYTHONPATH=str(repo))
    return env


def measure(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, log_path: Path | None = None
) -> Measurement:
    """Run `cmd` to completion and return its wall/CPU time and peak RSS."""
    out = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env or bench_env(), stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log_path:
            out.close()
    return Measurement(
        wall_s=round(wall, 2),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
        returncode=proc.returncode,
    )


def machine() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem_gb:.0f} GiB RAM, {platform.system()} {platform.machine()}, Python {platform.python_version()}, {date.today().isoformat()}"
