"""Throughput of `gridscout detect` against raw onnxruntime and ultralytics, in one run.

    python bench/bench_detect.py                       # bundled footage, shipped model, 2 threads
    python bench/bench_detect.py --threads 1 --repeats 5

All three paths see the same decoded frames (decoding is outside the timing) and run the
same ONNX files with the same thread count:
- pipeline: GridScout's detect() + tracker per frame, as `gridscout detect` runs it;
- raw: only `session.run` on the very tensors the pipeline fed its sessions (the floor);
- ultralytics: `YOLO(onnx).predict(stream=True)`, stage one on frames then stage two on the
  insulator crops it found (skipped when ultralytics is not installed).
Prints frames/s (median of repeats) and the ratios. Targets: pipeline >= 0.95x raw, >= 1.15x ultralytics.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE  # noqa: E402
from gridscout.hardware.camera import open_source  # noqa: E402
from gridscout.perception.cascade import Cascade, grow_box  # noqa: E402
from gridscout.perception.detector import Detector  # noqa: E402
from gridscout.perception.model_loader import load_model  # noqa: E402
from gridscout.perception.tracker import Tracker  # noqa: E402


def record_session_inputs(model: Detector | Cascade, frames: list[np.ndarray]) -> list[tuple[Detector, np.ndarray]]:
    """Run the pipeline once and keep every tensor each session was fed, in order."""
    log: list[tuple[Detector, np.ndarray]] = []
    detectors = model.detectors if isinstance(model, Cascade) else (model,)
    for detector in detectors:
        # An instance attribute shadows Detector.infer, which detect() calls.
        detector.infer = lambda tensor, d=detector: log.append((d, tensor)) or type(d).infer(d, tensor)
    try:
        for frame in frames:
            model.detect(frame)
    finally:
        for detector in detectors:
            del detector.infer
    return log


def time_pipeline(model: Detector | Cascade, frames: list[np.ndarray], fps: float) -> float:
    tracker = Tracker(frame_rate=fps)
    t0 = time.perf_counter()
    for frame in frames:
        tracker.update(model.detect(frame))
    return time.perf_counter() - t0


def time_raw(inputs: list[tuple[Detector, np.ndarray]]) -> float:
    t0 = time.perf_counter()
    for detector, tensor in inputs:
        detector.session.run(None, {detector.input_name: tensor})
    return time.perf_counter() - t0


def ultralytics_runner(model: Detector | Cascade):
    """A function timing ultralytics on the same ONNX files, or None if it is not installed."""
    try:
        from gridscout.models.ultralytics_env import configure

        configure()
        from ultralytics import YOLO
    except ImportError:
        return None
    stages = model.detectors if isinstance(model, Cascade) else (model,)
    yolos = [YOLO(str(d.path), task="detect") for d in stages]

    def run(frames: list[np.ndarray]) -> float:
        t0 = time.perf_counter()
        first, stage = yolos[0], stages[0]
        results = first.predict(frames, stream=True, imgsz=stage.meta.imgsz, conf=stage.conf, verbose=False)
        for frame, result in zip(frames, results, strict=True):
            if len(yolos) == 1:
                continue
            crops = []
            for box, cls in zip(result.boxes.xyxy.numpy(), result.boxes.cls.numpy(), strict=True):
                if int(cls) == model.parent_id:
                    x1, y1, x2, y2 = grow_box(box, model.margin, frame.shape[1], frame.shape[0])
                    crops.append(frame[y1:y2, x1:x2])
            if not crops:
                continue
            s2 = stages[1]
            for _ in yolos[1].predict(
                crops[: model.max_crops], stream=True, imgsz=s2.meta.imgsz, conf=s2.conf, verbose=False
            ):
                pass
        return time.perf_counter() - t0

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--source", default=str(DEMO_FOOTAGE))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=150, help="frames to use from the source")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    with open_source(args.source) as source:
        frames, fps = [], source.fps or 10.0
        for frame in source:
            frames.append(frame.image)
            if len(frames) >= args.frames:
                break
    model = load_model(args.model, threads=args.threads)
    inputs = record_session_inputs(model, frames)
    ultra = ultralytics_runner(model)
    time_pipeline(model, frames[:10], fps)  # warm-up
    results: dict[str, list[float]] = {"pipeline": [], "raw": [], "ultralytics": []}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits all three alike
        results["pipeline"].append(len(frames) / time_pipeline(model, frames, fps))
        results["raw"].append(len(frames) / time_raw(inputs))
        if ultra:
            results["ultralytics"].append(len(frames) / ultra(frames))
    fps_of = {k: statistics.median(v) for k, v in results.items() if v}
    print(
        f"{len(frames)} frames of {args.source}, model {model.name}, {args.threads} thread(s), "
        f"{len(inputs)} session runs, median of {args.repeats}"
    )
    for name, value in fps_of.items():
        print(f"  {name:<12} {value:7.1f} frames/s   {1000 / value:6.2f} ms/frame")
    print(f"  pipeline / raw          {fps_of['pipeline'] / fps_of['raw']:.3f}x   (target >= 0.95)")
    if "ultralytics" in fps_of:
        print(f"  pipeline / ultralytics  {fps_of['pipeline'] / fps_of['ultralytics']:.3f}x   (target >= 1.15)")
    else:
        print("  ultralytics not installed (pip install -e '.[train]'): that ratio is skipped")


if __name__ == "__main__":
    main()
