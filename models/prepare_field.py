"""Training sets that look like the field: small strings in big frames, real hard negatives, survey-style renders.

    python -m gridscout.hardware.sim.make_dataset --out build/datasets/synthetic_4k --images 120 \\
        --imgsz 4000x2250 --seed 3000 --defect-rate 0.6          # survey-style 4K renders (~10 min)
    python -m gridscout.models.prepare_field --synthetic build/datasets/synthetic_4k

Writes, under build/ (git-ignored; nothing derived from CPLID val or the held-out negatives):
- `stage1_field`: stage one's set. Train: the CPLID train frames (twice); tiles (as `perception.tiling` cuts
  them at inference) of 4000x2250 composites, CPLID *train* strings pasted at 1/8-1/4 of their share of
  the frame into the *training fold* of the real negatives (`models.paste`); tiles of the synthetic 4K
  renders; the training-fold negatives themselves, at random windows and scales, with no label. Tiles
  with no string are kept one in `EMPTY_TILE_EVERY`. Val: CPLID val, as before.
- `stage2_field`: stage two's set. Train: the jittered CPLID train crops of `models.prepare_data`, crops
  of the pasted strings and of the synthetic renders' strings, and hard negatives: the crops stage one
  (`--miner`) proposes on the training-fold negatives and on string-free tiles, with no label; and, as
  before, the string crops of the first `--extra-images` frames of each `--extra` close-up or flight set
  (vertical and oblique strings, which CPLID lacks). Val: CPLID val crops, as before.

With `--synthetic-only` it writes `stage1_synthetic` and `stage2_synthetic` instead, from the project's own
renders alone (no CPLID, no real negatives, no mining by a CPLID-trained model): the tiles and string crops
of the `--synthetic` 4K renders and the frames and crops of the `--stills` close-up sets, whose val split
is the val. A model trained on them, measured on CPLID val, is the model card's "synthetic to real" figure:

    python -m gridscout.hardware.sim.make_dataset --out build/datasets/synthetic_stills --images 400 \
        --val-images 60 --seed 1000 --defect-rate 0.7
    python -m gridscout.models.prepare_field --synthetic-only --synthetic build/datasets/synthetic_4k \
        --stills build/datasets/synthetic_stills
"""

from __future__ import annotations

import argparse
import random
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.models.eval_sets import TRAIN_FOLD, negative_paths
from gridscout.models.paste import INSULATOR, MISSING_CAP, background, cutouts, paste_strings
from gridscout.models.prepare_data import TRAIN_CROP_MARGIN, crop_insulators
from gridscout.models.sources import SHARED
from gridscout.models.yolo_labels import read_yolo_labels, to_xyxy
from gridscout.perception.cascade import grow_box
from gridscout.perception.model_loader import load_model
from gridscout.perception.tiling import tiles

REPO = Path(__file__).resolve().parent.parent
SHIPPED = DEFAULT_MODEL
#: tiles are cut as the shipped manifest has stage one cut them at inference
_SHIPPED = tomllib.loads(SHIPPED.read_text())
_STAGE1 = _SHIPPED["stage1"]
TILE, OVERLAP, TILE_ABOVE = _STAGE1["tile"], _STAGE1["tile_overlap"], _STAGE1["tile_above"]
#: stage two's crop margin as the shipped cascade cuts it
CROP_MARGIN = _SHIPPED["stage2"]["margin"]
COMPOSITE = (4000, 2250)
STRINGS_PER_COMPOSITE = 5
EMPTY_TILE_EVERY = 4
NEGATIVE_WINDOWS = 12
#: stage one sees each CPLID train frame this often per epoch (by default)
CPLID_REPEATS = 2
#: a string cut by a tile edge is labelled in that tile when at least this share of it is inside
MIN_VISIBLE = 0.6


def _yolo(rows: list[tuple[int, np.ndarray]], width: int, height: int) -> str:
    lines = []
    for cls, b in rows:
        cx, cy = (b[0] + b[2]) / 2 / width, (b[1] + b[3]) / 2 / height
        lines.append(f"{cls} {cx:.6f} {cy:.6f} {(b[2] - b[0]) / width:.6f} {(b[3] - b[1]) / height:.6f}\n")
    return "".join(lines)


def _clip_to(box: np.ndarray, tile: tuple[int, int, int, int]) -> np.ndarray | None:
    """`box` in `tile`'s pixels, or None when less than MIN_VISIBLE of it is inside."""
    x1, y1, x2, y2 = tile
    c = np.array([max(box[0], x1), max(box[1], y1), min(box[2], x2), min(box[3], y2)], np.float64)
    if c[2] <= c[0] or c[3] <= c[1]:
        return None
    if (c[2] - c[0]) * (c[3] - c[1]) < MIN_VISIBLE * (box[2] - box[0]) * (box[3] - box[1]):
        return None
    return c - np.array([x1, y1, x1, y1])


class Split:
    """images/<split> and labels/<split> of a data set, emptied first."""

    def __init__(self, root: Path, split: str) -> None:
        self.images, self.labels = root / "images" / split, root / "labels" / split
        for folder in (self.images, self.labels):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)

    def write(self, name: str, image: np.ndarray, rows: list[tuple[int, np.ndarray]]) -> None:
        cv2.imwrite(str(self.images / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        (self.labels / f"{name}.txt").write_text(_yolo(rows, image.shape[1], image.shape[0]))


def write_yaml(root: Path, name: str) -> Path:
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: {name}\n")
    return yaml


#: a large frame to cut from: its name, and a function giving (image, labels); only one is in memory at a time
Large = tuple[str, Callable[[], tuple[np.ndarray, list[tuple[int, np.ndarray]]]]]


def composites(cplid: Path, negatives: Path, seed: int) -> list[Large]:
    """4000x2250 frames of CPLID train strings on the training-fold negatives (each string once)."""
    strings = cutouts(cplid, "train")
    random.Random(seed).shuffle(strings)
    backgrounds = negative_paths(negatives, TRAIN_FOLD)

    def compose(n: int, i: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        rng = random.Random(seed * 1_000_003 + i)
        canvas = background(backgrounds[n % len(backgrounds)], *COMPOSITE, rng)
        return paste_strings(canvas, strings[i : i + STRINGS_PER_COMPOSITE], rng)

    starts = range(0, len(strings), STRINGS_PER_COMPOSITE)
    return [(f"paste{n:04d}", lambda n=n, i=i: compose(n, i)) for n, i in enumerate(starts)]


def synthetic(root: Path) -> list[Large]:
    """The renders of a `make_dataset` YOLO set (class 0 insulator, 1 missing cap; others dropped)."""

    def load(path: Path) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        rows = read_yolo_labels(root / "labels" / "train" / f"{path.stem}.txt")
        boxes = to_xyxy(rows, image.shape[1], image.shape[0]) if len(rows) else np.zeros((0, 4))
        pairs = zip(rows[:, 0].astype(int), boxes, strict=True)
        return image, [(int(c), b) for c, b in pairs if c in (INSULATOR, MISSING_CAP)]

    return [(f"syn4k_{p.stem}", lambda p=p: load(p)) for p in sorted((root / "images" / "train").glob("*.jpg"))]


def negative_windows(negatives: Path, seed: int) -> list[tuple[str, np.ndarray]]:
    """Random windows of the training-fold negatives at random scales (no insulator anywhere in them)."""
    out = []
    for path in negative_paths(negatives, TRAIN_FOLD):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        rng = random.Random(f"{seed}/{path.name}")
        for k in range(NEGATIVE_WINDOWS):
            scale = rng.uniform(0.6, 2.5)
            scaled = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            side = min(*scaled.shape[:2], rng.randint(320, 960))
            y = rng.randint(0, scaled.shape[0] - side)
            x = rng.randint(0, scaled.shape[1] - side)
            window = scaled[y : y + side, x : x + side]
            out.append((f"neg_{path.stem}_{k:02d}", np.ascontiguousarray(window[:, ::-1] if k % 2 else window)))
    return out


class Miner:
    """Crops around what a stage one calls an insulator where there is none: stage two learns they hold no cap."""

    def __init__(self, model: Path, split: Split, conf: float) -> None:
        loaded = load_model(model, threads=2)
        self.stage1 = getattr(loaded, "stage1", loaded)
        self.split, self.conf = split, conf

    def __call__(self, stem: str, image: np.ndarray) -> int:
        height, width = image.shape[:2]
        dets = self.stage1.detect(image)
        written = 0
        for k, box in enumerate(dets.boxes[dets.scores >= self.conf][:8]):
            x1, y1, x2, y2 = grow_box(box, 0.10, width, height)
            if x2 - x1 >= 16 and y2 - y1 >= 16:
                self.split.write(f"mined_{stem}_{k}", image[y1:y2, x1:x2], [])
                written += 1
        return written


def write_tiles(
    image: np.ndarray, labels: list[tuple[int, np.ndarray]], split: Split, stem: str, rng: random.Random, mine: Miner
) -> tuple[int, int]:
    """Cut `image` into inference tiles; write those with a string (insulators, class 0), and one in
    EMPTY_TILE_EVERY of the others; mine every string-free tile. Returns (tiles written, crops mined)."""
    height, width = image.shape[:2]
    written = mined = 0
    for k, tile in enumerate(tiles(width, height, TILE, OVERLAP)):
        x1, y1, x2, y2 = tile
        rows = [(0, b) for b in (_clip_to(b, tile) for c, b in labels if c == INSULATOR) if b is not None]
        crop = image[y1:y2, x1:x2]
        if not rows:
            touched = any(b[0] < x2 and b[2] > x1 and b[1] < y2 and b[3] > y1 for _, b in labels)
            if not touched:  # no part of any string in it: whatever stage one finds here is false
                mined += mine(f"{stem}_t{k:02d}", crop)
            if rng.randrange(EMPTY_TILE_EVERY):
                continue
        split.write(f"{stem}_t{k:02d}", crop, rows)
        written += 1
    return written, mined


def string_crops(
    image: np.ndarray, labels: list[tuple[int, np.ndarray]], split: Split, stem: str, rng: random.Random
) -> int:
    """Stage-two crops of every string in `image` (jittered margin, as stage one's boxes will be), with its caps."""
    height, width = image.shape[:2]
    caps = [b for c, b in labels if c == MISSING_CAP]
    written = 0
    for i, ins in ((i, b) for i, (c, b) in enumerate(labels) if c == INSULATOR):
        crop = grow_box(ins, rng.uniform(*TRAIN_CROP_MARGIN), width, height)
        rows = [(0, b) for b in (_clip_to(cap, crop) for cap in caps) if b is not None]
        x1, y1, x2, y2 = crop
        split.write(f"{stem}_s{i:02d}", image[y1:y2, x1:x2], rows)
        written += 1
    return written


def cplid_stage1(cplid: Path, split: Split, source: str, repeats: int = 1) -> int:
    """CPLID frames as they are (symlinked, `repeats` times so real photos keep their weight among the
    tiles), insulator labels only."""
    n = 0
    for image in sorted((cplid / "images" / source).glob("*.jpg")):
        rows = read_yolo_labels(cplid / "labels" / source / f"{image.stem}.txt")
        rows = rows[rows[:, 0] == INSULATOR] if len(rows) else rows
        text = "".join(f"0 {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows)
        for r in range(repeats):
            stem = image.stem if repeats == 1 else f"{image.stem}_r{r}"
            (split.images / f"{stem}.jpg").symlink_to(image.resolve())
            (split.labels / f"{stem}.txt").write_text(text)
            n += 1
    return n


def cplid_stage2(cplid: Path, split: Split, source: str, rng: random.Random) -> int:
    """The CPLID insulator crops of `models.prepare_data` (jittered, positives 3 times, in train)."""
    n = 0
    for image_path in sorted((cplid / "images" / source).glob("*.jpg")):
        label = cplid / "labels" / source / f"{image_path.stem}.txt"
        n += crop_insulators(image_path, label, split.images, split.labels, image_path.stem, 3, source == "train", rng)
    return n


def _no_mining(stem: str, image: np.ndarray) -> int:
    return 0


def synthetic_only(renders: list[Path], stills: list[Path], out: Path, rng: random.Random) -> dict[str, int]:
    """`stage1_synthetic` and `stage2_synthetic` from the project's renders alone (see the module's doc)."""
    s1, s2 = out / "stage1_synthetic", out / "stage2_synthetic"
    train1, train2, val1, val2 = Split(s1, "train"), Split(s2, "train"), Split(s1, "val"), Split(s2, "val")
    counts = {"stage one: still frames": 0, "stage one: tiles": 0, "stage two: crops": 0, "val frames": 0}
    for root in stills:
        counts["stage one: still frames"] += cplid_stage1(root, train1, "train")
        counts["stage two: crops"] += cplid_stage2(root, train2, "train", rng)
        counts["val frames"] += cplid_stage1(root, val1, "val")
        cplid_stage2(root, val2, "val", rng)
    large = [frame for root in renders for frame in synthetic(root)]
    for stem, load in tqdm(large, desc="renders", unit="frame"):
        image, labels = load()
        counts["stage one: tiles"] += write_tiles(image, labels, train1, stem, rng, _no_mining)[0]
        counts["stage two: crops"] += string_crops(image, labels, train2, stem, rng)
    print(write_yaml(s1, "insulator"))
    print(write_yaml(s2, "missing_cap"))
    return counts


def extra_stage2(root: Path, split: Split, limit: int, rng: random.Random) -> int:
    """Stage-two crops (jittered, positives 3 times) of the first `limit` frames of a make_dataset set."""
    n = 0
    for image_path in sorted((root / "images" / "train").glob("*.jpg"))[:limit]:
        label = root / "labels" / "train" / f"{image_path.stem}.txt"
        stem = f"{root.name}_{image_path.stem}"
        n += crop_insulators(image_path, label, split.images, split.labels, stem, 3, True, rng)
    return n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cplid", type=Path, default=SHARED / "cplid")
    parser.add_argument("--negatives", type=Path, default=SHARED / "negatives")
    parser.add_argument("--synthetic", type=Path, action="append", default=[], help="a make_dataset set of 4K renders")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "datasets")
    parser.add_argument(
        "--miner",
        type=Path,
        default=SHIPPED,
        help="model whose stage one proposes the hard negatives for stage two",
    )
    parser.add_argument("--mine-conf", type=float, default=0.1, help="least stage-one score mined")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--extra", type=Path, action="append", default=[], help="a make_dataset set whose string crops join stage two"
    )
    parser.add_argument("--extra-images", type=int, default=300, help="frames used from each --extra set")
    parser.add_argument("--synthetic-only", action="store_true", help="the renders-only sets (see above)")
    parser.add_argument(
        "--stills", type=Path, action="append", default=[], help="a make_dataset close-up set (--synthetic-only)"
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    if args.synthetic_only:
        if not args.stills or any(not (root / "images" / "val").is_dir() for root in args.stills):
            parser.error("--synthetic-only needs --stills sets made with --val-images (their val is the val)")
        for key, value in synthetic_only(args.synthetic, args.stills, args.out, rng).items():
            print(f"  {key}: {value}")
        return
    s1, s2 = args.out / "stage1_field", args.out / "stage2_field"
    train1, train2 = Split(s1, "train"), Split(s2, "train")
    counts = {
        "stage one: CPLID frames": cplid_stage1(args.cplid, train1, "train", args.cplid_repeats),
        "stage two: CPLID crops": cplid_stage2(args.cplid, train2, "train", rng),
        "stage one: tiles": 0,
        "stage two: string crops": 0,
        "stage two: mined negatives": 0,
    }
    cplid_stage1(args.cplid, Split(s1, "val"), "val")
    cplid_stage2(args.cplid, Split(s2, "val"), "val", rng)
    mine = Miner(args.miner, train2, args.mine_conf)
    large = composites(args.cplid, args.negatives, args.seed)
    for root in args.synthetic:
        large += synthetic(root)
    for stem, load in tqdm(large, desc="large frames", unit="frame"):
        image, labels = load()
        written, mined = write_tiles(image, labels, train1, stem, rng, mine)
        counts["stage one: tiles"] += written
        counts["stage two: mined negatives"] += mined
        counts["stage two: string crops"] += string_crops(image, labels, train2, stem, rng)
    windows = negative_windows(args.negatives, args.seed)
    for stem, window in windows:
        train1.write(stem, window, [])
        counts["stage two: mined negatives"] += mine(stem, window)
    counts["stage one: negative windows"] = len(windows)
    for root in args.extra:  # last, on their own seeds: the sets above do not change with them
        extra_rng = random.Random(f"{args.seed}/{root.name}")
        counts["stage two: synthetic set crops"] = counts.get("stage two: synthetic set crops", 0) + extra_stage2(
            root, train2, args.extra_images, extra_rng
        )
    print(write_yaml(s1, "insulator"))
    print(write_yaml(s2, "missing_cap"))
    for key, value in counts.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
