"""`gridscout detect`: find defects in footage and write annotated output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gridscout.edge.cli import INTERRUPTED_EXIT
from gridscout.edge.cli.argtypes import positive_int, unit_float
from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE

if TYPE_CHECKING:
    from gridscout.control.mission import Mission
    from gridscout.edge.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="find grid defects in footage",
        description=(
            "Detect insulators and defects in a video file, a folder of images, a camera, a stream or a "
            "synthetic scene; track them; place them on the map where the frames carry a camera pose "
            "(geotagged photos' EXIF/XMP, synthetic flights); write an annotated video, JSON lines and "
            "reports; print a summary. With no SOURCE it runs on the bundled demo footage."
        ),
        epilog=(
            "SOURCE forms: video.mp4 | images/ | 0 or /dev/video0 | rtsp://host/stream | "
            "synthetic://demo | synthetic://drone?seed=3&frames=300.\n"
            "Example: gridscout detect flight.mp4 --out annotated.mp4 --jsonl detections.jsonl\n"
            "Example: gridscout detect survey/ --data survey-data && "
            "gridscout reports --data survey-data export --geojson defects.geojson"
        ),
    )
    p.add_argument("source", nargs="?", default=None, help="what to look at (default: the bundled demo footage)")
    p.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL,
        help="an .onnx model or a cascade .toml manifest (default: the shipped cascade, models/MODEL_CARD.md)",
    )
    p.add_argument(
        "--out", type=Path,
        help="write the annotated video here (.mp4, .mov, .avi, .mkv; frames of other sizes letterboxed), or, for a "
        "name without a suffix, a folder of annotated images named after their photos",
    )  # fmt: skip
    p.add_argument("--jsonl", type=Path, help="write one JSON line per frame here")
    p.add_argument(
        "--data",
        type=Path,
        help="also store the defects as reports in this data directory (one per tracked defect; for a folder of "
        "photos, one per defect per photo), for gridscout reports and the fleet API",
    )
    p.add_argument(
        "--config", type=Path, help="a config file: its [geotag] camera and error budget, [reporter] and [mission]"
    )
    p.add_argument("--mission", type=Path, help="a mission file (GeoJSON): its line height is where defects are placed")
    p.add_argument("--summary-json", type=Path, help="also write the summary as JSON here")
    p.add_argument("--conf", type=unit_float, help="minimum confidence, overriding the model's (0-1)")
    p.add_argument("--threads", type=positive_int, help="onnxruntime threads (default: all cores)")
    p.add_argument(
        "--provider",
        default="cpu",
        choices=["cpu", "cuda", "tensorrt", "openvino", "auto"],
        help="onnxruntime execution provider (default: cpu)",
    )
    p.add_argument("--realtime", action="store_true", help="pace file sources at their recorded frame rate")
    p.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gridscout.edge.offline.detect import DetectOptions, run_detect

    source = args.source or str(DEMO_FOOTAGE)
    config, mission = config_and_mission(args.config, args.mission)
    summary = run_detect(
        DetectOptions(
            source=source,
            model=args.model,
            out=args.out,
            jsonl=args.jsonl,
            conf=args.conf,
            threads=args.threads,
            provider=args.provider,
            realtime=args.realtime,
            progress=not args.no_progress and sys.stderr.isatty(),
            max_frames=args.max_frames,
            data=args.data,
            geotag=config.geotag.settings(),
            reporter=config.reporter.model_dump(),
            mission=mission,
            max_image_pixels=config.camera.max_image_pixels,
        )
    )
    print(summary.format())
    for label, path in (("video", args.out), ("jsonl", args.jsonl)):
        if path:
            print(f"{label:<8} {path}")
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    if summary.shortfall:  # what could be read was; the rest is lost, and that is not a success
        print(f"gridscout detect: error: {summary.shortfall}", file=sys.stderr)
        return 1
    if summary.interrupted:
        print(f"gridscout detect: interrupted after {summary.frames} frames", file=sys.stderr)
        return INTERRUPTED_EXIT
    return 0


def config_and_mission(config_file: Path | None, mission_file: Path | None) -> tuple[Config, Mission | None]:
    """The config (`--config`, else the defaults) and the mission (`--mission`, else `[mission] file`), with the
    mission's camera in `[geotag]` where the config leaves it unset."""
    from gridscout.edge.config import load_config

    config = load_config(config_file)
    mission_file = mission_file or _configured_mission(config)
    if not mission_file:
        return config, None
    from gridscout.control.mission import load_mission
    from gridscout.edge.config import with_mission_camera

    mission = load_mission(mission_file)
    return with_mission_camera(config, mission_file=mission_file), mission


def _configured_mission(config: Config) -> str | None:
    """`[mission] file`, when the config sets it."""
    return str(config.mission.file) if config.mission.file else None
