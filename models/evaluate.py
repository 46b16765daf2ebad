"""Evaluate a model with GridScout's own runtime: every figure the model card gives, from one command.

    python -m gridscout.models.evaluate                          # all sets, the bars, the threshold curve
    python -m gridscout.models.evaluate --model other.toml --sets cplid   # e.g. a synthetic-only model on CPLID
    python -m gridscout.models.evaluate --speed-only --threads 1 2

What it measures (data sets in `models.eval_sets`):
- CPLID val: AP50 and AP50-95 per class, the cascade run as deployed (the same crops searched) with
  every score kept, so each class's precision-recall curve is traced over its own stage's score;
- false defects per 100 frames on the real negatives' held-out fold (no training saw it), 4 views each;
- recall (and AP50) on large-frame proxies: CPLID val strings pasted small into 4000x2250 negatives, and
  synthetic 4K survey-style photos;
- the threshold curve: recall against false defects per 100 frames over stage one's crop threshold and
  stage two's confidence, drawn to a PNG with the shipped point marked;
- speed: detect() per 640x480 frame and per 12 MP photo (4000x3000), pre- and post-processing included.

The shipped thresholds are measured in a run of the model exactly as shipped; the APs in a run with low
score floors on both stages but the shipped crop threshold and crop cap (a defect AP over crops the
shipped cascade never searches would rank stage two on inputs it is never given); each column of the
curve (one crop threshold) in a run of its own, with stage one as a model shipping that threshold runs
it (tiled frames merge the same boxes), stage two's confidence swept afterwards. Needs no ultralytics.
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
    PROXY_SIZE,
    REPO,
    SHARED,
    Sample,
    cplid,
    negative_views,
    pasted_proxies,
    synthetic_4k,
)
from gridscout.models.metrics import ClassStats, box_iou
from gridscout.models.paste import background, cutouts, paste_strings
from gridscout.perception.cascade import Cascade
from gridscout.perception.detector import Detector
from gridscout.perception.model_loader import load_model

DEFECT, INSULATOR = "missing_cap", "insulator"
EVAL_CONF = 0.001
CROP_GRID = (0.15, 0.25, 0.35, 0.45, 0.6)
CONF_GRID = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
#: the bars of issue 8: (figure, comparison, limit)
BARS = (
    ("cplid_val.insulator.ap50", ">=", 0.95),
    ("cplid_val.missing_cap.ap50", ">=", 0.95),
    ("negatives.false_defects_per_100", "<=", 1.0),
    ("proxies.missing_cap.recall", ">=", 0.8),
    ("speed.640x480_ms", "<=", 25.0),
    ("speed.12mp_s", "<=", 1.5),
)
SETS = ("cplid", "negatives", "pasted", "synthetic4k")


@dataclass
class Result:
    sample: Sample
    names: list[str]
    boxes: np.ndarray
    scores: np.ndarray
    parents: np.ndarray  # stage-one score behind each box (its own for stage-one boxes)


def run(model: Detector | Cascade, samples: list[Sample], what: str) -> list[Result]:
    out = []
    for s in tqdm(samples, desc=what, unit="img", leave=False, disable=None):
        image = s.load()
        if isinstance(model, Cascade):
            dets, parents = model.detect_traced(image)
        else:
            dets = model.detect(image)
            parents = dets.scores.copy()
        out.append(Result(s, dets.class_names, dets.boxes, dets.scores, parents))
    return out


def low_floors(model: Detector | Cascade) -> None:
    """For APs: each stage keeps (nearly) every box; the crops searched stay the shipped ones."""
    if isinstance(model, Cascade):
        model.stage1.conf = model.stage2.conf = EVAL_CONF
    else:
        model.conf = EVAL_CONF


def at_crop_conf(model: Detector | Cascade, crop_conf: float, shipped_conf1: float) -> None:
    """For one column of the threshold curve: stage one exactly as a model shipping this crop threshold would
    run (so tiled frames merge the same boxes), stage two keeping everything (its threshold is swept after)."""
    if isinstance(model, Cascade):
        model.stage1.conf = min(crop_conf, shipped_conf1)
        model.crop_conf = crop_conf
        model.stage2.conf = EVAL_CONF
    else:
        model.conf = EVAL_CONF


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
    """Share of `name` truth boxes matched (IoU >= 0.5) by a kept detection, and how many there were."""
    found = total = 0
    for r in results:
        gt = r.sample.boxes(name)
        total += len(gt)
        boxes, _ = _select(r, name, conf, crop_conf)
        if len(gt) and len(boxes):
            found += int((box_iou(gt, boxes) >= 0.5).any(axis=1).sum())
    return (found / total if total else float("nan")), total


def false_defects_per_100(results: list[Result], conf: float = 0.0, crop_conf: float = 0.0) -> float:
    """Frames (with no defect in truth) showing at least one kept missing-cap box, per 100 frames."""
    frames = [r for r in results if not len(r.sample.boxes(DEFECT))]
    hit = sum(len(_select(r, DEFECT, conf, crop_conf)[0]) > 0 for r in frames)
    return 100.0 * hit / len(frames) if frames else float("nan")


def shipped_thresholds(model: Detector | Cascade) -> tuple[float, float]:
    """(stage-one crop threshold, stage-two confidence) as shipped."""
    if isinstance(model, Cascade):
        return model.crop_conf, model.stage2.conf
    return 0.0, model.conf


def curve_column(runs: dict[str, list[Result]], crop_conf: float) -> list[dict]:
    """The curve's points at one crop threshold, stage two's confidence swept over CONF_GRID."""
    points = []
    proxies = runs.get("pasted", []) + runs.get("synthetic4k", [])
    for conf in CONF_GRID:
        point = {"crop_conf": crop_conf, "conf": conf}
        if "negatives" in runs:
            point["false_defects_per_100"] = round(false_defects_per_100(runs["negatives"], conf), 2)
        if "cplid" in runs:
            point["cplid_val_recall"] = round(recall(runs["cplid"], DEFECT, conf)[0], 4)
        if proxies:
            point["proxies_recall"] = round(recall(proxies, DEFECT, conf)[0], 4)
        points.append(point)
    return points


def _bar(key: str) -> float:
    return next(limit for k, _, limit in BARS if k == key)


def best_point(points: list[dict]) -> dict | None:
    """The curve's point to ship: within the false-defect bar, the best mean recall over CPLID val and the
    large-frame proxies. On a tie, the lower crop threshold (searching more strings is what finds defects on
    photos unlike the training data, where stage one is less sure) and the higher stage-two confidence
    (the margin against false defects)."""
    limit = _bar("negatives.false_defects_per_100")
    ok = [p for p in points if p.get("false_defects_per_100", float("inf")) <= limit]
    if not ok:
        return None

    def key(p: dict) -> tuple[float, float, float]:
        recalls = [p[k] for k in ("cplid_val_recall", "proxies_recall") if k in p]
        return (round(sum(recalls) / len(recalls), 4) if recalls else 0.0, -p["crop_conf"], p["conf"])

    return max(ok, key=key)


def draw_curve(points: list[dict], shipped: tuple[float, float], path: Path) -> None:
    """Recall (CPLID val, large-frame proxies) against false defects per 100 frames, one dot per threshold pair."""
    w, h, m = 900, 600, 70
    img = np.full((h, w, 3), 255, np.uint8)
    xmax = max([5.0] + [p.get("false_defects_per_100", 0) for p in points]) * 1.05

    def xy(fd: float, r: float) -> tuple[int, int]:
        return round(m + (w - 2 * m) * fd / xmax), round(h - m - (h - 2 * m) * r)

    cv2.rectangle(img, (m, m), (w - m, h - m), (0, 0, 0), 1)
    for k in range(6):
        y = h - m - (h - 2 * m) * k // 5
        cv2.putText(img, f"{k / 5:.1f}", (18, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x = m + (w - 2 * m) * k // 5
        cv2.putText(img, f"{xmax * k / 5:.1f}", (x - 12, h - m + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    one = xy(1.0, 0)[0]
    cv2.line(img, (one, m), (one, h - m), (0, 160, 0), 1)
    cv2.line(img, (m, xy(0, 0.8)[1]), (w - m, xy(0, 0.8)[1]), (0, 160, 0), 1)
    series = (("cplid_val_recall", (200, 80, 0), "CPLID val"), ("proxies_recall", (0, 0, 220), "large-frame proxies"))
    for key, color, label in series:
        for p in points:
            if key in p and "false_defects_per_100" in p:
                centre = xy(p["false_defects_per_100"], p[key])
                is_shipped = (p["crop_conf"], p["conf"]) == shipped
                cv2.circle(img, centre, 7 if is_shipped else 3, color, -1 if is_shipped else 1, cv2.LINE_AA)
        y = 26 if key.startswith("cplid") else 46
        cv2.circle(img, (m + 10, y - 4), 4, color, -1)
        cv2.putText(img, label, (m + 22, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    text = "missing-cap recall vs false defects per 100 negative frames; "
    text += f"filled: shipped (crop {shipped[0]:g}, conf {shipped[1]:g})"
    cv2.putText(img, text, (m, h - 18), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "bars: <= 1 false defect / 100 frames, recall >= 0.8", (w - 420, 46),
                cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 120, 0), 1, cv2.LINE_AA)  # fmt: skip
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
    parser.add_argument("--cplid", type=Path, default=SHARED / "cplid", help="CPLID root (YOLO layout)")
    parser.add_argument("--negatives", type=Path, default=SHARED / "negatives", help="the real negatives")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS, help="which data sets")
    parser.add_argument("--threads", type=int, nargs="*", default=[2], help="thread counts to time")
    parser.add_argument("--speed-images", type=int, default=60, help="640x480 images used for timing")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--no-speed", action="store_true", help="skip timing (e.g. while the cores are busy)")
    parser.add_argument("--no-curve", action="store_true", help="skip the threshold curve (a run per crop threshold)")
    parser.add_argument("--curve", type=Path, default=REPO / "models" / "threshold_curve.png", help="the curve PNG")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)

    results: dict = {"model": str(args.model)}
    sets: dict[str, list[Sample]] = {}
    if not args.speed_only:
        loaders = {
            "cplid": lambda: cplid(args.cplid, "val"),
            "negatives": lambda: negative_views(args.negatives),
            "pasted": lambda: pasted_proxies(args.cplid, args.negatives),
            "synthetic4k": synthetic_4k,
        }
        sets = {name: loaders[name]() for name in args.sets}
        shipped_model = load_model(args.model, threads=2)
        shipped = shipped_thresholds(shipped_model)
        deployed = {name: run(shipped_model, samples, f"{name} (as shipped)") for name, samples in sets.items()}
        traced_model = load_model(args.model, threads=2)
        low_floors(traced_model)
        traced = {name: run(traced_model, sets[name], f"{name} (low floors)") for name in sets if name == "cplid"}
        if isinstance(shipped_model, Cascade) and not args.no_curve:
            results["curve"] = []
            for crop_conf in sorted({*CROP_GRID, shipped[0]}):
                column_model = load_model(args.model, threads=2)
                at_crop_conf(column_model, crop_conf, shipped_model.stage1.conf)
                runs = {name: run(column_model, s, f"{name} (crop {crop_conf:g})") for name, s in sets.items()}
                results["curve"] += curve_column(runs, crop_conf)
        names = (INSULATOR, DEFECT)
        if "cplid" in sets:
            results["cplid_val"] = ap_table(traced["cplid"], names)
            for name in names:
                results["cplid_val"][name]["recall"] = round(recall(deployed["cplid"], name)[0], 4)
        if "negatives" in sets:
            results["negatives"] = {
                "frames": len(deployed["negatives"]),
                "false_defects_per_100": round(false_defects_per_100(deployed["negatives"]), 2),
            }
        proxy_sets = [n for n in ("pasted", "synthetic4k") if n in sets]
        if proxy_sets:
            results["proxies"] = {}
            for name in names:
                pooled = [r for n in proxy_sets for r in deployed[n]]
                value, n = recall(pooled, name)
                results["proxies"][name] = {"recall": round(value, 4), "n": n}
            for n in proxy_sets:
                results[n] = {name: {"recall": round(recall(deployed[n], name)[0], 4)} for name in names}
        results["thresholds"] = {"crop_conf": shipped[0], "conf": shipped[1]}
        if results.get("curve"):
            draw_curve(results["curve"], shipped, args.curve)
            results["best_point"] = best_point(results["curve"])
    results["speed"] = {"by_threads": []}
    if not args.no_speed:
        small = [r.load() for r in cplid(args.cplid, "val")[: args.speed_images]]
        large = frames_12mp(args.cplid, args.negatives)
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


def _passes(value: float, op: str, limit: float) -> bool:
    return value >= limit if op == ">=" else value <= limit


def report(results: dict, args: argparse.Namespace) -> None:
    if "cplid_val" in results:
        print(f"CPLID val ({args.cplid}), whole cascade:")
        print(f"  {'class':<12} {'AP50':>7} {'AP50-95':>8} {'recall':>7} {'n':>5}")
        for name, m in results["cplid_val"].items():
            print(f"  {name:<12} {m['ap50']:>7.3f} {m['ap50_95']:>8.3f} {m['recall']:>7.3f} {m['n']:>5}")
    if "negatives" in results:
        rate, frames = results["negatives"]["false_defects_per_100"], results["negatives"]["frames"]
        print(f"real negatives, held-out fold: {rate:.2f} false-defect frames per 100 ({frames} frames)")
    if "proxies" in results:
        print(f"large-frame proxies ({PROXY_SIZE[0]}x{PROXY_SIZE[1]}), recall at the shipped thresholds:")
        for name, m in results["proxies"].items():
            print(f"  {name:<12} {m['recall']:.3f} of {m['n']}")
        for part in ("pasted", "synthetic4k"):
            if part in results:
                recalls = ", ".join(f"{k} {results[part][k]['recall']:.3f}" for k in (INSULATOR, DEFECT))
                print(f"  {part}: {recalls}")
    if "thresholds" in results:
        t = results["thresholds"]
        print(f"thresholds: crop_conf {t['crop_conf']:g}, stage-two conf {t['conf']:g}; curve -> {args.curve}")
    if "best_point" in results:
        b = results["best_point"]
        print("  best point on the curve within the false-defect bar: " + (
            "none" if b is None else ", ".join(f"{k} {v:g}" for k, v in b.items())))  # fmt: skip
    for entry, threads in zip(results["speed"]["by_threads"], args.threads, strict=False):
        a, b = entry["640x480"], entry["12mp"]
        print(f"detect() at {threads} thread(s): 640x480 median {a['median_ms']} ms (p90 {a['p90_ms']}); "
              f"12 MP median {b['median_ms'] / 1000:.2f} s")  # fmt: skip
    print("bars:")
    for key, op, limit in BARS:
        value = _get(results, key)
        verdict = "-" if value is None else ("PASS" if _passes(value, op, limit) else "FAIL")
        print(f"  {key:<36} {'-' if value is None else value!s:>8} {op} {limit:<6} {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
