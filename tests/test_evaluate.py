"""The evaluation's per-class threshold choice, its false-defect count and its leave-one-source-out table."""

from __future__ import annotations

import numpy as np

from gridscout.models.eval_sets import Sample
from gridscout.models.evaluate import Result, best_points, false_defects_per_100, loso_table
from gridscout.models.sources import Source


def _negative(names: list[str], scores: list[float]) -> Result:
    boxes = np.tile(np.array([[0, 0, 10, 10]], np.float32), (len(names), 1))
    sample = Sample("n", lambda: np.zeros((8, 8, 3), np.uint8), ())
    return Result(sample, names, boxes, np.asarray(scores, np.float32), np.ones(len(names), np.float32))


def test_a_frame_counts_once_whichever_defect_class_shows():
    frames = [_negative(["flashover", "broken_disc"], [0.5, 0.3]), _negative(["insulator"], [0.9]), _negative([], [])]
    classes = ("missing_cap", "broken_disc", "flashover")
    assert false_defects_per_100(frames, classes=classes) == 100 / 3
    assert false_defects_per_100(frames, 0.6, classes=classes) == 0
    assert false_defects_per_100(frames, {"flashover": 0.6, "broken_disc": 0.2}, classes=classes) == 100 / 3
    assert false_defects_per_100(frames) == 0  # missing caps only, by default


def _point(name: str, crop: float, conf: float, fd: float, recall: float) -> dict:
    return {"class": name, "crop_conf": crop, "conf": conf, "false_defects_per_100": fd, "val_recall": recall}


def test_each_class_gets_its_best_point_within_its_share_of_the_bar_with_a_margin():
    """Two classes share the bar of 1 false defect per 100 frames: each may spend 0.5; a point counts only when
    the next lower confidence is within it too (the negatives are few), so never the lowest confidence swept."""
    points = [
        _point("missing_cap", 0.25, 0.2, 1.9, 0.97), _point("missing_cap", 0.25, 0.3, 0.0, 0.96),
        _point("missing_cap", 0.25, 0.4, 0.0, 0.95), _point("missing_cap", 0.25, 0.5, 0.0, 0.95),
        _point("flashover", 0.25, 0.2, 0.4, 0.7), _point("flashover", 0.25, 0.3, 0.0, 0.6),
        _point("missing_cap", 0.35, 0.2, 0.0, 0.90), _point("flashover", 0.35, 0.2, 0.0, 0.5),
    ]  # fmt: skip
    picks = best_points(points, ("missing_cap", "flashover"))
    # 0.3 is within the bar but its lower neighbour is not: 0.4 and 0.5 tie, and the higher confidence wins
    assert picks["missing_cap"]["crop_conf"] == 0.25 and picks["missing_cap"]["conf"] == 0.5
    # 0.3 and its neighbour 0.2 (0.4 per 100) are within its half of the bar; 0.2 has no lower neighbour
    assert picks["flashover"]["conf"] == 0.3
    # where every point shows none, the lowest confidence is still not shipped: nothing shows its margin
    flat = [_point("broken_disc", 0.25, c, 0.0, 1 - c) for c in (0.1, 0.2, 0.3)]
    assert best_points(flat, ("broken_disc",))["broken_disc"]["conf"] == 0.2


def test_the_loso_table_says_why_a_figure_is_missing(tmp_path):
    cplid = Source("cplid", tmp_path, ("insulator", "missing_cap"), True)
    idid = Source("idid", tmp_path, ("insulator", "broken_disc", "flashover"), True)
    stefenon = Source("stefenon_furb", tmp_path, ("insulator", "insulator"), False)
    in_source = {"cplid": {"insulator": {"ap50": 0.96}, "missing_cap": {"ap50": 0.97}}}
    table = loso_table([cplid, idid, stefenon], in_source, tmp_path / "m.toml", tmp_path / "loso")
    assert table["cplid"]["missing_cap"] == {"in_source_ap50": 0.97, "why": "no other source labels it"}
    assert "no model trained without it (insulator-without-cplid.onnx" in table["cplid"]["insulator"]["why"]
    assert table["cplid"]["insulator"]["in_source_ap50"] == 0.96
    assert set(table["stefenon_furb"]) == {"insulator"}
    assert set(table["idid"]) == {"insulator", "broken_disc", "flashover"}


def test_the_curves_are_drawn_with_the_shipped_points_filled(tmp_path):
    import cv2

    from gridscout.models.evaluate import draw_curves

    points = [_point("missing_cap", 0.35, c, 2 - 4 * c, 1 - c) | {"proxies_recall": 0.8 - c} for c in (0.2, 0.4)]
    points += [_point("flashover", 0.35, c, 1 - c, 0.7 - c) for c in (0.2, 0.4)]
    draw_curves(points, (0.35, {"missing_cap": 0.4, "flashover": 0.2}), tmp_path / "curve.png")
    image = cv2.imread(str(tmp_path / "curve.png"))
    assert image.shape == (600, 900, 3)
    blue, red = (image == (200, 80, 0)).all(axis=2), (image == (0, 0, 220)).all(axis=2)
    assert blue.sum() > 50 and red.sum() > 50  # both classes drawn in their own colours
