"""Real labelled sources onto one taxonomy, and the training sets built from all of them (models.prepare_real).

The sources here are tiny folders written by the test, laid out as the shared ones are: a CPLID-like set
(insulator, defect), an IDID-like set (insulator, broken_disc, flashover) and a Stefenon-like set of large
ground photos (insulator, insulator_defective), plus a folder of negatives.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridscout.hardware.sim import make_dataset
from gridscout.models import prepare_real
from gridscout.models.prepare_field import SHIPPED
from gridscout.models.sources import SourceError, classes_of, load_source, shared_sources
from gridscout.models.yolo_labels import read_yolo_labels, to_xyxy
from gridscout.perception.cascade import grow_box
from gridscout.perception.model_loader import load_model

STRING = (0, 200, 255)  # BGR of a drawn string
BREAK = (255, 0, 0)  # BGR of a drawn defect


def _yolo_row(cls: int, box: tuple[float, float, float, float], width: int, height: int) -> str:
    x1, y1, x2, y2 = box
    return f"{cls} {(x1 + x2) / 2 / width} {(y1 + y2) / 2 / height} {(x2 - x1) / width} {(y2 - y1) / height}\n"


def write_source(root: Path, names: list[str], frames: dict[str, list[tuple[int, tuple]]], size=(640, 480)) -> Path:
    """A YOLO-layout source: each frame a dark image with its boxes drawn (strings orange, defects blue)."""
    width, height = size
    (root).mkdir(parents=True)
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames:\n" + "".join(
        f"  {i}: {n}\n" for i, n in enumerate(names)))  # fmt: skip
    for key, boxes in frames.items():
        split, stem = key.split("/")
        for kind in ("images", "labels"):
            (root / kind / split).mkdir(parents=True, exist_ok=True)
        image = np.full((height, width, 3), 30, np.uint8)
        for cls, (x1, y1, x2, y2) in sorted(boxes, key=lambda b: b[0] != 0):  # strings first, defects on top
            image[int(y1) : int(y2), int(x1) : int(x2)] = STRING if cls == 0 else BREAK
        cv2.imwrite(str(root / "images" / split / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
        text = "".join(_yolo_row(c, b, width, height) for c, b in boxes)
        (root / "labels" / split / f"{stem}.txt").write_text(text)
    return root


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    string, cap = (200, 200, 440, 260), (300, 210, 330, 250)
    write_source(root / "cplid", ["insulator", "defect"], {
        "train/a": [(0, string), (1, cap)], "train/b": [(0, string)], "val/c": [(0, string), (1, cap)],
    })  # fmt: skip
    write_source(root / "idid", ["insulator", "broken_disc", "flashover"], {
        "train/d": [(0, (100, 50, 200, 300)), (1, (120, 100, 150, 130)), (2, (140, 200, 170, 230))],
        "val/e": [(0, (100, 50, 200, 300)), (2, (120, 100, 150, 130))],
    }, size=(640, 360))  # fmt: skip
    write_source(root / "stefenon_furb", ["insulator", "insulator_defective"], {
        "train/f": [(0, (100, 100, 300, 200)), (1, (1200, 600, 1400, 800))], "val/g": [(1, (100, 100, 400, 300))],
    }, size=(1600, 900))  # fmt: skip
    negatives = root / "negatives" / "images"
    negatives.mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(negatives / f"n{i}.png"), np.full((400, 600, 3), 60 + 20 * i, np.uint8))
    return root


def test_each_source_maps_onto_the_taxonomy(shared):
    by_name = {s.name: s for s in shared_sources(shared)}
    assert list(by_name) == ["cplid", "idid", "stefenon_furb"]  # the negatives are no labelled source
    assert by_name["cplid"].classes == ("insulator", "missing_cap")
    assert by_name["idid"].classes == ("insulator", "broken_disc", "flashover")
    assert by_name["stefenon_furb"].classes == ("insulator", "insulator")  # both a string for stage one
    assert not by_name["stefenon_furb"].disc_labels  # its defects are judged on the whole insulator
    sources = list(by_name.values())
    assert classes_of(sources, 1) == ("insulator",)
    assert classes_of(sources, 2) == ("missing_cap", "broken_disc", "flashover")


def test_a_review_export_is_one_more_source_with_no_code_change(tmp_path):
    """Scenario: confirmed and rejected findings exported by the review tools, already in taxonomy names."""
    export = write_source(tmp_path / "reviews-2026-11", ["insulator", "bird_nest", "missing_cap"], {
        "train/x": [(0, (10, 10, 200, 100)), (2, (50, 20, 80, 60))],
    })  # fmt: skip
    source = load_source(export)
    assert source.classes == ("insulator", "bird_nest", "missing_cap") and source.disc_labels
    assert classes_of([source], 1) == ("insulator", "bird_nest")


def test_a_class_outside_the_taxonomy_is_an_error_naming_the_source_and_class(tmp_path):
    source = write_source(tmp_path / "other", ["insulator", "corrosion"], {"train/x": []})
    with pytest.raises(SourceError, match=r"other/data.yaml: class 1 'corrosion' is not a GridScout class"):
        load_source(source)
    with pytest.raises(SourceError, match=r"no data\.yaml"):
        load_source(tmp_path)


def _labels(root: Path, split: str, stem: str) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(class, xyxy box, the image's mean colour inside the box) of each label of a written frame."""
    image_path = next((root / "images" / split).glob(f"{stem}.*"))
    image = cv2.imread(str(image_path))
    rows = read_yolo_labels(root / "labels" / split / f"{stem}.txt")
    out = []
    for row, box in zip(rows, to_xyxy(rows, image.shape[1], image.shape[0]), strict=True):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        out.append((int(row[0]), box, image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].reshape(-1, 3).mean(0)))
    return out


def test_both_stages_are_built_from_every_source(shared, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--shared", str(shared), "--negatives", str(shared / "negatives"), "--out", str(out), "--no-mining"]
    assert prepare_real.main(args) == 0
    s1, s2 = out / "real_stage1", out / "real_stage2"
    assert "names:\n  0: insulator\n" in (s1 / "data.yaml").read_text()
    assert "0: missing_cap\n  1: broken_disc\n  2: flashover\n" in (s2 / "data.yaml").read_text()
    train1 = {p.stem for p in (s1 / "images" / "train").iterdir()}
    # real frames are symlinked; small sources repeat; the large Stefenon frame is also cut into inference tiles
    assert {"cplid_a", "cplid_b", "idid_d", "idid_d_r1", "stefenon_furb_f", "stefenon_furb_f_r1"} <= train1
    assert (s1 / "images" / "train" / "cplid_a.jpg").is_symlink()
    assert any(stem.startswith("stefenon_furb_f_t") for stem in train1)
    assert {"negative_n0", "negative_n2"} <= train1 and "negative_n1" not in train1  # the training fold only
    # Stefenon's defective insulator is a string for stage one
    assert [c for c, _, _ in _labels(s1, "train", "stefenon_furb_f")] == [0, 0]
    # stage two: a crop per string, each defect where its label says, in taxonomy ids
    idid = _labels(s2, "train", "idid_d_s00_c0")
    assert sorted(c for c, _, _ in idid) == [1, 2]
    for _, _, colour in idid:
        np.testing.assert_allclose(colour, BREAK, atol=25)
    cplid = _labels(s2, "train", "cplid_a_s00_c0")
    assert [c for c, _, _ in cplid] == [0]
    names2 = {p.stem for p in (s2 / "images" / "train").iterdir()}
    assert {f"cplid_a_s00_c{k}" for k in range(3)} <= names2  # a crop with a defect three times
    assert "cplid_b_s00_c1" not in names2
    assert not any(n.startswith("stefenon") for n in names2)  # its unboxed defects would teach "background"
    assert {p.stem for p in (s2 / "images" / "val").iterdir()} == {"cplid_c_s00_c0", "idid_e_s00_c0"}


def test_leave_one_source_out_drops_it_from_train_and_val(shared, tmp_path):
    out = tmp_path / "out"
    args = ["--shared", str(shared), "--negatives", str(shared / "negatives"), "--out", str(out), "--no-mining"]
    assert prepare_real.main([*args, "--without", "idid"]) == 0
    s1, s2 = out / "real_stage1-without-idid", out / "real_stage2-without-idid"
    for root in (s1, s2):
        for split in ("train", "val"):
            assert not any(p.name.startswith("idid") for p in (root / "images" / split).iterdir())
    assert "names:\n  0: missing_cap\n" in (s2 / "data.yaml").read_text()  # no other source labels the rest
    assert (out / "real-without-idid.json").is_file()


def test_bad_arguments_get_one_clear_line(shared, tmp_path, capsys):
    args = ["--shared", str(shared), "--out", str(tmp_path / "out"), "--no-mining"]
    with pytest.raises(SystemExit) as exit_info:
        prepare_real.main([*args, "--without", "inspad"])
    assert exit_info.value.code == 2
    assert "--without inspad: no such source (cplid, idid, stefenon_furb)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        prepare_real.main([*args, "--repeat", "idid"])
    assert "expected SOURCE=N" in capsys.readouterr().err


def test_copy_paste_blends_training_strings_into_the_training_negatives(shared, tmp_path):
    out = tmp_path / "out"
    args = ["--shared", str(shared), "--negatives", str(shared / "negatives"), "--out", str(out), "--no-mining"]
    assert prepare_real.main([*args, "--without", "cplid", "--paste", "6"]) == 0
    s1 = out / "real_stage1-without-cplid"
    pasted = sorted(p.stem for p in (s1 / "images" / "train").glob("pasted_*"))
    assert pasted == [f"pasted_{i:05d}" for i in range(6)]
    strings = 0
    for stem in pasted:
        image = cv2.imread(str(s1 / "images" / "train" / f"{stem}.jpg"))
        assert max(image.shape[:2]) <= prepare_real.TILE_ABOVE  # never a frame stage one would tile
        for cls, box, colour in _labels(s1, "train", stem):
            # a label sits on a pasted string (IDID's or Stefenon's: CPLID is held out), drawn orange, or blue
            # for Stefenon's defective insulator; defects are not stage-one labels
            assert cls == 0
            long_side = max(box[2] - box[0], box[3] - box[1]) / max(image.shape[:2])
            assert prepare_real.PASTE_LONG_SIDE[0] - 0.01 <= long_side <= prepare_real.PASTE_LONG_SIDE[1] + 0.01
            assert np.ptp(colour) > 150  # a drawn string's pixels, not the grey background
            strings += 1
    assert strings >= 6
    assert not any((s1 / "images" / "val").glob("pasted_*"))  # validation stays real
    report = json.loads((out / "real-without-cplid.json").read_text())
    assert report["stage1"]["pasted/train"] == {"frames": 6, "insulator": strings}


def test_pasted_defects_land_on_strings_of_their_own_source_clear_of_the_labelled_ones(shared, tmp_path):
    """`--paste-defects N`: N stage-two training crops of real strings, each with one or two real defects of
    its own source pasted on, labelled where they landed; the classes take equal turns."""
    out = tmp_path / "out"
    args = ["--shared", str(shared), "--negatives", str(shared / "negatives"), "--out", str(out), "--no-mining"]
    assert prepare_real.main([*args, "--paste-defects", "12"]) == 0
    s2 = out / "real_stage2"
    pasted = sorted(p.stem for p in (s2 / "images" / "train").glob("pasted_defects_*"))
    assert pasted == [f"pasted_defects_{i:05d}" for i in range(12)]
    report = json.loads((out / "real.json").read_text())["stage2"]["pasted defects/train"]
    assert report["crops"] == 12
    labelled = {0: 0, 1: 0, 2: 0}
    for stem in pasted:
        labels = _labels(s2, "train", stem)
        image = cv2.imread(str(s2 / "images" / "train" / f"{stem}.jpg"))
        # CPLID's string is 240x60 and IDID's 100x250, each cut with a margin: the crop says whose it is
        idid = image.shape[0] > image.shape[1]
        for cls, _, colour in labels:
            assert (cls != 0) == idid  # a missing cap on CPLID's string, IDID's classes on IDID's
            np.testing.assert_allclose(colour, BREAK, atol=40)  # a defect's own pixels, wherever it landed
            labelled[cls] += 1
        boxes = [b for _, b, _ in labels]
        for i, a in enumerate(boxes):  # never pasted onto a defect already there
            for b in boxes[i + 1 :]:
                assert min(a[2], b[2]) <= max(a[0], b[0]) + 1 or min(a[3], b[3]) <= max(a[1], b[1]) + 1
    names = ("missing_cap", "broken_disc", "flashover")
    pasted_counts = [report.get(f"pasted {n}", 0) for n in names]
    assert all(pasted_counts) and sum(pasted_counts) >= 12  # every class had turns; each crop got one or two
    assert all(labelled[c] > pasted_counts[c] for c in labelled)  # each pasted one labelled, beside the originals
    assert not any((s2 / "images" / "val").glob("pasted_defects_*"))  # validation stays real


@pytest.mark.parametrize("flag", ["--paste", "--paste-defects"])
def test_a_negative_paste_count_is_refused(shared, tmp_path, capsys, flag):
    with pytest.raises(SystemExit):
        prepare_real.main(["--shared", str(shared), "--out", str(tmp_path / "out"), flag, "-1"])
    assert f"{flag} -1: expected a count >= 0" in capsys.readouterr().err


def test_the_one_detector_set_has_whole_frames_with_every_class(shared, tmp_path):
    out = tmp_path / "out"
    args = ["--shared", str(shared), "--negatives", str(shared / "negatives"), "--out", str(out), "--no-mining"]
    assert prepare_real.main([*args, "--single"]) == 0
    single = out / "real_single"
    assert "0: insulator\n  1: missing_cap\n  2: broken_disc\n  3: flashover\n" in (single / "data.yaml").read_text()
    # the IDID frame whole, its string and both defects where their labels put them, in the set's ids
    idid = _labels(single, "train", "idid_d")
    assert sorted(c for c, _, _ in idid) == [0, 2, 3]
    np.testing.assert_allclose(next(b for c, b, _ in idid if c == 2), (120, 100, 150, 130), atol=1)
    assert [c for c, _, _ in _labels(single, "val", "cplid_c")] == [0, 1]
    assert (single / "images" / "train" / "negative_n0.png").is_symlink()
    assert not (out / "real_single-without-idid").exists()


def test_proposed_crops_are_cut_as_the_cascade_cuts_them(shared, tmp_path):
    """`--proposed-crops`: stage two also trains on the crops the shipped stage one proposes on each training
    frame (rendered frames here, which it finds strings in), with the defects whose centres they hold."""
    rendered = tmp_path / "rendered"
    make_dataset.main(["--out", str(rendered), "--images", "4", "--seed", "5", "--defect-rate", "1", "--mode",
                       "drone", "--quiet"])  # fmt: skip
    out = tmp_path / "out"
    args = ["--shared", str(shared), "--negatives", str(shared / "negatives"), "--out", str(out), "--no-mining"]
    assert prepare_real.main([*args, "--source", str(rendered), "--proposed-crops", str(SHIPPED)]) == 0
    report = json.loads((out / "real.json").read_text())["stage2"]
    assert report["rendered/train"]["proposed crops"] > 0
    s2 = out / "real_stage2"
    proposed = sorted(p.stem for p in (s2 / "images" / "train").glob("rendered_*_p*"))
    assert len(proposed) == report["rendered/train"]["proposed crops"]
    assert not list((s2 / "images" / "val").glob("*_p*"))  # val keeps the labelled strings' crops only
    cascade = load_model(SHIPPED)
    stem = proposed[0].split("_p")[0].removeprefix("rendered_")
    frame = cv2.imread(str(next((rendered / "images" / "train").glob(f"{stem}.*"))))
    first = cascade.stage1.detect(frame)
    box = first.boxes[first.scores >= cascade.crop_conf][0]
    x1, y1, x2, y2 = grow_box(box, cascade.margin, frame.shape[1], frame.shape[0])
    crop = cv2.imread(str(next((s2 / "images" / "train").glob(f"{proposed[0]}.*"))))
    assert crop.shape[:2] == (y2 - y1, x2 - x1)  # the run-time crop: the detection grown by the cascade's margin
    labelled = sum(report["rendered/train"].get(f"proposed {n}", 0) for n in ("missing_cap",))
    written = sum(len(read_yolo_labels(p)) for p in (s2 / "labels" / "train").glob("rendered_*_p*.txt"))
    assert labelled == written > 0  # every string is defective (defect rate 1): some crops hold a labelled cap


def test_proposed_crops_from_a_model_with_no_stage_two_is_one_clear_line(shared, tmp_path, capsys):
    args = ["--shared", str(shared), "--negatives", str(shared / "negatives"), "--out", str(tmp_path / "out")]
    onnx = SHIPPED.parent / "insulator.onnx"
    with pytest.raises(SystemExit) as exited:
        prepare_real.main([*args, "--no-mining", "--proposed-crops", str(onnx)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"prepare_real: --proposed-crops {onnx}: expected a cascade manifest (a .toml with a [stage2])"]
    assert not (tmp_path / "out").exists()
