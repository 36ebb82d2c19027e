"""Keys that more than one stage reads, each checked by one rule here.

`explain` and `register` both read the reason dictionary, reasons per account and TreeSHAP batch
size; `tiers` and `register` both read the collection policy and tier mode. The section readers
call these functions, so a key has one rule and one message wherever it is read.
"""

from __future__ import annotations

from pathlib import Path

from collection_policy.vocabulary import MODES
from core.config import Section


def reasons_path(explain: Section) -> Path:
    """explain.reasons: the reason dictionary (YAML) that words each feature's reason."""
    return explain.path_to_file("reasons")


def top_k(explain: Section) -> int:
    """explain.top_k: reasons per account, one per reason family at most (PIPL Art. 24 explanations)."""
    return explain.integer("top_k", lo=1, hi=20)


def batch_rows(explain: Section) -> int:
    """explain.batch_rows: rows per TreeSHAP call (memory ~ rows x features x 8 bytes)."""
    return explain.integer("batch_rows", lo=1, hi=10_000_000)


def policy_path(tiers: Section) -> Path:
    """tiers.policy: the collection policy file."""
    return tiers.path_to_file("policy")


def tier_mode(tiers: Section) -> str:
    """tiers.mode: rules, or expected_value (the envelope of the rules, by expected value)."""
    return tiers.choice("mode", MODES)
