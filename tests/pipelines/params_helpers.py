"""A copy of the real params.yaml with some keys changed, loaded through the params layer."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from pipelines.params import Params, load_params

REPO = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
DELETE = object()


def edited_params(tmp_path: Path, **changes: object) -> Params:
    """params.yaml with `section__key` changed (`DELETE` removes it), written to tmp_path."""
    data = copy.deepcopy(PARAMS)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_params(path)
