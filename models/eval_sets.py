"""The data sets `models.evaluate` measures on, each a list of samples (an image and its truth).

- CPLID val, as shipped (640x480 photos).
- The real negatives (no insulator in view), split in two folds by file order: stage one and stage two
  may train on fold 0 (`TRAIN_FOLD`); false defects are counted on fold 1 only, which no training saw,
  in `VIEWS` views each (as is, mirrored, enlarged and reduced), so that one photo is more than one frame.
- The sources' val photos whose strings carry no labelled defect (healthy strings in view: where a false defect
  comes from on a line); `LABEL_ERRATA` lists those whose labels are known to be wrong there.
- Large-frame proxies, 4000x2250: CPLID *val* strings pasted at 1/8 to 1/4 of their CPLID share of the
  frame into the held-out negatives (`models.paste`), every val string once; and synthetic 4K survey-style
  photos of lattice towers (`synthetic://still` at 4000x2250), rendered once and cached under build/.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gridscout.models.paste import INSULATOR, MISSING_CAP, background, cutouts, paste_strings
from gridscout.models.sources import REPO, Source
from gridscout.models.yolo_labels import read_yolo_labels, to_xyxy

CACHE = REPO / "build" / "eval_cache"
NAMES = {INSULATOR: "insulator", MISSING_CAP: "missing_cap"}
TRAIN_FOLD, EVAL_FOLD, FOLDS = 0, 1, 2
#: views of each held-out negative: (name, mirrored, scale)
VIEWS = (("as-is", False, 1.0), ("mirrored", True, 1.0), ("x1.5", False, 1.5), ("x0.75", True, 0.75))
PROXY_SIZE = (4000, 2250)
STRINGS_PER_PROXY = 5
#: val photos filed as defect-free that are not, each seen by eye: left out of the defect-free frames (their boxes
#: still count toward AP as labelled). Photo name -> what is wrong.
LABEL_ERRATA = {
    "cplid/normal_0778": "filed among CPLID's defect-free photos, but a disc is missing from its upper string, "
    "ringed in red in the photo itself",
}
SYNTHETIC_4K = "synthetic://still?seed={seed}&frames={n}&width=4000&height=2250&defect_rate=0.6"


@dataclass(frozen=True)
class Sample:
    """One image to detect on: `load()` gives it (BGR), `truth` its boxes as (class name, xyxy)."""

    name: str
    load: Callable[[], np.ndarray]
    truth: tuple[tuple[str, tuple[float, float, float, float]], ...]

    def boxes(self, name: str) -> np.ndarray:
        return np.array([b for n, b in self.truth if n == name], np.float64).reshape(-1, 4)


def cplid(root: Path, split: str) -> list[Sample]:
    images = sorted((root / "images" / split).glob("*.jpg"))
    if not images:
        raise SystemExit(f"{root / 'images' / split}: no images found (expected a YOLO layout)")
    samples = []
    for path in images:
        rows = read_yolo_labels(root / "labels" / split / f"{path.stem}.txt")
        boxes = to_xyxy(rows, 640, 480) if len(rows) else np.zeros((0, 4))
        truth = tuple((NAMES[int(c)], tuple(map(float, b))) for c, b in zip(rows[:, 0], boxes, strict=True))
        samples.append(Sample(path.stem, lambda p=path: cv2.imread(str(p), cv2.IMREAD_COLOR), truth))
    return samples


def negative_paths(root: Path, fold: int | None = None) -> list[Path]:
    """The negatives in file order; with `fold`, only that fold's (every FOLDS-th, from `fold`)."""
    paths = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    return paths if fold is None else paths[fold::FOLDS]


def negative_views(root: Path, fold: int = EVAL_FOLD) -> list[Sample]:
    def view(path: Path, mirrored: bool, scale: float) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if scale != 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        return np.ascontiguousarray(image[:, ::-1]) if mirrored else image

    return [
        Sample(f"{p.stem}/{name}", lambda p=p, m=mirrored, s=scale: view(p, m, s), ())
        for p in negative_paths(root, fold)
        for name, mirrored, scale in VIEWS
    ]


def pasted_proxies(cplid_root: Path, negatives_root: Path, seed: int = 0) -> list[Sample]:
    """Every CPLID val string, STRINGS_PER_PROXY to a frame, on the held-out negatives, at 4000x2250."""
    strings = cutouts(cplid_root, "val")
    backgrounds = negative_paths(negatives_root, EVAL_FOLD)
    groups = [strings[i : i + STRINGS_PER_PROXY] for i in range(0, len(strings), STRINGS_PER_PROXY)]

    def compose(i: int) -> tuple[np.ndarray, list]:
        rng = random.Random(seed * 100_003 + i)
        canvas = background(backgrounds[i % len(backgrounds)], *PROXY_SIZE, rng)
        return paste_strings(canvas, groups[i], rng)

    samples = []
    for i in range(len(groups)):
        _, labels = compose(i)  # the labels now; the 27 MB image again (the same) when it is loaded
        truth = tuple((NAMES[c], tuple(map(float, b))) for c, b in labels)
        samples.append(Sample(f"pasted{i:03d}", lambda i=i: compose(i)[0], truth))
    return samples


def synthetic_4k(n: int = 20, seed: int = 9100) -> list[Sample]:
    """Rendered 4K survey-style photos (a few seconds each), cached as JPEG with their truth."""
    folder = CACHE / f"synthetic_4k_s{seed}_n{n}"
    index = folder / "truth.json"
    if not index.exists():
        from gridscout.hardware.sim.synthetic_source import SyntheticSource

        folder.mkdir(parents=True, exist_ok=True)
        source = SyntheticSource(SYNTHETIC_4K.format(seed=seed, n=n))
        truths = {}
        for i in range(n):
            image, boxes = source.render(i)
            cv2.imwrite(str(folder / f"{i:03d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            truths[f"{i:03d}"] = [(b.class_name, list(b.box)) for b in boxes if b.class_name in NAMES.values()]
        index.write_text(json.dumps(truths))
    truths = json.loads(index.read_text())
    return [
        Sample(
            f"synthetic4k/{stem}",
            lambda p=folder / f"{stem}.jpg": cv2.imread(str(p), cv2.IMREAD_COLOR),
            tuple((name, tuple(box)) for name, box in boxes),
        )
        for stem, boxes in truths.items()
    ]


def source_samples(source: Source, splits: tuple[str, ...] = ("val",)) -> list[Sample]:
    """A labelled source's photos in `splits`, their truth in taxonomy names (`models.sources`)."""
    samples = []
    for split in splits:
        for path in source.images(split):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"{path}: not a readable image")
            height, width = image.shape[:2]
            truth = tuple((name, tuple(map(float, box))) for name, box in source.truth(path, split, width, height))
            load = lambda p=path: cv2.imread(str(p), cv2.IMREAD_COLOR)  # noqa: E731
            samples.append(Sample(f"{source.name}/{path.stem}", load, truth))
    return samples
