"""Ground projection: the geometry against the renderer's own camera, the error budget, the refusals."""

import dataclasses
import math

import numpy as np
import pytest

from gridscout.control.geodesy import LocalFrame, distance_m
from gridscout.control.mission import parse_mission
from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from gridscout.edge.config.geotag import GeotagConfig
from gridscout.edge.geotag import Geotagger, line_fix, pose_from_telemetry
from gridscout.edge.geotag.cameras import sensor_for
from gridscout.edge.geotag.intrinsics import FULL_FRAME_DIAGONAL_MM, intrinsics_for
from gridscout.edge.geotag.placement import ReportPlacer
from gridscout.edge.geotag.projection import euler_deg, rotation
from gridscout.hardware.frame import CameraPose
from gridscout.hardware.sim.scene.camera import Camera, look_rotation
from gridscout.hardware.sim.scene.georef import GeoRef

SETTINGS = GeotagConfig().settings()
EXACT = dataclasses.replace(
    SETTINGS,
    gps_horizontal_error_m=0.0,
    gps_vertical_error_m=0.0,
    attitude_error_deg=0.0,
    yaw_error_deg=0.0,
    box_centre_error=0.0,
    target_height_error_m=0.0,
)
W, H = 4000, 3000


def nadir(**changes) -> CameraPose:
    pose = CameraPose(60.0, 10.0, 150.0, 50.0, 0.0, -90.0, 0.0, "exif", focal_length_px=3000.0)
    return dataclasses.replace(pose, **changes)


def box_at(u: float, v: float, half: float = 10.0) -> tuple[float, float, float, float]:
    return (u - half, v - half, u + half, v + half)


def test_rays_from_the_renderers_camera_land_where_the_rendered_point_is():
    """Scenario: the renderer draws a point somewhere on the earth from a random pose; the geotagger, given that
    pose (as the synthetic source reports it) and the pixel, puts it back where it was. This holds the angle
    conventions (yaw, pitch, roll, image axes) of the two to each other."""
    rng = np.random.default_rng(5)
    geo = GeoRef(lat_deg=45.0, lon_deg=-73.0, ground_alt_m=30.0, bearing_deg=123.0)
    worst = 0.0
    for _ in range(200):
        pos = np.array([rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(5, 60)])
        yaw, pitch, roll = rng.uniform(-np.pi, np.pi), rng.uniform(-1.5, -0.2), rng.uniform(-0.5, 0.5)
        f = rng.uniform(500, 3000)
        cam = Camera(pos, look_rotation(yaw, pitch, roll), f, W, H)
        pixel = np.array([rng.uniform(0, W), rng.uniform(0, H)])
        # the rendered point: along that pixel's ray, at a height the geotagger is told (the line's)
        ray = cam.rot.T @ np.array([(pixel[0] - cam.cx) / f, (pixel[1] - cam.cy) / f, 1.0])
        if ray[2] > -0.2:
            continue
        target_z = rng.uniform(0, pos[2] - 1)
        point = pos + ray * (target_z - pos[2]) / ray[2]
        (uv,), _ = cam.project(point[None])
        pose = geo.camera_pose(tuple(pos), yaw, pitch, roll, f)
        fix = Geotagger(EXACT, line_height_m=target_z).locate(pose, box_at(*uv, half=0.0), W, H)
        lat, lon, alt = geo.to_global(*point)
        assert fix is not None
        worst = max(worst, distance_m(lat, lon, fix.lat, fix.lon))
        assert fix.alt_m == pytest.approx(alt, abs=0.01)
    assert worst < 0.01


def test_straight_down_at_the_image_centre_is_the_camera_and_the_error_is_the_budgets():
    """At nadir, the image centre is under the camera; each error term is then simple: the fix's own per axis,
    the attitude's height x angle per axis, the box centre's height x pixels / focal length, nothing from yaw or
    height. error_m is twice the root of their sum of squares (2DRMS)."""
    fix = Geotagger(SETTINGS).locate(nadir(), box_at(W / 2, H / 2, 50), W, H)
    assert fix is not None and distance_m(60.0, 10.0, fix.lat, fix.lon) < 1e-6
    s, h = SETTINGS, 50.0
    terms = [
        2 * s.gps_horizontal_error_m**2,
        2 * (h * math.radians(s.attitude_error_deg)) ** 2,
        2 * (h * s.box_centre_error * 100 / 3000.0) ** 2,
    ]
    assert fix.error_m == pytest.approx(2 * math.sqrt(sum(terms)), rel=1e-3)
    assert fix.alt_m == pytest.approx(100.0)  # home (150 - 50) + the plane (ground)


def test_an_rtk_fix_states_its_own_deviations():
    rtk = Geotagger(SETTINGS).locate(nadir(position_std_m=0.02, alt_std_m=0.03), box_at(W / 2, H / 2), W, H)
    plain = Geotagger(SETTINGS).locate(nadir(), box_at(W / 2, H / 2), W, H)
    assert rtk is not None and plain is not None and rtk.error_m < plain.error_m - 3


def test_the_error_grows_with_range():
    tagger = Geotagger(SETTINGS)
    near = tagger.locate(nadir(pitch_deg=-60.0), box_at(W / 2, H / 2), W, H)
    far = tagger.locate(nadir(pitch_deg=-15.0), box_at(W / 2, H / 2), W, H)
    assert near is not None and far is not None and far.error_m > 3 * near.error_m


def test_grazing_rays_give_no_geotag_and_say_why():
    """A ray at or above the horizon meets the ground nowhere near where the defect is: no fix, counted."""
    tagger = Geotagger(SETTINGS)
    assert tagger.locate(nadir(pitch_deg=0.0), box_at(W / 2, H / 2), W, H) is None
    assert tagger.locate(nadir(pitch_deg=-(SETTINGS.min_depression_deg - 0.5)), box_at(W / 2, H / 2), W, H) is None
    assert tagger.locate(nadir(pitch_deg=-20.0), box_at(W / 2, 0.0), W, H) is None  # the top row: above the horizon
    assert tagger.misses["ray near or above the horizon"] == 3
    shallow = tagger.locate(nadir(pitch_deg=-(SETTINGS.min_depression_deg + 1.0)), box_at(W / 2, H / 2), W, H)
    assert shallow is None and tagger.misses["error over 50 m"] == 1  # just above the limit: far too uncertain


@pytest.mark.parametrize(
    ("pose", "reason"),
    [
        (None, "no camera pose"),
        (nadir(yaw_deg=None), "no camera angles"),
        (nadir(focal_length_px=None), "no camera intrinsics"),
        (nadir(alt_rel_m=None), "no altitude above home"),
        (nadir(alt_rel_m=10.0), "camera not above the plane"),
    ],
)
def test_what_is_missing_is_counted_by_reason(pose, reason):
    tagger = Geotagger(SETTINGS, line_height_m=12.0)
    assert tagger.locate(pose, box_at(W / 2, H / 2), W, H) is None
    assert dict(tagger.misses) == {reason: 1}


def test_a_photo_with_only_sea_level_altitude_uses_the_configured_ground():
    ground = dataclasses.replace(SETTINGS, ground_alt_m=100.0)
    fix = Geotagger(ground).locate(nadir(alt_rel_m=None, pitch_deg=-45.0), box_at(W / 2, H / 2), W, H)
    assert fix is not None and fix.alt_m == 100.0
    assert distance_m(60.0, 10.0, fix.lat, fix.lon) == pytest.approx(50.0, abs=0.01)  # 150 - 100 m up, 45 degrees


M3E_WIDE = "Mavic 3 Enterprise wide sensor"


def test_intrinsics_come_from_the_photo_first_then_the_config():
    configured = dataclasses.replace(SETTINGS, hfov_deg=90.0)
    base = nadir(focal_length_px=None)
    cases = [
        (dataclasses.replace(base, focal_length_px=2500.0), 2500.0, "calibrated"),
        (dataclasses.replace(base, focal_length_mm=10, sensor_width_mm=20), 2000.0, "focal length and sensor width"),
        (dataclasses.replace(base, focal_length_35mm=24.0), 24.0 * 5000 / FULL_FRAME_DIAGONAL_MM, "35 mm equivalent"),
        (dataclasses.replace(base, focal_length_mm=12.29, camera_model="M3E"), 12.29 / 17.3 * W, M3E_WIDE),
        (dataclasses.replace(base, focal_length_mm=12.29, camera_model="unknown"), W / 2, "config hfov"),
        (None, W / 2, "config hfov"),
    ]  # fmt: skip
    for pose, f_px, source in cases:
        intr = intrinsics_for(pose, W, H, configured)
        assert intr is not None and intr.f_px == pytest.approx(f_px) and intr.source == source
    assert intrinsics_for(base, W, H, SETTINGS) is None
    focal = dataclasses.replace(SETTINGS, focal_length_mm=8.8, sensor_width_mm=13.2)
    assert intrinsics_for(None, W, H, focal).f_px == pytest.approx(8.8 / 13.2 * W)


def test_a_payload_with_two_cameras_is_told_apart_by_focal_length():
    assert sensor_for("ZH20", 4.5).camera == "Zenmuse H20 wide"
    assert sensor_for("zh20", 50.0).camera == "Zenmuse H20 zoom"
    assert sensor_for("ZH20", 300.0) is None  # neither lens
    assert sensor_for("ZH30", 6.9) is None  # on both lenses' edge: ambiguous, so not guessed
    assert sensor_for(None, 4.5) is None and sensor_for("FC6310R", 8.8).sensor_width_mm == 13.2


def telemetry(**values) -> VehicleTelemetry:
    return VehicleTelemetry(t_mono_ns=1, t_rx_mono_ns=1, state=VehicleState.MOVING, link_ok=True, **values)


def test_a_gimbal_holds_pitch_and_roll_and_follows_the_vehicles_yaw():
    gimbal = dataclasses.replace(SETTINGS, mount="gimbal", mount_yaw_deg=90.0, mount_pitch_deg=-40.0)
    t = telemetry(lat_deg=1.0, lon_deg=2.0, alt_m=50.0, alt_rel_m=20.0, yaw_deg=300.0, pitch_deg=-8.0, roll_deg=5.0)
    pose = pose_from_telemetry(t, gimbal)
    assert pose is not None and pose.source == "telemetry"
    assert (pose.yaw_deg, pose.pitch_deg, pose.roll_deg) == (30.0, -40.0, 0.0)
    assert (pose.lat_deg, pose.lon_deg, pose.alt_m, pose.alt_rel_m) == (1.0, 2.0, 50.0, 20.0)


def test_a_fixed_camera_tilts_with_the_body():
    fixed = dataclasses.replace(SETTINGS, mount="fixed", mount_yaw_deg=0.0, mount_pitch_deg=-30.0)
    nose_up = pose_from_telemetry(
        telemetry(lat_deg=1.0, lon_deg=2.0, yaw_deg=90.0, pitch_deg=10.0, roll_deg=0.0), fixed
    )
    assert nose_up is not None
    assert (nose_up.yaw_deg, nose_up.pitch_deg, nose_up.roll_deg) == pytest.approx((90.0, -20.0, 0.0))
    side = dataclasses.replace(fixed, mount_yaw_deg=90.0, mount_pitch_deg=0.0)
    rolled = pose_from_telemetry(telemetry(lat_deg=1.0, lon_deg=2.0, yaw_deg=0.0, pitch_deg=0.0, roll_deg=20.0), side)
    assert rolled is not None and rolled.yaw_deg == pytest.approx(90.0) and rolled.pitch_deg == pytest.approx(-20.0)
    assert pose_from_telemetry(telemetry(lat_deg=1.0, lon_deg=2.0), fixed) is None  # no heading at all
    heading_only = pose_from_telemetry(telemetry(lat_deg=1.0, lon_deg=2.0, heading_deg=45.0), fixed)
    assert heading_only is not None and heading_only.yaw_deg == pytest.approx(45.0)


def test_euler_angles_round_trip_through_the_rotation():
    rng = np.random.default_rng(1)
    for _ in range(300):
        angles = (rng.uniform(0, 360), rng.uniform(-90, 90), rng.uniform(-180, 180))
        again = euler_deg(rotation(*angles))
        assert np.allclose(rotation(*again), rotation(*angles), atol=1e-9)
    assert euler_deg(rotation(30.0, -90.0, 0.0)) == pytest.approx((30.0, -90.0, 0.0))


MISSION = {
    "type": "Feature",
    "geometry": {"type": "LineString", "coordinates": [[10.0, 60.0], [10.002, 60.0]]},
    "properties": {"altitude_m": 20.0, "cruise_speed_mps": 3.0, "line_height_m": 15.0},
}


def test_a_crawler_is_placed_on_the_mission_line_by_its_position_along_it():
    mission = parse_mission(MISSION, "line.geojson")
    fix = line_fix(mission, 50.0, SETTINGS)
    east, north, _ = LocalFrame(60.0, 10.0).to_local(fix.lat, fix.lon)
    assert (east, north) == pytest.approx((50.0, 0.0), abs=0.01)
    assert fix.error_m == SETTINGS.vehicle_position_error_m and fix.alt_m is None


def test_placement_prefers_the_frame_pose_then_telemetry_and_places_a_crawler_on_its_line():
    mission = parse_mission(MISSION, "line.geojson")
    placer = ReportPlacer(dataclasses.replace(SETTINGS, hfov_deg=60.0), mission)
    box = box_at(320, 400)
    photo = placer.place(box, 640, 480, frame_pose=nadir(alt_rel_m=60.0, focal_length_px=None))
    assert photo is not None and distance_m(60.0, 10.0, photo.lat, photo.lon) < 30
    drone = telemetry(lat_deg=60.0, lon_deg=10.001, alt_rel_m=30.0, yaw_deg=0.0)
    assert placer.place(box, 640, 480, telemetry=drone) is not None
    looking_up = dataclasses.replace(placer.settings, mount_pitch_deg=30.0)
    assert ReportPlacer(looking_up, mission).place(box, 640, 480, telemetry=drone) is None  # a drone is not its defect
    crawler = placer.place(box, 640, 480, telemetry=telemetry(position_m=50.0))
    assert crawler is not None and crawler.error_m == SETTINGS.vehicle_position_error_m
    gnss = ReportPlacer(SETTINGS).place(box, 640, 480, telemetry=telemetry(lat_deg=1.0, lon_deg=2.0, alt_m=3.0))
    assert (gnss.lat, gnss.lon, gnss.alt_m) == (1.0, 2.0, 3.0)
    nothing = ReportPlacer(SETTINGS)
    assert nothing.place(box, 640, 480) is None and nothing.place(box, 640, 480, telemetry=telemetry()) is None
    assert dict(nothing.misses) == {"no camera pose": 1, "no vehicle position": 1}
