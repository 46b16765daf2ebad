"""The shipped model on footage with known ground truth: synthetic scenes and real CPLID photos."""

import json
from pathlib import Path

import numpy as np
import pytest

from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE
from gridscout.hardware.camera import open_source
from gridscout.models.eval_sets import cplid
from gridscout.models.metrics import ClassStats
from gridscout.perception.model_loader import load_model

CPLID = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cplid"


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_MODEL, threads=2)


def cap_threshold(model) -> float:
    """The missing-cap confidence the shipped manifest reports at (its own class_conf, else stage two's conf)."""
    return model.stage2.class_conf.get("missing_cap", model.stage2.conf)


def defect_stats(model, frames_and_truth) -> ClassStats:
    """Pool the model's defect detections against the truth's defect boxes."""
    defect_id = model.names.index("missing_cap")
    stats = ClassStats()
    for image, truth_boxes in frames_and_truth:
        detections = model.detect(image)
        keep = detections.class_ids == defect_id
        stats.add(detections.boxes[keep], detections.scores[keep], np.asarray(truth_boxes, np.float32).reshape(-1, 4))
    return stats


def test_finds_the_defects_in_the_bundled_demo_footage(model):
    """The footage `gridscout detect` runs by default: every defect frame, as decoded from the mp4."""
    truth = [json.loads(line) for line in DEMO_FOOTAGE.with_suffix(".truth.jsonl").read_text().splitlines()]
    with open_source(DEMO_FOOTAGE) as source:
        pairs = [
            (frame.image, [b["box"] for b in truth[frame.frame_id]["boxes"] if b["class"] == "missing_cap"])
            for frame in source
        ]
    stats = defect_stats(model, pairs)
    assert stats.n_gt > 30
    assert stats.recall_at(cap_threshold(model)) >= 0.8


#: rendered flights nobody tuned anything on (the demo is seed 42), and every other frame of each
UNSEEN_FLIGHTS = (
    "synthetic://drone?seed=1&frames=150&defect_rate=0.5",
    "synthetic://drone?seed=3&frames=150&defect_rate=0.5",
    "synthetic://drone?seed=7&frames=150&defect_rate=0.5",
    "synthetic://drone?seed=11&frames=120",
)
FRAME_STRIDE = 2


@pytest.mark.slow
def test_finds_the_defects_in_unseen_synthetic_flights_without_inventing_many(model):
    """Four flights no model or threshold was chosen on, pooled: missing-cap recall, and boxes matching no true
    cap per 100 frames (37 caps in 285 frames). Measured: v4 0.62 and 10.9 per 100 (its stage two trained on many
    renders), v5 0.54 and 4.2 (it misses more rendered caps at a string cut by the frame's edge, and invents
    fewer than half as many), v6 0.51 and 6.0, v7 0.51 and 4.9. One flight alone is too few caps to judge a model
    by: seed 11 alone gave v4 0.93 and v5 0.59."""
    stats, frames, false = ClassStats(), 0, 0
    defect_id = model.names.index("missing_cap")
    threshold = cap_threshold(model)
    for uri in UNSEEN_FLIGHTS:
        with open_source(uri) as source:
            for frame in source:
                if frame.frame_id % FRAME_STRIDE:
                    continue
                truth = [t.box for t in source.truth(frame.frame_id) if t.class_name == "missing_cap"]
                detections = model.detect(frame.image)
                keep = (detections.class_ids == defect_id) & (detections.scores >= threshold)
                boxes = detections.boxes[keep]
                stats.add(boxes, detections.scores[keep], np.asarray(truth, np.float32).reshape(-1, 4))
                false += sum(1 for box in boxes if not any(_iou(box, t) >= 0.5 for t in truth))
                frames += 1
    assert stats.n_gt > 30
    assert stats.recall_at(threshold) >= 0.5
    assert 100 * false / frames <= 8.0


def _iou(a, b) -> float:
    w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.cplid
@pytest.mark.skipif(not CPLID.is_dir(), reason="../shared/datasets/cplid is not present")
def test_finds_the_insulators_in_cplid_val(model):
    insulator_id = model.names.index("insulator")
    stats = ClassStats()
    for sample in cplid(CPLID, "val")[::2]:
        detections = model.detect(sample.load())
        keep = detections.class_ids == insulator_id
        stats.add(detections.boxes[keep], detections.scores[keep], sample.boxes("insulator"))
    assert stats.n_gt > 80
    assert stats.recall_at(model.stage1.conf) >= 0.9
