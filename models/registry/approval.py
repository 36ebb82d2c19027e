"""A person's approval in gate mode `approval`: the version the gate passed and left waiting
becomes champion, with who, when and why recorded as version tags (`python -m pipelines.promote`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.errors import PipelineError
from models.gate import AWAITING_APPROVAL, PROMOTED
from models.registry.tracking import CHAMPION, alias_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Approval:
    """A person's approval of a version that passed the gate in `approval` mode."""

    version: str
    approved_by: str
    reason: str
    approved_at: str  # UTC, ISO 8601
    previous_champion: str | None


def approve_version(
    tracking_uri: str, model_name: str, version: str, approved_by: str, reason: str
) -> Approval:
    """Move `champion` to `version` and record who, when and why as version tags.

    Only a version the gate passed and left waiting (`gate_verdict` = awaiting_approval) can be
    approved: a rejected version, or one already promoted, is refused with the reason. The
    previous champion keeps its version; its tag `replaced_by` names the new one.
    """
    from datetime import UTC, datetime

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not approved_by.strip() or not reason.strip():
        raise PipelineError("an approval needs a non-empty --approved-by and --reason")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        mv = client.get_model_version(model_name, version)
    except MlflowException as exc:
        raise PipelineError(f"{model_name} v{version} not found at {tracking_uri}: {exc}") from exc
    verdict = mv.tags.get("gate_verdict")
    if verdict != AWAITING_APPROVAL:
        raise PipelineError(
            f"{model_name} v{version} has gate_verdict '{verdict}'; only a version the gate "
            f"passed in approval mode ('{AWAITING_APPROVAL}') can be approved"
        )
    previous = alias_version(client, model_name, CHAMPION)
    approval = Approval(
        version=str(version),
        approved_by=approved_by.strip(),
        reason=reason.strip(),
        approved_at=datetime.now(UTC).isoformat(timespec="seconds"),
        previous_champion=None if previous is None else str(previous.version),
    )
    client.set_registered_model_alias(model_name, CHAMPION, str(version))
    tags = {
        "gate_verdict": PROMOTED,
        "approved_by": approval.approved_by,
        "approved_at": approval.approved_at,
        "approval_reason": approval.reason,
        "previous_champion": approval.previous_champion or "",
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, value)
    if previous is not None and str(previous.version) != str(version):
        client.set_model_version_tag(model_name, str(previous.version), "replaced_by", str(version))
    log.info("%s v%s approved by %s: now champion", model_name, version, approval.approved_by)
    return approval
