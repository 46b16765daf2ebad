"""Exports a GIS team opens: `gridscout reports export` to GeoPackage (read back by GDAL's own `ogrinfo`),
GeoJSON and CSV, with the evidence JPEGs beside the file; bad requests are one clear line."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from gridscout.edge.reports import ReportObservation, ReportStore, Review
from gridscout.reports.export import FIELDS, GIS_EXTRA, ExportError, write_export

T0 = 1_714_564_800_000_000_000


def observe(track: str, conf: float, **extra) -> ReportObservation:
    return ReportObservation(
        track_key=track, class_name="missing_cap", confidence=conf, t_wall_ns=T0, frame_id=3, model_name="m",
        model_sha256="ab" * 32, **extra,
    )  # fmt: skip


@pytest.fixture
def data(tmp_path):
    """Three reports: placed with evidence and reviewed, placed with evidence, and one with neither."""
    data = tmp_path / "data"
    with ReportStore(data, device_id="gs-export-1") as store:
        placed = store.upsert(observe("a", 0.9, lat=59.62, lon=10.95, alt=120.5, error_m=3.2,
                                      evidence_jpeg=b"\xff\xd8one", evidence_box_xyxy=(1, 2, 3, 4)))  # fmt: skip
        store.set_review(placed.id, Review("confirmed", "high", "broken_disc", "sheds cracked"))
        store.upsert(observe("b", 0.8, lat=59.63, lon=10.96, evidence_jpeg=b"\xff\xd8two"))
        store.upsert(observe("c", 0.7, position_m=15.0))
    return data


def gridscout(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gridscout.edge.cli", *argv], capture_output=True, text=True)


def ogrinfo(*argv: str) -> str:
    done = subprocess.run(["ogrinfo", "-ro", *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_geopackage_opens_in_ogrinfo_with_one_point_per_report_and_the_evidence_beside_it(data, tmp_path):
    out = tmp_path / "out" / "defects.gpkg"
    out.parent.mkdir()
    done = gridscout("reports", "export", str(out), "--data", str(data))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"3 reports -> {out} (geopackage; evidence in defects_evidence/)"
    summary = ogrinfo("-so", str(out), "reports")
    assert "Geometry: Point" in summary and "Feature Count: 3" in summary
    assert 'ID["EPSG",4326]' in summary
    for name, kind in FIELDS:
        assert f"{name}: {'Real' if kind == 'float' else 'String'}" in summary, name
    features = ogrinfo(str(out), "reports").split("OGRFeature(reports)")[1:]
    placed = next(f for f in features if "severity (String) = high" in f)
    assert "POINT (10.95 59.62)" in placed and "class_name (String) = broken_disc" in placed
    assert "detected_class (String) = missing_cap" in placed and "review_state (String) = confirmed" in placed
    assert "reviewed_by (String) = device" in placed and "error_m (Real) = 3.2" in placed
    evidence = placed.split("evidence (String) = ")[1].split()[0]
    assert (out.parent / evidence).read_bytes() == b"\xff\xd8one"
    unplaced = next(f for f in features if "position_m (Real) = 15" in f)
    assert "POINT" not in unplaced and "evidence (String) = (null)" in unplaced
    assert len(list((out.parent / "defects_evidence").iterdir())) == 2  # the two reports with evidence


def test_csv_has_every_column_and_the_relative_evidence_paths(data, tmp_path):
    out = tmp_path / "defects.csv"
    assert gridscout("reports", "--data", str(data), "export", str(out)).returncode == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [name for name, _ in FIELDS] and len(rows) == 3
    assert {r["review_state"] for r in rows} == {"confirmed", "new"}
    for row in rows:
        assert row["evidence"] == "" or (tmp_path / row["evidence"]).is_file()


def test_bad_exports_say_what_is_wrong_and_write_nothing(data, tmp_path):
    for argv, said in [
        ([str(tmp_path / "defects.xlsx")], "give --format, or a file ending in .gpkg, .geojson, .csv"),
        ([str(tmp_path / "nowhere" / "d.gpkg")], "its folder"),
        ([], "give the file to write"),
    ]:
        done = gridscout("reports", "--data", str(data), "export", *argv)
        assert done.returncode == 2 and said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_without_pyogrio_a_geopackage_names_the_extra_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyogrio.raw", None)  # as if the [gis] extra were not installed
    row = {name: None for name, _ in FIELDS} | {"report_id": "r1"}
    with pytest.raises(ExportError, match="pyogrio") as caught:
        write_export([(row, b"\xff\xd8")], tmp_path / "d.gpkg", "geopackage")
    assert GIS_EXTRA in str(caught.value)
    assert list(tmp_path.iterdir()) == []
