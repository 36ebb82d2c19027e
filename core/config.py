"""One typed parser for every configuration file (params.yaml, the collection policy, reasons).

Each reader states the exact keys it knows and the type and range of each value, so a typo, a
missing key or a wrong type fails with one message shape::

    params.yaml: train.learning_rate: expected a number, got 'fast'

Nothing is coerced: YAML ``true`` is not a number, ``"0.1"`` is not a number, ``1`` is not a
boolean. Defaults do not live here: the file states every value (DVC cannot see defaults in code).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError


def read_yaml_mapping(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """Parse a YAML file whose top level must be a mapping; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(what, f"file not found at {p}", source=str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(what, f"is not valid YAML: {exc}", source=str(p)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(what, "expected a mapping at the top level", data, source=str(p))
    return data


class Parser:
    """Typed value readers that raise ``ConfigError(key, rule, value, source)``."""

    def __init__(self, source: str = "params.yaml"):
        self.source = source

    def fail(self, key: str, rule: str, value: Any = None) -> ConfigError:
        return ConfigError(key, rule, value, self.source)

    # -- structure -------------------------------------------------------------------------
    def required(self, value: Any, key: str) -> Any:
        if value is None:
            raise self.fail(key, "is required")
        return value

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "expected a mapping", value)
        return value

    def known_keys(self, d: Mapping[str, Any], key: str, allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        unknown = sorted(set(d) - allowed, key=str)
        if unknown:
            where = f"{key}.{unknown[0]}" if key else str(unknown[0])
            raise self.fail(where, f"is not a known key (known: {sorted(allowed)})")

    def section(self, value: Any, key: str, keys: Iterable[str]) -> Section:
        """A mapping that must hold exactly `keys`: unknown or missing keys both fail."""
        d = self.mapping(value, key)
        keys = tuple(keys)
        self.known_keys(d, key, keys)
        missing = [k for k in keys if k not in d]
        if missing:
            raise self.fail(f"{key}.{missing[0]}" if key else missing[0], "is required")
        return Section(self, d, key)

    # -- scalars ---------------------------------------------------------------------------
    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected a non-empty string", value)
        return value

    def optional_string(self, value: Any, key: str) -> str | None:
        return None if value is None else self.string(value, key)

    def choice(self, value: Any, key: str, options: Sequence[str]) -> str:
        if not isinstance(value, str) or value not in options:
            raise self.fail(key, f"expected one of {list(options)}", value)
        return value

    def number(
        self,
        value: Any,
        key: str,
        lo: float = -math.inf,
        hi: float = math.inf,
        lo_open: bool = False,
        hi_open: bool = False,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "expected a number", value)
        below = value <= lo if lo_open else value < lo
        above = value >= hi if hi_open else value > hi
        if not math.isfinite(value) or below or above:
            left, right = "(" if lo_open else "[", ")" if hi_open else "]"
            raise self.fail(key, f"expected a finite number in {left}{lo}, {hi}{right}", value)
        return float(value)

    def integer(self, value: Any, key: str, lo: int = 0, hi: float = math.inf) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "expected an integer", value)
        if not lo <= value <= hi:
            raise self.fail(key, f"expected an integer in [{lo}, {hi}]", value)
        return int(value)

    def optional_integer(
        self, value: Any, key: str, lo: int = 0, hi: float = math.inf
    ) -> int | None:
        return None if value is None else self.integer(value, key, lo, hi)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, "expected true or false", value)
        return value

    # -- lists -----------------------------------------------------------------------------
    def str_list(self, value: Any, key: str, allow_empty: bool = True) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings", value)
        if not allow_empty and not value:
            raise self.fail(key, "expected a non-empty list")
        if len(set(value)) != len(value):
            raise self.fail(key, "lists a value twice", value)
        return value

    def int_list(
        self, value: Any, key: str, lo: int = 0, hi: float = math.inf, allow_empty: bool = False
    ) -> list[int]:
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise self.fail(key, "expected a list of integers", value)
        if not allow_empty and not value:
            raise self.fail(key, "expected a non-empty list")
        bad = [v for v in value if not lo <= v <= hi]
        if bad:
            raise self.fail(key, f"expected integers in [{lo}, {hi}]", value)
        return value


class Section:
    """Key-based access to one validated mapping; every getter names ``section.key`` on error."""

    def __init__(self, parser: Parser, data: Mapping[str, Any], key: str):
        self.parser, self.data, self.key = parser, data, key

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def raw(self, name: str) -> Any:
        return self.data[name]

    def section(self, name: str, keys: Iterable[str]) -> Section:
        return self.parser.section(self.data[name], self.path(name), keys)

    def string(self, name: str) -> str:
        return self.parser.string(self.data[name], self.path(name))

    def optional_string(self, name: str) -> str | None:
        return self.parser.optional_string(self.data[name], self.path(name))

    def choice(self, name: str, options: Sequence[str]) -> str:
        return self.parser.choice(self.data[name], self.path(name), options)

    def number(
        self, name: str, lo: float = -math.inf, hi: float = math.inf, **open_: bool
    ) -> float:
        return self.parser.number(self.data[name], self.path(name), lo, hi, **open_)

    def integer(self, name: str, lo: int = 0, hi: float = math.inf) -> int:
        return self.parser.integer(self.data[name], self.path(name), lo, hi)

    def optional_integer(self, name: str, lo: int = 0, hi: float = math.inf) -> int | None:
        return self.parser.optional_integer(self.data[name], self.path(name), lo, hi)

    def boolean(self, name: str) -> bool:
        return self.parser.boolean(self.data[name], self.path(name))

    def str_list(self, name: str, allow_empty: bool = True) -> list[str]:
        return self.parser.str_list(self.data[name], self.path(name), allow_empty)

    def int_list(
        self, name: str, lo: int = 0, hi: float = math.inf, allow_empty: bool = False
    ) -> list[int]:
        return self.parser.int_list(self.data[name], self.path(name), lo, hi, allow_empty)

    def path_to_file(self, name: str) -> Path:
        """A configured file path that must exist (read at the entrypoint, so DVC can track it)."""
        value = self.string(name)
        if not Path(value).is_file():
            raise self.parser.fail(self.path(name), "file not found", value)
        return Path(value)
