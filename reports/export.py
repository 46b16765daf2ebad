"""Reports out to GIS tools: GeoPackage (OGC), GeoJSON (RFC 7946) or CSV, one row per report, with the evidence
JPEGs in a folder beside the file and each row naming its image by relative path.

The device (`gridscout reports export`) and the fleet (`gridscout fleet export`) build the same rows from their
stores (`export_row`) and write them here. GeoPackage goes through pyogrio (GDAL), the optional `[gis]` extra;
GeoJSON and CSV need nothing beyond the standard library.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: format name -> file suffix
FORMATS = {"geopackage": ".gpkg", "geojson": ".geojson", "csv": ".csv"}
#: every column of an export, in order, with its type ("str" or "float")
FIELDS: tuple[tuple[str, str], ...] = (
    ("report_id", "str"),
    ("device_id", "str"),
    ("asset_id", "str"),
    ("asset_name", "str"),
    ("class_name", "str"),  # what it is: a review's correction, else the detector's
    ("detected_class", "str"),
    ("confidence", "float"),
    ("severity", "str"),
    ("review_state", "str"),
    ("review_note", "str"),
    ("reviewed_by", "str"),  # device or fleet: whose review stands
    ("first_seen", "str"),
    ("last_seen", "str"),
    ("lat", "float"),
    ("lon", "float"),
    ("alt", "float"),
    ("error_m", "float"),
    ("position_m", "float"),
    ("model_name", "str"),
    ("evidence", "str"),  # the JPEG's path relative to the export file
)
GIS_EXTRA = "pip install 'gridscout[gis]' (or 'gridscout-fleet[gis]' on a fleet server)"
#: WGS84 longitude, latitude: what GPS gives and RFC 7946 requires
CRS = "EPSG:4326"


class ExportError(ValueError):
    """An export that cannot be written: the message names the file or format and what is expected."""


def format_for(path: Path, given: str | None) -> str:
    """The format asked for, else the one the file's suffix names."""
    if given:
        if given not in FORMATS:
            raise ExportError(f"format {given!r}: expected one of {', '.join(FORMATS)}")
        return given
    by_suffix = {suffix: name for name, suffix in FORMATS.items()} | {".json": "geojson", ".gpkg": "geopackage"}
    if path.suffix.lower() not in by_suffix:
        raise ExportError(f"{path}: give --format, or a file ending in {', '.join(FORMATS.values())}")
    return by_suffix[path.suffix.lower()]


def evidence_dir(path: Path) -> Path:
    """Where an export's evidence JPEGs go: `<file stem>_evidence/` beside the file."""
    return path.with_name(f"{path.stem}_evidence")


def export_row(report: Mapping[str, Any], device_id: str, review: Mapping[str, Any], reviewed_by: str,
               asset: Mapping[str, Any] | None, evidence: str | None) -> dict[str, Any]:  # fmt: skip
    """One export row from a report as the API serves it (a dict), the review that stands and who made it,
    the linked asset (id, name) and the evidence's relative path."""
    detected = report["class_name"]
    return {
        "report_id": report["id"],
        "device_id": device_id,
        "asset_id": (asset or {}).get("asset_id"),
        "asset_name": (asset or {}).get("name"),
        "class_name": review.get("class_name") or detected,
        "detected_class": detected,
        "confidence": report["confidence"],
        "severity": review.get("severity"),
        "review_state": review.get("state") or "new",
        "review_note": review.get("note"),
        "reviewed_by": reviewed_by if (review.get("state") or "new") != "new" else None,
        "first_seen": report["first_seen"],
        "last_seen": report["last_seen"],
        "lat": report.get("lat"),
        "lon": report.get("lon"),
        "alt": report.get("alt"),
        "error_m": report.get("error_m"),
        "position_m": report.get("position_m"),
        "model_name": report["model_name"],
        "evidence": evidence,
    }


def write_export(rows: Iterable[tuple[dict[str, Any], bytes | None]], path: Path, fmt: str) -> int:
    """Write `rows` (each with its evidence JPEG or None) to `path` as `fmt`, the JPEGs into `evidence_dir(path)`;
    the number of rows. Written beside and moved into place, so a failed export leaves no half file."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not path.parent.is_dir():
        raise ExportError(f"{path}: its folder {path.parent} does not exist")
    images = evidence_dir(path)
    staging = path.with_name(f".{path.stem}.partial{path.suffix}")  # GDAL wants the suffix it writes
    staging_images = path.with_name(f".{images.name}.partial")
    shutil.rmtree(staging_images, ignore_errors=True)
    staging.unlink(missing_ok=True)
    staging_images.mkdir()
    table = []
    try:
        for row, jpeg in rows:
            if jpeg is not None:
                (staging_images / f"{row['report_id']}.jpg").write_bytes(jpeg)
                row = {**row, "evidence": f"{images.name}/{row['report_id']}.jpg"}
            table.append(row)
        {"geopackage": _geopackage, "geojson": _geojson, "csv": _csv}[fmt](table, staging)
        shutil.rmtree(images, ignore_errors=True)
        staging_images.rename(images)
        staging.replace(path)
    finally:
        shutil.rmtree(staging_images, ignore_errors=True)
        staging.unlink(missing_ok=True)
    return len(table)


def _csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[name for name, _ in FIELDS])
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)


def _geojson(rows: list[dict[str, Any]], path: Path) -> None:
    """RFC 7946: a Point [lon, lat(, alt)] per placed report, `geometry: null` for the others, flat properties."""
    features = []
    for row in rows:
        geometry = None
        if row["lat"] is not None and row["lon"] is not None:
            coordinates = [row["lon"], row["lat"]] + ([row["alt"]] if row["alt"] is not None else [])
            geometry = {"type": "Point", "coordinates": coordinates}
        features.append({"type": "Feature", "id": row["report_id"], "geometry": geometry, "properties": row})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1) + "\n")


def _point_wkb(lon: float, lat: float) -> bytes:
    """A 2D point as little-endian WKB (the height stays a column: a 3D point would need every viewer to cope)."""
    return struct.pack("<BIdd", 1, 1, lon, lat)


def _geopackage(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        import numpy as np
        from pyogrio.raw import write
    except ImportError:
        raise ExportError(f"a GeoPackage needs pyogrio (GDAL): {GIS_EXTRA}") from None
    geometry = np.array(
        [_point_wkb(r["lon"], r["lat"]) if r["lat"] is not None and r["lon"] is not None else None for r in rows],
        dtype=object,
    )
    columns, masks = [], []
    for name, kind in FIELDS:
        values = [row[name] for row in rows]
        if kind == "float":
            columns.append(np.array([math.nan if v is None else float(v) for v in values], np.float64))
            masks.append(None)  # NaN is written as null
        else:
            columns.append(np.array(["" if v is None else str(v) for v in values], dtype=object))
            masks.append(np.array([v is None for v in values], bool))
    write(
        str(path), geometry, columns, [name for name, _ in FIELDS], field_mask=masks, layer="reports",
        driver="GPKG", geometry_type="Point", crs=CRS,
    )  # fmt: skip
