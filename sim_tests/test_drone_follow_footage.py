"""The drone chain on footage rendered from where the drone is: `gridscout run --vehicle sim-drone --source
'synthetic://demo?follow=vehicle'`.

The camera renders each frame from the drone's telemetry with the footage's gimbal (the mission's `camera`
property), so a hold at a defect keeps the defect in view and the reports, geotagged from the same telemetry,
land on the defects. The demo line is flown at INSPECTION_SPEED_MPS (its mission with that cruise speed): at
the mission's own 8.3 m/s transit speed a defect crosses the view in under a second (8 frames, 70 px a frame)
and the tracker never confirms it; the pre-rendered footage slows to about 2 m/s at towers instead.

The true defects the drone saw come from the scene's truth at the poses its telemetry gave (sampled at the
camera's 10 Hz); each must have a report, and each report must lie within FOLLOW_BOUND_M of one.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from gridscout.control.geodesy import distance_m
from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.daemons.camerad import vehicle_pose
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.reports import ReportStore
from gridscout.edge.runtime.messages import ControlState
from gridscout.hardware.camera import open_source
from sim_tests.chain import Chain

SOURCE = "synthetic://demo?follow=vehicle"
#: a missing-cap report lies this close to a true defect: measured 0.22-1.66 m over four runs with the v3 model, and
#: 0.22-3.02 m over three with v4, whose lower thresholds keep sightings near the view's edge (one defect got up to
#: four reports, the farthest from such frames; each report's own error_m is 9-12 m). The geometry, the line-height
#: plane and the frame's lag behind the telemetry the reporter places it with; the footage-paced chain needs 20 m
FOLLOW_BOUND_M = 4.0
#: the speed the demo line is flown at (its mission's cruise_speed_mps)
INSPECTION_SPEED_MPS = 3.0
#: a true defect counts as seen when it is in the truth of this many sampled poses (1 s at 10 Hz)
SEEN_POSES = 10


def inspection_mission(tmp_path: Path) -> Path:
    """The demo footage's mission flown at INSPECTION_SPEED_MPS."""
    mission = json.loads(DEMO_MISSION.read_text())
    mission["features"][0]["properties"]["cruise_speed_mps"] = INSPECTION_SPEED_MPS
    path = tmp_path / "inspection.mission.geojson"
    path.write_text(json.dumps(mission))
    return path


def test_footage_rendered_from_the_drone_puts_its_reports_on_the_defects(tmp_path):
    mission = {"file": str(inspection_mission(tmp_path))}
    chain = Chain(tmp_path, source=SOURCE, extra={"vehicle": {"uri": "sim-drone"}, "mission": mission})
    bus = chain.subscribe(["control_state", "telemetry"])
    modes: list[str] = []
    poses = []
    last_pose_s = 0.0
    try:
        chain.wait_for(lambda: "running" in chain.stdout(), 90, "the chain running")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (not modes or modes[-1] != "END_OF_LINE"):
            for r in bus.drain():
                if isinstance(r.msg, ControlState) and (not modes or modes[-1] != r.msg.mode):
                    modes.append(r.msg.mode)
                elif isinstance(r.msg, VehicleTelemetry) and time.monotonic() - last_pose_s >= 0.1:
                    pose = vehicle_pose(r.msg)
                    if pose is not None:
                        poses.append(pose)
                        last_pose_s = time.monotonic()
            assert chain.proc.poll() is None, chain.stderr()[-3000:]
            time.sleep(0.05)
        assert modes and modes[-1] == "END_OF_LINE", modes
        time.sleep(3.0)  # the last report closes (track lost after the view moves on)
        chain.proc.send_signal(signal.SIGINT)
        assert chain.wait() == 0, chain.stderr()[-3000:]
    finally:
        chain.close()
    summary = chain.summary()
    assert summary["ok"] and summary["source"] == SOURCE and summary["frames"] > 100
    assert "HOLD" in modes and modes.index("HOLD") < len(modes) - 1  # held at a defect, then went on
    assert modes.index("HOLD") < modes.index("RESUME") < modes.index("END_OF_LINE"), modes

    source = open_source(SOURCE)
    sightings: dict[str, int] = {}
    for pose in poses:
        for box in source.scene.truth_at(source.scene_pose(pose)):
            if box.class_name == "missing_cap":
                sightings[box.object_id] = sightings.get(box.object_id, 0) + 1
    seen = {oid for oid, n in sightings.items() if n >= SEEN_POSES}
    assert seen, sightings
    truth = {oid: source.scene.object_geo(oid) for oid in sightings}
    with ReportStore(chain.data) as store:
        reports = [r for r in store.list(limit=1000) if r.class_name == "missing_cap"]
    assert reports and all(r.lat is not None and r.lon is not None for r in reports), reports
    nearest = [min((distance_m(g[0], g[1], r.lat, r.lon), oid) for oid, g in truth.items()) for r in reports]
    off = sorted((round(m, 2), oid) for m, oid in nearest)
    print(f"seen {sightings}; {len(reports)} reports, off their defect by {off} m, "
          f"error_m {sorted(round(r.error_m, 1) for r in reports)}")  # fmt: skip
    assert max(m for m, _ in nearest) < FOLLOW_BOUND_M
    reported = {oid for _, oid in nearest}
    assert seen <= reported, f"defects seen but never reported: {sorted(seen - reported)}"
