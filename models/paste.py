"""Paste real insulator strings, scaled down, onto real backgrounds: large frames in which strings are small.

A CPLID photo fills its 640x480 frame with a string (median long side about 400 px, 60% of the width);
a survey photo of a whole tower shows each string at 5-15% of a 4000 px frame. `paste_strings` cuts a
string with some of its own surroundings out of a CPLID image, scales it so that it takes 1/8 to 1/4 of
the share of the frame it had in CPLID (at 4000 px: 310 to 620 px long, its missing caps 20 to 40 px),
and blends it into a background upscaled to the target size, with a feathered edge. Labels follow.

Used twice, never mixing the two: CPLID val strings on the held-out negatives make the large-frame
proxies of `models.evaluate`; CPLID train strings on the training negatives make stage one's training
frames (`models.prepare_data`). Nothing here is written into the repository.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gridscout.models.sources import Source
from gridscout.models.yolo_labels import centre_inside, read_yolo_labels, to_xyxy
from gridscout.perception.taxonomy import INSULATOR as INSULATOR_NAME
from gridscout.perception.taxonomy import stage_of

INSULATOR, MISSING_CAP = 0, 1
#: a pasted string takes this range of its CPLID share of the frame
SCALE_RANGE = (1 / 8, 1 / 4)
#: context cut around each string, as a share of its box
CONTEXT = 0.15


@dataclass(frozen=True)
class Cutout:
    """One string from a labelled photo: where it is, and its missing caps."""

    image: Path
    label: Path
    box: np.ndarray  # the insulator, xyxy in the photo
    defects: np.ndarray  # (N, 4) xyxy in the photo, inside the string


def cutouts(root: Path, split: str) -> list[Cutout]:
    """Every insulator string of a YOLO-layout split (CPLID: class 0 insulator, 1 missing cap), in file order."""
    out = []
    for image in sorted((root / "images" / split).glob("*.jpg")):
        label = root / "labels" / split / f"{image.stem}.txt"
        rows = read_yolo_labels(label)
        if not len(rows):
            continue
        w, h = _size(image)
        boxes = to_xyxy(rows, w, h)
        caps = boxes[rows[:, 0] == MISSING_CAP]
        for box in boxes[rows[:, 0] == INSULATOR]:
            inside = [centre_inside(c, box) for c in caps]
            out.append(Cutout(image, label, box, caps[inside]))
    return out


def source_cutouts(source: Source, split: str) -> list[Cutout]:
    """Every insulator string of a source's split, with the disc-level defects inside it (any class)."""
    out = []
    for image in source.images(split):
        w, h = _size(image)
        truth = source.truth(image, split, w, h)
        defects = np.array([b for n, b in truth if stage_of(n) == 2], np.float64).reshape(-1, 4)
        for name, box in truth:
            if name == INSULATOR_NAME:
                inside = [centre_inside(d, box) for d in defects]
                out.append(Cutout(image, source.root / "labels" / split / f"{image.stem}.txt", box, defects[inside]))
    return out


_SIZES: dict[Path, tuple[int, int]] = {}


def _size(path: Path) -> tuple[int, int]:
    if path not in _SIZES:
        h, w = cv2.imread(str(path)).shape[:2]
        _SIZES[path] = (w, h)
    return _SIZES[path]


def background(path: Path, width: int, height: int, rng: random.Random) -> np.ndarray:
    """A real photo scaled to cover `width` x `height` and cropped there (a random window, maybe mirrored)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    scale = max(width / w, height / h) * rng.uniform(1.0, 1.3)
    image = cv2.resize(image, (max(width, round(w * scale)), max(height, round(h * scale))), cv2.INTER_CUBIC)
    y = rng.randint(0, image.shape[0] - height)
    x = rng.randint(0, image.shape[1] - width)
    image = image[y : y + height, x : x + width]
    return np.ascontiguousarray(image[:, ::-1] if rng.random() < 0.5 else image)


def paste_strings(
    canvas: np.ndarray,
    strings: list[Cutout],
    rng: random.Random,
    long_side: tuple[float, float] | None = None,
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """Blend `strings` into `canvas` (in place), each at a random scale and a free spot: SCALE_RANGE of the
    share of the frame it had in its photo, or, given `long_side`, a string whose long side is that share
    of the canvas's long side. Returns the canvas and its labels: (class id, xyxy box) for each string and
    each of its defects."""
    height, width = canvas.shape[:2]
    taken: list[np.ndarray] = []
    labels: list[tuple[int, np.ndarray]] = []
    for cut in strings:
        photo = cv2.imread(str(cut.image), cv2.IMREAD_COLOR)
        ph, pw = photo.shape[:2]
        bw, bh = cut.box[2] - cut.box[0], cut.box[3] - cut.box[1]
        x1 = int(max(0, cut.box[0] - CONTEXT * bw))
        y1 = int(max(0, cut.box[1] - CONTEXT * bh))
        x2 = int(min(pw, cut.box[2] + CONTEXT * bw))
        y2 = int(min(ph, cut.box[3] + CONTEXT * bh))
        if long_side is None:
            scale = rng.uniform(*SCALE_RANGE) * width / pw
        else:
            scale = rng.uniform(*long_side) * max(width, height) / max(bw, bh)
        piece = cv2.resize(photo[y1:y2, x1:x2], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = piece.shape[:2]
        if h >= height or w >= width:
            continue
        spot = _free_spot(rng, width, height, w, h, taken)
        if spot is None:
            continue
        ox, oy = spot
        taken.append(np.array([ox, oy, ox + w, oy + h]))
        alpha = feather(h, w)
        region = canvas[oy : oy + h, ox : ox + w].astype(np.float32)
        canvas[oy : oy + h, ox : ox + w] = (alpha * piece + (1 - alpha) * region).astype(np.uint8)
        shift = np.array([x1, y1, x1, y1], np.float64)
        offset = np.array([ox, oy, ox, oy], np.float64)
        labels.append((INSULATOR, (cut.box - shift) * scale + offset))
        labels.extend((MISSING_CAP, (d - shift) * scale + offset) for d in cut.defects)
    return canvas, labels


def _free_spot(
    rng: random.Random, width: int, height: int, w: int, h: int, taken: list[np.ndarray]
) -> tuple[int, int] | None:
    for _ in range(50):
        ox, oy = rng.randint(0, width - w), rng.randint(0, height - h)
        box = np.array([ox, oy, ox + w, oy + h])
        if all(box[2] <= t[0] or box[0] >= t[2] or box[3] <= t[1] or box[1] >= t[3] for t in taken):
            return ox, oy
    return None


def feather(h: int, w: int) -> np.ndarray:
    """An alpha mask, 1 inside and falling to 0 at the edges over 8% of the short side."""
    edge = max(2, round(0.08 * min(h, w)))
    ramp_y = np.clip(np.minimum(np.arange(h), np.arange(h)[::-1]) / edge, 0, 1)
    ramp_x = np.clip(np.minimum(np.arange(w), np.arange(w)[::-1]) / edge, 0, 1)
    return np.minimum.outer(ramp_y, ramp_x)[:, :, None].astype(np.float32)
