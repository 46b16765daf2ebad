"""`gridscout mission here`: the demo mission moved to where a MAVLink vehicle is (our simulator at SITL's CMAC home,
over loopback), and flown from there without the driver refusing it as too far."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import pytest

from gridscout.control.geodesy import distance_m
from gridscout.control.mission import load_mission, parse_mission
from gridscout.control.mission_place import place_mission, start_and_bearing
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.hardware.vehicle.driver import LinkState
from tests.mavlink_sim import HOME, ready_driver, simulator


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", "mission", "here", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("heading", [0.0, 90.0, 233.5])
def test_the_moved_mission_starts_at_the_point_heading_that_way_and_keeps_everything_else(heading):
    demo = load_mission(DEMO_MISSION)
    moved = parse_mission(place_mission(json.loads(DEMO_MISSION.read_text()), *HOME, heading, source="t"), "t")
    (lat, lon), bearing = start_and_bearing(moved)
    assert distance_m(lat, lon, *HOME) < 0.05 and (bearing - heading + 180) % 360 - 180 == pytest.approx(0, abs=0.01)
    assert moved.path.length_m == pytest.approx(demo.path.length_m, abs=0.01)
    assert (moved.standoff_m, moved.altitude_m, moved.cruise_speed_mps, moved.line_height_m) == (
        demo.standoff_m, demo.altitude_m, demo.cruise_speed_mps, demo.line_height_m,
    )  # fmt: skip
    fence, was = moved.geofence_local, demo.geofence_local
    assert fence is not None and len(fence) == len(was)
    sides = [math.dist(a, b) for a, b in itertools.pairwise(fence)]
    assert sides == pytest.approx([math.dist(a, b) for a, b in itertools.pairwise(was)], abs=0.01)


def test_mission_here_reads_the_vehicle_and_writes_a_mission_the_driver_flies(tmp_path):
    out = tmp_path / "sitl.mission.geojson"
    with simulator(tmp_path, "--heading", "30") as sim:
        done = _cli("--vehicle", f"mavlink:{sim.url}", "-o", str(out))
        assert done.returncode == 0, done.stderr
        assert "moved to the vehicle (ArduPilot QUADROTOR, GUIDED, armed, 20.0 m above home)" in done.stdout
        assert f"fly it: gridscout run --vehicle mavlink:{sim.url} --mission {out}" in done.stdout
        mission = load_mission(out)
        (lat, lon), bearing = start_and_bearing(mission)
        assert distance_m(lat, lon, *HOME) < 0.05 and bearing == pytest.approx(30.0, abs=0.01)
        assert mission.name == "synthetic-drone-s42 @ here"
        assert json.loads(out.read_text())["features"][0]["properties"]["camera"]["mount"] == "gimbal"
        d = ready_driver(sim.url, mission)
        assert d.link_state is LinkState.CONNECTED
        d.close()
        assert sim.commands("DO_SET_MODE") == []  # reading where it is commands nothing


def test_a_given_heading_wins_and_a_bad_vehicle_is_one_line(tmp_path):
    out = tmp_path / "m.geojson"
    with simulator(tmp_path) as sim:
        assert _cli("--vehicle", f"mavlink:{sim.url}", "-o", str(out), "--heading", "270").returncode == 0
        assert start_and_bearing(load_mission(out))[1] == pytest.approx(270.0, abs=0.01)
    done = _cli("--vehicle", "sim-drone", "-o", str(out))
    assert done.returncode == 2 and done.stderr.strip() == (
        "gridscout mission: error: --vehicle 'sim-drone': expected mavlink:<pymavlink connection string>"
    )
    done = _cli("--vehicle", "mavlink:tcp:127.0.0.1:9", "-o", str(out))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "cannot open MAVLink link 'tcp:127.0.0.1:9'" in done.stderr
