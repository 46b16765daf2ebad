"""Paste real disc-level defects onto other real strings of the same source: more stage-two examples of rare classes.

IDID boxes 134 broken discs and 267 flashover marks in its training photos, and almost every one of its
strings holds one of the two. `paste_defect` cuts a labelled defect with a ring of its surroundings (its shed
and the discs beside it), scales it by the ratio of the two strings' short sides (a disc's size follows its
string's width), and blends it onto another string, never onto a defect already there. Where on the string:
a string standing clearly upright or lying flat runs along its box's long axis; a slanting one runs along
the box diagonal that passes nearest its own labelled defects; one with neither keeps the patch at the share
of the box it had on its own string. A patch stays in its source, and of a few drawn at random the one whose
string's colour is nearest the target's is pasted (`pick_patch`): a brown porcelain shed on a white string
would teach a look no camera sees.

Used by `models.prepare_real --paste-defects N`; nothing here is written into the repository.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gridscout.models.paste import feather
from gridscout.models.sources import Source
from gridscout.models.yolo_labels import centre_inside
from gridscout.perception.taxonomy import INSULATOR, stage_of

#: surroundings cut with a defect, as a share of its box on each side (blended away towards the edge)
CONTEXT = 0.3
#: a patch's scale: the ratio of the strings' short sides, kept within this range
SCALE_RANGE = (0.6, 1.6)
#: how far along the string's long axis a patch may move from where it sat, as a share of the string
SLIDE = 0.25
TRIES = 10
#: a string whose box is this much longer than wide runs along the box's long axis; below it, a diagonal
UPRIGHT = 2.5
#: patches drawn to choose the nearest in colour from, and the farthest a chosen one's string may be (Lab units)
CANDIDATES = 32
MAX_COLOUR_DISTANCE = 30.0


@dataclass(frozen=True)
class DefectPatch:
    """One labelled defect and the string it sits on, in its photo."""

    source: str
    image: Path
    name: str  # taxonomy class
    box: np.ndarray  # xyxy
    string: np.ndarray  # xyxy
    colour: np.ndarray  # mean Lab colour of the string's box


def string_colour(photo: np.ndarray, string: np.ndarray) -> np.ndarray:
    """The mean Lab colour of the middle of a string's box (its sheds, mostly)."""
    x1, y1, x2, y2 = string
    w, h = x2 - x1, y2 - y1
    middle = photo[int(y1 + h / 4) : int(np.ceil(y2 - h / 4)), int(x1 + w / 4) : int(np.ceil(x2 - w / 4))]
    return cv2.cvtColor(middle.reshape(1, -1, 3), cv2.COLOR_BGR2LAB).reshape(-1, 3).mean(axis=0)


def pick_patch(patches: list[DefectPatch], colour: np.ndarray, rng: random.Random) -> DefectPatch | None:
    """Of CANDIDATES patches drawn at random, the one whose string is nearest `colour`; None when even that one
    is further than MAX_COLOUR_DISTANCE."""
    drawn = [rng.choice(patches) for _ in range(CANDIDATES)]
    best = min(drawn, key=lambda p: float(np.linalg.norm(p.colour - colour)))
    return best if np.linalg.norm(best.colour - colour) <= MAX_COLOUR_DISTANCE else None


def defect_patches(source: Source, split: str) -> list[DefectPatch]:
    """Every disc-level defect of a source's split that sits on a labelled string."""
    out = []
    for image in source.images(split):
        photo = cv2.imread(str(image), cv2.IMREAD_COLOR)
        height, width = photo.shape[:2]
        truth = source.truth(image, split, width, height)
        strings = [b for n, b in truth if n == INSULATOR]
        for name, box in truth:
            if stage_of(name) == 2:
                string = next((s for s in strings if centre_inside(box, s)), None)
                if string is not None:
                    out.append(DefectPatch(source.name, image, name, box, string, string_colour(photo, string)))
    return out


def paste_defect(
    photo: np.ndarray, string: np.ndarray, taken: list[np.ndarray], patch: DefectPatch, rng: random.Random
) -> np.ndarray | None:
    """Blend `patch` onto `string` of `photo` (in place), clear of the boxes in `taken`; returns its new xyxy
    box, or None where no free place on the string was found."""
    height, width = photo.shape[:2]
    short = min(string[2] - string[0], string[3] - string[1])
    scale = float(np.clip(short / min(patch.string[2] - patch.string[0], patch.string[3] - patch.string[1]),
                          *SCALE_RANGE))  # fmt: skip
    size = (patch.box[2:] - patch.box[:2]) * scale
    for _ in range(TRIES):
        centre = _place(string, taken, patch, rng)
        box = np.concatenate([centre - size / 2, centre + size / 2])
        if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
            continue
        if any(box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken):
            continue
        if _blend(photo, box, patch, scale, rng.random() < 0.5):
            return box
    return None


def _place(string: np.ndarray, taken: list[np.ndarray], patch: DefectPatch, rng: random.Random) -> np.ndarray:
    """A point on `string` for a patch's centre (the module's docstring says how)."""
    start, extent = string[:2], string[2:] - string[:2]
    share = ((patch.box[:2] + patch.box[2:]) / 2 - patch.string[:2]) / (patch.string[2:] - patch.string[:2])
    long_axis = int(extent[1] >= extent[0])  # 1: taller than wide
    if max(extent) >= UPRIGHT * min(extent):
        share[long_axis] = np.clip(share[long_axis] + rng.uniform(-SLIDE, SLIDE), 0.05, 0.95)
        return start + share * extent
    on = [(t[:2] + t[2:]) / 2 for t in taken if centre_inside(t, string)]
    if not on:
        return start + share * extent
    # the diagonal from top left to bottom right (u = v), or the other one (u = 1 - v), nearest the defects
    shares = [(c - start) / extent for c in on]
    falling = sum(abs(u - v) for u, v in shares) <= sum(abs(u + v - 1) for u, v in shares)
    t = rng.uniform(0.05, 0.95)
    return start + np.array([t, t if falling else 1 - t]) * extent


def _blend(photo: np.ndarray, box: np.ndarray, patch: DefectPatch, scale: float, mirror: bool) -> bool:
    source = cv2.imread(str(patch.image), cv2.IMREAD_COLOR)
    sh, sw = source.shape[:2]
    ring = (patch.box[2:] - patch.box[:2]) * CONTEXT
    x1, y1 = np.maximum(0, np.floor(patch.box[:2] - ring)).astype(int)
    x2, y2 = np.minimum((sw, sh), np.ceil(patch.box[2:] + ring)).astype(int)
    piece = cv2.resize(source[y1:y2, x1:x2], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if mirror:
        piece = np.ascontiguousarray(piece[:, ::-1])
    # where the defect sits in the piece, then where the piece goes so that the defect lands on `box`
    left = (patch.box[0] - x1) * scale if not mirror else (x2 - patch.box[2]) * scale
    top = (patch.box[1] - y1) * scale
    ox, oy = round(box[0] - left), round(box[1] - top)
    h, w = piece.shape[:2]
    if ox < 0 or oy < 0 or ox + w > photo.shape[1] or oy + h > photo.shape[0] or min(h, w) < 2:
        return False
    alpha = feather(h, w)
    region = photo[oy : oy + h, ox : ox + w].astype(np.float32)
    photo[oy : oy + h, ox : ox + w] = (alpha * piece + (1 - alpha) * region).astype(np.uint8)
    return True
