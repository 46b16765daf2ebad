"""Reviewed findings become training data: `gridscout reports export --format yolo DIR` writes confirmed findings
labelled and rejected ones as hard negatives, and the training scripts take the folder as one more source, for
stage two only, with no code change."""

from __future__ import annotations

import random
import subprocess
import sys

import cv2
import numpy as np
import pytest

from gridscout.edge.reports import ReportObservation, ReportStore, Review
from gridscout.models.prepare_field import Split
from gridscout.models.prepare_real import stage2_source
from gridscout.models.sources import load_source
from gridscout.reports.export import ExportError, jpeg_size, write_yolo

T0 = 1_714_564_800_000_000_000
STRING = (100.0, 150.0, 540.0, 230.0)


def frame() -> bytes:
    image = np.full((360, 640, 3), 180, np.uint8)
    cv2.rectangle(image, (100, 150), (540, 230), (60, 60, 140), -1)
    return cv2.imencode(".jpg", image)[1].tobytes()


def observe(track: str, box: tuple, parent: tuple | None) -> ReportObservation:
    return ReportObservation(
        track_key=track, class_name="missing_cap", confidence=0.8, t_wall_ns=T0, frame_id=1, model_name="m",
        model_sha256="0" * 64, evidence_jpeg=frame(), evidence_box_xyxy=box, evidence_parent_xyxy=parent,
    )  # fmt: skip


@pytest.fixture
def data(tmp_path):
    data = tmp_path / "data"
    with ReportStore(data, device_id="gs-yolo") as store:
        confirmed = store.upsert(observe("a", (200.0, 160.0, 230.0, 220.0), STRING))
        store.set_review(confirmed.id, Review("confirmed", "high", "broken_disc"))
        rejected = store.upsert(observe("b", (400.0, 160.0, 430.0, 220.0), STRING))
        store.set_review(rejected.id, Review("rejected", note="a shadow"))
        store.upsert(observe("c", (300.0, 160.0, 330.0, 220.0), STRING))  # not reviewed
        loose = store.upsert(observe("d", (10.0, 10.0, 30.0, 30.0), None))  # on no string the detector saw
        store.set_review(loose.id, Review("confirmed"))
    return data


def test_confirmed_findings_are_labelled_and_rejected_ones_are_hard_negatives(data, tmp_path):
    out = tmp_path / "reviews-2026-12"
    done = subprocess.run([sys.executable, "-m", "gridscout.edge.cli", "reports", "--data", str(data), "export",
                           "--format", "yolo", str(out)], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 confirmed and 1 rejected findings -> ")
    labels = {p.stem: p.read_text().split("\n")[:-1] for p in (out / "labels" / "train").iterdir()}
    assert len(labels) == 2 and {p.stem for p in (out / "images" / "train").glob("*.jpg")} == set(labels)
    rows = sorted(labels.values(), key=len)
    assert [r.split()[0] for r in rows[0]] == ["0"]  # rejected: the string alone
    assert [r.split()[0] for r in rows[1]] == ["0", "1"]  # confirmed: the string and the finding, as reviewed
    cx, cy, w, h = (float(v) for v in rows[1][0].split()[1:])
    assert (cx, cy, w, h) == pytest.approx((320 / 640, 190 / 360, 440 / 640, 80 / 360), abs=1e-5)
    readme = (out / "README.md").read_text()
    assert "1 broken_disc" in readme and "1 not reviewed" in readme and "1 not on a string" in readme

    source = load_source(out)
    assert source.classes == ("insulator", "broken_disc") and source.disc_labels and not source.whole_frames
    crops = stage2_source(source, "train", Split(tmp_path / "crops", "train"), ("broken_disc",), random.Random(0))
    assert crops["crops"] == 1 + 3 and crops["broken_disc"] == 3  # the rejected string once, the confirmed thrice


def test_an_export_never_writes_into_a_folder_that_holds_something(data, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        write_yolo([], tmp_path / "full", "test")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


def test_jpeg_size_reads_the_frame_header_and_refuses_what_is_not_a_jpeg():
    assert jpeg_size(frame()) == (640, 360)
    with pytest.raises(ValueError, match="not a JPEG"):
        jpeg_size(b"\x89PNG....")
