"""Defect reports on the edge box: a crash-safe SQLite store and GeoJSON export.

The reporter process writes with `ReportStore.upsert`; the fleet API reads (and records reviews)
from the same file. Every insert or update takes a new per-device `seq`, so a puller asking for
`since=<seq>` never misses a change.
"""

from gridscout.edge.reports.geojson import to_geojson
from gridscout.edge.reports.store import (
    REVIEW_STATES,
    Report,
    ReportObservation,
    ReportStore,
    ReviewState,
    StoreNotFoundError,
    report_id_for,
)

__all__ = [
    "REVIEW_STATES",
    "Report",
    "ReportObservation",
    "ReportStore",
    "ReviewState",
    "StoreNotFoundError",
    "report_id_for",
    "to_geojson",
]
