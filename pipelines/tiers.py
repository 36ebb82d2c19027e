"""DVC stage `tiers`: assign every account of the scoring population a collection tier.

Population: the current book (split == 'score') when the scores hold one; otherwise the file named
in params `tiers.score_file` (scores and policy inputs in one table), else the test split. The
labelled `tiers.backtest_split` is tiered too, for the observed bad rate per tier (summary only).
Reasons come from the explain stage (`--reasons`, as dvc.yaml passes it): a named file that is
missing is an error; only a run without `--reasons` tiers with an empty `reasons` column.
The work is `collection_policy.tiering.tier_book`; this module reads, calls and writes.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from collection_policy.ev_rates import read_ev_rates
from collection_policy.loader import load_policy
from collection_policy.outcomes import book_experiment
from collection_policy.population import read_tier_inputs
from collection_policy.render import policy_markdown
from collection_policy.tiering import REASON_COLUMNS, tier_book
from collection_policy.tiers_plot import tiers_png
from core.contracts import REASONS
from core.io import atomic_path, write_json, write_parquet
from pipelines.common import add_output, base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.tiers import read_experiment, read_tiers
from pipelines.truth import month_after, read_truth

log = logging.getLogger(__name__)


def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    params = load_params(args.params)
    config, experiment = read_tiers(params), read_experiment(params)
    policy = load_policy(config.policy)
    log.info(
        "policy %s %s (%s), mode %s", policy.name, policy.version, policy.fingerprint(), config.mode
    )
    scores, features = read_tier_inputs(args.scores, args.features, config.backtest_split)
    reasons = None
    if args.reasons:
        reasons = REASONS.read(args.reasons, columns=REASON_COLUMNS, stage="explain")
    else:
        log.warning("no --reasons given: the reasons column stays empty")
    effects, macro = read_truth(Path(args.truth_dir) if args.truth_dir else None)
    rates = read_ev_rates(args.ev_rates) if args.ev_rates else None
    book = tier_book(scores, features, reasons, policy, config, str(args.features), rates)
    arms, treated, arms_report = book_experiment(
        book.table, experiment, effects, month_after(macro, book.table)
    )
    book.table["arm"] = arms
    book.table["treatment_tier"] = treated
    book.summary["arms"] = arms_report.pop("arms")
    book.summary["experiment"] = arms_report

    write_parquet(book.table, args.out)
    write_json(book.summary, args.summary)  # no timings in reports: they differ on every run
    write_json(book.headline, args.headline)
    with atomic_path(args.plot) as tmp:
        tmp.write_bytes(tiers_png(book.summary, policy))
    with atomic_path(args.policy_summary) as tmp:
        tmp.write_text(policy_markdown(policy))
    log.info(
        "tiered %d accounts (%s) in %.1fs: %s",
        len(book.table),
        book.origin,
        time.perf_counter() - started,
        {tier: row["accounts"] for tier, row in book.summary["tiers"].items()},
    )


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--scores", default="data/scores/scores.parquet")
    parser.add_argument("--features", default="data/features/features.parquet")
    parser.add_argument(
        "--reasons", default=None, help="the explain stage's reasons.parquet (omit: no reasons)"
    )
    parser.add_argument(
        "--truth-dir", default=None, help="the built-in book's truth: simulates the arms' outcomes"
    )
    parser.add_argument(
        "--ev-rates",
        default=None,
        help="the collection_rates stage's ev_rates.json (omit: the policy's assumed rates)",
    )
    add_output(parser, "--out", default="data/tiers/tiers.parquet")
    add_output(parser, "--summary", default="reports/tiers.json")
    add_output(parser, "--headline", default="reports/headline/tiers.json")
    add_output(parser, "--plot", default="reports/tiers.png")
    add_output(parser, "--policy-summary", default="reports/policy_summary.md")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())
