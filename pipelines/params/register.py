"""What the register stage bundles with the model: the serving spec from `tiers` and `explain` keys.

The registered model tiers and explains requests as the pipeline does, so it reads the same keys
as the tiers and explain stages (`tiers.policy`, `tiers.mode`, `explain.reasons`, `explain.top_k`,
`explain.batch_rows`) through their one rule each in `pipelines.params.shared`. Only these keys
are read here; the owning stages' readers check the rest of their sections.
"""

from __future__ import annotations

from models.serving.pyfunc import ServingConfig, ServingSpec
from pipelines.params import Params, shared

TIERS_KEYS: tuple[str, ...] = ("policy", "mode")
EXPLAIN_KEYS: tuple[str, ...] = ("reasons", "top_k", "batch_rows")


def read_serving(params: Params) -> ServingSpec:
    """Collection policy, reason dictionary, tier mode, reasons per account, TreeSHAP batch rows."""
    tiers = params.keys("tiers", TIERS_KEYS)
    explain = params.keys("explain", EXPLAIN_KEYS)
    config = ServingConfig(
        tier_mode=shared.tier_mode(tiers),
        top_k=shared.top_k(explain),
        shap_batch_rows=shared.batch_rows(explain),
    )
    return ServingSpec(shared.policy_path(tiers), shared.reasons_path(explain), config)
