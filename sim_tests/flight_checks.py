"""What a simulated drone's own log must show after a run along a mission: flown, held, within the speed limit."""

from __future__ import annotations

from gridscout.control.mission import Mission

#: the gate's ground-speed limit for a drone, m/s
DRONE_GROUND_SPEED_LIMIT = 12.0


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
