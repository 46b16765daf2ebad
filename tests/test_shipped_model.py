"""The shipped model on footage with known ground truth: synthetic scenes and real CPLID photos."""

from pathlib import Path

import pytest

from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.models.eval_sets import cplid
from gridscout.models.metrics import ClassStats
from gridscout.models.rendered_recall import cap_figures, cap_threshold, detect_caps
from gridscout.perception.model_loader import load_model

CPLID = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cplid"


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_MODEL, threads=2)


def test_finds_the_defects_in_the_bundled_demo_footage(model):
    """The footage `gridscout detect` runs by default: every defect frame, as decoded from the mp4."""
    figures = cap_figures(detect_caps(model, "demo", cap_threshold(model)), cap_threshold(model))
    assert figures.caps > 30
    assert figures.recall >= 0.8


@pytest.mark.slow
def test_finds_the_defects_in_unseen_synthetic_flights_without_inventing_many(model):
    """Four flights no model or threshold was chosen on, pooled (`models.rendered_recall`): missing-cap recall, and
    boxes matching no true cap per 100 frames (37 caps in 285 frames). Measured: v4 0.62 and 10.9 per 100 (its
    stage two trained on many renders), v5 0.54 and 4.2 (it misses more rendered caps at a string cut by the frame's
    edge, and invents fewer than half as many), v6 0.51 and 6.0, v7 0.51 and 4.9 at confidence 0.2; v8 (v7's
    weights at 0.4, the threshold chosen once the curves counted false caps on real healthy strings: 2 of 92 real
    photos at 0.2) 0.46 and 1.4. Real photos come first; 2 rendered caps of 37 are what it costs. One flight alone
    is too few caps to judge a model by: seed 11 alone gave v4 0.93 and v5 0.59."""
    figures = cap_figures(detect_caps(model, "flights", cap_threshold(model)), cap_threshold(model))
    assert figures.caps > 30
    assert figures.recall >= 0.45
    assert figures.false_per_100_frames <= 8.0


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
