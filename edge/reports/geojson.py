"""Reports as a GeoJSON FeatureCollection (RFC 7946) for GIS tools.

A report with lat/lon becomes a Point ([lon, lat] or [lon, lat, alt]). One without (a robot on a
line with no GNSS fix) keeps `geometry: null`, which RFC 7946 allows; its `position_m` along the
line stays in the properties so it can still be placed on the line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gridscout.edge.reports.report import Report

_GEOMETRY_FIELDS = {"lat", "lon", "alt"}


def _geometry(report: Report) -> dict[str, Any] | None:
    if report.lat is None or report.lon is None:
        return None
    coordinates = [report.lon, report.lat] + ([report.alt] if report.alt is not None else [])
    return {"type": "Point", "coordinates": coordinates}


def to_geojson(reports: Iterable[Report]) -> dict[str, Any]:
    features = [
        {
            "type": "Feature",
            "id": report.id,
            "geometry": _geometry(report),
            "properties": report.model_dump(mode="json", exclude=_GEOMETRY_FIELDS),
        }
        for report in reports
    ]
    return {"type": "FeatureCollection", "features": features}
