"""Missing-cap recall and false boxes on the project's own rendered footage, at the shipped confidence or others.

    python -m gridscout.models.rendered_recall                       # the shipped model, at its own threshold
    python -m gridscout.models.rendered_recall --conf 0.2 0.3 0.4    # what each confidence would give
    python -m gridscout.models.rendered_recall --model M.toml --sets flights

Two sets, both rendered by `gridscout.hardware.sim` with their truth: the bundled demo footage (`gridscout run`'s
default: every frame as the mp4 decodes), and four flights no model or threshold was chosen on (every other frame
of each, pooled: one flight alone is too few caps to judge a model by). A true cap is found when a kept box
overlaps it at IoU >= 0.5 (`metrics.MATCH_IOU`); a kept box overlapping no true cap that much is false.
`tests/test_shipped_model.py` holds the shipped model to floors on these same figures; the model card quotes them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE
from gridscout.hardware.camera import open_source
from gridscout.models.metrics import found_and_false
from gridscout.perception.cascade import Cascade
from gridscout.perception.model_loader import load_model
from gridscout.perception.taxonomy import MISSING_CAP

#: rendered flights nobody tuned anything on (the demo is seed 42), and the frame stride taken from each
UNSEEN_FLIGHTS = (
    "synthetic://drone?seed=1&frames=150&defect_rate=0.5",
    "synthetic://drone?seed=3&frames=150&defect_rate=0.5",
    "synthetic://drone?seed=7&frames=150&defect_rate=0.5",
    "synthetic://drone?seed=11&frames=120",
)
FRAME_STRIDE = 2
SETS = ("demo", "flights")


@dataclass(frozen=True)
class FrameCaps:
    """One frame's missing-cap boxes found (with scores) and its true ones."""

    boxes: np.ndarray
    scores: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class CapFigures:
    recall: float
    caps: int
    false_per_100_frames: float
    frames: int


def cap_threshold(model: Cascade) -> float:
    """The missing-cap confidence the manifest reports at (its own class_conf, else stage two's conf)."""
    return model.stage2.class_conf.get(MISSING_CAP, model.stage2.conf)


def _demo_frames() -> Iterator[tuple[np.ndarray, list]]:
    truth = [json.loads(line) for line in DEMO_FOOTAGE.with_suffix(".truth.jsonl").read_text().splitlines()]
    with open_source(DEMO_FOOTAGE) as source:
        for frame in source:
            yield frame.image, [b["box"] for b in truth[frame.frame_id]["boxes"] if b["class"] == MISSING_CAP]


def _flight_frames() -> Iterator[tuple[np.ndarray, list]]:
    for uri in UNSEEN_FLIGHTS:
        with open_source(uri) as source:
            for frame in source:
                if frame.frame_id % FRAME_STRIDE == 0:
                    yield frame.image, [t.box for t in source.truth(frame.frame_id) if t.class_name == MISSING_CAP]


FRAMES = {"demo": _demo_frames, "flights": _flight_frames}


def detect_caps(model: Cascade, which: str, floor: float) -> list[FrameCaps]:
    """Every frame of set `which`, stage two keeping missing caps down to `floor` (the lowest confidence asked)."""
    saved = model.stage2.class_conf.get(MISSING_CAP)
    model.stage2.class_conf[MISSING_CAP] = floor
    cap_id = model.names.index(MISSING_CAP)
    try:
        out = []
        for image, truth in FRAMES[which]():
            dets = model.detect(image)
            keep = dets.class_ids == cap_id
            out.append(FrameCaps(dets.boxes[keep], dets.scores[keep], np.asarray(truth, np.float32).reshape(-1, 4)))
        return out
    finally:
        if saved is None:
            model.stage2.class_conf.pop(MISSING_CAP, None)
        else:
            model.stage2.class_conf[MISSING_CAP] = saved


def cap_figures(frames: list[FrameCaps], conf: float) -> CapFigures:
    found = caps = false = 0
    for f in frames:
        found_caps, false_boxes = found_and_false(f.truth, f.boxes[f.scores >= conf])
        caps += len(f.truth)
        found += int(found_caps.sum())
        false += int(false_boxes.sum())
    return CapFigures(found / caps if caps else float("nan"), caps, 100 * false / max(1, len(frames)), len(frames))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="a cascade .toml manifest")
    parser.add_argument("--conf", type=float, nargs="*", help="missing-cap confidences (default: the manifest's)")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS)
    args = parser.parse_args(argv)
    model = load_model(args.model, threads=2)
    if not isinstance(model, Cascade) or MISSING_CAP not in model.names:
        parser.error(f"{args.model}: not a cascade with a {MISSING_CAP} class")
    confs = args.conf or [cap_threshold(model)]
    for which in args.sets:
        frames = detect_caps(model, which, min(confs))
        for conf in confs:
            f = cap_figures(frames, conf)
            print(f"{which:<8} conf {conf:<5g} missing-cap recall {f.recall:.3f} of {f.caps}, "
                  f"{f.false_per_100_frames:.1f} false boxes per 100 frames ({f.frames} frames)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
