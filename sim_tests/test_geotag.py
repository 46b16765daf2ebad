"""Geotags against the ground truth of rendered flights, and survey photos whose EXIF/XMP the test writes.

Stated figures (the synthetic scenes' poses are exact, so these measure the geometry, the box centres and
the line-height plane, not a GNSS or IMU):
- ground-truth defect boxes on the inspected crossarm level, projected onto the mission's line height:
  within 2.5 m of the true defect, and within their own error_m (the default budget) every time;
- the shipped model's defect detections on the bundled demo flight: within 3 m of the defect they found.
`python -m sim_tests.test_geotag` prints the measured figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridscout.control.geodesy import distance_m
from gridscout.control.mission import load_mission, parse_mission
from gridscout.edge.config.geotag import GeotagConfig
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.geotag import Geotagger
from gridscout.hardware.sim.flight_mission import flight_mission, write_flight_mission
from gridscout.hardware.sim.synthetic_source import DEMO, SyntheticSource
from tests.geotagged_photos import pose_metadata, write_photo

SETTINGS = GeotagConfig().settings()
#: ground-truth boxes of defects on the inspected level, onto the mission's line height
TRUTH_BOUND_M = 2.5
#: the shipped model's defect detections on the demo flight
DETECTED_BOUND_M = 3.0
FLIGHTS = [
    "synthetic://demo",
    "synthetic://drone?seed=7&frames=300&defect_rate=1&bearing=200",
    "synthetic://drone?seed=11&frames=300&defect_rate=1&lat=-33.9&lon=151.2&bearing=315",
]
#: demo frames where the defect is in view (four defects), photographed as a survey
SURVEY_FRAMES = (54, 158, 218, 240)


def inspected_level(source: SyntheticSource, object_id: str) -> bool:
    """The defect hangs from the crossarm level the drone flies beside (the level the mission's line height is)."""
    scene = source.scene
    arm_z = scene.layout.design.arm_z[scene.flight.level]
    string = scene.layout.strings[int(object_id[1:].split("d")[0])]
    return abs(string.spec.start[2] - arm_z) < 0.5


def truth_errors(uri: str, step: int = 3) -> tuple[list[float], list[float]]:
    """(actual error, claimed error_m) of every inspected-level defect box in every `step`-th frame of a flight."""
    source = SyntheticSource(uri)
    mission = parse_mission(flight_mission(source.scene), uri)
    tagger = Geotagger(SETTINGS, line_height_m=mission.line_height_m)
    actual, claimed = [], []
    for i in range(0, source.frame_count, step):
        for box in source.truth(i):
            if box.class_name == "insulator" or not inspected_level(source, box.object_id):
                continue
            fix = tagger.locate(source.pose(i), box.box, source.params.width, source.params.height)
            assert fix is not None, f"{uri} frame {i}: {dict(tagger.misses)}"
            lat, lon, _ = source.object_geo(i, box.object_id)
            actual.append(distance_m(lat, lon, fix.lat, fix.lon))
            claimed.append(fix.error_m)
    return actual, claimed


@pytest.mark.parametrize("uri", FLIGHTS)
def test_ground_truth_defect_boxes_land_on_the_defect(uri):
    actual, claimed = truth_errors(uri)
    assert len(actual) >= 10
    assert max(actual) < TRUTH_BOUND_M
    assert all(a <= c for a, c in zip(actual, claimed, strict=True))  # error_m holds the truth


def test_the_mission_of_a_flight_is_the_line_the_camera_flew():
    """The mission file loads with control.mission, and the flight path it describes passes under the rendered
    camera at its altitude (the drone's wander is a few decimetres), end to end along the line."""
    source = SyntheticSource("synthetic://demo")
    mission = parse_mission(flight_mission(source.scene), "demo")
    assert mission.geofence is not None and mission.line_height_m is not None
    cross, along = [], []
    for i in range(0, source.frame_count, 10):
        pose = source.pose(i)
        east, north, _ = mission.frame.to_local(pose.lat_deg, pose.lon_deg)
        s, c = mission.path.project(east, north)
        cross.append(c)
        along.append(s)
        assert abs(pose.alt_rel_m - mission.altitude_m) < 1.0
    assert max(abs(c) for c in cross) < 1.0
    assert along[0] < 2.0 and along[-1] > mission.path.length_m - 12.0


def test_the_bundled_demo_mission_is_the_demo_footages_line():
    """hardware/sim/assets/demo.mission.geojson is what make_demo writes for the demo flight (regenerate both with
    `python -m gridscout.hardware.sim.make_demo`), and it loads as a mission."""
    assert json.loads(DEMO_MISSION.read_text()) == flight_mission(DEMO)
    assert load_mission(DEMO_MISSION).line_height_m is not None


def test_a_still_scene_has_no_mission():
    with pytest.raises(ValueError, match="not a flight"):
        flight_mission("synthetic://still?seed=1&frames=2")


def gridscout(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_survey_photos_with_exif_and_xmp_are_geotagged_stored_and_exported(tmp_path):
    """Scenario: a pilot flew the demo line by hand and took photos; each JPEG carries its GPS fix in EXIF and the
    gimbal angles, altitudes and calibrated focal length in DJI's XMP (written here from the rendered camera).
    `gridscout detect photos/ --data` puts every detection on the map and stores one report per defect per
    photo; the GeoJSON export has a Point for each, within a few metres of the defect it shows."""
    source = SyntheticSource("synthetic://demo")
    photos = tmp_path / "photos"
    photos.mkdir()
    truth = {}
    for n, i in enumerate(SURVEY_FRAMES):
        exif, xmp = pose_metadata(source.pose(i))
        write_photo(photos / f"DJI_{n:04d}.JPG", source.render(i)[0], exif=exif, xmp=xmp)
        (defect,) = [b for b in source.truth(i) if b.class_name == "missing_cap"]
        truth[f"DJI_{n:04d}.JPG"] = source.object_geo(i, defect.object_id)
    cv2.imwrite(str(photos / "PLAIN.JPG"), source.render(100)[0])  # a photo without any metadata
    mission = write_flight_mission(source.scene, tmp_path / "line.geojson")
    data, jsonl = tmp_path / "data", tmp_path / "d.jsonl"
    result = gridscout("detect", str(photos), "--jsonl", str(jsonl), "--data", str(data), "--mission", str(mission),
                       cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "PLAIN.JPG: no GPS position in EXIF or XMP" in result.stderr
    records = {r["name"]: r for r in map(json.loads, jsonl.read_text().splitlines())}
    assert all(d["geo"] is None for d in records["PLAIN.JPG"]["detections"])
    found = 0
    for name, (lat, lon, _) in truth.items():
        detections = records[name]["detections"]
        assert detections and all(d["geo"] is not None for d in detections)
        for d in detections:
            if d["class"] == "missing_cap":
                found += 1
                assert distance_m(lat, lon, d["geo"]["lat"], d["geo"]["lon"]) < DETECTED_BOUND_M
                assert d["geo"]["error_m"] > 0 and d["geo"]["alt_m"] is not None
    assert found >= 3
    geojson = tmp_path / "defects.geojson"
    assert gridscout("reports", "--data", str(data), "export", "--geojson", str(geojson), cwd=tmp_path).returncode == 0
    features = json.loads(geojson.read_text())["features"]
    placed = [f for f in features if f["geometry"] is not None]
    assert len(features) == found + sum(d["class"] == "missing_cap" for d in records["PLAIN.JPG"]["detections"])
    assert len(placed) == found
    for feature in placed:
        lon, lat, _alt = feature["geometry"]["coordinates"]
        assert min(distance_m(t[0], t[1], lat, lon) for t in truth.values()) < DETECTED_BOUND_M
        assert feature["properties"]["error_m"] > 0
    again = gridscout("detect", str(photos), "--data", str(data), "--mission", str(mission), cwd=tmp_path)
    assert again.returncode == 0
    assert len(json.loads(geojson.read_text())["features"]) == len(features)  # the same photos: the same reports


@pytest.mark.slow
def test_the_models_detections_on_the_demo_flight_land_on_their_defects(tmp_path):
    """End to end on the bundled demo flight's frames (with their pose): `gridscout detect synthetic://demo
    --data` tracks each defect into a report whose position is the defect's, within DETECTED_BOUND_M."""
    mission = write_flight_mission("synthetic://demo", tmp_path / "line.geojson")
    data, jsonl = tmp_path / "data", tmp_path / "d.jsonl"
    result = gridscout("detect", "synthetic://demo", "--jsonl", str(jsonl), "--data", str(data),
                       "--mission", str(mission), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    errors = detection_errors(jsonl)
    assert len(errors) >= 20 and max(errors) < DETECTED_BOUND_M
    listing = gridscout("reports", "--data", str(data), "list", "--json", cwd=tmp_path)
    reports = [json.loads(line) for line in listing.stdout.splitlines()]
    source = SyntheticSource("synthetic://demo")
    defects = {source.object_geo(0, oid) for oid in ("s33d0", "s45d0", "s56d0", "s57d0")}
    assert len(reports) >= 4 and all(r["lat"] is not None for r in reports)
    for geo in defects:  # every defect of the flight has a report on it
        assert any(distance_m(geo[0], geo[1], r["lat"], r["lon"]) < DETECTED_BOUND_M for r in reports)


def detection_errors(jsonl: Path) -> list[float]:
    """Distance from each missing-cap detection's geotag to the true defect whose truth box it overlaps."""
    source = SyntheticSource("synthetic://demo")
    errors = []
    for record in map(json.loads, jsonl.read_text().splitlines()):
        truth = [b for b in source.truth(record["frame"]) if b.class_name == "missing_cap"]
        for d in record["detections"]:
            if d["class"] != "missing_cap" or d["geo"] is None:
                continue
            match = [b for b in truth if _iou(b.box, d["box"]) > 0.3]
            if match:
                lat, lon, _ = source.object_geo(record["frame"], match[0].object_id)
                errors.append(distance_m(lat, lon, d["geo"]["lat"], d["geo"]["lon"]))
    return errors


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        line = write_flight_mission("synthetic://demo", here / "line.geojson")
        run = gridscout("detect", "synthetic://demo", "--jsonl", "d.jsonl", "--mission", str(line), cwd=here)
        assert run.returncode == 0, run.stderr
        found = detection_errors(here / "d.jsonl")
    spread = f"median {np.median(found):.2f} m, p90 {np.percentile(found, 90):.2f} m, max {max(found):.2f} m"
    print(f"synthetic://demo: {len(found)} missing-cap detections of the shipped model; error {spread}")
    for uri in FLIGHTS:
        actual, claimed = truth_errors(uri, step=1)
        spread = f"median {np.median(actual):.2f} m, p90 {np.percentile(actual, 90):.2f} m, max {max(actual):.2f} m"
        print(f"{uri}: {len(actual)} truth boxes; error {spread}; error_m median {np.median(claimed):.1f} m")
