"""Evaluate a model with GridScout's own runtime: every figure the model card gives, from one command.

    python -m gridscout.models.evaluate                          # all sets, the bars, the threshold curves
    python -m gridscout.models.evaluate --model other.toml --sets cplid   # e.g. a synthetic-only model on CPLID
    python -m gridscout.models.evaluate --sets loso              # the leave-one-source-out table alone
    python -m gridscout.models.evaluate --speed-only --threads 1 2

What it measures (data sets in `models.eval_sets`, sources in `models.sources`):
- per source (every labelled folder under ../shared/datasets: CPLID, IDID, Stefenon/FURB), on its own val
  split: AP50 and AP50-95 per taxonomy class it labels, the cascade run as deployed (the same crops
  searched) with every score kept, so each class's precision-recall curve is traced over its own stage's
  score; and recall at the shipped thresholds;
- leave-one-source-out: for each source, the stage one trained without it (`models/loso/`, made by
  `python -m gridscout.models.loso`), run as the shipped stage one runs, scored on every photo of that
  source (train and val: none was seen). Classes no other source labels have no such figure;
- false defects per 100 defect-free real frames: the real negatives' held-out fold (no training saw it; no
  string in view), 4 views each, and the val photos of the sources labelling disc-level defects whose strings
  carry none (healthy strings in view, where a false defect comes from on a line; less `LABEL_ERRATA`): a frame
  counts when any defect class shows;
- recall (and AP50) on large-frame proxies, 4000x2250 searched in full-resolution tiles: CPLID val strings
  pasted small into the held-out negatives, and synthetic 4K survey-style photos;
- the threshold curves, one per defect class: its recall (val of the sources labelling it, and the proxies
  for missing caps) against its false defects per 100 defect-free frames, over stage one's crop threshold and
  the class's own confidence, drawn to a PNG with the shipped points marked;
- speed: detect() per 640x480 frame and per 12 MP photo (4000x3000), pre- and post-processing included.

The shipped thresholds are measured in a run of the model exactly as shipped; the APs in a run with low
score floors on both stages but the shipped crop threshold and crop cap (a defect AP over crops the
shipped cascade never searches would rank stage two on inputs it is never given), except that on frames
stage one tiles it keeps its shipped floor (tile boxes merge into their union, and every low score kept
would swallow the background around a string); each column of the
curves (one crop threshold) in a run of its own, with stage one as a model shipping that threshold runs
it (tiled frames merge the same boxes), stage two's confidences swept afterwards. A one-detector model (a
manifest without [stage2]) has one column: each defect class's confidence swept, with its tiles merging
boxes from the lowest confidence swept up. Needs no ultralytics.
Exit 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.models.eval_sets import (
    LABEL_ERRATA,
    PROXY_SIZE,
    Sample,
    cplid,
    negative_views,
    pasted_proxies,
    source_samples,
    synthetic_4k,
)
from gridscout.models.metrics import ClassStats, found_and_false
from gridscout.models.paste import background, cutouts, paste_strings
from gridscout.models.sources import NEGATIVES, REPO, SHARED, Source, shared_sources
from gridscout.perception.cascade import Cascade
from gridscout.perception.detector import Detector
from gridscout.perception.model_loader import load_model, read_manifest, stage_one
from gridscout.perception.taxonomy import INSULATOR, MISSING_CAP, is_defect, stage_of
from gridscout.perception.tiling import TiledDetector

EVAL_CONF = 0.001
CROP_GRID = (0.15, 0.25, 0.35, 0.45, 0.6)
CONF_GRID = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
LOSO_DIR = REPO / "models" / "loso"
#: the bars of issue 21 that can be estimated here, on the sources' own val splits: (figure, comparison, limit).
#: The issue's bars are on photos nobody here has (CPLID's held-out test, other IDID photos, real survey photos,
#: real defect-free footage); the leave-one-source-out table is the honest estimate of how far these carry.
BARS = (
    ("sources.cplid.insulator.ap50", ">=", 0.97),
    ("sources.cplid.missing_cap.ap50", ">=", 0.95),
    ("sources.idid.insulator.ap50", ">=", 0.9),
    ("sources.idid.broken_disc.ap50", ">=", 0.6),
    ("sources.idid.flashover.ap50", ">=", 0.6),
    ("defect_free.false_defects_per_100", "<=", 1.0),
    ("proxies.missing_cap.ap50", ">=", 0.5),
    ("speed.640x480_ms", "<=", 25.0),
    ("speed.12mp_s", "<=", 1.5),
)
SETS = ("sources", "negatives", "pasted", "synthetic4k", "loso")
PROXY_SETS = ("pasted", "synthetic4k")


@dataclass
class Result:
    sample: Sample
    names: list[str]
    boxes: np.ndarray
    scores: np.ndarray
    parents: np.ndarray  # stage-one score behind each box (its own for stage-one boxes)


def run(
    model: Detector | TiledDetector | Cascade,
    samples: list[Sample],
    what: str,
    tiled_model: Detector | TiledDetector | Cascade | None = None,
) -> list[Result]:
    """Detect on each sample; frames that stage one tiles go to `tiled_model` when one is given."""
    out = []
    tile_above = getattr(_first_stage(model), "min_frame_px", None)
    for s in tqdm(samples, desc=what, unit="img", leave=False, disable=None):
        image = s.load()
        if tiled_model is not None and tile_above is not None and max(image.shape[:2]) > tile_above:
            model_here = tiled_model
        else:
            model_here = model
        out.append(_detect(model_here, s, image))
    return out


def _first_stage(model: Detector | TiledDetector | Cascade) -> Detector | TiledDetector:
    return model.stage1 if isinstance(model, Cascade) else model


def _detect(model: Detector | TiledDetector | Cascade, s: Sample, image: np.ndarray) -> Result:
    if isinstance(model, Cascade):
        dets, parents = model.detect_traced(image)
    else:
        dets = model.detect(image)
        parents = dets.scores.copy()
    return Result(s, dets.class_names, dets.boxes, dets.scores, parents)


def _floor(detector: Detector | TiledDetector, conf: float) -> None:
    inner = getattr(detector, "detector", detector)
    inner.conf = conf
    inner.class_conf = {}


def low_floors(model: Detector | Cascade) -> None:
    """For APs: each stage keeps (nearly) every box; the crops searched stay the shipped ones."""
    for detector in model.detectors if isinstance(model, Cascade) else (model,):
        _floor(detector, EVAL_CONF)


def at_crop_conf(
    model: Detector | Cascade, crop_conf: float, shipped_conf1: float, *, class_floors: bool = False
) -> None:
    """For one column of the threshold curves: stage one exactly as a model shipping this crop threshold for every
    class would run (so tiled frames merge the same boxes), stage two keeping everything (its thresholds are swept
    after). With `class_floors`, each class keeps its own shipped parent floor (`Cascade.class_crop_conf`)."""
    if isinstance(model, Cascade):
        model.stage1.conf = min(crop_conf, shipped_conf1)
        model.crop_conf = crop_conf
        if not class_floors:
            model.class_crop_conf = {}
        _floor(model.stage2, EVAL_CONF)
    else:  # one detector: no crop threshold; its tiles merge boxes from the lowest swept confidence up
        _floor(model, min(CONF_GRID))


def _select(r: Result, name: str, conf: float = 0.0, crop_conf: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    keep = np.array([n == name for n in r.names], bool)
    keep &= (r.scores >= conf) & (r.parents >= crop_conf)
    return r.boxes[keep], r.scores[keep]


def ap_table(results: list[Result], names: tuple[str, ...]) -> dict:
    table = {}
    for name in names:
        stats = ClassStats()
        for r in results:
            stats.add(*_select(r, name), r.sample.boxes(name))
        if stats.n_gt:
            ap = stats.ap()
            table[name] = {"ap50": round(float(ap[0]), 4), "ap50_95": round(float(ap.mean()), 4), "n": stats.n_gt}
    return table


def recall(results: list[Result], name: str, conf: float = 0.0, crop_conf: float = 0.0) -> tuple[float, int]:
    """Share of `name` truth boxes found (IoU >= MATCH_IOU) by a kept detection, and how many there were."""
    found = total = 0
    for r in results:
        gt = r.sample.boxes(name)
        total += len(gt)
        boxes, _ = _select(r, name, conf, crop_conf)
        found += int(found_and_false(gt, boxes)[0].sum())
    return (found / total if total else float("nan")), total


def false_defects_per_100(
    results: list[Result], conf: float | dict[str, float] = 0.0, crop_conf: float = 0.0, classes: tuple[str, ...] = ()
) -> float:
    """Frames (with no defect in truth) showing at least one kept defect box, per 100 frames. `classes` limits
    the count to those defect classes (default: missing caps, the one class every model here has); `conf` is one
    minimum score, or one per class."""
    classes = classes or (MISSING_CAP,)
    frames = [r for r in results if not any(len(r.sample.boxes(c)) for c in classes)]

    def shows(r: Result) -> bool:
        return any(
            len(_select(r, c, conf.get(c, 0.0) if isinstance(conf, dict) else conf, crop_conf)[0]) for c in classes
        )

    return 100.0 * sum(shows(r) for r in frames) / len(frames) if frames else float("nan")


def defect_free(runs: dict[str, list[Result]], disc_sources: tuple[str, ...]) -> list[Result]:
    """The defect-free real frames among `runs`: the negatives, and the photos of each source in `disc_sources`
    (those labelling disc-level defects) with no defect box in truth, less `LABEL_ERRATA`."""
    healthy = [
        r
        for name in disc_sources
        for r in runs.get(f"source:{name}", [])
        if not any(is_defect(n) for n, _ in r.sample.truth) and r.sample.name not in LABEL_ERRATA
    ]
    return runs.get("negatives", []) + healthy


def defect_classes(model: Detector | Cascade) -> tuple[str, ...]:
    return tuple(n for n in model.names if is_defect(n))


def shipped_thresholds(model: Detector | Cascade) -> tuple[dict[str, float], dict[str, float]]:
    """(each defect class's least parent score, each defect class's confidence) as shipped."""
    classes = defect_classes(model)
    stage = model.stage2 if isinstance(model, Cascade) else model
    conf = {n: stage.class_conf.get(n, stage.conf) for n in classes}
    if not isinstance(model, Cascade):
        return dict.fromkeys(classes, 0.0), conf
    return {n: model.class_crop_conf.get(n, model.crop_conf) for n in classes}, conf


def curve_column(
    runs: dict[str, list[Result]], crop_conf: float, classes: tuple[str, ...], disc_sources: tuple[str, ...] = ()
) -> list[dict]:
    """The curves' points at one crop threshold: each defect class's confidence swept over CONF_GRID, its false
    defects counted on the defect-free frames (`defect_free`)."""
    points = []
    proxies = [r for name in PROXY_SETS for r in runs.get(name, [])]
    labelled = [r for name, results in runs.items() if name.startswith("source:") for r in results]
    clean = defect_free(runs, disc_sources)
    for name in classes:
        for conf in CONF_GRID:
            point = {"class": name, "crop_conf": crop_conf, "conf": conf}
            if clean:
                fd = false_defects_per_100(clean, conf, classes=(name,))
                point["false_defects_per_100"] = round(fd, 2)
            value, n = recall(labelled, name, conf)
            if n:
                point["val_recall"] = round(value, 4)
            value, n = recall(proxies, name, conf)
            if n:
                point["proxies_recall"] = round(value, 4)
            points.append(point)
    return points


def _bar(key: str) -> float:
    return next(limit for k, _, limit in BARS if k == key)


def best_points(points: list[dict], classes: tuple[str, ...], least_crop: float = 0.0) -> dict[str, dict | None]:
    """Each class's point to ship, a (crop threshold, confidence) pair of its own: within the false-defect bar
    shared out between the classes, with one grid step of margin (the next lower confidence at the same crop
    threshold is within it too: the defect-free frames are few, and on real footage nobody here has v3 showed
    3.0 false defects per 100 where the negatives showed none; so the lowest confidence swept is never picked), the
    best mean recall (its val and, where it has them, the large-frame proxies). On a tie, the lower crop threshold
    (searching more strings is what finds defects on photos unlike the training data), though none below
    `least_crop` (stage one's own threshold: lower would change the strings it reports), then the higher
    confidence (more margin against false defects)."""
    limit = _bar("defect_free.false_defects_per_100") / max(1, len(classes))

    def score(p: dict) -> float:
        recalls = [p[k] for k in ("val_recall", "proxies_recall") if k in p]
        return round(sum(recalls) / len(recalls), 4) if recalls else 0.0

    def within(p: dict) -> bool:
        return p.get("false_defects_per_100", float("inf")) <= limit

    picks: dict[str, dict | None] = {}
    for name in classes:
        ok = []
        for crop in sorted({p["crop_conf"] for p in points if p["crop_conf"] >= least_crop}):
            column = [p for p in points if p["class"] == name and p["crop_conf"] == crop]
            column.sort(key=lambda p: p["conf"])
            # the lowest confidence swept has no lower neighbour to show its margin, so it is never shipped
            ok += [p for i, p in enumerate(column) if i > 0 and within(p) and within(column[i - 1])]
        picks[name] = max(ok, key=lambda p: (score(p), -p["crop_conf"], p["conf"])) if ok else None
    return picks


COLOURS = ((200, 80, 0), (0, 0, 220), (0, 150, 0), (160, 0, 160), (0, 140, 200))


def draw_curves(points: list[dict], shipped: tuple[dict[str, float], dict[str, float]], path: Path) -> None:
    """Each defect class's recall against its false defects per 100 frames, one dot per threshold pair; a filled
    dot for the shipped pair; val as circles, large-frame proxies as squares."""
    classes = list(dict.fromkeys(p["class"] for p in points))
    w, h, m = 900, 600, 70
    img = np.full((h, w, 3), 255, np.uint8)
    xmax = max([5.0] + [p.get("false_defects_per_100", 0) for p in points]) * 1.05

    def xy(fd: float, r: float) -> tuple[int, int]:
        return round(m + (w - 2 * m) * fd / xmax), round(h - m - (h - 2 * m) * r)

    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.rectangle(img, (m, m), (w - m, h - m), (0, 0, 0), 1)
    for k in range(6):
        y = h - m - (h - 2 * m) * k // 5
        cv2.putText(img, f"{k / 5:.1f}", (18, y + 4), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x = m + (w - 2 * m) * k // 5
        cv2.putText(img, f"{xmax * k / 5:.1f}", (x - 12, h - m + 20), font, 0.45, (0, 0, 0), 1)
    one = xy(1.0, 0)[0]
    cv2.line(img, (one, m), (one, h - m), (0, 160, 0), 1)
    for i, name in enumerate(classes):
        colour = COLOURS[i % len(COLOURS)]
        for p in (p for p in points if p["class"] == name and "false_defects_per_100" in p):
            filled = p["crop_conf"] == shipped[0].get(name) and p["conf"] == shipped[1].get(name)
            for key, square in (("val_recall", False), ("proxies_recall", True)):
                if key not in p:
                    continue
                cx, cy = xy(p["false_defects_per_100"], p[key])
                size = 6 if filled else 3
                if square:
                    cv2.rectangle(img, (cx - size, cy - size), (cx + size, cy + size), colour, -1 if filled else 1)
                else:
                    cv2.circle(img, (cx, cy), size + 1, colour, -1 if filled else 1, cv2.LINE_AA)
        y = 26 + 18 * i
        cv2.circle(img, (m + 10, y - 4), 4, colour, -1)
        cv2.putText(img, name, (m + 22, y), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    crops = ", ".join(f"{n} {c:g}" for n, c in shipped[0].items())
    text = f"recall vs false defects per 100 defect-free frames; filled: shipped (crop thresholds: {crops})"
    cv2.putText(img, text, (m, h - 18), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "circles: val of the sources; squares: 4K proxies; green: 1 per 100", (w - 470, 26), font,
                0.42, (0, 120, 0), 1, cv2.LINE_AA)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def frames_12mp(cplid_root: Path, negatives_root: Path, n: int = 5) -> list[np.ndarray]:
    """4000x3000 frames with pasted strings (timing only)."""
    strings = cutouts(cplid_root, "val")
    backgrounds = sorted((negatives_root / "images").iterdir())
    out = []
    for i in range(n):
        rng = random.Random(7000 + i)
        canvas = background(backgrounds[i % len(backgrounds)], 4000, 3000, rng)
        out.append(paste_strings(canvas, strings[5 * i : 5 * i + 5], rng)[0])
    return out


def measure_speed(model_path: Path, frames: list[np.ndarray], threads: int, repeats: int = 2) -> dict:
    """Median and p90 of detect() per frame (pre + inference + post), after warm-up."""
    model = load_model(model_path, threads=threads)
    for frame in frames[:3]:
        model.detect(frame)
    times = []
    for _ in range(repeats):
        for frame in frames:
            t0 = time.perf_counter()
            model.detect(frame)
            times.append((time.perf_counter() - t0) * 1000)
    return {
        "threads": threads,
        "median_ms": round(float(np.median(times)), 2),
        "p90_ms": round(float(np.percentile(times, 90)), 2),
    }


def stage_one_as_shipped(onnx: Path, manifest: Path, threads: int = 2) -> Detector | TiledDetector:
    """`onnx` run as the manifest's stage one runs (its input size and tiles), every box kept (for AP)."""
    return stage_one(read_manifest(manifest).stage1, onnx, threads=threads, conf=EVAL_CONF)


def loso_table(sources: list[Source], in_source: dict, manifest: Path, loso_dir: Path) -> dict:
    """Per source and class: the shipped model's AP50 on the source's val, and the AP50 on all of the source's
    photos of the stage trained without it; or why there is no such figure."""
    table = {}
    for source in sources:
        row = table[source.name] = {}
        others = {c for s in sources if s is not source for c in s.classes if s.disc_labels or stage_of(c) == 1}
        for name in dict.fromkeys(source.classes):
            if stage_of(name) == 2 and not source.disc_labels:
                continue
            cell = row[name] = {"in_source_ap50": in_source.get(source.name, {}).get(name, {}).get("ap50")}
            if name not in others:
                cell["why"] = "no other source labels it"
                continue
            onnx = loso_dir / f"insulator-without-{source.name}.onnx"
            if stage_of(name) != 1 or not onnx.is_file():
                cell["why"] = f"no model trained without it ({onnx.name}: `python -m gridscout.models.loso`)"
                continue
            results = run(stage_one_as_shipped(onnx, manifest), source_samples(source, ("train", "val")),
                          f"loso {source.name}")  # fmt: skip
            stats = ap_table(results, (name,)).get(name)
            if stats:
                cell.update(loso_ap50=stats["ap50"], loso_ap50_95=stats["ap50_95"], n=stats["n"])
    return table


def _get(results: dict, dotted: str) -> float | None:
    node = results
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an .onnx model or cascade .toml manifest")
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder of labelled sources, one per folder")
    parser.add_argument("--negatives", type=Path, default=SHARED / NEGATIVES, help="the real negatives")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS, help="which data sets")
    parser.add_argument("--loso-models", type=Path, default=LOSO_DIR, help="the stages trained without each source")
    parser.add_argument("--threads", type=int, nargs="*", default=[2], help="thread counts to time")
    parser.add_argument("--speed-images", type=int, default=60, help="640x480 images used for timing")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--no-speed", action="store_true", help="skip timing (e.g. while the cores are busy)")
    parser.add_argument("--no-curve", action="store_true", help="skip the threshold curves (a run per crop threshold)")
    parser.add_argument("--curve", type=Path, default=REPO / "models" / "threshold_curve.png", help="the curves PNG")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    cplid_root = args.shared / "cplid"

    results: dict = {"model": str(args.model)}
    if not args.speed_only:
        evaluate(args, results)
    results["speed"] = {"by_threads": []}
    if not args.no_speed:
        small = [r.load() for r in cplid(cplid_root, "val")[: args.speed_images]]
        large = frames_12mp(cplid_root, args.negatives)
        results["speed"]["by_threads"] = [
            {"640x480": measure_speed(args.model, small, t), "12mp": measure_speed(args.model, large, t, repeats=1)}
            for t in args.threads
        ]
    by_threads = zip(results["speed"]["by_threads"], args.threads, strict=False)
    two = next((s for s, t in by_threads if t == 2), None)
    if two:
        results["speed"]["640x480_ms"] = two["640x480"]["median_ms"]
        results["speed"]["12mp_s"] = round(two["12mp"]["median_ms"] / 1000, 3)
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    missed = [b for b in BARS if (v := _get(results, b[0])) is not None and not _passes(v, b[1], b[2])]
    return 1 if missed else 0


def evaluate(args: argparse.Namespace, results: dict) -> None:
    """Every figure but speed, into `results`."""
    cplid_root = args.shared / "cplid"
    sources = shared_sources(args.shared) if {"sources", "loso"} & set(args.sets) else []
    sets: dict[str, list[Sample]] = {}
    if "sources" in args.sets:
        sets.update({f"source:{s.name}": source_samples(s) for s in sources})
    loaders = {
        "negatives": lambda: negative_views(args.negatives),
        "pasted": lambda: pasted_proxies(cplid_root, args.negatives),
        "synthetic4k": synthetic_4k,
    }
    sets.update({name: loaders[name]() for name in loaders if name in args.sets})
    shipped_model = load_model(args.model, threads=2)
    shipped = shipped_thresholds(shipped_model)
    classes = defect_classes(shipped_model)
    deployed = {name: run(shipped_model, samples, f"{name} (as shipped)") for name, samples in sets.items()}
    traced_model = load_model(args.model, threads=2)
    low_floors(traced_model)
    # On a tiled frame, stage one's boxes from every tile are merged into their union: with every low score
    # kept, a string's box would swallow the background boxes around it. There stage one keeps its shipped
    # floor (its AP is then traced only above it: a lower bound), and stage two keeps every score.
    tiled_model = load_model(args.model, threads=2)
    conf1 = _first_stage(shipped_model).conf
    at_crop_conf(tiled_model, getattr(tiled_model, "crop_conf", 0.0), conf1, class_floors=True)
    disc_sources = tuple(s.name for s in sources if s.disc_labels and f"source:{s.name}" in sets)
    ranked = [n for n in sets if n.startswith("source:") or n in PROXY_SETS]
    traced = {n: run(traced_model, sets[n], f"{n} (low floors)", tiled_model) for n in ranked}
    if not args.no_curve and sets and classes:
        results["curve"] = []
        crop_grid = sorted({*CROP_GRID, *shipped[0].values()}) if isinstance(shipped_model, Cascade) else [0.0]
        for crop_conf in crop_grid:
            column_model = load_model(args.model, threads=2)
            at_crop_conf(column_model, crop_conf, conf1)
            runs = {name: run(column_model, s, f"{name} (crop {crop_conf:g})") for name, s in sets.items()}
            results["curve"] += curve_column(runs, crop_conf, classes, disc_sources)
    if "sources" in args.sets:
        results["sources"] = {}
        for source in sources:
            # a class the model lacks scores 0: it finds none of them
            names = tuple(n for n in dict.fromkeys(source.classes) if source.disc_labels or stage_of(n) == 1)
            table = results["sources"][source.name] = ap_table(traced[f"source:{source.name}"], names)
            for name in table:
                table[name]["recall"] = round(recall(deployed[f"source:{source.name}"], name)[0], 4)
    if "loso" in args.sets and args.model.suffix == ".toml":
        in_source = results.get("sources", {})
        results["loso"] = loso_table(sources, in_source, args.model, args.loso_models)
    healthy = defect_free({k: v for k, v in deployed.items() if k != "negatives"}, disc_sources)
    for key, frames in (("negatives", deployed.get("negatives", [])), ("healthy_strings", healthy)):
        if frames:
            results[key] = false_defect_figures(frames, classes)
    if healthy:
        errata = {r.sample.name for k in disc_sources for r in deployed[f"source:{k}"]} & LABEL_ERRATA.keys()
        results["healthy_strings"]["left_out"] = {name: LABEL_ERRATA[name] for name in sorted(errata)}
    if clean := deployed.get("negatives", []) + healthy:  # what `defect_free(deployed, ...)` gives
        results["defect_free"] = false_defect_figures(clean, classes)
    proxy_sets = [n for n in PROXY_SETS if n in sets]
    if proxy_sets:
        results["proxies"] = {}
        pooled_traced = [r for n in proxy_sets for r in traced[n]]
        for name in (INSULATOR, MISSING_CAP):
            pooled = [r for n in proxy_sets for r in deployed[n]]
            value, n = recall(pooled, name)
            results["proxies"][name] = {"recall": round(value, 4), "n": n}
            ap = ap_table(pooled_traced, (name,)).get(name)
            if ap:
                results["proxies"][name]["ap50"] = ap["ap50"]
        for n in proxy_sets:
            results[n] = {name: {"recall": round(recall(deployed[n], name)[0], 4)} for name in (INSULATOR, MISSING_CAP)}
    results["thresholds"] = {"crop_conf": shipped[0], "conf": shipped[1]}
    if results.get("curve"):
        draw_curves(results["curve"], shipped, args.curve)
        least = conf1 if isinstance(shipped_model, Cascade) else 0.0
        results["best_points"] = best_points(results["curve"], classes, least)


def false_defect_figures(frames: list[Result], classes: tuple[str, ...]) -> dict:
    """Frames, and false-defect frames per 100 in all and per class, at the thresholds the results were run at."""
    return {
        "frames": len(frames),
        "false_defects_per_100": round(false_defects_per_100(frames, classes=classes), 2),
        "by_class": {c: round(false_defects_per_100(frames, classes=(c,)), 2) for c in classes},
    }


def _passes(value: float, op: str, limit: float) -> bool:
    return value >= limit if op == ">=" else value <= limit


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(results: dict, args: argparse.Namespace) -> None:
    for source, table in results.get("sources", {}).items():
        print(f"{source} val ({args.shared / source}), whole cascade:")
        print(f"  {'class':<12} {'AP50':>7} {'AP50-95':>8} {'recall':>7} {'n':>5}")
        for name, m in table.items():
            print(f"  {name:<12} {m['ap50']:>7.3f} {m['ap50_95']:>8.3f} {m['recall']:>7.3f} {m['n']:>5}")
    if "loso" in results:
        print("leave-one-source-out: AP50 on a source's val (shipped model) | on all its photos, trained without it:")
        for source, row in results["loso"].items():
            for name, cell in row.items():
                loso = (
                    cell.get("why")
                    or f"{_fmt(cell.get('loso_ap50'))} (AP50-95 {_fmt(cell.get('loso_ap50_95'))}, n {cell.get('n')})"
                )
                print(f"  {source:<14} {name:<12} {_fmt(cell['in_source_ap50']):>7} | {loso}")
    what = {
        "negatives": "real negatives, held-out fold (no string in view)",
        "healthy_strings": "val photos of healthy strings (no labelled defect)",
        "defect_free": "defect-free real frames, both together",
    }
    for key, label in what.items():
        if key in results:
            fig = results[key]
            by_class = ", ".join(f"{k} {v:.2f}" for k, v in fig["by_class"].items())
            print(f"{label}: {fig['false_defects_per_100']:.2f} false-defect frames per 100 "
                  f"({fig['frames']} frames; {by_class})")  # fmt: skip
            for name, why in fig.get("left_out", {}).items():
                print(f"  left out: {name}: {why}")
    if "proxies" in results:
        size = f"{PROXY_SIZE[0]}x{PROXY_SIZE[1]}"
        print(f"large-frame proxies ({size}, full-resolution tiles), at the shipped thresholds:")
        for name, m in results["proxies"].items():
            print(f"  {name:<12} recall {m['recall']:.3f} of {m['n']}, AP50 {_fmt(m.get('ap50'))}")
        for part in PROXY_SETS:
            if part in results:
                recalls = ", ".join(f"{k} {v['recall']:.3f}" for k, v in results[part].items())
                print(f"  {part}: recall {recalls}")
    if "thresholds" in results:
        t = results["thresholds"]
        confs = "; ".join(f"{k} crop {t['crop_conf'][k]:g} conf {v:g}" for k, v in t["conf"].items())
        print(f"thresholds: {confs}; curves -> {args.curve}")
    for name, point in results.get("best_points", {}).items():
        text = "none within the bar" if point is None else ", ".join(
            f"{k} {v:g}" for k, v in point.items() if k != "class")  # fmt: skip
        print(f"  best point for {name}: {text}")
    for entry, threads in zip(results["speed"]["by_threads"], args.threads, strict=False):
        a, b = entry["640x480"], entry["12mp"]
        print(f"detect() at {threads} thread(s): 640x480 median {a['median_ms']} ms (p90 {a['p90_ms']}); "
              f"12 MP median {b['median_ms'] / 1000:.2f} s")  # fmt: skip
    print("bars (estimated on the sources' val splits; the issue's are on photos not here):")
    for key, op, limit in BARS:
        value = _get(results, key)
        verdict = "-" if value is None else ("PASS" if _passes(value, op, limit) else "FAIL")
        print(f"  {key:<36} {'-' if value is None else value!s:>8} {op} {limit:<6} {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
