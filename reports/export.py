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

#: format name -> file suffix (yolo: a folder in the ultralytics layout, reviewed findings as training data)
FORMATS = {"geopackage": ".gpkg", "geojson": ".geojson", "csv": ".csv", "yolo": ""}
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
    by_suffix = {suffix: name for name, suffix in FORMATS.items() if suffix} | {".json": "geojson"}
    if path.suffix.lower() not in by_suffix:
        files = ", ".join(suffix for suffix in FORMATS.values() if suffix)
        raise ExportError(f"{path}: give --format, or a file ending in {files}")
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
    if fmt not in FORMATS or fmt == "yolo":
        raise ExportError(f"format {fmt!r}: expected one of {', '.join(f for f in FORMATS if f != 'yolo')}")
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


#: what a YOLO review export's data.yaml says beside the ultralytics keys: stage two only (see models.sources)
YOLO_STAGES = [2]


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header; ValueError for data that is not a JPEG."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    i = 2
    while i + 9 < len(jpeg):
        if jpeg[i] != 0xFF:
            raise ValueError(f"not a JPEG (no marker at byte {i})")
        marker, length = jpeg[i + 1], int.from_bytes(jpeg[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            height, width = int.from_bytes(jpeg[i + 5 : i + 7], "big"), int.from_bytes(jpeg[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    raise ValueError("not a JPEG (no frame header)")


def _yolo_row(class_id: int, box: Iterable[float], width: int, height: int) -> str:
    x1, y1, x2, y2 = (min(max(v, 0.0), limit) for v, limit in zip(box, (width, height, width, height), strict=True))
    cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def write_yolo(findings: Iterable[tuple[Mapping[str, Any], Mapping[str, Any], bytes | None]], out: Path,
               source: str) -> dict[str, Any]:  # fmt: skip
    """Reviewed findings as a training source in the ultralytics layout, in the folder `out` (made; it must not
    hold one already): each confirmed finding's evidence frame with its string and the finding boxed (as the
    review's class), each rejected one's with its string alone, a hard negative for stage two. Findings not
    reviewed, without evidence or not on a string are counted and left out. Returns the counts (also in
    `out/README.md`). `source` says where the findings came from."""
    out = Path(out)
    if not out.parent.is_dir():
        raise ExportError(f"{out}: its folder {out.parent} does not exist")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: not empty; a YOLO export goes into a new folder")
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "images" / "train").mkdir(parents=True)
    (staging / "labels" / "train").mkdir(parents=True)
    (staging / "images" / "val").mkdir(parents=True)
    rows: list[tuple[str, bytes, list[tuple[str, list[float]]]]] = []
    skipped = {"not reviewed": 0, "no evidence": 0, "not on a string": 0}
    for report, review, jpeg in findings:
        state = review.get("state") or "new"
        if state not in ("confirmed", "rejected"):
            skipped["not reviewed"] += 1
        elif jpeg is None or report.get("box_xyxy") is None:
            skipped["no evidence"] += 1
        elif report.get("parent_box_xyxy") is None:
            skipped["not on a string"] += 1
        else:
            labels = [("insulator", list(report["parent_box_xyxy"]))]
            if state == "confirmed":
                labels.append((review.get("class_name") or report["class_name"], list(report["box_xyxy"])))
            rows.append((f"{report.get('device_id', 'device')}_{report['id']}", jpeg, labels))
    names = ["insulator", *sorted({name for _, _, labels in rows for name, _ in labels} - {"insulator"})]
    counts: dict[str, Any] = {"confirmed": {}, "rejected": 0, "skipped": skipped}
    try:
        for stem, jpeg, labels in rows:
            width, height = jpeg_size(jpeg)
            (staging / "images" / "train" / f"{stem}.jpg").write_bytes(jpeg)
            lines = [_yolo_row(names.index(name), box, width, height) for name, box in labels]
            (staging / "labels" / "train" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
            if len(labels) > 1:
                counts["confirmed"][labels[1][0]] = counts["confirmed"].get(labels[1][0], 0) + 1
            else:
                counts["rejected"] += 1
        listed = "".join(f"  {i}: {name}\n" for i, name in enumerate(names))
        (staging / "data.yaml").write_text(
            f"# reviewed findings from {source}: stage two only (each frame boxes one string, not all)\n"
            f"path: .\ntrain: images/train\nval: images/val\nnames:\n{listed}gridscout_stages: {YOLO_STAGES}\n"
        )
        (staging / "README.md").write_text(_yolo_readme(source, counts))
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return counts


def yolo_summary(counts: Mapping[str, Any], out: Path) -> str:
    """The line a YOLO export's command prints: what went in, what was left out, how to train on it."""
    confirmed = sum(counts["confirmed"].values())
    skipped = ", ".join(f"{n} {why}" for why, n in counts["skipped"].items() if n) or "none"
    return (f"{confirmed} confirmed and {counts['rejected']} rejected findings -> {out} (left out: {skipped}); "
            f"train on it with: python -m gridscout.models.prepare_real --source {out}")  # fmt: skip


def _yolo_readme(source: str, counts: Mapping[str, Any]) -> str:
    confirmed = ", ".join(f"{n} {name}" for name, n in sorted(counts["confirmed"].items())) or "none"
    skipped = ", ".join(f"{n} {why}" for why, n in counts["skipped"].items() if n) or "none"
    return (
        "# Reviewed GridScout findings, as a training source\n\n"
        f"- Source: {source}.\n- Confirmed findings (the frame, its string and the finding boxed): {confirmed}.\n"
        f"- Rejected findings (the frame and its string, no finding: hard negatives): {counts['rejected']}.\n"
        f"- Left out: {skipped}.\n\n"
        "Each frame boxes only the string its finding is on, so `data.yaml` says `gridscout_stages: [2]`: the\n"
        "training scripts cut string crops from it for stage two and keep it away from stage one. Use it as one\n"
        "more source: `python -m gridscout.models.prepare_real --source THIS_FOLDER`. The labels are a reviewer's\n"
        "verdict on the detector's own boxes; the strings are the detector's, not drawn by hand.\n"
    )
