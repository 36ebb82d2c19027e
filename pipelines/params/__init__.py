"""The typed params layer: params.yaml is read here, at the entrypoints, and nowhere else.

`load_params` checks the top level (unknown or missing sections fail); each stage then reads
only its own sections through a reader in this package (`pipelines.params.<section>`), built on
the shared `core.config.Parser`. Readers return the library's typed config objects; library
code never sees the YAML layout. Every key is stated in params.yaml: there are no defaults in
code, so DVC sees every value a stage depends on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from core.config import Parser, Section, read_yaml_mapping
from core.errors import InvalidConfig

DEFAULT_PARAMS = "params.yaml"

#: The sections of params.yaml. A key outside this list is a typo and fails every stage.
TOP_LEVEL_KEYS: tuple[str, ...] = (
    "seed",
    "data",
    "ingest",
    "features",
    "train",
    "mlflow",
    "explain",
    "tiers",
    "validation",
    "monitor",
)


@dataclass(frozen=True)
class Params:
    """The parsed params.yaml; sections are validated when a stage asks for them."""

    data: dict[str, Any]
    source: str = DEFAULT_PARAMS

    @property
    def parser(self) -> Parser:
        return Parser(self.source)

    def section(self, key: str, keys: Iterable[str]) -> Section:
        """Top-level section `key`, which must hold exactly `keys`."""
        return self.parser.section(self.data[key], key, keys)

    def keys(self, key: str, names: Iterable[str]) -> Section:
        """Some keys of a section another stage owns: each must be present; the rest are not
        read here (the owning stage's reader checks them)."""
        parser = self.parser
        data = parser.mapping(self.data[key], key)
        names = tuple(names)
        for name in names:
            if name not in data:
                raise parser.fail(f"{key}.{name}", "is required")
        return Section(parser, {name: data[name] for name in names}, key)

    def seed(self) -> int:
        return self.parser.integer(self.data["seed"], "seed", lo=0, hi=2**32 - 1)


def load_params(path: str | os.PathLike[str] = DEFAULT_PARAMS) -> Params:
    """Read params.yaml and check its top level: every section present, nothing unknown."""
    data = read_yaml_mapping(path, "params")
    parser = Parser(str(path))
    parser.known_keys(data, "", TOP_LEVEL_KEYS)
    missing = [k for k in TOP_LEVEL_KEYS if k not in data]
    if missing:
        raise parser.fail(missing[0], "is required")
    return Params(data, str(path))


Config = TypeVar("Config")


def build_config(section: Section, factory: Callable[..., Config], **values: object) -> Config:
    """Construct a library config; a broken invariant becomes a ConfigError naming the key.

    The library names its own field (`InvalidConfig.field`); here it becomes `section.field`.
    """
    try:
        return factory(**values)
    except InvalidConfig as exc:
        key = section.path(exc.field) if exc.field else section.key
        raise section.parser.fail(key, exc.rule, exc.value) from None
