"""Errors that carry enough context for a one-paragraph message to the user."""

from __future__ import annotations


class PipelineError(Exception):
    """Base for errors a stage reports as a plain message, not a traceback."""


class ConfigError(PipelineError):
    """A params.yaml / policy value is missing, of the wrong type or out of range."""

    def __init__(self, key: str, rule: str, value: object = None, source: str = "params.yaml"):
        self.key, self.rule, self.value, self.source = key, rule, value, source
        shown = "" if value is None else f", got {value!r}"
        super().__init__(f"{source}: {key}: {rule}{shown}")


class DataValidationError(PipelineError):
    """Input data broke a rule; names the file, column, row and rule."""

    def __init__(
        self,
        path: str,
        rule: str,
        column: str | None = None,
        row: int | None = None,
        hint: str = "",
    ):
        self.path, self.rule, self.column, self.row, self.hint = path, rule, column, row, hint
        where = [f"file '{path}'"]
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row {row}")
        msg = f"{', '.join(where)}: {rule}."
        if hint:
            msg += f" {hint}"
        super().__init__(msg)

    def shifted(self, offset: int) -> DataValidationError:
        """The same error for a block that starts at row `offset` of a larger table: the row is
        named in the whole table (readers and scorers that work in blocks re-raise this)."""
        if self.row is None or offset == 0:
            return self
        return DataValidationError(self.path, self.rule, self.column, self.row + offset, self.hint)


class InvalidConfig(ValueError):
    """A library config object got values its invariants reject (say, overlapping date windows).

    The library names its own field, not a params.yaml key: it does not know the YAML layout. The
    params readers turn this into a `ConfigError` naming the key (`data.synthetic.<field>`).
    `field` is empty when the rule is about the object as a whole.
    """

    def __init__(self, field: str, rule: str, value: object = None):
        self.field, self.rule, self.value = field, rule, value
        shown = "" if value is None else f", got {value!r}"
        super().__init__(f"{field or 'config'}: {rule}{shown}")
