"""What a run along a mission must show: flown, held, within the speed limit, reports beside the line."""

from __future__ import annotations

from pathlib import Path

from gridscout.control.geodesy import distance_m
from gridscout.control.mission import Mission
from gridscout.edge.recording.reader import read_recording
from gridscout.edge.reports import ReportStore

#: the gate's ground-speed limit for a drone, m/s
DRONE_GROUND_SPEED_LIMIT = 12.0
#: a report geotagged from telemetry lies this close to the line it was flown along: the footage's strings
#: hang beside the flight path (the drone's standoff plus the geotag's error, see test_drone_chain.py)
NEAR_THE_LINE_M = 60.0
#: a vehicle at rest in a hold: ArduCopter hovering in GUIDED reports 0.01-0.14 m/s over ground
AT_REST_MPS = 0.3


def assert_flown_along_and_held(track: list[dict], mission: Mission) -> None:
    """`track`: the simulator's `state` events. It flew along the line, stood (almost) still in GUIDED mid-line
    (a hold at a defect, away from both ends), and never beat the ground-speed limit."""
    along = [mission.path.project(*mission.frame.to_local(s["lat"], s["lon"])[:2])[0] for s in track]
    assert max(along) > 20.0  # it flew along the line
    length = mission.path.length_m
    held = [
        s
        for s, a in zip(track, along, strict=True)
        if s["mode"] == "GUIDED" and s["ground_speed_mps"] < 0.3 and 5.0 < a < length - 5.0
    ]
    assert held, "the drone never stood still in GUIDED mid-line"
    assert all(s["ground_speed_mps"] <= DRONE_GROUND_SPEED_LIMIT + 1e-6 for s in track)


def along_track_m(samples: list[dict], mission: Mission) -> list[float]:
    """Each sample's (lat, lon) as a distance along the mission's flight path."""
    return [mission.path.project(*mission.frame.to_local(s["lat"], s["lon"])[:2])[0] for s in samples]


def hold_speeds(recordings: Path) -> list[list[tuple[float, float]]]:
    """For each HOLD in a recorded run that ended in RESUME: (seconds before the RESUME, speed over ground) of
    every telemetry message during it, as the vehicle reported them."""
    holds, current, mode = [], None, None
    for r in read_recording(recordings, topics_wanted=["control_state", "telemetry"]):
        t = r.log_time_ns / 1e9
        if r.topic == "control_state":
            if r.message.mode == "HOLD" and mode != "HOLD":
                current = []
            elif r.message.mode == "RESUME" and mode == "HOLD" and current is not None:
                holds.append([(t - when, speed) for when, speed in current])
                current = None
            mode = r.message.mode
        elif current is not None and r.message.ground_speed_mps is not None:
            current.append((t, r.message.ground_speed_mps))
    return holds


def assert_each_hold_stood_still(recordings: Path, hold_s: float) -> int:
    """Every hold ended with the vehicle at rest for `hold_s` (a hold timed from the command once ended with a
    drone braking from 8 m/s still moving, 23 m past); returns how many holds there were."""
    holds = hold_speeds(recordings)
    for hold in holds:
        before = [speed for ago, speed in hold if ago <= hold_s - 0.2]  # less a telemetry period or two
        assert before and max(before) <= AT_REST_MPS, [(round(a, 1), round(s, 2)) for a, s in hold]
    return len(holds)


def assert_reports_beside_the_line(data: Path, mission: Mission) -> int:
    """Every stored report is geotagged, within NEAR_THE_LINE_M of the mission's flight path; returns how many."""
    with ReportStore(data) as store:
        reports = store.list(limit=1000)
    assert reports and all(r.lat is not None and r.error_m for r in reports), reports
    line = [mission.frame.to_global(*mission.path.point_at(s)) for s in range(0, int(mission.path.length_m) + 1, 2)]
    for r in reports:
        assert min(distance_m(r.lat, r.lon, lat, lon) for lat, lon, _ in line) < NEAR_THE_LINE_M, r
    return len(reports)
