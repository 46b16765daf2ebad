"""`gridscout batch`: a survey season of photos, videos and recordings into one report store, here or on Ray."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from pathlib import Path

from gridscout.edge.batch import LOCAL_RAY
from gridscout.edge.cli import INTERRUPTED_EXIT
from gridscout.edge.cli.argtypes import positive_int, unit_float
from gridscout.edge.defaults import DEFAULT_MODEL


def ray_address(text: str) -> str:
    """`--ray ADDRESS`: a Ray address, not a SOURCE that followed a bare `--ray`."""
    if Path(text).exists():
        raise argparse.ArgumentTypeError(
            f"{text!r} is a path, not a Ray address: put --ray after the SOURCEs, or write --ray=ADDRESS"
        )
    return text


def _paragraphs(*texts: str) -> str:
    """Wrapped as argparse wraps, kept apart (the epilog's example lines must keep their breaks)."""
    return "\n\n".join(textwrap.fill(text, width=min(shutil.get_terminal_size().columns, 100) - 2) for text in texts)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="inspect a survey season: many folders, videos and recordings, here or on Ray",
        description=_paragraphs(
            "Inspect every photo, video and .mcap recording the SOURCEs name with the same path as `gridscout detect` "
            "(one report per defect per photo; a video's or recording's defects tracked, one report each), placing "
            "each on the map from its own EXIF/XMP pose, into one report store in --out that `gridscout reports`, "
            "`gridscout serve` and the fleet side read as a device's. Runs on a pool of worker processes here (one "
            "model each), or on Ray with --ray.",
            "Re-running the same command resumes: items done before are skipped and no report is doubled. An item "
            "that fails is tried again, then listed; it never stops the batch.",
            "Exit status: 0 all done, 1 some items failed (listed in OUT/batch-failed.txt), 2 bad input, 130 Ctrl-C "
            "(run it again to resume).",
        ),
        epilog=(
            "SOURCE forms: a folder (walked with its subfolders) | photo.jpg | flight.mp4 | run.mcap | list.txt "
            "(one path a line, # comments).\n"
            "Example: gridscout batch survey/2025-06 flights.txt --out season-2025\n"
            "Example: gridscout batch survey/ --out season --ray            (a Ray started on this machine)\n"
            "Example: gridscout batch survey/ --out season --ray auto       (the one `ray start --head` started)\n"
            "Then: gridscout reports --data season list | gridscout serve --data season"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="folders, photos, videos, .mcap recordings, list files")
    p.add_argument("--out", type=Path, required=True, help="the output folder: its reports.db holds the reports")
    p.add_argument(
        "--workers", type=positive_int,
        help="worker processes, one model each (default: the cores; 1 runs in this process; with --ray ADDRESS: as "
        "many as the cluster's CPUs hold)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=positive_int, help="onnxruntime threads per worker (default: the cores shared among them)"
    )
    p.add_argument(
        "--ray", nargs="?", const=LOCAL_RAY, type=ray_address, metavar="ADDRESS",
        help="run on Ray (the [ray] extra): alone, a Ray started for this batch; `auto` or an address joins a running "
        "one (`ray start --head`, a cluster)",
    )  # fmt: skip
    p.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL,
        help="an .onnx model or a cascade .toml manifest (default: shipped)",
    )
    p.add_argument("--config", type=Path, help="a config file: its [geotag], [reporter], [mission], [run] device_id")
    p.add_argument("--mission", type=Path, help="a mission file (GeoJSON): its line height is where defects are placed")
    p.add_argument("--device-id", help="the store's device id, which report ids follow (default: the store's own)")
    p.add_argument("--conf", type=unit_float, help="minimum confidence, overriding the model's (0-1)")
    p.add_argument(
        "--provider", default="cpu", choices=["cpu", "cuda", "tensorrt", "openvino", "auto"],
        help="onnxruntime execution provider (default: cpu)",
    )  # fmt: skip
    p.add_argument("--summary-json", type=Path, help="also write the summary as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gridscout.edge.batch.run import BatchOptions, run_batch
    from gridscout.edge.cli.detect import config_and_mission

    config, mission = config_and_mission(args.config, args.mission)
    summary = run_batch(
        BatchOptions(
            sources=args.sources,
            out=args.out,
            model=args.model,
            geotag=config.geotag.settings(),
            reporter=config.reporter.model_dump(),
            mission=mission,
            workers=args.workers,
            threads=args.threads,
            ray=args.ray,
            device_id=args.device_id or config.run.device_id or None,
            conf=args.conf,
            provider=args.provider,
            max_image_pixels=config.camera.max_image_pixels,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    )
    print(summary.format())
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    if summary.interrupted:
        print(
            f"gridscout batch: interrupted after {summary.done} items; run the same command again to resume",
            file=sys.stderr,
        )
        return INTERRUPTED_EXIT
    if summary.failed:
        print(
            f"gridscout batch: error: {len(summary.failed)} items failed, listed in {summary.failed_list}",
            file=sys.stderr,
        )
        return 1
    return 0
