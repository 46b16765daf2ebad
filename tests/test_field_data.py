"""The large-frame proxies and field training data: strings pasted small into big frames keep their labels,
and the evaluation's figures (recall, false defects per 100 frames) count what they say."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridscout.models.eval_sets import Sample
from gridscout.models.evaluate import Result, false_defects_per_100, recall
from gridscout.models.paste import MISSING_CAP, SCALE_RANGE, background, cutouts, paste_strings
from gridscout.perception.tiling import tiles


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A one-photo YOLO set: a 640x480 photo with a bright 'string' at (200..440, 220..260) and a cap in it."""
    root = tmp_path / "cplid"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    image = np.full((480, 640, 3), 40, np.uint8)
    image[220:260, 200:440] = (0, 200, 255)
    image[230:250, 300:320] = (255, 0, 0)
    cv2.imwrite(str(root / "images" / "train" / "a.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    (root / "labels" / "train" / "a.txt").write_text(
        f"0 {320 / 640} {240 / 480} {240 / 640} {40 / 480}\n1 {310 / 640} {240 / 480} {20 / 640} {20 / 480}\n"
    )
    return root


def test_a_pasted_string_lands_where_its_label_says_at_a_field_scale(dataset, tmp_path):
    (cut,) = cutouts(dataset, "train")
    assert len(cut.defects) == 1
    bg = tmp_path / "bg.png"
    cv2.imwrite(str(bg), np.full((400, 600, 3), 90, np.uint8))
    rng = random.Random(3)
    canvas = background(bg, 4000, 2250, rng)
    assert canvas.shape == (2250, 4000, 3)
    image, labels = paste_strings(canvas, [cut], rng)
    (_, box), (cap_class, cap) = labels
    assert cap_class == MISSING_CAP
    share = (box[2] - box[0]) / 4000 / (240 / 640)  # its share of the frame, against CPLID's
    assert SCALE_RANGE[0] - 1e-6 <= share <= SCALE_RANGE[1] + 1e-6
    inside = image[int(box[1]) + 3 : int(box[3]) - 3, int(box[0]) + 3 : int(box[2]) - 3]
    assert abs(inside[..., 2].mean() - 255) < 30  # the string's colour is where the label is
    cx, cy = int((cap[0] + cap[2]) / 2), int((cap[1] + cap[3]) / 2)
    assert image[cy, cx, 0] > 200  # and so is its cap


def test_pasting_is_deterministic(dataset, tmp_path):
    bg = tmp_path / "bg.png"
    cv2.imwrite(str(bg), np.full((400, 600, 3), 90, np.uint8))
    cuts = cutouts(dataset, "train")
    runs = []
    for _ in range(2):
        rng = random.Random(11)
        image, labels = paste_strings(background(bg, 1200, 900, rng), cuts, rng)
        runs.append((image.tobytes(), [(c, tuple(b)) for c, b in labels]))
    assert runs[0] == runs[1]


def _result(names, boxes, scores, parents, truth=()) -> Result:
    sample = Sample("s", lambda: np.zeros((1, 1, 3), np.uint8), tuple(truth))
    return Result(sample, list(names), np.array(boxes, np.float32).reshape(-1, 4), np.array(scores), np.array(parents))


def test_recall_and_false_defect_rate_follow_both_thresholds():
    hit = _result(["missing_cap"], [(0, 0, 10, 10)], [0.5], [0.4], [("missing_cap", (0, 0, 10, 10))])
    assert recall([hit], "missing_cap") == (1.0, 1)
    assert recall([hit], "missing_cap", conf=0.6)[0] == 0.0
    assert recall([hit], "missing_cap", crop_conf=0.5)[0] == 0.0  # its parent was too weak to be searched
    clean = _result([], [], [], [])
    false = _result(["missing_cap", "insulator"], [(0, 0, 5, 5), (0, 0, 50, 9)], [0.3, 0.9], [0.2, 0.9])
    assert false_defects_per_100([clean, false]) == 50.0
    assert false_defects_per_100([clean, false], conf=0.4) == 0.0
    assert false_defects_per_100([hit, clean]) == 0.0  # a frame with a real defect is not a negative


def test_field_tiles_are_the_inference_tiles():
    """Training tiles are cut exactly as the shipped manifest tiles a frame (the manifest is the one source)."""
    from gridscout.edge.defaults import DEFAULT_MODEL
    from gridscout.models import prepare_field
    from gridscout.perception.model_loader import load_model

    stage1 = load_model(DEFAULT_MODEL, threads=1).stage1
    assert (stage1.tile_px, stage1.overlap) == (prepare_field.TILE, prepare_field.OVERLAP)
    assert len(tiles(4000, 2250, prepare_field.TILE, prepare_field.OVERLAP)) > 1


def test_synthetic_only_sets_hold_renders_alone(dataset, tmp_path):
    """The "synthetic to real" model's data: stills frames and crops, render tiles and string crops, and the
    stills' own val split as the val; nothing else goes in."""
    from gridscout.models.prepare_field import synthetic_only

    for kind in ("images", "labels"):  # the fixture's photo doubles as the stills' val frame
        (dataset / kind / "val").mkdir()
    (dataset / "images" / "val" / "v.jpg").symlink_to(dataset / "images" / "train" / "a.jpg")
    (dataset / "labels" / "val" / "v.txt").write_text((dataset / "labels" / "train" / "a.txt").read_text())
    renders = tmp_path / "renders"
    (renders / "images" / "train").mkdir(parents=True)
    (renders / "labels" / "train").mkdir(parents=True)
    big = np.full((1500, 2600, 3), 60, np.uint8)
    big[700:760, 1200:1500] = (0, 200, 255)
    cv2.imwrite(str(renders / "images" / "train" / "r.jpg"), big)
    (renders / "labels" / "train" / "r.txt").write_text(f"0 {1350 / 2600} {730 / 1500} {300 / 2600} {60 / 1500}\n")

    out = tmp_path / "out"
    counts = synthetic_only([renders], [dataset], out, random.Random(0))
    assert counts["stage one: still frames"] == 1 and counts["val frames"] == 1
    assert counts["stage one: tiles"] >= 1 and counts["stage two: crops"] >= 2  # a still's crop, a render's string
    train1 = sorted(p.name for p in (out / "stage1_synthetic" / "images" / "train").iterdir())
    assert train1[0] == "a.jpg" and all(n == "a.jpg" or n.startswith("syn4k_r_t") for n in train1)
    assert [p.name for p in (out / "stage1_synthetic" / "images" / "val").iterdir()] == ["v.jpg"]
    labelled = [p for p in (out / "stage1_synthetic" / "labels" / "train").glob("syn4k_*") if p.read_text()]
    assert labelled  # the render's string is labelled in the tiles that hold it
    assert "val: images/val" in (out / "stage2_synthetic" / "data.yaml").read_text()


def test_ap_runs_search_the_crops_the_shipped_cascade_searches():
    """Scenario: the AP run keeps every score of both stages, but stage two still searches only the strings
    the shipped cascade would (its crop threshold and crop cap): a defect AP over crops the cascade never
    searches would rank stage two on inputs it is never given."""
    from gridscout.edge.defaults import DEFAULT_MODEL
    from gridscout.models.evaluate import EVAL_CONF, low_floors
    from gridscout.perception.model_loader import load_model

    shipped, traced = load_model(DEFAULT_MODEL), load_model(DEFAULT_MODEL)
    low_floors(traced)
    assert traced.stage1.conf == traced.stage2.conf == EVAL_CONF
    assert (traced.crop_conf, traced.max_crops) == (shipped.crop_conf, shipped.max_crops)
    assert shipped.crop_conf > EVAL_CONF
