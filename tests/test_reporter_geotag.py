"""The reporter places each report: from the frame's own pose, from fresh telemetry with the camera mount, or on
the mission line for a crawler; stale telemetry places nothing. A real store on disk, the stage's own clock."""

import dataclasses
import json
import math

import numpy as np
import pytest

from gridscout.control.geodesy import LocalFrame
from gridscout.control.mission import parse_mission
from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from gridscout.edge.config import Config
from gridscout.edge.daemons.reporterd import POSITION_MAX_AGE_S, ReporterStage, report_placer
from gridscout.edge.geotag.placement import ReportPlacer
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.messages import DetectionBox, FrameDetections, FrameMeta
from gridscout.hardware.frame import CameraPose

CONFIG = Config()
#: a drone's camera on a gimbal, looking 45 degrees down and 90 degrees right of the nose, 60 degrees wide
GEOTAG = dataclasses.replace(CONFIG.geotag.settings(), hfov_deg=60.0, mount_yaw_deg=90.0, mount_pitch_deg=-45.0)
W, H = 640, 480
LAT, LON = 59.62, 10.95
MISSION = {
    "type": "Feature",
    "geometry": {"type": "LineString", "coordinates": [[LON, LAT], [LON + 0.003, LAT]]},
    "properties": {"altitude_m": 20.0, "cruise_speed_mps": 3.0},
}


def frame_and_detections(frame_id: int, t_ns: int) -> tuple[FrameMeta, FrameDetections]:
    common = {"t_mono_ns": t_ns, "frame_id": frame_id, "t_capture_mono_ns": t_ns, "t_capture_wall_ns": t_ns}
    meta = FrameMeta(**common, width=W, height=H, source_name="cam", name=f"cam#{frame_id}", t_source_s=t_ns / 1e9)
    box = DetectionBox(310.0, 230.0, 330.0, 250.0, 0.8, "missing_cap", 1, True)  # at the image centre
    det = FrameDetections(
        **common, t_source_s=t_ns / 1e9, width=W, height=H, boxes=(box,), infer_ms=1.0, model_name="m",
        model_sha256="ab" * 32,
    )  # fmt: skip
    return meta, det


def telemetry(t_ns: int, **values) -> VehicleTelemetry:
    return VehicleTelemetry(t_mono_ns=t_ns, t_rx_mono_ns=t_ns, state=VehicleState.MOVING, link_ok=True, **values)


def run_stage(tmp_path, placer: ReportPlacer, telemetry_at=None, frame_pose=None, frames: int = 3):
    """Frames 0.1 s apart, each with its detections (and the telemetry made for it, if any); the stored report."""
    with ReportStore(tmp_path / "data", device_id="gs-test") as store:
        stage = ReporterStage(
            CONFIG.reporter.model_dump(), store, run_id="run", replay=False, emit=lambda _: None, placer=placer
        )
        for i in range(frames):
            t_ns = 1_000_000_000 + i * 100_000_000
            meta, det = frame_and_detections(i, t_ns)
            stage.take_frame(meta, np.zeros((H, W, 3), np.uint8), frame_pose)
            if telemetry_at is not None:
                stage.take_telemetry(telemetry_at(t_ns))
            stage.on_detections(det, t_ns)
        stage.close_all(2_000_000_000)
        (report,) = store.list()
    return report


def test_a_drone_report_is_where_its_camera_looks_not_where_the_drone_is(tmp_path):
    """Flying north 30 m above home, the camera looks east and 45 degrees down: the defect at the image centre
    is 30 m east of the drone."""
    drone = {"lat_deg": LAT, "lon_deg": LON, "alt_m": 140.0, "alt_rel_m": 30.0, "yaw_deg": 0.0}
    report = run_stage(tmp_path, ReportPlacer(GEOTAG), lambda t: telemetry(t, **drone))
    east, north, _ = LocalFrame(LAT, LON).to_local(report.lat, report.lon)
    assert (east, north) == pytest.approx((30.0, 0.0), abs=0.05)
    assert report.alt == pytest.approx(110.0) and 3.0 < report.error_m < 30.0


def test_stale_telemetry_places_nothing(tmp_path):
    drone = {"lat_deg": LAT, "lon_deg": LON, "alt_rel_m": 30.0, "yaw_deg": 0.0}
    old = int((POSITION_MAX_AGE_S + 1) * 1e9)
    report = run_stage(tmp_path, ReportPlacer(GEOTAG), lambda t: telemetry(max(1, t - old), **drone))
    assert (report.lat, report.lon, report.error_m) == (None, None, None)


def test_the_frames_own_pose_comes_before_telemetry(tmp_path):
    pose = CameraPose(LAT, LON, None, 20.0, 90.0, -45.0, 0.0, "synthetic", focal_length_px=W / 2 / math.tan(0.5))
    elsewhere = {"lat_deg": LAT + 1, "lon_deg": LON, "alt_rel_m": 30.0, "yaw_deg": 0.0}
    report = run_stage(tmp_path, ReportPlacer(GEOTAG), lambda t: telemetry(t, **elsewhere), frame_pose=pose)
    east, north, _ = LocalFrame(LAT, LON).to_local(report.lat, report.lon)
    assert (east, north) == pytest.approx((20.0, 0.0), abs=0.05) and report.alt is None


def test_a_crawler_report_lands_on_its_mission_line(tmp_path):
    mission = parse_mission(MISSION, "line.geojson")
    report = run_stage(tmp_path, ReportPlacer(GEOTAG, mission), lambda t: telemetry(t, position_m=80.0))
    east, north, _ = LocalFrame(LAT, LON).to_local(report.lat, report.lon)
    assert (east, north) == pytest.approx((80.0, 0.0), abs=0.05)
    assert report.position_m == 80.0 and report.error_m == GEOTAG.vehicle_position_error_m


def test_the_reporters_placer_reads_geotag_and_the_mission_file_from_the_config(tmp_path):
    path = tmp_path / "line.geojson"
    path.write_text(json.dumps(MISSION))
    config = CONFIG.model_dump()
    config["geotag"]["hfov_deg"] = 70.0
    config["mission"] = {**config.get("mission", {}), "file": str(path)}
    placer = report_placer(config)
    assert placer.settings.hfov_deg == 70.0 and placer.mission is not None and placer.mission.path.length_m > 100
    assert report_placer(CONFIG.model_dump()).mission is None


def test_a_replay_places_reports_without_a_mission_file_that_is_not_on_this_machine(tmp_path):
    config = CONFIG.model_dump()
    config["mission"] = {**config.get("mission", {}), "file": str(tmp_path / "gone.geojson")}
    placer = report_placer(config, mission_may_be_gone=True)
    assert placer is not None and placer.mission is None
    with pytest.raises(ValueError, match=r"gone\.geojson"):
        report_placer(config)  # a run is told: its mission file is missing
    old = {k: v for k, v in config.items() if k != "geotag"}
    assert report_placer(old) is None  # a recording made before geotagging: nothing to place with


def test_a_report_takes_the_vehicles_position_at_its_frames_capture_not_the_newest(tmp_path):
    """Detections reach the reporter after perception: a crawler at 10 m/s has moved 3 m in those 0.3 s. The
    report is placed by the telemetry nearest the frame's capture (one 20 Hz sample: within 0.5 m)."""
    mission = parse_mission(MISSION, "line.geojson")
    with ReportStore(tmp_path / "data", device_id="gs-test") as store:
        cfg = {**CONFIG.reporter.model_dump(), "min_hits": 1}
        stage = ReporterStage(
            cfg, store, run_id="run", replay=False, emit=lambda _: None, placer=ReportPlacer(GEOTAG, mission)
        )
        capture_ns = 5_000_000_000
        meta, det = frame_and_detections(0, capture_ns)
        stage.take_frame(meta, np.zeros((H, W, 3), np.uint8))
        for k in range(-10, 7):  # 20 Hz from 0.5 s before the capture to 0.3 s after it
            t_ns = capture_ns + k * 50_000_000
            stage.take_telemetry(telemetry(t_ns, position_m=50.0 + 10.0 * (t_ns - capture_ns) / 1e9))
        stage.on_detections(det, capture_ns + 300_000_000)
        (report,) = store.list()
    assert report.position_m == pytest.approx(50.0, abs=0.5)
    east, _, _ = LocalFrame(LAT, LON).to_local(report.lat, report.lon)
    assert east == pytest.approx(50.0, abs=0.5)
