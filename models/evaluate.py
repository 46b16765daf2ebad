"""Evaluate a shipped model with GridScout's own runtime: per-class AP50 / AP50-95, and speed.

    python -m gridscout.models.evaluate                                  # shipped cascade on CPLID val
    python -m gridscout.models.evaluate --model models/insulator.onnx --data ../shared/datasets/cplid --split val
    python -m gridscout.models.evaluate --speed-only --threads 1 2

The cascade runs exactly as deployed (same crops), but with a low score floor so the whole
precision-recall curve is traced. Needs no ultralytics.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gridscout.models.metrics import ClassStats
from gridscout.models.yolo_labels import read_yolo_labels, to_xyxy
from gridscout.perception.cascade import Cascade
from gridscout.perception.detector import Detector
from gridscout.perception.model_loader import load_model

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "models" / "gridscout_cplid.toml"
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cplid"
EVAL_CONF = 0.001


def read_split(root: Path, split: str) -> list[tuple[Path, Path]]:
    images = sorted((root / "images" / split).glob("*.jpg")) + sorted((root / "images" / split).glob("*.png"))
    if not images:
        raise SystemExit(f"{root / 'images' / split}: no images found (expected a YOLO layout)")
    return [(p, root / "labels" / split / f"{p.stem}.txt") for p in images]


def read_truth(label: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and xyxy pixel boxes from a YOLO label file."""
    rows = read_yolo_labels(label)
    return rows[:, 0].astype(int), to_xyxy(rows, width, height)


def for_evaluation(model: Detector | Cascade) -> None:
    """Lower score floors to trace the PR curve; a cascade keeps searching the crops it deploys."""
    if isinstance(model, Cascade):
        model.crop_conf = model.stage1.conf
        for stage in model.detectors:
            stage.conf = EVAL_CONF
    else:
        model.conf = EVAL_CONF


def evaluate(model: Detector | Cascade, data: Path, split: str, dataset_names: list[str]) -> dict:
    for_evaluation(model)
    stats = {name: ClassStats() for name in model.names}
    for image_path, label_path in tqdm(read_split(data, split), desc="evaluating", unit="img", leave=False):
        image = cv2.imread(str(image_path))
        if image is None:
            raise SystemExit(f"{image_path}: cannot read image")
        gt_classes, gt_boxes = read_truth(label_path, image.shape[1], image.shape[0])
        detections = model.detect(image)
        for class_id, name in enumerate(model.names):
            if name not in dataset_names:
                continue
            keep = detections.class_ids == class_id
            gt = gt_boxes[gt_classes == dataset_names.index(name)]
            stats[name].add(detections.boxes[keep], detections.scores[keep], gt)
    result = {}
    for name, s in stats.items():
        if s.n_gt:
            ap = s.ap()
            result[name] = {
                "ap50": round(float(ap[0]), 4),
                "ap50_95": round(float(ap.mean()), 4),
                "instances": s.n_gt,
                "recall_at_0.25": round(s.recall_at(0.25), 4),
            }
    return result


def measure_speed(model_path: Path, images: list[Path], threads: int, repeats: int = 2) -> dict:
    """Median and p90 of detect() per frame (pre + inference + post), after warm-up."""
    model = load_model(model_path, threads=threads)
    frames = [cv2.imread(str(p)) for p in images]
    for frame in frames[:5]:
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an .onnx model or cascade .toml manifest")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="YOLO-layout data set root")
    parser.add_argument("--split", default="val")
    parser.add_argument("--names", default="insulator,missing_cap", help="the data set's class names, in id order")
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2], help="thread counts to time")
    parser.add_argument("--speed-images", type=int, default=60, help="images used for timing")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)

    results: dict = {"model": str(args.model), "data": str(args.data), "split": args.split}
    if not args.speed_only:
        model = load_model(args.model, threads=2)
        results["metrics"] = evaluate(model, args.data, args.split, args.names.split(","))
        print(f"{'class':<12} {'AP50':>7} {'AP50-95':>8} {'R@0.25':>7} {'n':>5}")
        for name, m in results["metrics"].items():
            print(f"{name:<12} {m['ap50']:>7.3f} {m['ap50_95']:>8.3f} {m['recall_at_0.25']:>7.3f} {m['instances']:>5}")
    images = [p for p, _ in read_split(args.data, args.split)][: args.speed_images]
    results["speed"] = [measure_speed(args.model, images, t) for t in args.threads]
    for s in results["speed"]:
        print(f"detect() per 640x480 frame, {s['threads']} thread(s): median {s['median_ms']} ms, p90 {s['p90_ms']} ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
