"""Training sets for both cascade stages from every real source at once, on one taxonomy.

    python -m gridscout.models.prepare_real                       # build/datasets/real_stage1, real_stage2
    python -m gridscout.models.prepare_real --without idid        # leave-one-source-out: real_stage1-without-idid, ...
    python -m gridscout.models.prepare_real --source reviews/     # one more source, e.g. a review export
    python -m gridscout.models.prepare_real --paste 400           # + 400 copy-paste frames for stage one
    python -m gridscout.models.prepare_real --paste-defects 1500  # + 1500 stage-two crops with pasted defects

Sources (`models.sources`): every labelled folder under ../shared/datasets, plus each `--source`; their
classes mapped onto `perception.taxonomy`. Writes under build/ (git-ignored); real images are symlinked,
never copied, and only derived images (tiles, crops) are written.

- Stage one (`real_stage1`): each source's frames with its stage-one classes (an insulator string; a
  bird's nest once a source labels one); frames larger than the shipped manifest's `tile_above` also as
  the tiles stage one cuts at inference (a string cut by a tile edge is kept where MIN_VISIBLE of it is
  in); the training fold of the real negatives, whole and as random windows, with no label. Small sources
  repeat (`--repeat`) so that one source does not drown the others. `--paste N` adds N frames of real
  training strings blended into the negatives' training fold at new scales (copy-paste).
- One detector (`real_single`, with `--single`): stage one's frames and tiles with every class, the
  disc-level defects too, for the architecture comparison against the cascade.
- Stage two (`real_stage2`): a crop of each string (margin jittered in train, the cascade's own in val)
  with the disc-level defects inside it (missing cap, broken disc, flashover); crops holding a defect
  three times in train; hard negatives: the crops the shipped stage one proposes on the training-fold
  negatives, with no label. Sources that leave disc defects unboxed (`sources.NO_DISC_LABELS`) are left out.
  `--paste-defects N` adds N training crops of real strings with real defects of the same source pasted
  onto them (`models.paste_defects`), the defect classes taking equal turns.
- Val: each source's own val split; `--without NAME` leaves that source out of train and val alike, so
  the model trained on the result can be scored on it as on photos it never saw.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gridscout.models.eval_sets import TRAIN_FOLD, negative_paths
from gridscout.models.paste import INSULATOR as PASTED_STRING
from gridscout.models.paste import background, paste_strings, source_cutouts
from gridscout.models.paste_defects import defect_patches, paste_defect, pick_patch, string_colour
from gridscout.models.prepare_data import TRAIN_CROP_MARGIN
from gridscout.models.prepare_field import (
    CROP_MARGIN,
    OVERLAP,
    SHIPPED,
    TILE,
    TILE_ABOVE,
    Miner,
    Split,
    _clip_to,
    _yolo,
    negative_windows,
)
from gridscout.models.sources import NEGATIVES, REPO, SHARED, Source, SourceError, classes_of, load_source
from gridscout.models.yolo_labels import centre_inside
from gridscout.perception.cascade import Cascade, grow_box
from gridscout.perception.model_loader import load_model
from gridscout.perception.taxonomy import INSULATOR, TAXONOMY
from gridscout.perception.tiling import tiles

#: training repeats of the small sources (a frame seen this often per epoch)
DEFAULT_REPEATS = {"idid": 2, "stefenon_furb": 2}
EMPTY_TILE_EVERY = 4
POSITIVE_COPIES = 3
#: copy-paste frames (`--paste`): their sizes (none large enough to be tiled), strings per frame, and each
#: string's long side as a share of the frame's
PASTE_FRAMES = ((640, 480), (960, 540), (1280, 720), (1280, 960))
PASTE_STRINGS = (1, 3)
PASTE_LONG_SIDE = (0.08, 0.6)


def _link(split: Split, stem: str, image: Path, text: str) -> None:
    suffix = image.suffix.lower()
    (split.images / f"{stem}{suffix}").symlink_to(image.resolve())
    (split.labels / f"{stem}.txt").write_text(text)


def stage1_source(
    source: Source, split_name: str, split: Split, names: tuple[str, ...], repeats: int, rng: random.Random
) -> Counter:
    counts: Counter = Counter()
    for path in tqdm(source.images(split_name), desc=f"stage one {source.name} {split_name}", leave=False):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{path}: not a readable image")
        height, width = image.shape[:2]
        rows = [(names.index(n), b) for n, b in source.truth(path, split_name, width, height) if n in names]
        text = _yolo(rows, width, height)
        for r in range(repeats):
            _link(split, f"{source.name}_{path.stem}" + (f"_r{r}" if r else ""), path, text)
        counts["frames"] += repeats
        counts.update(names[c] for c, _ in rows)
        if split_name != "train" or max(width, height) <= TILE_ABOVE:
            continue
        for k, tile in enumerate(tiles(width, height, TILE, OVERLAP)):
            x1, y1, x2, y2 = tile
            kept = [(c, b) for c, b in ((c, _clip_to(b, tile)) for c, b in rows) if b is not None]
            if not kept and rng.randrange(EMPTY_TILE_EVERY):
                continue
            split.write(f"{source.name}_{path.stem}_t{k:02d}", image[y1:y2, x1:x2], kept)
            counts["tiles"] += 1
    return counts


def stage2_source(
    source: Source,
    split_name: str,
    split: Split,
    names: tuple[str, ...],
    rng: random.Random,
    proposer: Proposer | None = None,
) -> Counter:
    """A crop of each parent asset with the stage-two defects inside it; in train, with `proposer`, also the
    crops its stage one proposes on the frame, cut as the cascade cuts them (a pair of strings in one box, a
    string cut by the frame's edge), with the defects whose centres they hold."""
    counts: Counter = Counter()
    train = split_name == "train"
    for path in tqdm(source.images(split_name), desc=f"stage two {source.name} {split_name}", leave=False):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
        truth = source.truth(path, split_name, width, height)
        defects = [(names.index(n), b) for n, b in truth if n in names]
        parents = [b for n, b in truth if n in {TAXONOMY[d].part_of for d in names}]
        placed = set()
        for i, parent in enumerate(parents):
            inside = [k for k, (_, b) in enumerate(defects) if centre_inside(b, parent)]
            placed.update(inside)
            for copy in range(POSITIVE_COPIES if train and inside else 1):
                crop = grow_box(parent, rng.uniform(*TRAIN_CROP_MARGIN) if train else CROP_MARGIN, width, height)
                x1, y1, x2, y2 = crop
                if x2 - x1 < 16 or y2 - y1 < 16:
                    continue
                rows = _rows_in(crop, defects)
                split.write(f"{source.name}_{path.stem}_s{i:02d}_c{copy}", image[y1:y2, x1:x2], rows)
                counts["crops"] += 1
                counts.update(names[c] for c, _ in rows)
        if train and proposer is not None:
            for k, crop in enumerate(proposer(image)):
                inside = [(c, _clip_to(b, crop)) for c, b in defects if centre_inside(b, crop)]
                rows = [(c, b) for c, b in inside if b is not None]
                x1, y1, x2, y2 = crop
                split.write(f"{source.name}_{path.stem}_p{k:02d}", image[y1:y2, x1:x2], rows)
                counts["proposed crops"] += 1
                counts.update(f"proposed {names[c]}" for c, _ in rows)
        counts["defects outside any string (dropped)"] += len(defects) - len(placed)
    return counts


def _rows_in(crop: tuple[int, int, int, int], defects: list[tuple[int, np.ndarray]]) -> list[tuple[int, np.ndarray]]:
    """(class id, box in the crop's pixels) of each defect enough of which the crop holds (`_clip_to`)."""
    return [(c, b) for c, b in ((c, _clip_to(b, crop)) for c, b in defects) if b is not None]


class Proposer:
    """The crops a cascade's stage one proposes on a frame, cut by the cascade's own rule (`Cascade.crops`: boxes
    scoring at least its `search_conf`, grown by its margin, too small ones left out), at most `limit` a frame."""

    def __init__(self, manifest: Path, limit: int = 8) -> None:
        cascade = load_model(manifest, threads=2)
        if not isinstance(cascade, Cascade):
            raise SourceError(f"--proposed-crops {manifest}: expected a cascade manifest (a .toml with a [stage2])")
        self.cascade, self.limit = cascade, limit

    def __call__(self, image) -> list[tuple[int, int, int, int]]:
        height, width = image.shape[:2]
        first = self.cascade.stage1.detect(image)
        return [box for _, box in self.cascade.crops(first, width, height)][: self.limit]


def write_yaml(root: Path, names: tuple[str, ...]) -> Path:
    yaml = root / "data.yaml"
    listed = "".join(f"  {i}: {n}\n" for i, n in enumerate(names))
    yaml.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{listed}")
    return yaml


def prepare(
    sources: list[Source],
    negatives: Path,
    out: Path,
    repeats: dict[str, int],
    miner: Path | None,
    seed: int,
    suffix: str = "",
    pasted: int = 0,
    single: bool = False,
    proposer: Proposer | None = None,
    pasted_defects: int = 0,
) -> dict:
    """Write both stages' sets (and, with `single`, the one-detector set); returns what went in, per source
    and class."""
    rng = random.Random(seed)
    report: dict = {"sources": [s.name for s in sources]}
    for kind in ("stage1", "stage2", "single") if single else ("stage1", "stage2"):
        stage = 2 if kind == "stage2" else 1  # the one detector reads whole frames, as stage one does
        names = classes_of(sources, 1) + classes_of(sources, 2) if kind == "single" else classes_of(sources, stage)
        if not names:
            raise SourceError(f"no source labels a stage-{stage} class")
        root = out / f"real_{kind}{suffix}"
        stage_report = report[kind] = {"classes": list(names)}
        for split_name in ("train", "val"):
            split = Split(root, split_name)
            for source in sources:
                if stage == 1:
                    if not source.whole_frames:
                        continue  # its frames box only some of their strings: stage two only
                    n = repeats.get(source.name, 1) if split_name == "train" else 1
                    counts = stage1_source(source, split_name, split, names, n, rng)
                elif source.disc_labels:
                    counts = stage2_source(source, split_name, split, names, rng, proposer)
                else:
                    continue
                stage_report[f"{source.name}/{split_name}"] = dict(counts)
            if split_name == "train":
                stage_report["negatives/train"] = _negatives(stage, negatives, split, miner, seed)
                if kind == "stage1" and pasted:
                    stage_report["pasted/train"] = _pasted(sources, negatives, split, pasted, seed, names)
                if kind == "stage2" and pasted_defects:
                    disc_sources = [s for s in sources if s.disc_labels]
                    stage_report["pasted defects/train"] = _pasted_defects(disc_sources, split, pasted_defects,
                                                                           seed, names)  # fmt: skip
        stage_report["data"] = str(write_yaml(root, names))
    return report


def _negatives(stage: int, negatives: Path, split: Split, miner: Path | None, seed: int) -> dict:
    """The training fold of the real negatives: stage one sees them whole and as windows; stage two gets the
    crops a stage one proposes on them (hard negatives)."""
    windows = negative_windows(negatives, seed)
    if stage == 1:
        for path in negative_paths(negatives, TRAIN_FOLD):
            _link(split, f"negative_{path.stem}", path, "")
        for stem, window in windows:
            split.write(stem, window, [])
        return {"frames": len(negative_paths(negatives, TRAIN_FOLD)), "windows": len(windows)}
    if miner is None:
        return {"mined crops": 0}
    mine = Miner(miner, split, 0.1)
    return {"mined crops": sum(mine(stem, window) for stem, window in windows)}


def _pasted(sources: list[Source], negatives: Path, split: Split, n: int, seed: int, names: tuple[str, ...]) -> dict:
    """`n` frames of the sources' training strings (with their own surroundings) blended into windows of the
    training-fold negatives, at scales their photos rarely show: copy-paste of real strings onto other
    real backgrounds. Stage-one labels only: a defect scaled this far is not a stage-two example."""
    rng = random.Random(seed)
    strings = [c for s in sources for c in source_cutouts(s, "train")]
    backgrounds = negative_paths(negatives, TRAIN_FOLD)
    if not strings or not backgrounds:
        raise SourceError("--paste: no training strings or no training-fold negatives to paste them onto")
    counts: Counter = Counter()
    for i in tqdm(range(n), desc="copy-paste", leave=False):
        width, height = rng.choice(PASTE_FRAMES)
        canvas = background(rng.choice(backgrounds), width, height, rng)
        picked = rng.sample(strings, rng.randint(*PASTE_STRINGS))
        _, labels = paste_strings(canvas, picked, rng, long_side=PASTE_LONG_SIDE)
        rows = [(names.index(INSULATOR), b) for c, b in labels if c == PASTED_STRING]
        split.write(f"pasted_{i:05d}", canvas, rows)
        counts["frames"] += 1
        counts[INSULATOR] += len(rows)
    return dict(counts)


def _pasted_defects(sources: list[Source], split: Split, n: int, seed: int, names: tuple[str, ...]) -> dict:
    """`n` stage-two training crops of the sources' training strings, each with one or two real defects of its
    own source pasted onto it (the defect classes taking equal turns), cut as `stage2_source` cuts them."""
    rng = random.Random(seed)
    by_name = {s.name: s for s in sources}
    patches: dict[str, dict[str, list]] = {}  # class -> source -> its patches
    for source in sources:
        for patch in defect_patches(source, "train"):
            patches.setdefault(patch.name, {}).setdefault(patch.source, []).append(patch)
    if not patches:
        raise SourceError("--paste-defects: no source boxes a disc-level defect on a labelled string")
    strings = {s.name: source_cutouts(s, "train") for s in sources}
    counts: Counter = Counter()
    for i in tqdm(range(n), desc="pasted defects", leave=False):
        by_source = patches[rng.choice(sorted(patches))]
        source = rng.choice(sorted(by_source))
        target = rng.choice(strings[source])
        photo = cv2.imread(str(target.image), cv2.IMREAD_COLOR)
        height, width = photo.shape[:2]
        colour = string_colour(photo, target.box)
        chosen = [pick_patch(by_source[source], colour, rng)]
        if rng.random() < 0.5:  # a second one, of any class of the same source
            own = sorted(c for c in patches if source in patches[c])
            chosen.append(pick_patch(patches[rng.choice(own)][source], colour, rng))
        truth = [(name, b) for name, b in by_name[source].truth(target.image, "train", width, height) if name in names]
        for patch in (p for p in chosen if p is not None):
            box = paste_defect(photo, target.box, [b for _, b in truth], patch, rng)
            if box is not None:
                truth.append((patch.name, box))
                counts[f"pasted {patch.name}"] += 1
        crop = grow_box(target.box, rng.uniform(*TRAIN_CROP_MARGIN), width, height)
        rows = _rows_in(crop, [(names.index(name), b) for name, b in truth])
        x1, y1, x2, y2 = crop
        split.write(f"pasted_defects_{i:05d}", photo[y1:y2, x1:x2], rows)
        counts["crops"] += 1
    return dict(counts)


def _repeat(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SOURCE=N with N >= 1, e.g. idid=2")
    return name, int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder of labelled sources (one per folder)")
    parser.add_argument("--source", type=Path, action="append", default=[], help="one more source folder (repeatable)")
    parser.add_argument("--without", metavar="NAME", help="leave this source out of train and val (leave-one-out)")
    parser.add_argument("--negatives", type=Path, default=SHARED / NEGATIVES, help="the real negatives")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "datasets")
    parser.add_argument(
        "--repeat", type=_repeat, action="append", default=[], metavar="SOURCE=N",
        help=f"training repeats of a source's frames (default {DEFAULT_REPEATS})",
    )  # fmt: skip
    parser.add_argument("--miner", type=Path, default=SHIPPED, help="the model whose stage one mines hard negatives")
    parser.add_argument("--no-mining", action="store_true", help="no mined hard negatives for stage two")
    parser.add_argument(
        "--paste", type=int, default=0, metavar="N",
        help="N more stage-one training frames: real training strings pasted onto the training-fold negatives",
    )  # fmt: skip
    parser.add_argument(
        "--paste-defects", type=int, default=0, metavar="N",
        help="N more stage-two training crops: real strings with real defects of their own source pasted on",
    )  # fmt: skip
    parser.add_argument(
        "--single", action="store_true",
        help="also real_single: whole frames with every class, for one detector instead of the cascade",
    )  # fmt: skip
    parser.add_argument(
        "--proposed-crops", type=Path, metavar="MANIFEST",
        help="stage two also trains on the crops this cascade's stage one proposes on each training frame",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for flag, value in (("--paste", args.paste), ("--paste-defects", args.paste_defects)):
        if value < 0:
            parser.error(f"{flag} {value}: expected a count >= 0")
    try:
        sources = [load_source(p) for p in sorted(args.shared.iterdir()) if (p / "data.yaml").is_file()]
        sources += [load_source(p) for p in args.source]
    except (SourceError, OSError) as exc:
        parser.exit(2, f"prepare_real: {exc}\n")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        parser.exit(2, f"prepare_real: two sources share a folder name ({', '.join(names)}); rename one\n")
    if args.without:
        if args.without not in names:
            parser.exit(2, f"prepare_real: --without {args.without}: no such source ({', '.join(names)})\n")
        sources = [s for s in sources if s.name != args.without]
    repeats = {**DEFAULT_REPEATS, **dict(args.repeat)}
    suffix = f"-without-{args.without}" if args.without else ""
    try:
        proposer = Proposer(args.proposed_crops) if args.proposed_crops else None
        report = prepare(sources, args.negatives, args.out, repeats, None if args.no_mining else args.miner,
                         args.seed, suffix, args.paste, args.single, proposer, args.paste_defects)  # fmt: skip
    except SourceError as exc:
        parser.exit(2, f"prepare_real: {exc}\n")
    path = args.out / f"real{suffix}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
