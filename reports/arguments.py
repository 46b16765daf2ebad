"""The command-line arguments the device's `gridscout reports` and the fleet's `gridscout fleet` share, so a
review or an export is asked for the same way on both sides."""

from __future__ import annotations

import argparse
from pathlib import Path

from gridscout.reports.export import FORMATS
from gridscout.reports.review import NOTE_MAX_CHARS, SEVERITIES, Review


def add_review_arguments(parser: argparse.ArgumentParser, class_help: str) -> None:
    """ID, --confirm|--reject, --severity, --class (`class_help` says which names it takes), --note."""
    parser.add_argument("id", help="report id or an unambiguous prefix of it")
    verdict = parser.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--confirm", dest="state", action="store_const", const="confirmed", help="a real defect")
    verdict.add_argument("--reject", dest="state", action="store_const", const="rejected", help="a false finding")
    parser.add_argument("--severity", choices=SEVERITIES, help="how urgent the repair is")
    parser.add_argument("--class", dest="class_name", metavar="NAME", help=f"what the finding really is: {class_help}")
    parser.add_argument("--note", help=f"free text for the crew (at most {NOTE_MAX_CHARS} characters)")


def review_from(args: argparse.Namespace) -> Review:
    return Review(args.state, args.severity, args.class_name, args.note)


def add_export_arguments(parser: argparse.ArgumentParser, *, file_required: bool = True) -> None:
    """FILE (its suffix names the format) and --format."""
    parser.add_argument(
        "file", type=Path, nargs=None if file_required else "?", metavar="FILE",
        help=f"where to write ({', '.join(s for s in FORMATS.values() if s)}; a new folder for --format yolo)",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=FORMATS,
        help="default: from FILE's suffix; yolo: the reviewed findings as a training source (confirmed ones "
        "labelled, rejected ones as hard negatives) for `python -m gridscout.models.prepare_real --source`",
    )  # fmt: skip
