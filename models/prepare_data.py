"""Build the two training sets of the cascade from CPLID, outside the repo.

Stage 1 (insulator): the full frames, labels filtered to the insulator class.
Images are symlinked, never copied.
Stage 2 (defect): insulator crops with a jittered margin, labels = defects inside, optionally
joined by crops from synthetic data sets (`--extra`). Crops are derived images; they are
written under build/ (git-ignored).

    python -m gridscout.models.prepare_data --cplid ../shared/datasets/cplid --out build/datasets
    python -m gridscout.models.prepare_data --extra build/datasets/synthetic_stills
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

import cv2

from gridscout.models.yolo_labels import centre_inside, read_yolo_labels, to_xyxy
from gridscout.perception.cascade import grow_box

#: a training crop's margin around its string, drawn from this range: stage one's boxes will be imprecise
TRAIN_CROP_MARGIN = (0.03, 0.25)

INSULATOR, DEFECT = 0, 1


def build_stage1(cplid: Path, out: Path) -> Path:
    root = out / "stage1_insulator"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for image in sorted((cplid / "images" / split).glob("*.jpg")):
            link = root / "images" / split / image.name
            if not link.exists():
                link.symlink_to(image.resolve())
            rows = read_yolo_labels(cplid / "labels" / split / f"{image.stem}.txt")
            rows = rows[rows[:, 0] == INSULATOR]
            text = "".join(f"0 {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows)
            (root / "labels" / split / f"{image.stem}.txt").write_text(text)
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: insulator\n")
    return yaml


def crop_insulators(
    image_path: Path,
    label_path: Path,
    out_images: Path,
    out_labels: Path,
    stem: str,
    copies: int,
    jitter: bool,
    rng: random.Random,
) -> int:
    """Write one crop per insulator (`copies` jittered ones when it holds a defect); returns crops written."""
    rows = read_yolo_labels(label_path)
    if not len(rows):
        return 0
    image = cv2.imread(str(image_path))
    height, width = image.shape[:2]
    boxes = to_xyxy(rows, width, height)
    insulators = boxes[rows[:, 0] == INSULATOR]
    defects = boxes[rows[:, 0] == DEFECT]
    written = 0
    for i, ins in enumerate(insulators):
        # Oversample the rare positives: insulators holding a defect get `copies` crops.
        has_defect = any(centre_inside(d, ins) for d in defects)
        for c in range(copies if jitter and has_defect else 1):
            # Val uses the inference margin; train jitters it, as stage one's boxes will be imprecise.
            margin = rng.uniform(*TRAIN_CROP_MARGIN) if jitter else 0.10
            x1, y1, x2, y2 = grow_box(ins, margin, width, height)  # as the cascade crops
            cw, ch = x2 - x1, y2 - y1
            lines = []
            for d in defects:
                dx1, dy1 = max(d[0], x1) - x1, max(d[1], y1) - y1
                dx2, dy2 = min(d[2], x2) - x1, min(d[3], y2) - y1
                area = (d[2] - d[0]) * (d[3] - d[1])
                if dx2 <= dx1 or dy2 <= dy1 or (dx2 - dx1) * (dy2 - dy1) < 0.5 * area:
                    continue
                lines.append(
                    f"0 {(dx1 + dx2) / 2 / cw:.6f} {(dy1 + dy2) / 2 / ch:.6f} "
                    f"{(dx2 - dx1) / cw:.6f} {(dy2 - dy1) / ch:.6f}\n"
                )
            name = f"{stem}_i{i}_c{c}"
            cv2.imwrite(str(out_images / f"{name}.jpg"), image[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, 95])
            (out_labels / f"{name}.txt").write_text("".join(lines))
            written += 1
    return written


def build_stage2(cplid: Path, out: Path, copies: int, seed: int, extra: list[Path], extra_images: int) -> Path:
    """CPLID crops for train and val; crops from the first `extra_images` images of each `extra`
    YOLO data set (images/train) join train, so that real photos stay a large share."""
    rng = random.Random(seed)
    root = out / "stage2_missing_cap"
    inputs = [(cplid, split, "") for split in ("train", "val")]
    inputs += [(extra_root, "train", f"{extra_root.name}_") for extra_root in extra]
    for split in ("train", "val"):
        for kind in ("images", "labels"):
            target = root / kind / split
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
    for data_root, split, prefix in inputs:
        crops = 0
        images = sorted((data_root / "images" / split).glob("*.jpg"))
        for image_path in images[:extra_images] if prefix else images:
            label = data_root / "labels" / split / f"{image_path.stem}.txt"
            crops += crop_insulators(
                image_path,
                label,
                root / "images" / split,
                root / "labels" / split,
                prefix + image_path.stem,
                copies,
                split == "train",
                rng,
            )
        print(f"  {data_root} {split}: {crops} crops")
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: missing_cap\n")
    return yaml


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cplid", type=Path, default=Path("../shared/datasets/cplid"), help="CPLID root (YOLO layout)")
    parser.add_argument("--out", type=Path, default=Path("build/datasets"), help="where to write (git-ignored)")
    parser.add_argument(
        "--copies", type=int, default=3, help="jittered crops per training insulator that holds a defect"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="a YOLO data set (images/train, labels/train; e.g. from `python -m gridscout.hardware.sim.make_dataset`) "
        "whose insulator crops join stage two's training split; repeatable",
    )
    parser.add_argument("--extra-images", type=int, default=300, help="images used from each --extra data set")
    args = parser.parse_args(argv)
    if not (args.cplid / "images" / "train").is_dir():
        parser.error(f"--cplid {args.cplid}: expected a folder with images/train and labels/train")
    print(build_stage1(args.cplid, args.out))
    print(build_stage2(args.cplid, args.out, args.copies, args.seed, args.extra, args.extra_images))


if __name__ == "__main__":
    main()
