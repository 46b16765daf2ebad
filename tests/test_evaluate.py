"""The evaluation's per-class threshold choice, its false-defect count and its leave-one-source-out table."""

from __future__ import annotations

import numpy as np

from gridscout.models.eval_sets import LABEL_ERRATA, Sample
from gridscout.models.evaluate import Result, best_points, curve_column, defect_free, false_defects_per_100, loso_table
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


def _photo(name: str, truth: tuple, found: list[tuple[str, float]]) -> Result:
    """A source's val photo: its truth, and the boxes found (each at its truth's box, or at a clean spot)."""
    spots = {n: b for n, b in truth}
    boxes = np.array([spots.get(n, (50, 50, 60, 60)) for n, _ in found], np.float32).reshape(-1, 4)
    scores = np.array([s for _, s in found], np.float32)
    sample = Sample(name, lambda: np.zeros((8, 8, 3), np.uint8), truth)
    return Result(sample, [n for n, _ in found], boxes, scores, np.ones(len(found), np.float32))


STRING = ("insulator", (0.0, 0.0, 40.0, 20.0))
CAP = ("missing_cap", (10.0, 5.0, 16.0, 12.0))


def test_the_defect_free_frames_are_the_negatives_and_the_healthy_strings_of_sources_labelling_defects():
    """A false defect comes from a string: the negatives have none in view, so the val photos whose strings carry
    no labelled defect count too, but not a source that labels no disc-level defect (its strings' defects are
    unknown), nor a photo the errata list as mislabelled."""
    healthy = _photo("cplid/normal_1", (STRING,), [("insulator", 0.9)])
    defective = _photo("cplid/defective_1", (STRING, CAP), [("missing_cap", 0.8)])
    erratum = _photo(next(iter(LABEL_ERRATA)), (STRING,), [("missing_cap", 0.7)])
    ground = _photo("stefenon_furb/a", (STRING,), [])
    negative = _negative([], [])
    runs = {"negatives": [negative], "source:cplid": [healthy, defective, erratum], "source:stefenon_furb": [ground]}
    assert defect_free(runs, ("cplid",)) == [negative, healthy]
    assert defect_free({"negatives": [negative]}, ("cplid",)) == [negative]


def test_the_curves_count_a_false_defect_on_a_healthy_string():
    """Scenario: no negative shows a cap, but stage two marks one at 0.35 on a healthy string's photo: the curve
    shows it up to that confidence, and a true cap on another photo is recall, not a false defect."""
    runs = {
        "negatives": [_negative([], []) for _ in range(3)],
        "source:cplid": [
            _photo("cplid/normal_1", (STRING,), [("missing_cap", 0.35)]),
            _photo("cplid/defective_1", (STRING, CAP), [("missing_cap", 0.8)]),
        ],
    }
    points = {p["conf"]: p for p in curve_column(runs, 0.25, ("missing_cap",), ("cplid",))}
    assert points[0.3]["false_defects_per_100"] == 25.0  # 1 of 4 defect-free frames
    assert points[0.4]["false_defects_per_100"] == 0.0
    assert points[0.4]["val_recall"] == 1.0
    unaware = {p["conf"]: p for p in curve_column(runs, 0.25, ("missing_cap",))}
    assert unaware[0.3]["false_defects_per_100"] == 0.0  # the negatives alone never see it


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


def test_each_class_gets_its_own_crop_threshold_but_none_below_stage_ones():
    """Scenario: flashover marks show on clean lines in weak strings' crops, missing caps do not. Caps keep the
    lower crop threshold (on a tie, searching more strings); flashover takes the surer one, where it is clean; a
    crop threshold under stage one's own is drawn but never picked (it would change the strings reported)."""
    points = []
    for crop in (0.15, 0.25, 0.45):
        points += [_point("missing_cap", crop, c, 0.0, 0.9) for c in (0.1, 0.2, 0.3)]
        clean = crop >= 0.45
        points += [_point("flashover", crop, c, 0.0 if clean else 3.9, 0.5 - c) for c in (0.1, 0.2, 0.3)]
    picks = best_points(points, ("missing_cap", "flashover"), least_crop=0.25)
    assert (picks["missing_cap"]["crop_conf"], picks["missing_cap"]["conf"]) == (0.25, 0.3)
    assert (picks["flashover"]["crop_conf"], picks["flashover"]["conf"]) == (0.45, 0.2)
    assert best_points(points, ("missing_cap",))["missing_cap"]["crop_conf"] == 0.15


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
    shipped = ({"missing_cap": 0.35, "flashover": 0.35}, {"missing_cap": 0.4, "flashover": 0.2})
    draw_curves(points, shipped, tmp_path / "curve.png")
    image = cv2.imread(str(tmp_path / "curve.png"))
    assert image.shape == (600, 900, 3)
    blue, red = (image == (200, 80, 0)).all(axis=2), (image == (0, 0, 220)).all(axis=2)
    assert blue.sum() > 50 and red.sum() > 50  # both classes drawn in their own colours


def test_a_one_detector_model_is_evaluated_with_its_own_curve(tmp_path):
    """Scenario: the one-detector alternative (a manifest without [stage2]) run through `evaluate` on real
    negatives' stand-ins: it reports its false defects and sweeps each defect class's confidence at crop 0."""
    import json

    import cv2

    from gridscout.models import evaluate
    from gridscout.models.eval_sets import EVAL_FOLD
    from tests.onnx_fixtures import constant_output_model, ultralytics_metadata

    out = np.zeros((1, 6, 8), np.float32)
    out[0, :, 0] = [32, 32, 20, 40, 0.9, 0]  # an insulator
    out[0, :, 1] = [10, 10, 6, 6, 0, 0.35]  # a missing cap at 0.35
    meta = ultralytics_metadata(["insulator", "missing_cap"])
    constant_output_model(tmp_path / "one.onnx", out, metadata=meta)
    manifest = tmp_path / "one.toml"
    manifest.write_text('name = "one"\n[stage1]\nmodel = "one.onnx"\nconf = 0.25\n')
    (tmp_path / "negatives" / "images").mkdir(parents=True)
    for i in range(EVAL_FOLD + 1):  # the held-out fold gets one frame
        cv2.imwrite(str(tmp_path / "negatives" / "images" / f"n{i}.png"), np.full((48, 64, 3), 90, np.uint8))
    report = tmp_path / "r.json"
    evaluate.main(["--model", str(manifest), "--sets", "negatives", "--negatives", str(tmp_path / "negatives"),
                   "--no-speed", "--curve", str(tmp_path / "c.png"), "--json", str(report)])  # fmt: skip
    results = json.loads(report.read_text())
    assert results["negatives"]["false_defects_per_100"] == 100.0  # the 0.35 cap shows in every view
    assert results["defect_free"] == results["negatives"] and "healthy_strings" not in results
    points = {p["conf"]: p["false_defects_per_100"] for p in results["curve"] if p["class"] == "missing_cap"}
    assert {p["crop_conf"] for p in results["curve"]} == {0.0}
    assert points[0.3] == 100.0 and points[0.4] == 0.0
    assert (tmp_path / "c.png").stat().st_size > 0
