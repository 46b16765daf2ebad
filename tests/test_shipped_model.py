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


def test_finds_the_defects_in_an_unseen_synthetic_flight(model):
    """Another seed than the demo's: a scene nobody tuned anything on."""
    with open_source("synthetic://drone?seed=11&frames=120") as source:
        pairs = [
            (frame.image, [t.box for t in source.truth(frame.frame_id) if t.class_name == "missing_cap"])
            for frame in source
        ]
    stats = defect_stats(model, pairs)
    assert stats.n_gt > 10
    assert stats.recall_at(cap_threshold(model)) >= 0.8


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
