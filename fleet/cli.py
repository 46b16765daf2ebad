"""`gridscout fleet pull` (or `gridscout-fleet pull` where only the fleet side is installed): collect
defect reports from devices into one fleet database."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gridscout.fleet.serve import DEFAULT_ADDRESS
from gridscout.reports.arguments import add_export_arguments, add_review_arguments, review_from
from gridscout.reports.assets import LINK_RADIUS_M, STRUCTURE_TYPES

if TYPE_CHECKING:
    from gridscout.fleet.db import FleetReport, FleetStore

#: the device's token variable (gridscout.edge.api.token.TOKEN_ENV; tests/test_fleet_wire.py keeps them equal)
TOKEN_ENV = "GRIDSCOUT_API_TOKEN"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """`gridscout fleet ACTION`: the fleet side's actions under the main command."""
    p = sub.add_parser(
        "fleet", help="pull reports from devices; list, review, map and export them", description="Fleet-side tools."
    )
    add_actions(p.add_subparsers(dest="fleet_action", metavar="ACTION", required=True))


def add_actions(actions: argparse._SubParsersAction) -> None:
    pull = actions.add_parser(
        "pull",
        help="pull new and updated reports from devices into a fleet database",
        description=(
            "Page each device's /v1/reports since the last checkpoint and store reports, evidence JPEGs and "
            "the checkpoint one page per transaction: an interrupted pull resumes where it stopped, and "
            "re-running is a no-op."
        ),
        epilog="Example: gridscout fleet pull http://10.0.0.7:8470 http://10.0.0.8:8470 --into fleet.db",
    )
    pull.add_argument("urls", nargs="+", metavar="URL", help="device API base URL, e.g. http://10.0.0.7:8470")
    pull.add_argument("--token", help=f"API token (default: ${TOKEN_ENV})")
    pull.add_argument("--token-file", type=Path, metavar="FILE", help="read the API token from this file")
    pull.add_argument("--into", type=Path, required=True, metavar="DB", help="fleet database (created if absent)")
    pull.add_argument("--page-size", type=_positive_int, default=100, help="reports per request (default 100)")
    pull.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    pull.add_argument("--retries", type=int, default=5, help="retries per request on network errors (default 5)")
    pull.add_argument("--quiet", action="store_true", help="no per-page progress")
    pull.add_argument(
        "--cafile", type=Path, metavar="PEM",
        help="for https:// devices: trust certificates signed by this CA (or this self-signed one) too",
    )  # fmt: skip
    pull.set_defaults(func=run_pull)

    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", type=Path, required=True, metavar="DB", help="the fleet database `pull --into` wrote")
    ls = actions.add_parser(
        "list", parents=[db], help="a table of pulled reports, newest first, with the review that stands"
    )
    ls.add_argument("--device", metavar="ID", help="only this device's reports")
    ls.add_argument("--limit", type=_positive_int, default=100, help="at most this many (default 100)")
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ls.set_defaults(func=run_list)

    show = actions.add_parser("show", parents=[db], help="every field of one pulled report, and its reviews")
    show.add_argument("id", help="report id or an unambiguous prefix of it")
    show.add_argument("--evidence", type=Path, metavar="FILE", help="write the evidence JPEG here")
    show.set_defaults(func=run_show)

    review = actions.add_parser(
        "review", parents=[db], help="confirm or reject a pulled report, with severity, class and note",
        description="Record the fleet's review of one pulled report (it replaces the fleet's earlier one). Of the "
        "device's review and the fleet's, the later one stands; a device's review pulled after the fleet's wins.",
        epilog="Example: gridscout fleet review 3f2a --db fleet.db --reject --note 'a bird on the crossarm'",
    )  # fmt: skip
    add_review_arguments(review, "a class some pulled report was found as")
    review.set_defaults(func=run_review)

    assets = actions.add_parser(
        "assets", help="the utility's asset registry: import it, and every report is linked to its structure",
        description="Import an asset registry (CSV or GeoJSON points: identifier, name, line id, latitude, "
        "longitude, asset type, source system, height) into the fleet database, replacing the one before, and "
        f"link each report with a position to the nearest structure ({', '.join(sorted(STRUCTURE_TYPES))}) "
        "within --radius. Reports pulled later are linked as they come; a link, once made, is kept.",
    )  # fmt: skip
    asset_actions = assets.add_subparsers(dest="assets_action", metavar="ACTION", required=True)
    load = asset_actions.add_parser(
        "import", parents=[db], help="replace the registry with FILE and link the reports",
        epilog="Example: gridscout fleet assets import towers.csv --db fleet.db",
    )  # fmt: skip
    load.add_argument("file", type=Path, metavar="FILE", help="the registry: .csv or .geojson")
    load.add_argument(
        "--radius", type=float, default=LINK_RADIUS_M, metavar="M",
        help=f"link a report to a structure at most this far away, metres (default {LINK_RADIUS_M:g}: see docs)",
    )  # fmt: skip
    load.set_defaults(func=run_assets_import)

    serve = actions.add_parser(
        "serve", parents=[db], help="the review page over the fleet database: every device's reports on one map",
        description="Serve the review page (the device's page, over every device's pulled reports) at "
        "http://HOST:PORT/, behind the API token. The later of a device's and the fleet's review stands.",
        epilog="Example: gridscout fleet serve --db fleet.db --token-file /etc/gridscout/token",
    )  # fmt: skip
    serve.add_argument("--api", default=DEFAULT_ADDRESS, metavar="HOST:PORT", help=f"default {DEFAULT_ADDRESS}")
    serve.add_argument("--token", help=f"the token to log in with (default: ${TOKEN_ENV})")
    serve.add_argument("--token-file", type=Path, metavar="FILE", help="read the token from this file")
    serve.add_argument(
        "--tiles", default="", metavar="MBTILES|URL",
        help="a base map: an .mbtiles file or a tile URL template on your network (default: none)",
    )  # fmt: skip
    serve.set_defaults(func=run_serve)

    export = actions.add_parser(
        "export", parents=[db], help="every pulled report to GeoPackage, GeoJSON or CSV, with its evidence",
        description="Write one row per pulled report (id, device, asset, class, confidence, severity, the review "
        "that stands, time, position, model, evidence path) and the evidence JPEGs into FILE's stem + "
        "'_evidence/' beside it. GeoPackage: a layer 'reports' of points in EPSG:4326 (needs the [gis] extra).",
        epilog="Example: gridscout fleet export --db fleet.db season.gpkg",
    )  # fmt: skip
    add_export_arguments(export)
    export.add_argument("--device", metavar="ID", help="only this device's reports")
    export.set_defaults(func=run_export)


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return args.token
    if args.token_file:
        return args.token_file.read_text().strip()
    if token := os.environ.get(TOKEN_ENV, "").strip():
        return token
    raise ValueError(f"no API token: pass --token or --token-file, or set {TOKEN_ENV}")


def run_pull(args: argparse.Namespace) -> int:
    from gridscout.fleet.pull import pull

    bad = [url for url in args.urls if not url.startswith(("http://", "https://"))]
    if bad:
        raise ValueError(f"device URLs must start with http:// or https://: {', '.join(bad)}")
    summary = pull(
        args.urls,
        _token(args),
        args.into,
        page_size=min(args.page_size, 1000),
        timeout_s=args.timeout,
        retries=max(args.retries, 0),
        progress=not args.quiet,
        cafile=str(args.cafile) if args.cafile else None,
    )
    print(summary.format())
    return 0 if summary.ok else 1


ROW = "{:<20}  {:<8}  {:<16}  {:>4}  {:<24}  {:<22}  {:<16}  {}"


def _open(args: argparse.Namespace) -> FleetStore:
    from gridscout.fleet.db import FleetStore

    if not args.db.is_file():
        raise FileNotFoundError(f"no fleet database at {args.db} (make one with `gridscout fleet pull --into`)")
    return FleetStore(args.db)


def _one(store: FleetStore, text: str) -> FleetReport:
    matches = store.find(text)
    if len(matches) != 1:
        found = ", ".join(f"{m.device_id}/{m.id}" for m in matches) if matches else "none"
        raise ValueError(f"{text!r} must match exactly one pulled report in {store.path} (matches: {found})")
    return matches[0]


def _review_text(review: dict) -> str:
    text = review["state"] + (f", {review['severity']}" if review.get("severity") else "")
    if review.get("class_name"):
        text += f", as {review['class_name']}"
    return text + (f" ({review['source']})" if review["state"] != "new" else "")


def _asset_text(row: FleetReport, full: bool = False) -> str:
    """The linked asset (its id; with `full`, name, line, type and distance), or why there is none."""
    if row.asset is None:
        return f"- ({row.asset_why})" if full and row.asset_why else "-"
    a = row.asset
    if not full:
        return a["asset_id"]
    line = f", line {a['line_id']}" if a["line_id"] else ""
    return f"{a['asset_id']} {a['name']} ({a['asset_type']}{line}), {a['distance_m']:g} m from the report"


def _where(report: dict) -> str:
    if report.get("lat") is not None and report.get("lon") is not None:
        return f"{report['lat']:.6f},{report['lon']:.6f}"
    return f"{report['position_m']:.1f} m" if report.get("position_m") is not None else "-"


def run_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        rows = store.reports(args.device, limit=args.limit)
    if args.json:
        for row in rows:
            print(json.dumps({"device_id": row.device_id, **row.report, "review": row.review, "asset": row.asset,
                              "asset_why": row.asset_why}))  # fmt: skip
        return 0
    if not rows:
        print(f"no pulled reports in {args.db}" + (f" from {args.device}" if args.device else ""))
        return 0
    print(ROW.format("DEVICE", "ID", "CLASS", "CONF", "LAST SEEN", "WHERE", "ASSET", "REVIEW"))
    for row in rows:
        r = row.report
        print(ROW.format(row.device_id[:20], row.id[:8], r["class_name"][:16], f"{r['confidence']:.2f}",
                         r["last_seen"], _where(r), _asset_text(row)[:16], _review_text(row.review)))  # fmt: skip
    return 0


def run_show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        row = _one(store, args.id)
        jpeg = store.evidence(row.device_id, row.id) if args.evidence else None
    for name, value in row.report.items():
        print(f"{name:<16} {'-' if value is None else value}")
    print(f"{'fleet review':<16} {_review_text({'source': 'fleet', **row.fleet_review}) if row.fleet_review else '-'}")
    print(f"{'review stands':<16} {_review_text(row.review)}")
    print(f"{'asset':<16} {_asset_text(row, full=True)}")
    if args.evidence:
        if jpeg is None:
            raise ValueError(f"report {row.id} has no evidence in {args.db}")
        args.evidence.write_bytes(jpeg)
        print(f"{'evidence file':<16} {args.evidence} ({len(jpeg)} bytes)")
    return 0


def run_review(args: argparse.Namespace) -> int:
    with _open(args) as store:
        row = _one(store, args.id)
        reviewed = store.set_review(row.device_id, row.id, review_from(args))
    print(f"{reviewed.device_id}/{reviewed.id}: {_review_text(reviewed.review)}")
    return 0


def run_assets_import(args: argparse.Namespace) -> int:
    from gridscout.reports.assets import read_registry

    if not 0 < args.radius <= 10_000:
        raise ValueError(f"--radius {args.radius:g}: expected more than 0 and at most 10000 metres")
    assets = read_registry(args.file)  # all of it checked before the database is touched
    with _open(args) as store:
        counts = store.import_assets(assets, args.radius)
    structures = sum(a.is_structure for a in assets)
    print(f"{len(assets)} assets from {args.file} ({structures} structures); {counts.format(args.radius)}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from gridscout.fleet.serve import start

    host, sep, port = args.api.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--api {args.api!r}: expected HOST:PORT, e.g. {DEFAULT_ADDRESS}")
    host = host.strip("[]") or "127.0.0.1"
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"warning: the fleet page on {host} is reachable from the network over plain HTTP: the token and the "
              "reports cross it in clear; bind to 127.0.0.1 behind a TLS proxy", file=sys.stderr)  # fmt: skip
    page = start(args.db, _token(args), host, int(port), args.tiles)
    print(f"fleet page on {page.url}/ (log in with the token); Ctrl-C stops", flush=True)
    try:
        while page.thread.is_alive():
            page.thread.join(0.5)
    except KeyboardInterrupt:
        page.stop()
    return 0


def _every(store: FleetStore, device: str | None):
    """Every pulled report (of one device), a page at a time."""
    offset = 0
    while page := store.reports(device, limit=500, offset=offset):
        yield from page
        offset += len(page)


def run_export(args: argparse.Namespace) -> int:
    from gridscout.reports.export import export_row, format_for, write_export

    fmt = format_for(args.file, args.format)
    if fmt == "yolo":
        from gridscout.reports.export import write_yolo, yolo_summary

        with _open(args) as store:
            reviewed = (
                ({**r.report, "device_id": r.device_id}, r.review, store.evidence(r.device_id, r.id))
                for r in _every(store, args.device)
            )
            counts = write_yolo(reviewed, args.file, f"the fleet database {args.db}")
        print(yolo_summary(counts, args.file))
        return 0
    with _open(args) as store:
        rows = (
            (export_row(r.report, r.device_id, r.review, r.review["source"], r.asset, None),
             store.evidence(r.device_id, r.id))
            for r in _every(store, args.device)
        )  # fmt: skip
        written = write_export(rows, args.file, fmt)
    print(f"{written} reports -> {args.file} ({fmt}; evidence in {args.file.stem}_evidence/)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`gridscout-fleet`: the fleet side's own command, for a fleet server without the robot's stack."""
    parser = argparse.ArgumentParser(prog="gridscout-fleet", description="GridScout's fleet side.")
    add_actions(parser.add_subparsers(dest="command", metavar="ACTION", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (OSError, ValueError) as exc:
        print(f"gridscout-fleet {args.command}: error: {exc}", file=sys.stderr)
        return 2
