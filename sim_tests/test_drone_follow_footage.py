"""The drone chain on footage rendered from where the drone is: `gridscout run --vehicle sim-drone --source
'synthetic://demo?follow=vehicle'`.

The camera renders each frame from the drone's telemetry with the footage's gimbal (the mission's `camera`
property), so a hold at a defect keeps the defect in view and the reports, geotagged from the same telemetry,
land on the defects.

Two flights of the demo line: at INSPECTION_SPEED_MPS, where the drone can stop with a defect still in view
and holds at each; and at the mission's own cruise speed (8.3 m/s), where a missing cap crosses the view in
under a second (about 8 frames, 70 px a frame, further than its own size each frame): the tracker must still
hold each defect as one track, so each gives one report.

The true defects the drone saw come from the scene's truth at the poses its telemetry gave; each must have a
report, on the defect: a report is the defect's whose true box its track's boxes overlap most often (each
frame's truth from the telemetry nearest its capture), and lies within FOLLOW_BOUND_M of it. A report whose
track overlaps no defect is a false report: the model's, not the tracker's or the geotag's, and measured
with the model (MODEL_CARD.md); here it is counted and printed.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gridscout.control.geodesy import distance_m
from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.daemons.camerad import vehicle_pose
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.reports import ReportStore
from gridscout.edge.runtime.messages import ControlState, FrameDetections
from gridscout.hardware.camera import open_source
from gridscout.hardware.frame import VehiclePose
from sim_tests.chain import Chain

SOURCE = "synthetic://demo?follow=vehicle"
#: a missing-cap report lies this close to a true defect: measured 0.22-1.66 m over four runs with the v3 model, and
#: 0.22-3.02 m over three with v4, whose lower thresholds keep sightings near the view's edge (one defect got up to
#: four reports, the farthest from such frames; each report's own error_m is 9-12 m). The geometry, the line-height
#: plane and the frame's lag behind the telemetry the reporter places it with; the footage-paced chain needs 20 m
FOLLOW_BOUND_M = 4.0
#: the speed the demo line is flown at to hold at each defect (its mission's cruise_speed_mps)
INSPECTION_SPEED_MPS = 3.0
#: a true defect counts as seen when it is in the truth of this many frames in a row' worth of poses (sampled at
#: the camera's 10 Hz): 1 s at the inspection speed; at cruise speed a cap is in view for 5-10 frames
SEEN_POSES = {INSPECTION_SPEED_MPS: 10, None: 5}
#: a report's evidence box is its defect's when they overlap at least this much (IoU) in the report's frame
SAME_BOX_IOU = 0.3


@dataclass
class Flight:
    modes: list[str] = field(default_factory=list)
    #: (time ns, the vehicle's pose) of each telemetry message
    poses: list[tuple[int, VehiclePose]] = field(default_factory=list)
    #: frame id -> its capture time (monotonic ns)
    captures: dict[int, int] = field(default_factory=dict)
    #: missing-cap track id -> (frame id, box) of each of its boxes
    tracks: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    reports: list = field(default_factory=list)


def fly(tmp_path: Path, speed_mps: float | None) -> Flight:
    """Fly the demo line (at `speed_mps`, or at its mission's own cruise speed) to its end; what it did."""
    mission_file = DEMO_MISSION
    if speed_mps is not None:
        mission = json.loads(DEMO_MISSION.read_text())
        mission["features"][0]["properties"]["cruise_speed_mps"] = speed_mps
        mission_file = tmp_path / "inspection.mission.geojson"
        mission_file.write_text(json.dumps(mission))
    extra = {"vehicle": {"uri": "sim-drone"}, "mission": {"file": str(mission_file)}}
    chain = Chain(tmp_path, source=SOURCE, extra=extra)
    bus = chain.subscribe(["control_state", "telemetry", "detections"])
    flight = Flight()
    try:
        chain.wait_for(lambda: "running" in chain.stdout(), 90, "the chain running")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (not flight.modes or flight.modes[-1] != "END_OF_LINE"):
            for r in bus.drain():
                if isinstance(r.msg, ControlState) and (not flight.modes or flight.modes[-1] != r.msg.mode):
                    flight.modes.append(r.msg.mode)
                elif isinstance(r.msg, VehicleTelemetry) and (pose := vehicle_pose(r.msg)) is not None:
                    flight.poses.append((r.msg.t_mono_ns, pose))
                elif isinstance(r.msg, FrameDetections):
                    flight.captures[r.msg.frame_id] = r.msg.t_capture_mono_ns
                    for b in r.msg.boxes:
                        if b.class_name == "missing_cap" and b.track_id >= 0:
                            box = (b.x1, b.y1, b.x2, b.y2)
                            flight.tracks.setdefault(b.track_id, []).append((r.msg.frame_id, box))
            assert chain.proc.poll() is None, chain.stderr()[-3000:]
            time.sleep(0.05)
        assert flight.modes and flight.modes[-1] == "END_OF_LINE", flight.modes
        time.sleep(3.0)  # the last report closes (track lost after the view moves on)
        chain.proc.send_signal(signal.SIGINT)
        assert chain.wait() == 0, chain.stderr()[-3000:]
    finally:
        chain.close()
    flight.summary = chain.summary()
    assert flight.summary["ok"] and flight.summary["source"] == SOURCE and flight.summary["frames"] > 100
    with ReportStore(chain.data) as store:
        flight.reports = [r for r in store.list(limit=1000) if r.class_name == "missing_cap"]
    return flight


def _iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def check_reports(flight: Flight, seen_poses: int) -> tuple[dict[str, list], list]:
    """Every seen defect reported, each of its reports within FOLLOW_BOUND_M of it; returns each defect's
    reports and the false ones."""
    source = open_source(SOURCE)
    sightings: dict[str, int] = {}
    last_ns = None
    for stamp, pose in flight.poses:
        if last_ns is not None and stamp - last_ns < 100_000_000:
            continue  # sampled at the camera's 10 Hz
        last_ns = stamp
        for box in source.scene.truth_at(source.scene_pose(pose)):
            if box.class_name == "missing_cap":
                sightings[box.object_id] = sightings.get(box.object_id, 0) + 1
    seen = {oid for oid, n in sightings.items() if n >= seen_poses}
    assert seen, sightings
    reports = flight.reports
    assert reports and all(r.lat is not None and r.lon is not None for r in reports), reports
    stamps = np.array([t for t, _ in flight.poses])

    def owner(track_id: int) -> str | None:
        """The defect the track's boxes overlap most often (None: no defect's)."""
        votes: Counter = Counter()
        for frame_id, box in flight.tracks.get(track_id, []):
            capture = flight.captures[frame_id]
            pose = flight.poses[int(np.argmin(np.abs(stamps - capture)))][1]
            for t in source.scene.truth_at(source.scene_pose(pose)):
                if t.class_name == "missing_cap" and _iou(box, t.box) >= SAME_BOX_IOU:
                    votes[t.object_id] += 1
        return votes.most_common(1)[0][0] if votes else None

    own: dict[str, list] = {}
    false = []
    for report in reports:
        oid = owner(int(report.track_key.rsplit(":", 1)[1]))
        if oid is None:
            false.append(report)
        else:
            own.setdefault(oid, []).append(report)
    off = {
        oid: sorted(round(distance_m(*source.scene.object_geo(oid)[:2], r.lat, r.lon), 2) for r in rs)
        for oid, rs in own.items()
    }
    print(f"seen {sightings}; {len(reports)} reports: per defect, metres off it {off}; {len(false)} false; "
          f"modes {flight.modes}")  # fmt: skip
    assert seen <= set(own), f"defects seen but never reported: {sorted(seen - set(own))}"
    assert max(m for ms in off.values() for m in ms) < FOLLOW_BOUND_M
    return own, false


def test_footage_rendered_from_the_drone_puts_its_reports_on_the_defects(tmp_path):
    flight = fly(tmp_path, INSPECTION_SPEED_MPS)
    modes = flight.modes
    assert "HOLD" in modes and modes.index("HOLD") < len(modes) - 1  # held at a defect, then went on
    assert modes.index("HOLD") < modes.index("RESUME") < modes.index("END_OF_LINE"), modes
    check_reports(flight, SEEN_POSES[INSPECTION_SPEED_MPS])


def test_at_cruise_speed_each_defect_gives_one_report(tmp_path):
    """At the mission's 8.3 m/s a cap moves 70 px a frame: plain IoU association never started a track (no
    report at all); on buffered boxes each seen defect is one track and one report."""
    flight = fly(tmp_path, None)
    own, _ = check_reports(flight, SEEN_POSES[None])
    assert own and all(len(reports) == 1 for reports in own.values()), {k: len(v) for k, v in own.items()}
