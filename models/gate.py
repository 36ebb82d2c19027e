"""The promotion gate: a statistical decision on whether a new model version may replace the champion.

A pure function of evidence gathered on the same rows for both models (`GateEvidence`), so the
verdict can be re-derived from `promotion.json` alone. The checks:

- **floor**: the challenger's out-of-time test AUC is at least `min_auc` (every version, also the
  first).
- **non-inferiority**: against the champion re-scored on the same test rows, a paired DeLong test
  of H0: AUC(challenger) - AUC(champion) <= -margin at `level` (one-sided). A champion that cannot
  score today's data (a feature-set change) refuses the challenger unless params say a
  feature-set change is allowed; the verdict says which.
- **calibration**: no red grade (one-sided Jeffreys test per grade, p < `red` / number of grades,
  Bonferroni, so that twelve well-calibrated grades do not fail one run in nine) on the
  calibration sample `calibration_sample`: the validation hold-out (out of sample for the
  calibrator, from the development period) or the out-of-time test.
- **vs_baseline**: the challenger against its own logistic baseline (`models.baseline`, fitted in
  the same training run and saved in the model's meta) on the same test rows: paired DeLong, the
  challenger fails when it is significantly worse, i.e. when H0: AUC(challenger) - AUC(baseline)
  >= -`vs_baseline_margin` is rejected at `level` (one-sided upper bound below -margin). On a
  small table a GBM that cannot beat a logistic regression should not ship (issue 16). A model
  saved without a baseline leaves an INFO line.
- **stability**: score PSI of the test rows against a fixed development reference (the hold-out's
  scores), not against the train split's own fit (which measures overfitting as much as shift).

`mode: approval` keeps a passing challenger as `challenger` until a person approves it
(`python -m pipelines.promote`); `mode: auto` moves `champion` at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.io import json_safe
from core.stats import psi
from models.validation.calibration_tests import calibration_by_grade
from models.validation.discrimination import delong_auc, delong_paired, non_inferiority

MODES = ("auto", "approval")
CALIBRATION_SAMPLES = ("holdout", "test")
#: Version statuses recorded as the tag `gate_verdict` and in promotion.json.
PROMOTED, AWAITING_APPROVAL, REJECTED = "promoted", "awaiting_approval", "rejected"
#: Amber below 95% confidence; the gate refuses only on red (params `mlflow.gate.red`).
AMBER = 0.05


@dataclass(frozen=True)
class GateConfig:
    """Promotion rules (params `mlflow.gate`, checked by its reader)."""

    mode: str  # auto | approval
    min_auc: float  # absolute floor, also for the first version
    margin: float  # non-inferiority margin on AUC against the champion
    level: float  # confidence of the one-sided non-inferiority test
    calibration_sample: str  # holdout | test: where no grade may be red
    red: float  # a grade is red when its one-sided Jeffreys p is below this
    max_psi: float  # score PSI of the test rows against the development reference
    allow_feature_set_change: bool  # promote when the champion cannot score today's data
    vs_baseline_margin: float  # refuse when AUC(model) - AUC(own baseline) < -this, significantly

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.calibration_sample not in CALIBRATION_SAMPLES:
            raise ValueError(
                f"calibration_sample must be one of {CALIBRATION_SAMPLES}, "
                f"got {self.calibration_sample!r}"
            )
        if not 0.5 < self.level < 1:
            raise ValueError(f"level must lie in (0.5, 1), got {self.level}")
        if not 0 < self.red < AMBER:
            raise ValueError(f"red must lie in (0, {AMBER}), got {self.red}")
        if (
            self.margin < 0
            or self.vs_baseline_margin < 0
            or self.max_psi < 0
            or not 0 <= self.min_auc <= 1
        ):
            raise ValueError(
                "margin, vs_baseline_margin and max_psi must be >= 0 and min_auc in [0, 1]"
            )


@dataclass(frozen=True)
class GateEvidence:
    """The challenger on the rows the gate judges: out-of-time test and the calibration sample.

    `test_y`, `test_pd`, `test_score` are aligned by row; so are the `calibration_*` arrays;
    `reference_score` is the development reference (the validation hold-out's points);
    `baseline_pd` is the run's own logistic baseline on the test rows (None: the model was saved
    without one).
    """

    test_y: np.ndarray
    test_pd: np.ndarray
    test_score: np.ndarray
    calibration_y: np.ndarray
    calibration_pd: np.ndarray
    calibration_grade: np.ndarray
    reference_score: np.ndarray
    grade_order: list[str]
    baseline_pd: np.ndarray | None = None


@dataclass(frozen=True)
class ChampionEvidence:
    """The champion on the same test rows: its PD, or why it could not score them."""

    version: str
    test_pd: np.ndarray | None  # None = could not score today's data
    error: str = ""


@dataclass
class Decision:
    """The gate's verdict with every check, its numbers and the rule it applied."""

    passed: bool
    status: str  # promoted | awaiting_approval | rejected
    checks: list[dict[str, Any]]
    reasons: list[str]
    challenger: dict[str, Any] = field(default_factory=dict)
    champion: dict[str, Any] | None = None
    champion_version: str | None = None
    challenger_version: str | None = None

    @property
    def promote(self) -> bool:
        """Whether the champion alias moves now (passed, and no approval needed)."""
        return self.status == PROMOTED

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "promote": self.promote}


def decide_promotion(
    evidence: GateEvidence, champion: ChampionEvidence | None, config: GateConfig
) -> Decision:
    """Apply the five checks; every check leaves a line, passed or failed, with its numbers."""
    checks: list[dict[str, Any]] = []
    reasons: list[str] = []

    def record(name: str, passed: bool | None, text: str, **numbers: Any) -> None:
        tag = "INFO" if passed is None else ("PASS" if passed else "FAIL")
        reasons.append(f"{tag}: {text}")
        checks.append({"check": name, "passed": passed, "detail": text, **json_safe(numbers)})

    y = np.asarray(evidence.test_y, dtype="int8")
    interval = delong_auc(y, evidence.test_pd, level=0.95)
    record(
        "floor",
        interval.auc >= config.min_auc,
        f"test AUC {interval.auc:.4f} [95% CI {interval.low:.4f}, {interval.high:.4f}] "
        f">= floor {config.min_auc}",
        auc=interval.auc,
        low=interval.low,
        high=interval.high,
        limit=config.min_auc,
    )

    champion_doc: dict[str, Any] | None = None
    if champion is None:
        record("non_inferiority", None, "no champion yet: the first version meets the floor only")
    elif champion.test_pd is None:
        allowed = config.allow_feature_set_change
        record(
            "non_inferiority",
            allowed,
            f"champion v{champion.version} cannot score today's test data ({champion.error}); "
            + (
                "params allow a feature-set change (mlflow.gate.allow_feature_set_change)"
                if allowed
                else "refused: a feature-set change needs mlflow.gate.allow_feature_set_change: "
                "true"
            ),
            champion_version=champion.version,
        )
        champion_doc = {"version": champion.version, "error": champion.error}
    else:
        test = non_inferiority(
            y, evidence.test_pd, champion.test_pd, margin=config.margin, level=config.level
        )
        record(
            "non_inferiority",
            bool(test["passed"]),
            f"paired DeLong: AUC {test['auc_challenger']:.4f} vs champion "
            f"{test['auc_champion']:.4f}, diff {test['diff']:+.4f} (se {test['se']:.4f}); "
            f"H0 diff <= -{config.margin}: p {test['p']:.3g}, one-sided {config.level:.0%} "
            f"lower bound {test['low']:+.4f}",
            **{k: v for k, v in test.items() if k != "passed"},
        )
        champion_doc = {"version": champion.version, "auc": test["auc_champion"]}

    if evidence.baseline_pd is None:
        record("vs_baseline", None, "no logistic baseline saved with the model: not compared")
    else:
        vs = not_worse_than_baseline(
            y, evidence.test_pd, evidence.baseline_pd, config.vs_baseline_margin, config.level
        )
        record(
            "vs_baseline",
            bool(vs["passed"]),
            f"paired DeLong vs own logistic baseline: AUC {vs['auc_model']:.4f} vs "
            f"{vs['auc_baseline']:.4f}, diff {vs['diff']:+.4f} (se {vs['se']:.4f}); "
            f"significantly worse than -{config.vs_baseline_margin} refuses: one-sided "
            f"{config.level:.0%} upper bound {vs['high']:+.4f}, p {vs['p']:.3g}",
            **{k: v for k, v in vs.items() if k != "passed"},
        )

    grades = [g for g in evidence.grade_order if g in set(evidence.calibration_grade)]
    table = calibration_by_grade(
        np.asarray(evidence.calibration_y, dtype="int8"),
        evidence.calibration_pd,
        np.asarray(evidence.calibration_grade, dtype=object),
        grades=grades,
        red=config.red,
        amber=AMBER,
    )
    # One test per grade: at 1% each, 12 well-calibrated grades would show a red grade in about
    # one run in nine. The gate refuses on a grade red after Bonferroni (p < red / grades); the
    # validation report keeps the per-grade lights.
    family_red = config.red / max(len(table), 1)
    refuted = table.loc[table["jeffreys_p"] < family_red, "grade"].astype(str).tolist()
    red = table.loc[table["light"] == "red", "grade"].astype(str).tolist()
    record(
        "calibration",
        not refuted,
        f"no grade red on the {config.calibration_sample} sample after Bonferroni over "
        f"{len(table)} grades (one-sided Jeffreys p < {config.red}/{len(table)} = "
        f"{family_red:.2g}): "
        + (f"refuted {refuted}" if refuted else f"none (unadjusted red: {red or 'none'})"),
        sample=config.calibration_sample,
        n=int(len(evidence.calibration_y)),
        family_red=family_red,
        red_grades=refuted,
        unadjusted_red_grades=red,
        grades=table.to_dict(orient="records"),
    )

    stability = psi(evidence.reference_score, evidence.test_score)
    record(
        "stability",
        stability <= config.max_psi,
        f"score PSI development hold-out -> test {stability:.4f} <= {config.max_psi}",
        psi=stability,
        limit=config.max_psi,
    )

    passed = all(c["passed"] is not False for c in checks)
    if not passed:
        status = REJECTED
    elif config.mode == "approval":
        status = AWAITING_APPROVAL
        reasons.append("INFO: gate mode 'approval': stays challenger until a person approves it")
    else:
        status = PROMOTED
    return Decision(
        passed=passed,
        status=status,
        checks=checks,
        reasons=reasons,
        challenger=json_safe(interval.as_dict()),
        champion=champion_doc,
    )


def not_worse_than_baseline(
    y: np.ndarray, p_model: np.ndarray, p_baseline: np.ndarray, margin: float, level: float
) -> dict[str, Any]:
    """Paired DeLong: is the model significantly worse than its baseline by more than `margin`?

    H0: AUC(model) - AUC(baseline) >= -margin against H1: below it, one-sided at `level`.
    `passed` unless H0 is rejected (p < 1 - level), i.e. unless the one-sided upper bound
    `high` = diff + z * se lies below -margin. The burden of proof is on "worse": on a small test
    split an equal model passes (unlike `non_inferiority` against a champion, which must prove
    itself). Identical scores (se 0): passed iff diff >= -margin.
    """
    from scipy import stats

    paired = delong_paired(y, p_model, p_baseline, level=level)
    diff, se = float(paired.diff), float(paired.se)
    if se == 0.0:
        passed = diff >= -margin
        p, high = (1.0 if passed else 0.0), diff
    else:
        p = float(stats.norm.cdf((diff + margin) / se))
        high = diff + float(stats.norm.ppf(level)) * se
        passed = p >= 1.0 - level
    return {
        "auc_model": float(paired.auc_a),
        "auc_baseline": float(paired.auc_b),
        "diff": diff,
        "se": se,
        "high": high,
        "margin": float(margin),
        "p": p,
        "level": level,
        "passed": bool(passed),
    }


__all__ = [
    "AWAITING_APPROVAL",
    "CALIBRATION_SAMPLES",
    "MODES",
    "PROMOTED",
    "REJECTED",
    "ChampionEvidence",
    "Decision",
    "GateConfig",
    "GateEvidence",
    "decide_promotion",
    "not_worse_than_baseline",
]
