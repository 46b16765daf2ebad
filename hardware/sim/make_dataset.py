"""Write a YOLO dataset of synthetic inspection photos.

    python -m gridscout.hardware.sim.make_dataset --out DIR --images N --seed S [--imgsz 640x480]
        [--defect-types missing_cap,broken_disc,bird_nest] [--val-images M]

Every image is a fresh random scene (terrain, towers, materials, defects) photographed close up,
like the real CPLID photos; labels are `class cx cy w h` normalised, with class ids 0 insulator,
1 defect (missing cap), then 2 broken_disc and 3 bird_nest when asked for.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from gridscout.hardware.sim.scene.classes import DEFAULT_DEFECT_TYPES, names_for, parse_defect_types
from gridscout.hardware.sim.scene.scene import Scene, SceneParams, TruthBox, render_still


def _imgsz(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be 16..4096")
    return w, h


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must not be negative")
    return n


def _defect_types(text: str) -> tuple[str, ...]:
    try:
        return parse_defect_types(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number 0..1") from None
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number 0..1")
    return x


def yolo_lines(truth: list[TruthBox], width: int, height: int) -> list[str]:
    """Truth boxes as YOLO label lines (`class cx cy w h`, normalised)."""
    out = []
    for b in truth:
        x1, y1, x2, y2 = b.box
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        out.append(f"{b.class_id} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return out


def image_seed(seed: int, index: int) -> int:
    """The scene seed of image `index` in a dataset made with `seed`."""
    return int(np.random.SeedSequence([seed, index, 7]).generate_state(1, np.uint64)[0] >> 1)


FRAMES_PER_FLIGHT = 30  # frames taken from one flight before a new scene is built
FLIGHT_STRIDE = 9  # frames between two taken from a flight (0.9 s at 10 fps)


class FlightFrames:
    """Frames of drone or crawler flights: image i is frame (i % 30) * 9 of flight i // 30."""

    def __init__(self, mode: str, seed: int, size: tuple[int, int], defect_types: tuple[str, ...], rate: float) -> None:
        self.mode, self.seed, self.size, self.defect_types, self.rate = mode, seed, size, defect_types, rate
        self._scene: tuple[int, Scene] | None = None

    def render(self, index: int) -> tuple[np.ndarray, list[TruthBox]]:
        flight = index // FRAMES_PER_FLIGHT
        if self._scene is None or self._scene[0] != flight:
            params = SceneParams(
                mode=self.mode,
                seed=image_seed(self.seed, flight),
                width=self.size[0],
                height=self.size[1],
                frames=FRAMES_PER_FLIGHT * FLIGHT_STRIDE,
                defect_types=self.defect_types,
                defect_rate=self.rate,
            )
            self._scene = (flight, Scene(params))
        return self._scene[1].render_with_truth((index % FRAMES_PER_FLIGHT) * FLIGHT_STRIDE)


def write_dataset(
    out: Path,
    images: int,
    seed: int = 0,
    imgsz: tuple[int, int] = (640, 480),
    defect_types: tuple[str, ...] = DEFAULT_DEFECT_TYPES,
    defect_rate: float = 0.5,
    val_images: int = 0,
    progress: bool = True,
    mode: str = "still",
) -> Path:
    """Render the dataset into `out`; returns the path of its data.yaml.

    `mode` "still" makes every image a fresh close-up scene; "drone" or "crawler" take frames
    from flights along a line, as the camera sees them in motion.
    """
    w, h = imgsz
    flights = FlightFrames(mode, seed, imgsz, defect_types, defect_rate) if mode != "still" else None
    names = names_for(defect_types)
    splits = [("train", images, 0), ("val", val_images, images)]
    total = images + val_images
    t0 = time.perf_counter()
    done = 0
    for split, count, first in splits:
        if count == 0:
            continue
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            idx = first + k
            s = image_seed(seed, idx)
            img, truth = flights.render(idx) if flights else render_still(s, w, h, defect_types, defect_rate)
            quality = 72 + s % 24  # JPEG softness varies like real uploads
            stem = f"syn_{seed}_{idx:06d}"
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for {stem}")
            (out / "images" / split / f"{stem}.jpg").write_bytes(buf.tobytes())
            lines = yolo_lines(truth, w, h)
            (out / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            done += 1
            if progress and (done % 5 == 0 or done == total):
                rate = done / max(time.perf_counter() - t0, 1e-9)
                eta = (total - done) / rate
                count = f"{done:>{len(str(total))}}/{total}"
                msg = f"\r[{count}] {100 * done / total:5.1f}%  {rate:4.1f} img/s  eta {eta:4.0f} s"
                print(msg, end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    val = "images/val" if val_images else "images/train"
    yaml = out / "data.yaml"
    name_lines = "".join(f"  {i}: {n}\n" for i, n in enumerate(names))
    yaml.write_text(
        f"# GridScout synthetic insulator photos ({mode}): seed {seed}, {total} images {w}x{h}, "
        f"defect types {','.join(defect_types)}\n"
        f"train: images/train\nval: {val}\nnc: {len(names)}\nnames:\n{name_lines}"
    )
    return yaml


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m gridscout.hardware.sim.make_dataset",
        description="Write a YOLO dataset (images/, labels/, data.yaml) of synthetic insulator photos.",
        epilog="Class ids: 0 insulator, 1 missing_cap; broken_disc is 2 and bird_nest 3, "
        "labelled (and drawn) only when listed in --defect-types.",
    )
    ap.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    ap.add_argument("--images", type=_count, required=True, help="number of training images")
    ap.add_argument("--seed", type=_count, default=0, help="dataset seed; same seed, same images (default: 0)")
    ap.add_argument("--imgsz", type=_imgsz, default=(640, 480), help="WIDTHxHEIGHT (default: 640x480)")
    ap.add_argument(
        "--defect-types",
        type=_defect_types,
        default=DEFAULT_DEFECT_TYPES,
        help="comma list of missing_cap, broken_disc, bird_nest (default: missing_cap)",
    )
    ap.add_argument(
        "--defect-rate",
        type=_rate,
        default=0.5,
        help="chance that the photographed string has a missing cap; other strings get 0.3x (default: 0.5)",
    )
    ap.add_argument(
        "--val-images", type=_count, default=0, help="extra images for a val split (default: 0, val = train)"
    )
    ap.add_argument(
        "--mode",
        choices=["still", "drone", "crawler"],
        default="still",
        help="still: a new close-up scene per image; drone/crawler: frames along flights (default: still)",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    args = ap.parse_args(argv)
    if args.images == 0:
        ap.error("--images must be at least 1")
    if args.out.exists() and not args.out.is_dir():
        ap.error(f"--out {args.out}: exists and is not a folder")
    yaml = write_dataset(
        args.out,
        args.images,
        args.seed,
        args.imgsz,
        args.defect_types,
        args.defect_rate,
        args.val_images,
        not args.quiet,
        args.mode,
    )
    print(f"wrote {args.images + args.val_images} images to {args.out} ({yaml.name})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
