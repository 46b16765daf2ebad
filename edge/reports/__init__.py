"""Defect reports on the edge box: a crash-safe SQLite store, its reviews and the evidence as drawn.

The reporter process writes with `ReportStore.write`; the fleet API reads (and records reviews)
from the same file. Every insert or update takes a new per-device `seq`, so a puller asking for
`since=<seq>` never misses a change. `Report` (pydantic, the API's schema) is
loaded on first use, so the reporter never loads pydantic.
"""

from __future__ import annotations

import importlib
from typing import Any

from gridscout.edge.reports.store import (
    ReportObservation,
    ReportStore,
    StoreNotFoundError,
    Written,
    report_id_for,
)
from gridscout.reports.review import REVIEW_STATES, SEVERITIES, Review, ReviewError, ReviewState

_LAZY = {"Report": "gridscout.edge.reports.report"}

__all__ = [
    "REVIEW_STATES",
    "SEVERITIES",
    "Report",
    "ReportObservation",
    "ReportStore",
    "Review",
    "ReviewError",
    "ReviewState",
    "StoreNotFoundError",
    "Written",
    "report_id_for",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
