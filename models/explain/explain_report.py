"""The self-contained HTML report of the explanations, for a reviewer.

The HTML embeds each image as base64 and carries its own CSS: it opens offline, from an e-mail
attachment or an MLflow artifact view, with no script and no external URL. `render_report` turns
an `ExplainResult` into the report directory's files (PNGs, importance.csv, report.html).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from models.explain.explainer import ExplainConfig, ExplainResult
from models.explain.plots import (
    plot_beeswarm,
    plot_dependence,
    plot_importance,
    plot_reason_distribution,
    plot_shap_by_grade,
    plot_waterfall,
    save_png,
)
from models.html import CSS, img_tag

TITLE = "PD model explanations"


# -------------------------------------------------------------------------------------- HTML
@dataclass(frozen=True)
class Account:
    """One drill-down entry of the report."""

    facts: dict[str, Any]
    reasons: list[str]
    waterfall_png: bytes


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {'a.b': scalar}; lists of scalars joined, other lists skipped."""
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, list | tuple):
        if all(not isinstance(v, Mapping | list | tuple) for v in obj) and len(obj) <= 12:
            out[prefix[:-1]] = ", ".join(map(str, obj))
    else:
        out[prefix[:-1]] = obj
    return out


def _table(rows: Mapping[str, Any]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f'<table class="kv">{body}</table>'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _frame_html(df: pd.DataFrame, float_format: str = "{:.4f}") -> str:
    return df.to_html(
        index=False, escape=True, border=0, classes="grid", float_format=float_format.format
    )


def build_html(
    *,
    title: str,
    summary: Mapping[str, Any],
    metrics: Mapping[str, Any] | None,
    importance: pd.DataFrame,
    images: Mapping[str, bytes],
    dependence: Mapping[str, bytes],
    distribution: pd.DataFrame,
    accounts: Sequence[Account],
    checks: Mapping[str, Any],
    leak_suspects: Mapping[str, str] | None = None,
) -> str:
    """The self-contained reviewer report (no scripts, no external URLs).

    `leak_suspects`: feature -> reason, from the features stage's reports/data_quality.json
    (`leak_suspects_from_quality`); shown as a section of its own when there are any.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<p class="note">SHAP values are in log-odds of the raw (uncalibrated) model score: '
        "a positive value pushes the account's probability of default up. Reasons explain an "
        "automated decision to the customer (PIPL Art. 24: the right to an explanation and to "
        "refuse a decision made solely by automated means). Features are grouped into reason "
        "families (configs/reasons.yaml): contributions are summed within a family, a family "
        "gives at most one reason, worded from its strongest feature, and families are ranked "
        "by that sum. Every reason is compared with the model's base value, the average raw "
        "score of the training data (see 'reasons compared with'). The lender's own decisions, "
        "self-declared data and geography (`adverse: false`) count in the score but are never "
        "reasons; nor are protected attributes.</p>",
        "<h2>Model summary</h2>",
        _table(summary),
        "<h3>Checks</h3>",
        _table(checks),
    ]
    if leak_suspects:
        parts += [
            "<h3>Leak suspects (reports/data_quality.json)</h3>",
            '<p class="note">Features whose strength (IV, AUC) or name suggests information '
            "recorded after the outcome. Each is a model input here: confirm it is known at "
            "decision time, or drop it (data.table.drop_columns).</p>",
            _table(leak_suspects),
        ]
    if metrics:
        flat = {k: v for k, v in flatten(metrics).items() if not isinstance(v, str) or len(v) < 80}
        parts += ["<h3>Metrics (reports/metrics.json)</h3>", _table(flat)]
    else:
        parts.append('<p class="note">No metrics file was provided.</p>')
    parts += [
        "<h2>Global importance</h2>",
        img_tag(images["importance"], "global importance"),
        _frame_html(importance.head(30)),
        "<h2>SHAP values by account</h2>",
        img_tag(images["beeswarm"], "beeswarm"),
        "<h2>Dependence of the top features</h2>",
        '<div class="grid2">',
        *[img_tag(png, f"dependence {name}") for name, png in dependence.items()],
        "</div>",
        "<h2>Contribution by risk grade</h2>",
        img_tag(images["by_grade"], "mean SHAP by grade"),
        "<h2>Reason-code distribution</h2>",
        img_tag(images["reasons"], "reason distribution"),
        _frame_html(distribution.head(30)),
        "<h2>Sample accounts</h2>",
        '<p class="note">Highest PD and the accounts either side of each grade boundary.</p>',
    ]
    for acc in accounts:
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in acc.reasons) or (
            "<li>No reason family raised this account's risk above the base value.</li>"
        )
        parts += [
            '<div class="account">',
            _table(acc.facts),
            f"<ol>{reasons}</ol>",
            img_tag(acc.waterfall_png, f"waterfall {acc.facts.get('account_id', '')}"),
            "</div>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def render_report(
    result: ExplainResult,
    config: ExplainConfig,
    *,
    metrics: Mapping[str, Any] | None,
    model_meta: Mapping[str, Any],
    model_path: str,
    leak_suspects: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    """The report directory's files: file name -> content.

    Global plots use the rows the global views were computed on (the test sample); each
    drill-down account gets its facts, reasons and a waterfall. `metrics` is the train stage's
    reports/metrics.json (None: not provided), `model_meta` its model_meta.json.
    `leak_suspects` (feature -> reason, `leak_suspects_from_quality`); None: model_meta's
    `leak_suspects` when it has them.
    """
    values = result.shap.values
    base = result.shap.base_value
    X = result.model_frame
    gv, gX = values[result.global_rows], X.iloc[result.global_rows]
    top = result.importance["feature"].head(config.dependence_features).tolist()
    files: dict[str, bytes] = {}

    def png(name: str, fig: Any) -> bytes:
        files[name] = save_png(fig)
        return files[name]

    images = {
        "importance": png("importance.png", plot_importance(result.importance)),
        "beeswarm": png(
            "beeswarm.png",
            plot_beeswarm(gv, gX, base, max_rows=config.plot_rows, seed=config.seed),
        ),
        "by_grade": png("shap_by_grade.png", plot_shap_by_grade(result.shap_by_grade, top[:6])),
        "reasons": png(
            "reason_distribution.png", plot_reason_distribution(result.reason_distribution)
        ),
    }
    dependence = {
        f: png(
            f"dependence_{f}.png",
            plot_dependence(gv, gX, f, max_rows=config.plot_rows, seed=config.seed),
        )
        for f in top
    }
    files["importance.csv"] = result.importance.to_csv(index=False).encode("utf-8")
    accounts = [
        Account(
            facts=acc.facts,
            reasons=acc.reasons,
            waterfall_png=save_png(
                plot_waterfall(
                    values[acc.position],
                    X.iloc[acc.position],
                    base,
                    title=f"Account {acc.facts['account_id']} ({acc.facts['case']})",
                )
            ),
        )
        for acc in result.drilldown
    ]
    summary, checks = report_tables(result, config, model_meta, model_path)
    files["report.html"] = build_html(
        title=TITLE,
        summary=summary,
        metrics=metrics,
        importance=result.importance,
        images=images,
        dependence=dependence,
        distribution=result.reason_distribution,
        accounts=accounts,
        checks=checks,
        leak_suspects=model_meta.get("leak_suspects") if leak_suspects is None else leak_suspects,
    ).encode("utf-8")
    return files


def leak_suspects_from_quality(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """feature -> reason of the suspects in reports/data_quality.json's `features` records."""
    return {
        str(r["feature"]): str(r.get("leak_reason") or "")
        + (" [acknowledged: features.allow_leaky_features]" if r.get("leak_acknowledged") else "")
        for r in records
        if r.get("leak_suspect")
    }


def _reason_rows(reasons: Mapping[str, Any] | None) -> dict[str, Any]:
    """The summary rows saying what a reason is compared with and how reasons are grouped."""
    if not reasons:
        return {}
    return {
        "reasons compared with": reasons["compared_with"]["text"],
        "reason families": ", ".join(reasons["families"].values()),
        "never reasons (not adverse, protected)": ", ".join(reasons["never_reasons"]) or "none",
    }


def report_tables(
    result: ExplainResult,
    config: ExplainConfig,
    model_meta: Mapping[str, Any],
    model_path: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report's model-summary and checks tables (no timings: the report is a tracked out)."""
    s = result.summary
    pop = s["population"]
    summary = {
        "model": model_path,
        "trees": result.trees,
        "features": result.model_frame.shape[1],
        "best_iteration": model_meta.get("best_iteration", "n/a"),
        "training_window": model_meta.get("training_window", "n/a"),
        "explained rows": f"{s['rows']:,} of {sum(s['candidate_rows_by_split'].values()):,}"
        f" ({s['rows_by_split']})",
        "population": "; ".join(
            f"{k}: {v['explained']:,} of {v['rows']:,} ({v['rule']})"
            for k, v in pop.items()
            if isinstance(v, dict)
        )
        + f" [mode {pop['mode']}]",
        "global views computed on": f"{s['global_views_rows']:,} rows of the "
        f"{s['global_views_split']} split",
        "reason distribution over": "explained accounts of the current book"
        if s["global_views_split"] == "test" and "score" in s["rows_by_split"]
        else "explained accounts",
        "base value (log-odds)": f"{result.shap.base_value:.4f}",
        "reasons per account (top-k)": config.top_k,
        **_reason_rows(s.get("reasons")),
    }
    checks = {
        "shap.TreeExplainer agreement (max |diff|)": f"{s['check_max_abs_diff']:.2e} "
        f"on {s['check_rows']} rows (tolerance {config.check_tolerance:g})",
        "additivity (max |sum + base - raw|)": f"{s['additivity_max_abs_err']:.2e}",
        "raw score vs scores.parquet": f"{s['raw_score_max_abs_diff']:.2e}",
    }
    return summary, checks
