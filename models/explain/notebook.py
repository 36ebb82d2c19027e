"""Helpers the reviewer notebook (notebooks/review_explanations.ipynb) calls: read a run's
explain outputs back, look up one account's reasons and draw its waterfall.

The notebook holds no logic of its own, so what a reviewer sees is tested here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, to_model_frame
from core.contracts import FEATURES, REASONS, SCORES, SHAP_VALUES
from core.io import read_json
from models.explain.plots import plot_waterfall
from models.explain.treeshap import BASE_VALUE
from models.scaling import DEFAULT_GRADE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ID_COLUMNS = ["account_id", "observation_date", "split"]
GLOBAL_PLOTS = ("importance", "beeswarm", "shap_by_grade", "reason_distribution")


@dataclass(frozen=True)
class ExplainOutputs:
    """The explain stage's outputs as a reviewer (or the notebook) reads them back."""

    shap: pd.DataFrame
    reasons: pd.DataFrame
    importance: pd.DataFrame
    features: list[str]
    report_dir: Path
    features_path: Path
    catalogue_path: Path
    scores_path: Path

    @property
    def base_value(self) -> float:
        return float(self.shap[BASE_VALUE].iloc[0]) if len(self.shap) else float("nan")

    def describe(self) -> str:
        """One line for the top of the notebook."""
        base_pd = 1.0 / (1.0 + np.exp(-self.base_value))
        return (
            f"{len(self.shap):,} explained rows, {len(self.features)} features, "
            f"base value {self.base_value:.3f} log-odds (PD {base_pd:.2%} at the training data's "
            "average score: what every reason is compared with)"
        )

    def global_plots(self) -> list[Path]:
        """The report's global plots that exist, in reading order."""
        paths = [self.report_dir / f"{name}.png" for name in GLOBAL_PLOTS]
        return [p for p in paths if p.exists()]

    def choose_account(self, account_id: str | None) -> int | str:
        """The account to drill into: the one asked for (text from the environment, read as the
        explained ids' own type: int on the built-in book, text for a loan table), else the
        highest-PD explained account."""
        if not account_id:
            return self.highest_pd_account()
        if pd.api.types.is_integer_dtype(self.shap["account_id"]):
            try:
                return int(account_id)
            except ValueError:
                raise KeyError(f"account {account_id!r} was not explained") from None
        return account_id

    def account_rows(self, account_id: int | str) -> pd.DataFrame:
        """SHAP rows of one account (one per observation date / split)."""
        rows = self.shap[self.shap["account_id"] == account_id]
        if rows.empty:
            raise KeyError(f"account {account_id} was not explained")
        return rows

    def account_reasons(self, account_id: int | str) -> pd.DataFrame:
        """The account's reasons: one per reason family, `feature` the family's strongest, and
        `contribution` the family's summed log-odds above the base value."""
        r = self.reasons[self.reasons["account_id"] == account_id]
        return r.sort_values(["observation_date", "rank"]).reset_index(drop=True)

    def model_row(self, account_id: int | str) -> pd.Series:
        """The account's model inputs (latest explained row), via the catalogue."""
        row = self.account_rows(account_id).iloc[-1]
        cat = Catalogue.from_dict(read_json(self.catalogue_path))
        df = FEATURES.read(
            self.features_path, stage="features", filters=[("account_id", "==", account_id)]
        )
        df = df[df["split"] == row["split"]]
        if "observation_date" in df and pd.notna(row["observation_date"]):
            df = df[df["observation_date"] == row["observation_date"]]
        return to_model_frame(df, cat, source=str(self.features_path)).iloc[0]

    def waterfall(self, account_id: int | str, max_display: int = 10) -> Figure:
        row = self.account_rows(account_id).iloc[-1]
        x = self.model_row(account_id)
        return plot_waterfall(
            row[self.features].to_numpy(dtype=np.float64),
            x,
            float(row[BASE_VALUE]),
            max_display=max_display,
            title=f"Account {account_id}",
        )

    def highest_pd_account(self) -> int | str:
        """The explained account with the highest model PD (not one in default), its id as typed."""
        scores = SCORES.read(
            self.scores_path, columns=["account_id", "split", "pd", "grade"], stage="train"
        )
        scored = scores["account_id"].isin(self.shap["account_id"]) & (
            scores["grade"].astype(str) != DEFAULT_GRADE
        )
        scores = scores[scored]
        if scores.empty:
            return _plain(self.shap["account_id"].iloc[0])
        return _plain(scores.loc[scores["pd"].idxmax(), "account_id"])


def _plain(value: object) -> int | str:
    """A numpy scalar id as the Python value a reviewer types (np.int64(7) -> 7, text stays)."""
    return value.item() if isinstance(value, np.generic) else value  # type: ignore[return-value]


def load_outputs(
    repo_dir: str | Path,
    out_dir: str = "data/explanations",
    report_dir: str = "reports/explain",
    features_dir: str = "data/features",
    scores: str = f"data/scores/{SCORES.file}",
) -> ExplainOutputs:
    """Read the latest explain outputs under a repository (paths relative to `repo_dir`)."""
    root = Path(repo_dir)
    shap_df = SHAP_VALUES.read(root / out_dir / SHAP_VALUES.file, stage="explain")
    reasons = REASONS.read(root / out_dir / REASONS.file, stage="explain")
    importance = pd.read_parquet(root / out_dir / "importance.parquet")
    features = [c for c in shap_df.columns if c not in (*ID_COLUMNS, BASE_VALUE)]
    return ExplainOutputs(
        shap=shap_df,
        reasons=reasons,
        importance=importance,
        features=features,
        report_dir=root / report_dir,
        features_path=root / features_dir / FEATURES.file,
        catalogue_path=root / features_dir / "catalogue.json",
        scores_path=root / scores,
    )
