"""`synthetic://demo?follow=vehicle`: frames rendered from a vehicle pose the caller supplies."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from gridscout.control.geodesy import distance_m
from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from gridscout.edge.config import Config
from gridscout.edge.config.geotag import GeotagConfig
from gridscout.edge.daemons.camerad import Camera, vehicle_pose
from gridscout.edge.geotag import Geotagger
from gridscout.edge.geotag.telemetry_pose import pose_from_telemetry
from gridscout.edge.runtime.bus import Publisher
from gridscout.edge.runtime.daemon import Runtime
from gridscout.edge.runtime.runspec import RunSpec, write_runspec
from gridscout.hardware.camera import Paced, SourceError, open_source
from gridscout.hardware.frame import VehiclePose
from gridscout.hardware.sim.flight_mission import camera_setup, flight_mission
from gridscout.hardware.sim.follow_source import FollowSource
from gridscout.hardware.sim.scene.flight import Pose
from gridscout.hardware.sim.synthetic_source import SyntheticSource

URI = "synthetic://demo?follow=vehicle"
#: demo frames with a defect in view
DEFECT_FRAMES = (54, 158, 218, 240)


@pytest.fixture(scope="module")
def follow() -> FollowSource:
    source = open_source(URI, realtime=True)
    assert isinstance(source, FollowSource)
    return source


def own_vehicle(source: FollowSource, i: int) -> VehiclePose:
    """The vehicle under the demo flight's camera at frame i, nose along the line as the mission flies it."""
    cam = source.scene.camera_pose(i)
    yaw = (cam.yaw_deg - camera_setup(source.scene)["mount_yaw_deg"]) % 360.0
    return VehiclePose(cam.lat_deg, cam.lon_deg, cam.alt_m + 474.0, cam.alt_rel_m, yaw)  # another sea level


def telemetry(v: VehiclePose) -> VehicleTelemetry:
    return VehicleTelemetry(
        t_mono_ns=1, t_rx_mono_ns=1, state=VehicleState.MOVING, link_ok=True, lat_deg=v.lat_deg, lon_deg=v.lon_deg,
        alt_m=v.alt_m, alt_rel_m=v.alt_rel_m, yaw_deg=v.yaw_deg,
    )  # fmt: skip


def test_it_is_a_live_source_that_open_source_does_not_pace(follow):
    assert follow.is_live and follow.follows_vehicle and not isinstance(follow, Paced)
    assert follow.frame_count is None and follow.fps == 10.0 and follow.name == "synthetic-demo-follow"


def test_rendering_the_scene_at_its_own_poses_is_its_own_frames(follow):
    scene = follow.scene
    for i in (0, 54):
        assert np.array_equal(scene.render_at(scene.pose(i), i), scene.render(i))
        assert scene.truth_at(scene.pose(i)) == scene.truth(i)
        assert scene.camera_pose_at(scene.pose(i)) == scene.camera_pose(i)


@pytest.mark.parametrize("i", DEFECT_FRAMES)
def test_a_vehicle_where_the_flight_was_sees_what_the_flight_saw(follow, i):
    """The camera lands where the flight's was, looking the same way (the gimbal holds the flight's mean pitch,
    not its wander): the same objects in view, and exactly the truth of the scene rendered at that pose."""
    own = follow.scene.pose(i)
    pose = follow.scene_pose(own_vehicle(follow, i))
    assert np.abs(pose.pos - own.pos).max() < 0.02 and abs(pose.yaw - own.yaw) < 1e-4
    assert pose.pitch == follow.scene.flight.pitch and pose.roll == 0.0
    _, truth = follow.render_at(own_vehicle(follow, i), i)
    assert truth == follow.scene.truth_at(Pose(pose.pos, pose.yaw, pose.pitch, 0.0))
    assert sorted(b.object_id for b in truth) == sorted(b.object_id for b in follow.scene.truth(i))


def test_frames_carry_the_pose_geotagging_from_the_same_telemetry_gives(follow):
    """Frame.pose is what [geotag] makes of the telemetry with the mission's camera property, and a true defect
    box of the frame, cast from that telemetry pose, lands on the defect."""
    mission = flight_mission(follow.scene)["features"][0]["properties"]
    settings = GeotagConfig(**mission["camera"]).settings()
    tagger = Geotagger(settings, line_height_m=mission["line_height_m"])
    for i in DEFECT_FRAMES:
        v = own_vehicle(follow, i)
        follow.follow_vehicle(lambda v=v: v)
        frame = next(follow.iter_from(i))
        expected = pose_from_telemetry(telemetry(v), settings)
        assert frame.frame_id == i and frame.pose.source == "synthetic"
        assert distance_m(frame.pose.lat_deg, frame.pose.lon_deg, expected.lat_deg, expected.lon_deg) < 0.02
        assert abs((frame.pose.yaw_deg - expected.yaw_deg + 180) % 360 - 180) < 2e-3
        assert abs(frame.pose.pitch_deg - expected.pitch_deg) < 2e-3 and frame.pose.roll_deg == 0.0
        (defect,) = [b for b in follow.truth(i) if b.class_name == "missing_cap"]
        fix = tagger.locate(expected, defect.box, frame.width, frame.height)
        lat, lon, _ = follow.object_geo(i, defect.object_id)
        assert distance_m(lat, lon, fix.lat, fix.lon) < 2.5


def test_it_waits_for_a_pose_then_renders_at_its_rate_and_numbers_on():
    answers = [None, None, None]
    v = VehiclePose(59.6202, 10.9502, None, 16.4, 62.0)
    source = open_source("synthetic://demo?follow=vehicle&fps=50")
    source.follow_vehicle(lambda: answers.pop() if answers else v)
    t0 = time.monotonic()
    frames = source.iter_from(7)
    first = next(frames)
    waited = time.monotonic() - t0
    assert first.frame_id == 7 and not source.waiting and waited >= 3 / 50 - 0.005
    second = next(frames)
    assert second.frame_id == 8 and (second.t_capture_mono_ns - first.t_capture_mono_ns) / 1e9 >= 1 / 50 - 0.002
    assert source.truth(8) == source.scene.truth_at(source.scene_pose(v))
    assert source.pose(7) == first.pose
    with pytest.raises(IndexError, match="frame 6"):
        source.truth(6)


def test_without_a_pose_callable_it_says_so():
    with pytest.raises(SourceError, match="needs the vehicle's pose"):
        next(iter(open_source(URI)))


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("synthetic://demo?follow=drone", r"bad value 'drone' for 'follow': expected one of vehicle"),
        ("synthetic://demo?follow=", r"bad value '' for 'follow'"),
        ("synthetic://demo?follow=vehicle&follow=vehicle", r"query key 'follow' given twice"),
        ("synthetic://crawler?follow=vehicle", r"for 'follow': only a drone flight"),
        ("synthetic://still?follow=vehicle", r"for 'follow': only a drone flight"),
        ("synthetic://demo?folow=vehicle", r"unknown query key 'folow'.*follow"),
    ],
)
def test_bad_follow_queries_name_the_key(uri, match):
    with pytest.raises(SourceError, match=match):
        open_source(uri)


def test_the_file_like_source_refuses_follow():
    with pytest.raises(SourceError, match="follow= makes a live source"):
        SyntheticSource(URI)


def test_the_camera_takes_the_vehicle_pose_from_telemetry():
    v = VehiclePose(59.62, 10.95, 600.0, 16.0, 61.5)
    assert vehicle_pose(telemetry(v)) == v
    assert vehicle_pose(None) is None
    no_fix = VehicleTelemetry(t_mono_ns=1, t_rx_mono_ns=1, state=VehicleState.MOVING, link_ok=True, position_m=3.0)
    assert vehicle_pose(no_fix) is None  # a crawler: no position to render from
    by_heading = VehicleTelemetry(
        t_mono_ns=1, t_rx_mono_ns=1, state=VehicleState.MOVING, link_ok=True, lat_deg=59.62, lon_deg=10.95,
        alt_rel_m=16.0, heading_deg=70.0,
    )  # fmt: skip
    assert vehicle_pose(by_heading).yaw_deg == 70.0


def test_the_camera_process_feeds_a_following_source_from_the_telemetry_topic(tmp_path):
    """A real camera Runtime on an ipc bus: the source it opens follows the vehicle, its pose callable reads
    `telemetry` (None before any position), and keeps the last position when a report lacks one."""
    run_dir = Path(tempfile.mkdtemp(prefix="gs-"))  # short: unix socket paths are limited
    try:
        write_runspec(
            RunSpec(run_id="r", run_dir=str(run_dir), config=Config().model_dump(), source=URI, model="m",
                    data_dir=str(tmp_path), device_id="d")
        )  # fmt: skip
        rt = Runtime("camera", [str(run_dir)])
        publisher = Publisher(rt.ctx, rt.endpoints, "telemetry")
        try:
            camera = Camera(rt)
            source = camera.open()
            assert isinstance(source, FollowSource) and camera.vehicle_pose() is None
            v = VehiclePose(59.6202, 10.9502, 600.0, 16.4, 62.0)
            deadline = time.monotonic() + 5.0
            while camera.vehicle_pose() is None and time.monotonic() < deadline:
                publisher.publish(telemetry(v))  # again until the subscription has joined
                time.sleep(0.02)
            assert camera.vehicle_pose() == v
            lost = VehicleTelemetry(t_mono_ns=2, t_rx_mono_ns=2, state=VehicleState.MOVING, link_ok=True)
            publisher.publish(lost)
            time.sleep(0.1)
            assert camera.vehicle_pose() == v
            frame = next(source.iter_from(3))
            assert frame.frame_id == 3 and frame.pose.alt_rel_m == pytest.approx(16.4)
        finally:
            publisher.close()
            rt.close()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
