"""`gridscout serve`: the fleet API over a data directory's reports, without the detection chain."""

from __future__ import annotations

import argparse
from pathlib import Path

from gridscout.edge.cli.argtypes import parse_host_port
from gridscout.edge.defaults import API_HOST, API_PORT, DATA_DIR

DEFAULT_API = f"{API_HOST}:{API_PORT}"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve stored defect reports to the fleet over HTTP",
        description=(
            "Serve the fleet API (GET /v1/reports?since=SEQ, evidence JPEGs, reviews) and the review page (/) over "
            "the reports in a data directory, e.g. on a docked robot. Reads need a bearer token: --token, else "
            "$GRIDSCOUT_API_TOKEN, else DATA/api_token (generated and printed once if absent)."
        ),
        epilog="Example: gridscout serve --data /var/lib/gridscout --api 0.0.0.0:8470",
    )
    p.add_argument("--data", type=Path, default=DATA_DIR, help=f"data directory (default: ./{DATA_DIR})")
    p.add_argument(
        "--api",
        type=parse_host_port,
        default=parse_host_port(DEFAULT_API),
        metavar="HOST:PORT",
        help=f"address to listen on (default: {DEFAULT_API}, loopback only; port 0 = any free port)",
    )
    p.add_argument("--token", help="API token (default: $GRIDSCOUT_API_TOKEN, else DATA/api_token)")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate (with --tls-key)")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    p.add_argument(
        "--tiles", default="", metavar="MBTILES|URL",
        help="a base map for the review page: an .mbtiles file or a tile URL template on your network "
        "(default: none; nothing is fetched from the internet)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gridscout.edge.api.server import Tls, serve_announced
    from gridscout.edge.reports.store import ReportStore, StoreNotFoundError
    from gridscout.edge.runtime.private import keep_private
    from gridscout.reports.web.routes import PageExtras
    from gridscout.reports.web.tiles import open_tiles

    if not ReportStore.exists(args.data):
        raise StoreNotFoundError(f"no report store in {args.data} (expected {args.data / 'reports.db'})")
    keep_private(args.data)
    host, port = args.api
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
    tls = Tls(args.tls_cert, args.tls_key) if args.tls_cert else None
    page = PageExtras(tiles=open_tiles(args.tiles))
    serve_announced(args.data, host, port, args.token, out=lambda line: print(line, flush=True), tls=tls, page=page)
    return 0
