"""What a model misses and what it invents, on one labelled source, at its shipped thresholds: a list and a picture.

    python -m gridscout.models.misses --source cplid                 # the shipped cascade on CPLID val
    python -m gridscout.models.misses --source idid --model M.toml --sheet idid_misses.png

The model runs as deployed (`gridscout detect`'s thresholds). A truth box is found when a kept box of its class
overlaps it at IoU >= 0.5 (the rule of `evaluate`'s recall, so the counts agree); a kept box overlapping no truth box
of its class at 0.5 is false. Each miss and false box is listed with its size, whether the frame's edge cuts it, and
the nearest box of the other side; the summary counts the misses that are small (shorter side under
`SMALL_PX`) or cut by the edge, the two kinds a string or defect detector loses first. `--sheet` draws every one
(up to `--max-tiles`) on one PNG: truth green, the model's box red, each tile captioned.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gridscout.edge.cli import BROKEN_PIPE_EXIT
from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.models.eval_sets import Sample, source_samples
from gridscout.models.metrics import MATCH_IOU, box_iou, found_and_false
from gridscout.models.sources import SHARED, SourceError, load_source
from gridscout.perception.model_loader import load_model
from gridscout.perception.taxonomy import stage_of

#: a box whose shorter side is under this many pixels (in the photo as stored) counts as small
SMALL_PX = 24
#: a box within this many pixels of the frame's border is cut by the edge
EDGE_PX = 2
TILE_PX = 160


@dataclass(frozen=True)
class Finding:
    kind: str  # "missed" (a truth box no kept box found) or "false" (a kept box on no truth box)
    image: str
    class_name: str
    box: tuple[int, int, int, int]
    score: float | None  # the false box's own score; None for a miss
    small: bool
    at_edge: bool
    #: the nearest box of the other side (for a miss: the kept box of its class overlapping most; for a false box:
    #: the truth box of its class overlapping most), its IoU, and that kept box's score
    nearest: tuple[int, int, int, int] | None
    nearest_iou: float
    nearest_score: float | None


def _flags(box: np.ndarray, width: int, height: int) -> tuple[bool, bool]:
    small = min(box[2] - box[0], box[3] - box[1]) < SMALL_PX
    at_edge = box[0] <= EDGE_PX or box[1] <= EDGE_PX or box[2] >= width - EDGE_PX or box[3] >= height - EDGE_PX
    return bool(small), bool(at_edge)


def _ints(box: np.ndarray) -> tuple[int, int, int, int]:
    return tuple(int(np.rint(v)) for v in box)  # type: ignore[return-value]


def findings_of(sample: Sample, image: np.ndarray, names: list[str], boxes: np.ndarray, scores: np.ndarray,
                classes: tuple[str, ...]) -> list[Finding]:  # fmt: skip
    """The misses and false boxes of one image, for each class in `classes`."""
    height, width = image.shape[:2]
    out = []
    for name in classes:
        truth = sample.boxes(name)
        keep = np.array([n == name for n in names], bool)
        kept, kept_scores = boxes[keep].reshape(-1, 4), scores[keep]
        iou = box_iou(truth, kept)
        found, false = found_and_false(truth, kept)
        for i, box in enumerate(truth):
            if found[i]:
                continue
            j = int(iou[i].argmax()) if len(kept) and iou[i].max() > 0 else -1
            out.append(Finding("missed", sample.name, name, _ints(box), None, *_flags(box, width, height),
                               _ints(kept[j]) if j >= 0 else None, float(iou[i, j]) if j >= 0 else 0.0,
                               float(kept_scores[j]) if j >= 0 else None))  # fmt: skip
        for j, box in enumerate(kept):
            if not false[j]:
                continue
            i = int(iou[:, j].argmax()) if len(truth) and iou[:, j].max() > 0 else -1
            out.append(Finding("false", sample.name, name, _ints(box), float(kept_scores[j]),
                               *_flags(box, width, height), _ints(truth[i]) if i >= 0 else None,
                               float(iou[i, j]) if i >= 0 else 0.0, None))  # fmt: skip
    return out


def summary(findings: list[Finding], samples: list[Sample], classes: tuple[str, ...]) -> list[dict]:
    rows = []
    for name in classes:
        n = sum(len(s.boxes(name)) for s in samples)
        missed = [f for f in findings if f.kind == "missed" and f.class_name == name]
        false = [f for f in findings if f.kind == "false" and f.class_name == name]
        rows.append({
            "class": name, "truth": n, "found": n - len(missed), "missed": len(missed),
            "missed_small": sum(f.small for f in missed), "missed_at_edge": sum(f.at_edge for f in missed),
            "missed_small_or_at_edge": sum(f.small or f.at_edge for f in missed),
            "false": len(false), "false_at_edge": sum(f.at_edge for f in false),
        })  # fmt: skip
    return rows


def _tile(image: np.ndarray, f: Finding) -> np.ndarray:
    """A square crop around the finding (and the nearest box), drawn and captioned, TILE_PX wide."""
    height, width = image.shape[:2]
    boxes = [np.array(f.box, float)] + ([np.array(f.nearest, float)] if f.nearest else [])
    x1, y1 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x2, y2 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    side = max(x2 - x1, y2 - y1, 48) * 1.4
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
    crop = image[top:bottom, left:right].copy()
    scale = (TILE_PX - 28) / max(crop.shape[:2])
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    truth, model = (f.box, f.nearest) if f.kind == "missed" else (f.nearest, f.box)
    for box, colour in ((truth, (0, 200, 0)), (model, (0, 0, 255))):
        if box is not None:
            p1 = (int((box[0] - left) * scale), int((box[1] - top) * scale))
            p2 = (int((box[2] - left) * scale), int((box[3] - top) * scale))
            cv2.rectangle(crop, p1, p2, colour, 1)
    tile = np.full((TILE_PX, TILE_PX, 3), 255, np.uint8)
    tile[: crop.shape[0], : crop.shape[1]] = crop
    w, h = f.box[2] - f.box[0], f.box[3] - f.box[1]
    score = f"{f.score:.2f}" if f.score is not None else (f"near {f.nearest_score:.2f}" if f.nearest else "")
    lines = (f"{f.kind} {f.class_name[:11]} {w}x{h}", f"{f.image.split('/')[-1][:14]} {score}")
    for k, text in enumerate(lines):
        cv2.putText(tile, text, (2, TILE_PX - 16 + 11 * k), cv2.FONT_HERSHEY_PLAIN, 0.75, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def contact_sheet(tiles: list[np.ndarray], columns: int = 8) -> np.ndarray:
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    blank = np.full((TILE_PX, TILE_PX, 3), 255, np.uint8)
    return np.vstack([np.hstack(row + [blank] * (columns - len(row))) for row in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an .onnx model or cascade .toml manifest")
    parser.add_argument("--source", default="cplid", help="a folder under --shared, or a path to one (YOLO layout)")
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder of labelled sources (default: %(default)s)")
    parser.add_argument("--split", default="val", help="which split (default: val)")
    parser.add_argument("--classes", nargs="*", help="classes to look at (default: every class both have)")
    parser.add_argument("--sheet", type=Path, help="write every miss and false box on one PNG here")
    parser.add_argument("--max-tiles", type=int, default=64, help="tiles on the sheet, misses first (default 64)")
    parser.add_argument("--json", type=Path, help="write the summary and every finding here")
    args = parser.parse_args(argv)

    root = args.source if Path(args.source).is_dir() else args.shared / args.source
    if not (Path(root) / "images" / args.split).is_dir():
        print(f"{root}: no images/{args.split} folder (expected a labelled source in the YOLO layout)", file=sys.stderr)
        return 2
    if args.max_tiles < 1:
        print(f"--max-tiles {args.max_tiles}: expected at least 1", file=sys.stderr)
        return 2
    try:
        source = load_source(Path(root))
    except SourceError as exc:
        print(exc, file=sys.stderr)
        return 2
    samples = source_samples(source, (args.split,))
    model = load_model(args.model, threads=2)
    # a source without disc-level labels (Stefenon's) is scored on its strings alone, as `evaluate` scores it
    labelled = (n for n in dict.fromkeys(source.classes) if source.disc_labels or stage_of(n) == 1)
    both = tuple(n for n in labelled if n in model.names)
    classes = tuple(args.classes) if args.classes else both
    unknown = [c for c in classes if c not in both]
    if unknown or not classes:
        print(f"--classes {' '.join(unknown)}: expected some of {', '.join(both) or '(none in common)'}",
              file=sys.stderr)  # fmt: skip
        return 2

    findings: list[Finding] = []
    tiles: list[tuple[int, np.ndarray]] = []
    for sample in tqdm(samples, desc=f"{source.name} {args.split}", unit="img", leave=False, disable=None):
        image = sample.load()
        dets = model.detect(image)
        here = findings_of(sample, image, dets.class_names, dets.boxes, dets.scores, classes)
        findings += here
        tiles += [(0 if f.kind == "missed" else 1, _tile(image, f)) for f in here] if args.sheet else []

    rows = summary(findings, samples, classes)
    print(f"{source.name} {args.split}, {args.model.name} at its shipped thresholds; IoU >= {MATCH_IOU}; "
          f"small: shorter side < {SMALL_PX} px; at the edge: within {EDGE_PX} px of the frame's border")  # fmt: skip
    print(f"  {'class':<12} {'truth':>5} {'found':>5} {'missed':>6} {'small':>5} {'edge':>5} {'either':>6} "
          f"{'false':>5} {'f-edge':>6}")  # fmt: skip
    for r in rows:
        missed = f"{r['missed']:>6} {r['missed_small']:>5} {r['missed_at_edge']:>5} {r['missed_small_or_at_edge']:>6}"
        print(f"  {r['class']:<12} {r['truth']:>5} {r['found']:>5} {missed} {r['false']:>5} {r['false_at_edge']:>6}")
    for f in findings:
        w, h = f.box[2] - f.box[0], f.box[3] - f.box[1]
        what = f"score {f.score:.2f}" if f.score is not None else "not found"
        near = "overlaps nothing" if f.nearest is None else f"nearest IoU {f.nearest_iou:.2f}"
        near += f" (score {f.nearest_score:.2f})" if f.nearest_score is not None else ""
        flags = ", ".join(t for t, on in (("small", f.small), ("at the edge", f.at_edge)) if on)
        print(f"  {f.kind:<6} {f.image} {f.class_name} {list(f.box)} {w}x{h} px, {what}; {near}"
              + (f"; {flags}" if flags else ""))  # fmt: skip
    if args.sheet and tiles:
        tiles.sort(key=lambda t: t[0])
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.sheet), contact_sheet([t for _, t in tiles[: args.max_tiles]]))
        print(f"sheet: {args.sheet} ({min(len(tiles), args.max_tiles)} of {len(tiles)}; green truth, red the model)")
    if args.json:
        args.json.write_text(json.dumps({"summary": rows, "findings": [asdict(f) for f in findings]}, indent=1))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BrokenPipeError:  # `... | head`: the reader left; nothing more to print, and nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(BROKEN_PIPE_EXIT) from None
