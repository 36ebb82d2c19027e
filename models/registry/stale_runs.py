"""Runs left RUNNING by a killed process: each run is tagged with its process id and host at
start (`process_tags`), so a later registration can tell a dead owner from a live one and end the
run (`end_stale_runs`) instead of leaving it RUNNING for ever."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

#: Run tags naming the process that owns a run, so a later run can tell a killed one from a live one.
PID_TAG = "creditrisk.pid"
HOST_TAG = "creditrisk.host"


def process_tags() -> dict[str, str]:
    """Tags set at run start: this process's id and host."""
    import socket

    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def end_stale_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark this experiment's runs left RUNNING by a dead process of this host as KILLED.

    A run counts as stale only when it carries our pid/host tags, its host is this machine and no
    process has that pid any more (a killed `dvc repro`); runs of other hosts, live processes or
    without the tags (other tools) are left alone. Returns the run ids ended.
    """
    import socket

    from mlflow.entities import ViewType

    host = socket.gethostname()
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=1000,
    )
    ended = []
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or _process_alive(int(pid)):
            continue
        client.set_terminated(run.info.run_id, status="KILLED")
        ended.append(run.info.run_id)
    if ended:
        log.warning(
            "marked %d run(s) left RUNNING by a killed process as KILLED: %s", len(ended), ended
        )
    return ended
