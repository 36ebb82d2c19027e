"""DVC stage `tiers`: assign every account of the scoring population a collection tier.

Population: the current book (split == 'score') when the scores hold one; otherwise the file named
in params `tiers.score_file` (scores and policy inputs in one table), else the test split. The
labelled `tiers.backtest_split` is tiered too, for the observed bad rate per tier (summary only),
and the current book is split into the collection experiment's arms. Reasons come from the
explain stage; a run without `--reasons` tiers with an empty `reasons` column. The work is
`collection_policy.tiering.run_tiers`; this module reads, calls and writes.
"""

from __future__ import annotations

import logging
import time

from collection_policy.ev_rates import read_ev_rates
from collection_policy.loader import load_policy
from collection_policy.population import read_tier_inputs
from collection_policy.render import policy_markdown
from collection_policy.tiering import REASON_COLUMNS, run_tiers
from collection_policy.tiers_plot import tiers_png
from core.catalogue import read_catalogue
from core.contracts import REASONS
from core.io import write_json, write_parquet
from core.truth import read_truth
from pipelines.params import Params
from pipelines.params.tiers import read_experiment, read_tiers
from pipelines.stage import Input, Stage, StagePaths

log = logging.getLogger(__name__)

STAGE = Stage(
    "tiers",
    __doc__.splitlines()[0],
    inputs=(
        "scores",
        "features",
        Input("reasons", optional=True, help="the explain stage's reasons.parquet ('' = none)"),
        Input("truth_dir", optional=True, help="the built-in book's truth: the arms' outcomes"),
        Input("ev_rates", optional=True, help="learned expected-value rates ('' = assumed)"),
    ),
    outputs=("tiers", "summary", "headline", "plot", "policy_summary"),
)


def main(paths: StagePaths, params: Params) -> None:
    started = time.perf_counter()
    config, experiment = read_tiers(params), read_experiment(params)
    policy = load_policy(config.policy)
    log.info(
        "policy %s %s (%s), mode %s", policy.name, policy.version, policy.fingerprint(), config.mode
    )
    scores, features = read_tier_inputs(paths.scores, paths.features, config.backtest_split)
    reasons = None
    if paths.reasons is not None:
        reasons = REASONS.read(paths.reasons, columns=REASON_COLUMNS, stage="explain")
    else:
        log.warning("no --reasons given: the reasons column stays empty")
    truth = read_truth(paths.truth_dir, parts=("effects", "macro"))
    rates = read_ev_rates(paths.ev_rates) if paths.ev_rates is not None else None
    catalogue = read_catalogue(paths.features.parent)
    book = run_tiers(
        scores,
        features,
        reasons,
        policy,
        config,
        experiment,
        truth,
        rates,
        str(paths.features),
        catalogue.currency,
        catalogue.fx_to_policy,
    )
    with STAGE.writing(paths) as out:
        write_parquet(book.table, out.file("tiers"))
        write_json(book.summary, out.file("summary"))  # no timings in reports: they differ
        write_json(book.headline, out.file("headline"))
        out.file("plot").write_bytes(tiers_png(book.summary, policy))
        out.file("policy_summary").write_text(policy_markdown(policy))
    log.info(
        "tiered %d accounts (%s) in %.1fs: %s",
        len(book.table),
        book.origin,
        time.perf_counter() - started,
        {tier: row["accounts"] for tier, row in book.summary["tiers"].items()},
    )


if __name__ == "__main__":
    STAGE.main(main)
