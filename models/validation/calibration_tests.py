"""PD calibration tests as a validation function runs them: per grade, one-sided, traffic lights.

Supervisors ask one question of a PD per grade: is it too low? So the binomial and Jeffreys tests
here are one-sided (a small p-value = more defaults than the PD can explain = PD underestimated);
an overstated PD is conservative and is left to the O/E ratio and Hosmer-Lemeshow to show. The
Jeffreys test follows the ECB instructions for reporting IRB validation data: the p-value is the
Beta(D + 1/2, N - D + 1/2) posterior's CDF at the grade's PD, which behaves better than the exact
binomial test on small, low-default grades.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas  # not `pd`: the PD arguments are called `pd`
from scipy import stats

from core.stats import binary_arrays

log = logging.getLogger(__name__)

GRADE_COLUMNS = [
    "grade",
    "n",
    "defaults",
    "expected",
    "mean_pd",
    "observed_rate",
    "binomial_p",
    "jeffreys_p",
    "oe_ratio",
    "oe_low",
    "oe_high",
    "light",
]


def _check_counts(defaults: int, n: int, pd: float) -> None:
    if n < 0 or defaults < 0 or defaults > n:
        raise ValueError(f"need 0 <= defaults <= n, got defaults={defaults}, n={n}")
    if not 0.0 <= pd <= 1.0:
        raise ValueError(f"PD must lie in [0, 1], got {pd}")


def binomial_p(defaults: int, n: int, pd: float) -> float:
    """One-sided exact binomial p-value P(X >= defaults), X ~ Binomial(n, pd).

    Small = more defaults than a PD of `pd` would plausibly give, i.e. the PD is underestimated.
    NaN for an empty grade.
    """
    _check_counts(defaults, n, pd)
    if n == 0:
        return float("nan")
    return float(stats.binom.sf(defaults - 1, n, pd))


def jeffreys_p(defaults: int, n: int, pd: float) -> float:
    """One-sided Jeffreys test (ECB IRB validation): Beta(D + 0.5, N - D + 0.5).cdf(pd).

    The posterior probability, under the Jeffreys prior, that the true default rate is below the
    PD; small = PD underestimated. NaN for an empty grade.
    """
    _check_counts(defaults, n, pd)
    if n == 0:
        return float("nan")
    return float(stats.beta.cdf(pd, defaults + 0.5, n - defaults + 0.5))


def traffic_light(p: float, amber: float = 0.05, red: float = 0.01) -> str:
    """Traffic light of a one-sided calibration p-value.

    "red": the PD is rejected as too low at 99% confidence (p < `red`); "amber": rejected at 95%
    but not 99% (p < `amber`); "green": not rejected; "n/a": no test (NaN p, e.g. an empty grade).
    """
    if not red < amber:
        raise ValueError(f"the red threshold must be below the amber one, got {red} and {amber}")
    if p is None or math.isnan(p):
        return "n/a"
    if p < red:
        return "red"
    if p < amber:
        return "amber"
    return "green"


def oe_ratio(defaults: int, expected: float, level: float = 0.95) -> tuple[float, float, float]:
    """Observed / expected defaults with an exact (Garwood) Poisson interval, (ratio, low, high).

    The observed count is treated as Poisson; its chi-square based exact interval is divided by
    the expected count (the sum of PDs), which is taken as known. NaN all round when expected is 0.
    """
    if defaults < 0:
        raise ValueError(f"defaults must be >= 0, got {defaults}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if not expected > 0:
        nan = float("nan")
        return nan, nan, nan
    alpha = 1.0 - level
    low = 0.0 if defaults == 0 else stats.chi2.ppf(alpha / 2.0, 2 * defaults) / 2.0
    high = stats.chi2.ppf(1.0 - alpha / 2.0, 2 * (defaults + 1)) / 2.0
    return float(defaults / expected), float(low / expected), float(high / expected)


def _quantile_groups(p: np.ndarray, n_groups: int) -> np.ndarray:
    """Group id per row by PD quantile; equal PDs always share a group (ids may skip)."""
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_groups + 1)[1:-1], method="lower"))
    return np.searchsorted(edges, p, side="right")


def hosmer_lemeshow(y: Any, pd: Any, n_groups: int = 10) -> dict[str, Any]:
    """Hosmer-Lemeshow goodness of fit over PD-quantile groups.

    Statistic sum (O - E)^2 / (E * (1 - E / n)) over groups, chi-square with (groups - 2) degrees
    of freedom. Rows with equal PDs are kept in one group, so a lumpy PD (a few grades) can give
    fewer groups than asked; the degrees of freedom use the groups actually formed. A group with
    no variance (all PDs 0 or 1) adds nothing when it matches and makes the statistic infinite
    when it does not.
    """
    if n_groups < 3:
        raise ValueError(f"Hosmer-Lemeshow needs at least 3 groups, got {n_groups}")
    y_arr, p_arr = binary_arrays(y, pd)
    ids = _quantile_groups(p_arr, n_groups)
    n = np.bincount(ids).astype("float64")
    obs = np.bincount(ids, weights=y_arr)
    exp = np.bincount(ids, weights=p_arr)
    keep = n > 0
    n, obs, exp = n[keep], obs[keep], exp[keep]
    var = exp * (1.0 - exp / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(var > 0, (obs - exp) ** 2 / var, np.where(obs == exp, 0.0, np.inf))
    statistic = float(terms.sum())
    df = int(n.size - 2)
    p = float(stats.chi2.sf(statistic, df)) if df > 0 else float("nan")
    if n.size < n_groups:
        log.info("Hosmer-Lemeshow: tied PDs gave %d groups instead of %d", n.size, n_groups)
    groups = [
        {"n": int(ni), "defaults": int(oi), "expected": float(ei), "mean_pd": float(ei / ni)}
        for ni, oi, ei in zip(n, obs, exp, strict=True)
    ]
    return {"statistic": statistic, "df": df, "p": p, "groups": groups}


def calibration_by_grade(
    y: Any,
    pd: Any,
    grade: Any,
    *,
    grades: list[str] | None = None,
    amber: float = 0.05,
    red: float = 0.01,
    level: float = 0.95,
) -> pandas.DataFrame:
    """One row per grade: counts, observed vs expected defaults, both tests and a traffic light.

    `grades` fixes the row order (best grade first, the master scale's order); grades without
    rows are left out, and rows whose grade is not in `grades` are dropped with a warning. Without
    it the rows come in sorted label order; rows without a grade (NaN) are not counted. Each
    grade is tested at its mean PD. The light is the Jeffreys test's.
    """
    y_arr, p_arr = binary_arrays(y, pd)
    g = np.asarray(grade, dtype=object).ravel()
    if g.shape != y_arr.shape:
        raise ValueError(f"grade and y differ in length: {g.shape[0]} vs {y_arr.shape[0]}")
    frame = pandas.DataFrame({"grade": g, "y": y_arr, "pd": p_arr})
    agg = frame.groupby("grade", sort=True).agg(
        n=("y", "size"), defaults=("y", "sum"), expected=("pd", "sum")
    )
    if grades is None:
        order = list(agg.index)
    else:
        unknown = sorted(str(x) for x in set(agg.index) - set(grades))
        if unknown:
            log.warning(
                "calibration_by_grade: rows with grade(s) %s not in `grades` dropped", unknown
            )
        order = [x for x in grades if x in agg.index]
    rows = []
    for name in order:
        n = int(agg.at[name, "n"])
        d = int(round(agg.at[name, "defaults"]))
        e = float(agg.at[name, "expected"])
        mean_pd = e / n
        ratio, low, high = oe_ratio(d, e, level)
        jp = jeffreys_p(d, n, mean_pd)
        rows.append(
            {
                "grade": name,
                "n": n,
                "defaults": d,
                "expected": e,
                "mean_pd": mean_pd,
                "observed_rate": d / n,
                "binomial_p": binomial_p(d, n, mean_pd),
                "jeffreys_p": jp,
                "oe_ratio": ratio,
                "oe_low": low,
                "oe_high": high,
                "light": traffic_light(jp, amber, red),
            }
        )
    return pandas.DataFrame(rows, columns=GRADE_COLUMNS)
