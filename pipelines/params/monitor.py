"""The `monitor` section of params.yaml -> `models.monitoring.thresholds.MonitorConfig` + the
reference split."""

from __future__ import annotations

from dataclasses import dataclass

from core.contracts import LABELLED_SPLITS
from models.monitoring.thresholds import MonitorConfig
from pipelines.params import Params

MONITOR_KEYS: tuple[str, ...] = (
    "reference_split",
    "psi_amber",
    "psi_red",
    "n_bins",
    "level",
    "p_amber",
    "p_red",
    "oe_floor",
    "top_features",
    "protected",
    "air_threshold",
    "air_outcome",
    "min_group_size",
    "cohort_freq",
    "roll_months",
)


@dataclass(frozen=True)
class MonitorSettings:
    """What the monitor stage needs from params: the reference split and the thresholds."""

    reference_split: str
    config: MonitorConfig


def read_monitor(params: Params) -> MonitorSettings:
    """monitor: thresholds of stability (PSI), calibration (O/E, Jeffreys) and fairness (AIR)."""
    sec = params.section("monitor", keys=MONITOR_KEYS)
    try:
        config = MonitorConfig(
            psi_amber=sec.number("psi_amber", lo=0, lo_open=True),
            psi_red=sec.number("psi_red", lo=0, lo_open=True),
            n_bins=sec.integer("n_bins", lo=2, hi=100),
            level=sec.number("level", lo=0.5, hi=1, hi_open=True),
            p_amber=sec.number("p_amber", lo=0, hi=0.5, lo_open=True),
            p_red=sec.number("p_red", lo=0, hi=0.5, lo_open=True),
            oe_floor=sec.number("oe_floor", lo=0, hi=1, lo_open=True),
            top_features=sec.integer("top_features", lo=1, hi=100),
            protected=tuple(sec.str_list("protected")),
            air_threshold=sec.number("air_threshold", lo=0, hi=1, lo_open=True),
            air_outcome=sec.choice("air_outcome", ("phone", "contact")),
            min_group_size=sec.integer("min_group_size", lo=1),
            cohort_freq=sec.choice("cohort_freq", ("Q", "M")),
            roll_months=sec.optional_integer("roll_months", lo=1),
        )
    except ValueError as exc:  # rules across keys (psi_amber < psi_red, p_red < p_amber)
        raise params.parser.fail("monitor", str(exc)) from None
    return MonitorSettings(
        reference_split=sec.choice("reference_split", LABELLED_SPLITS), config=config
    )
