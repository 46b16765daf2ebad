"""`gridscout reports`: list, inspect, review and export the defect reports stored on this device."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gridscout.edge.cli.argtypes import positive_int
from gridscout.edge.defaults import DATA_DIR
from gridscout.perception.taxonomy import TAXONOMY
from gridscout.reports.arguments import add_export_arguments, add_review_arguments, review_from

if TYPE_CHECKING:
    from gridscout.edge.reports.report import Report
    from gridscout.edge.reports.store import ReportStore

ROW = "{:<8}  {:>5}  {:<16}  {:>4}  {:<24}  {:<24}  {:<22}  {}"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reports",
        help="list, show, review and export defect reports",
        description="Read the defect reports in a data directory's reports.db.",
        epilog="Example: gridscout reports --data /var/lib/gridscout list --since 120",
    )
    data_help = f"data directory holding reports.db (default: ./{DATA_DIR})"
    p.add_argument("--data", type=Path, default=DATA_DIR, help=data_help)
    actions = p.add_subparsers(dest="reports_action", metavar="ACTION", required=True)
    # Each action also takes --data after its name; SUPPRESS keeps it from overriding the one before.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, default=argparse.SUPPRESS, help=data_help)

    ls = actions.add_parser("list", parents=[common], help="a table of reports in seq order")
    ls.add_argument("--since", type=int, default=0, help="only reports with seq greater than this")
    ls.add_argument("--limit", type=positive_int, default=100, help="at most this many (default 100)")
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ls.set_defaults(func=run_list)

    show = actions.add_parser("show", parents=[common], help="every field of one report")
    show.add_argument("id", help="report id or an unambiguous prefix of it")
    show.add_argument(
        "--evidence", type=Path, metavar="FILE",
        help="write the evidence JPEG here with the finding drawn on it: box, class, confidence, model",
    )  # fmt: skip
    show.add_argument("--raw", type=Path, metavar="FILE", help="write the evidence JPEG as the camera saw it")
    show.set_defaults(func=run_show)

    review = actions.add_parser(
        "review", parents=[common], help="confirm or reject a report, with severity, class and note",
        description="Record a person's review of one report (it replaces an earlier one). The report takes a new "
        "seq, so the next fleet pull gets it as an update.",
        epilog="Example: gridscout reports review 3f2a --confirm --severity high --note 'two caps gone'",
    )  # fmt: skip
    add_review_arguments(review, f"a taxonomy class, when the detector's is wrong ({', '.join(TAXONOMY)})")
    review.set_defaults(func=run_review)

    export = actions.add_parser(
        "export", parents=[common], help="every report to GeoPackage, GeoJSON or CSV, with its evidence beside it",
        description="Write one row per report (id, device, asset, class, confidence, severity, review, time, "
        "position, model, evidence path) and the evidence JPEGs into FILE's stem + '_evidence/' beside it. "
        "GeoPackage: a layer 'reports' of points in EPSG:4326 (needs the [gis] extra).",
        epilog="Example: gridscout reports export defects.gpkg  (QGIS and ArcGIS open it as it is)",
    )  # fmt: skip
    add_export_arguments(export, file_required=False)
    export.add_argument("--geojson", type=Path, metavar="FILE", help="the same as FILE with --format geojson")
    export.set_defaults(func=run_export)


def _open(args: argparse.Namespace) -> ReportStore:
    # Imported here, as in the other commands, to keep `gridscout --help` fast.
    from gridscout.edge.reports.store import ReportStore

    return ReportStore(args.data, create=False)


def _position(report: Report) -> str:
    if report.lat is not None and report.lon is not None:
        within = f" ±{report.error_m:.0f} m" if report.error_m is not None else ""
        return f"{report.lat:.6f},{report.lon:.6f}{within}"
    return f"{report.position_m:.1f} m" if report.position_m is not None else "-"


def run_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        reports = store.list(since=args.since, limit=args.limit)
    if args.json:
        for report in reports:
            print(report.model_dump_json())
        return 0
    if not reports:
        print(f"no reports with seq > {args.since}")
        return 0
    print(ROW.format("ID", "SEQ", "CLASS", "CONF", "FIRST SEEN", "LAST SEEN", "WHERE", "REVIEW"))
    for r in reports:
        when = (r.first_seen, r.last_seen)
        print(
            ROW.format(r.id[:8], r.seq, r.class_name[:16], f"{r.confidence:.2f}", *when, _position(r), r.review_state)
        )
    return 0


def _one(store: ReportStore, args: argparse.Namespace) -> Report:
    matches = store.find(args.id)
    if len(matches) != 1:
        found = ", ".join(m.id for m in matches) if matches else "none"
        raise ValueError(f"{args.id!r} must match exactly one report in {args.data} (matches: {found})")
    return matches[0]


def run_show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        report = _one(store, args)
        jpeg = store.evidence(report.id) if args.evidence or args.raw else None
    for name, value in report.model_dump().items():
        print(f"{name:<16} {'-' if value is None else value}")
    if (args.evidence or args.raw) and jpeg is None:
        raise ValueError(f"report {report.id} has no evidence image")
    if args.raw:
        args.raw.write_bytes(jpeg)
        print(f"{'raw evidence':<16} {args.raw} ({len(jpeg)} bytes, as the camera saw it)")
    if args.evidence:
        from gridscout.edge.reports.evidence import annotated_evidence

        drawn = annotated_evidence(report, jpeg)
        args.evidence.write_bytes(drawn)
        print(f"{'evidence file':<16} {args.evidence} ({len(drawn)} bytes, the finding drawn on it)")
    return 0


def run_review(args: argparse.Namespace) -> int:
    with _open(args) as store:
        report = _one(store, args)
        reviewed = store.set_review(report.id, review_from(args))
    severity = f", severity {reviewed.severity}" if reviewed.severity else ""
    corrected = f", class {reviewed.class_name} -> {reviewed.review_class}" if reviewed.review_class else ""
    print(f"{reviewed.id} {reviewed.review_state}{severity}{corrected}; seq {report.seq} -> {reviewed.seq}")
    return 0


def _every(store: ReportStore):
    """Every report with its review (as the exports take it) and evidence, a page at a time."""
    since = 0
    while page := store.list(since=since, limit=500):
        for r in page:
            yield r, r.review(), store.evidence(r.id) if r.has_evidence else None
        since = page[-1].seq


def run_export(args: argparse.Namespace) -> int:
    from gridscout.reports.export import export_row, format_for, write_export, write_yolo, yolo_summary

    if (args.file is None) == (args.geojson is None):
        raise ValueError("give the file to write (e.g. defects.gpkg), or --geojson FILE")
    path = args.file or args.geojson
    fmt = format_for(path, "geojson" if args.geojson else args.format)
    with _open(args) as store:
        if fmt == "yolo":
            findings = ((r.model_dump(mode="json"), review, jpeg) for r, review, jpeg in _every(store))
            counts = write_yolo(findings, path, f"device {store.device_id} ({args.data})")
            print(yolo_summary(counts, path))
            return 0
        rows = (
            (export_row(r.model_dump(mode="json"), store.device_id, review, "device", None, None), jpeg)
            for r, review, jpeg in _every(store)
        )
        written = write_export(rows, path, fmt)
    print(f"{written} reports -> {path} ({fmt}; evidence in {path.stem}_evidence/)")
    return 0
