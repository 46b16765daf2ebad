"""`gridscout fleet pull` (or `gridscout-fleet pull` where only the fleet side is installed): collect
defect reports from devices into one fleet database."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

#: the device's token variable (gridscout.edge.api.token.TOKEN_ENV; tests/test_fleet_wire.py keeps them equal)
TOKEN_ENV = "GRIDSCOUT_API_TOKEN"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """`gridscout fleet ACTION`: the fleet side's actions under the main command."""
    p = sub.add_parser("fleet", help="pull reports from devices", description="Fleet-side tools.")
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
