"""Write the bundled demo footage: `python -m gridscout.hardware.sim.make_demo`.

Renders `synthetic://demo` to hardware/sim/assets/demo.mp4 (mp4v) and its ground truth to
demo.truth.jsonl, one line per frame: {"frame": i, "boxes": [{"class": "missing_cap", "box": [x1, y1, x2, y2]}]},
and writes demo.mission.geojson, the mission of the line it flies (`flight_mission`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

from gridscout.hardware.camera.base import SourceError
from gridscout.hardware.sim.flight_mission import write_flight_mission
from gridscout.hardware.sim.synthetic_source import SyntheticSource

ASSETS = Path(__file__).resolve().parent / "assets"
DEMO_URI = "synthetic://demo"


def write_demo(uri: str = DEMO_URI, out_dir: Path = ASSETS, stem: str = "demo") -> tuple[Path, Path]:
    """Render `uri` to `<out_dir>/<stem>.mp4` and `<stem>.truth.jsonl`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    src = SyntheticSource(uri)
    video, truth = out_dir / f"{stem}.mp4", out_dir / f"{stem}.truth.jsonl"
    p = src.params
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), float(p.fps), (p.width, p.height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a mp4v writer for {video}")
    t0 = time.perf_counter()
    try:
        with truth.open("w") as fh:
            for frame in src:
                writer.write(frame.image)
                boxes = [
                    {"class": b.class_name, "box": [round(v, 1) for v in b.box]} for b in src.truth(frame.frame_id)
                ]
                fh.write(json.dumps({"frame": frame.frame_id, "boxes": boxes}) + "\n")
                n = frame.frame_id + 1
                if n % 20 == 0 or n == src.frame_count:
                    print(f"\r{src.name}: {n}/{src.frame_count} frames", end="", file=sys.stderr, flush=True)
    finally:
        writer.release()
    mission = write_flight_mission(src.scene, out_dir / f"{stem}.mission.geojson")
    dt = time.perf_counter() - t0
    print(
        f"\nwrote {video} ({video.stat().st_size / 1e6:.1f} MB), {truth} and {mission} in {dt:.1f} s", file=sys.stderr
    )
    return video, truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m gridscout.hardware.sim.make_demo", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--uri", default=DEMO_URI, help="synthetic:// URI to render (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=ASSETS, help="output folder (default: hardware/sim/assets)")
    ap.add_argument("--stem", default="demo", help="file name stem (default: %(default)s)")
    args = ap.parse_args(argv)
    try:
        write_demo(args.uri, args.out, args.stem)
    except SourceError as exc:
        ap.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
