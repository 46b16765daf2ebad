"""`python -m gridscout.models.misses`: each miss and false box named with its size and edge, counts that agree with
`evaluate`'s recall, a contact sheet, and one clear line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridscout.hardware.sim import make_dataset
from gridscout.models import misses
from gridscout.models.eval_sets import Sample, source_samples
from gridscout.models.evaluate import Result, recall
from gridscout.models.sources import load_source
from gridscout.perception.model_loader import load_model

MODEL = Path(__file__).resolve().parents[1] / "models" / "gridscout_field.toml"


def test_each_miss_and_false_box_is_named_with_its_size_its_edge_and_the_nearest_box():
    image = np.zeros((480, 640, 3), np.uint8)
    truth = (
        ("insulator", (100.0, 100.0, 300.0, 160.0)),  # found
        ("insulator", (600.0, 10.0, 640.0, 30.0)),  # missed: small (20 px) and cut by the right edge
        ("insulator", (100.0, 300.0, 300.0, 360.0)),  # missed: the model's box overlaps it too little
        ("missing_cap", (150.0, 110.0, 180.0, 150.0)),  # missed: no cap box at all
    )
    sample = Sample("src/one", lambda: image, truth)
    names = ["insulator", "insulator", "insulator"]
    boxes = np.array([[102, 98, 298, 162], [200, 320, 500, 400], [400, 200, 500, 230]], float)
    scores = np.array([0.9, 0.6, 0.4])
    found = misses.findings_of(sample, image, names, boxes, scores, ("insulator", "missing_cap"))

    missed = {f.box: f for f in found if f.kind == "missed"}
    false = {f.box: f for f in found if f.kind == "false"}
    assert set(missed) == {(600, 10, 640, 30), (100, 300, 300, 360), (150, 110, 180, 150)}
    assert set(false) == {(200, 320, 500, 400), (400, 200, 500, 230)}
    edge = missed[(600, 10, 640, 30)]
    assert edge.small and edge.at_edge and edge.nearest is None and edge.nearest_score is None
    near = missed[(100, 300, 300, 360)]
    assert near.nearest == (200, 320, 500, 400) and 0 < near.nearest_iou < 0.5 and near.nearest_score == 0.6
    assert not near.small and not near.at_edge
    assert missed[(150, 110, 180, 150)].class_name == "missing_cap"
    lone = false[(400, 200, 500, 230)]
    assert lone.score == 0.4 and lone.nearest is None and lone.nearest_iou == 0.0
    assert false[(200, 320, 500, 400)].nearest == (100, 300, 300, 360)

    rows = {r["class"]: r for r in misses.summary(found, [sample], ("insulator", "missing_cap"))}
    assert rows["insulator"] == {
        "class": "insulator", "truth": 3, "found": 1, "missed": 2, "missed_small": 1, "missed_at_edge": 1,
        "missed_small_or_at_edge": 1, "false": 2, "false_at_edge": 0,
    }  # fmt: skip
    assert rows["missing_cap"]["truth"] == 1 and rows["missing_cap"]["missed"] == 1

    sheet = misses.contact_sheet([misses._tile(image, f) for f in found], columns=4)
    assert sheet.shape == (2 * misses.TILE_PX, 4 * misses.TILE_PX, 3)


def test_on_rendered_photos_the_counts_agree_with_evaluates_recall_and_the_sheet_is_drawn(tmp_path, capsys):
    source_dir = tmp_path / "rendered"
    make_dataset.main(["--out", str(source_dir), "--images", "6", "--seed", "11", "--defect-rate", "1", "--quiet"])
    sheet, out_json = tmp_path / "sheet.png", tmp_path / "misses.json"
    args = ["--source", str(source_dir), "--split", "train", "--model", str(MODEL)]
    assert misses.main([*args, "--sheet", str(sheet), "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    rows = {r["class"]: r for r in report["summary"]}
    assert set(rows) == {"insulator", "missing_cap"}

    samples = source_samples(load_source(source_dir), ("train",))
    model = load_model(MODEL, threads=2)
    results = []
    for s in samples:
        dets = model.detect(s.load())
        results.append(Result(s, dets.class_names, dets.boxes, dets.scores, dets.scores.copy()))
    for name, row in rows.items():
        share, n = recall(results, name)
        assert row["truth"] == n and row["found"] == round(share * n), (name, row)
        assert row["missed"] == sum(f["kind"] == "missed" and f["class_name"] == name for f in report["findings"])
        assert f"  {name:<12} {row['truth']:>5} {row['found']:>5} {row['missed']:>6}" in printed
    if report["findings"]:
        drawn = cv2.imread(str(sheet))
        assert drawn is not None and drawn.shape[1] == 8 * misses.TILE_PX
        assert f"sheet: {sheet}" in printed


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--source", "/nope/source"], "/nope/source: no images/val folder (expected a labelled source"),
        (["--source", "{src}", "--split", "train", "--classes", "bird_nest"], "--classes bird_nest: expected some"),
        (["--source", "{src}", "--split", "train", "--max-tiles", "0"], "--max-tiles 0: expected at least 1"),
    ],
)
def test_bad_input_is_one_line_naming_it(tmp_path, capsys, args, says):
    src = tmp_path / "src"
    (src / "images" / "train").mkdir(parents=True)
    (src / "data.yaml").write_text("names: [insulator, missing_cap]\n")
    assert misses.main([a.replace("{src}", str(src)) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(says.replace("{src}", str(src))), err
