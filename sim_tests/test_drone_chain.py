"""The whole chain flying the MAVLink drone simulator over loopback: `gridscout run --vehicle sim-drone`.

With no mission given, the run flies the line of the bundled footage (edge.defaults.DEMO_MISSION): the
simulator starts armed and hovering in GUIDED at the start of that line, as a crew would hand it over.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridscout.control.geodesy import distance_m
from gridscout.control.mission import load_mission
from gridscout.edge.api.server import start_in_thread
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.reports import ReportStore
from gridscout.edge.runtime.messages import ControlState
from gridscout.hardware.sim.synthetic_source import SyntheticSource
from sim_tests.chain import Chain
from sim_tests.flight_checks import assert_flown_along_and_held
from tests.mavlink_sim import Sim, simulator

#: the bundled footage's four defects (synthetic://demo, as sim_tests/test_geotag.py names them)
DEMO_DEFECTS = ("s33d0", "s45d0", "s56d0", "s57d0")
#: a report geotagged from the simulated drone's telemetry lies this close to a true defect: the drone flies
#: the footage's line but not in step with its frames, so this is the geometry plus that lag, not the 3 m of
#: the footage's own poses (sim_tests/test_geotag.py). The lag grows with each hold, counted from when the
#: drone is at rest: measured 7.7 / 15.9 / 26.0 / 23.9 m, error_m 9-12 m (footage that follows the drone,
#: `synthetic://demo?follow=vehicle`, puts the same reports 0.5-1.8 m from the defects)
TELEMETRY_BOUND_M = 30.0


def _drone_log(chain: Chain) -> list[dict]:
    path = chain.data / "logs" / "drone-sim.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_the_drone_flies_the_footages_line_and_holds_at_its_defects(tmp_path):
    chain = Chain(tmp_path, source="", extra={"vehicle": {"uri": "sim-drone"}})
    states = chain.subscribe(["control_state"])
    modes: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while chain.proc.poll() is None and time.monotonic() < deadline:
            for r in states.drain():
                if isinstance(r.msg, ControlState) and (not modes or modes[-1] != r.msg.mode):
                    modes.append(r.msg.mode)
            time.sleep(0.05)
        assert chain.wait() == 0, chain.stderr()[-3000:]
    finally:
        chain.close()
    summary = chain.summary()
    assert summary["ok"] and summary["vehicle"]["uri"] == "sim-drone" and summary["reports_created"] >= 1
    assert "HOLD" in modes and modes.index("HOLD") < len(modes) - 1  # held at a defect, then went on
    log = _drone_log(chain)
    track = [e for e in log if e["event"] == "state"]
    assert_flown_along_and_held(track, load_mission(DEMO_MISSION))
    fast = max(s["ground_speed_mps"] for s in track)
    assert fast > 3.0
    assert any(e["event"] == "mode" and e["mode"] == "BRAKE" for e in log)  # stopped at the end or on shutdown
    # the run waits for the braked drone to stand (it left while the drone still moved): its last state is at rest
    assert track[-1]["ground_speed_mps"] <= 0.3, track[-1]
    assert "vehicle at rest" in (chain.data / "logs" / "vehicle.log").read_text()
    _assert_geotagged_reports_reach_the_fleet(chain.data, tmp_path)


def _assert_geotagged_reports_reach_the_fleet(data: Path, tmp_path: Path) -> None:
    """The run geotags from the drone's telemetry with the mission file's camera (no [geotag] set): every report
    has lat/lon/error_m near a true defect; `gridscout fleet pull` from the run's API receives them with their
    positions, and `gridscout reports export --geojson` makes each a Point."""
    with ReportStore(data) as store:
        reports = store.list(limit=1000)
    assert reports and all(r.lat is not None and r.lon is not None and r.error_m for r in reports), reports
    source = SyntheticSource("synthetic://demo")
    truth = [source.object_geo(0, oid) for oid in DEMO_DEFECTS]
    off = [min(distance_m(t[0], t[1], r.lat, r.lon) for t in truth) for r in reports]
    print(f"{len(reports)} reports, off the nearest defect by {sorted(round(m, 1) for m in off)} m, "
          f"error_m {sorted(round(r.error_m, 1) for r in reports)}")  # fmt: skip
    assert max(off) < TELEMETRY_BOUND_M
    into = tmp_path / "fleet.db"
    with start_in_thread(data, "drone-token") as server:
        pull = subprocess.run(
            [sys.executable, "-m", "gridscout.edge.cli", "fleet", "pull", server.url, "--token", "drone-token",
             "--into", str(into)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert pull.returncode == 0, pull.stderr
    with sqlite3.connect(into) as db:
        pulled = {rid: json.loads(body) for rid, body in db.execute("SELECT id, json FROM reports")}
    assert set(pulled) == {r.id for r in reports}
    for r in reports:
        assert (pulled[r.id]["lat"], pulled[r.id]["lon"], pulled[r.id]["error_m"]) == (r.lat, r.lon, r.error_m)
    geojson = tmp_path / "defects.geojson"
    export = subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", "reports", "--data", str(data), "export", "--geojson",
         str(geojson)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    features = json.loads(geojson.read_text())["features"]
    assert len(features) == len(reports)
    assert all(f["geometry"]["type"] == "Point" for f in features)
    points = sorted(tuple(round(c, 7) for c in f["geometry"]["coordinates"][:2]) for f in features)
    assert points == sorted((round(r.lon, 7), round(r.lat, 7)) for r in reports)


def _run_on(tmp_path: Path, sim: Sim, *, source: str) -> Chain:
    """`gridscout run` on a standalone simulator (`mavlink:` its URL) flying the demo mission, to its end: a
    failed run (exit 1)."""
    extra = {"vehicle": {"uri": f"mavlink:{sim.url}"}, "mission": {"file": str(DEMO_MISSION)}}
    chain = Chain(tmp_path, source=source, extra=extra)
    try:
        assert chain.wait() == 1, chain.stderr()[-3000:]
    finally:
        chain.close()
    return chain


@pytest.mark.slow
def test_a_lost_link_leaves_the_drone_to_its_failsafe_and_the_summary_says_so(tmp_path):
    """The vehicle process freezes (SIGSTOP): no more heartbeats. The simulator's GCS failsafe flies RTL (after
    0.6 s here, well before the supervisor's 1 s watchdog restarts the process); the restarted vehicle process
    finds the drone in RTL and leaves it there; the run fails with a line that says so."""
    fast = {"uri": "sim-drone", "heartbeat_period_s": 0.25, "sim_gcs_timeout_s": 0.6}
    chain = Chain(tmp_path, source="", extra={"vehicle": fast})
    try:
        chain.wait_for(lambda: "running" in chain.stdout(), 90, "the chain running")
        time.sleep(3.0)
        os.kill(chain.pid_of("vehicle"), signal.SIGSTOP)
        chain.wait_for(lambda: any(e["event"] == "failsafe" for e in _drone_log(chain)), 20, "the failsafe")
        assert chain.wait() == 1
    finally:
        chain.close()
    (failsafe,) = [e for e in _drone_log(chain) if e["event"] == "failsafe"]
    assert failsafe["action"] == "RTL" and failsafe["silent_s"] >= 0.6
    failures = chain.summary()["failures"]
    assert any("sim-drone" in f and "RTL" in f for f in failures), failures
    assert any("RTL" in line for line in chain.stdout().splitlines() if line.startswith("FAILED"))


@pytest.mark.slow  # 30 s; the driver's own test names a refused command's MAV_RESULT by default
def test_a_refused_stop_is_surfaced_by_its_mav_result_name(tmp_path):
    """A real-vehicle run (`mavlink:tcp:...`) on a standalone simulator that denies BRAKE: the stops are refused,
    the drone still holds (zero-velocity setpoints in GUIDED), and the run fails naming MAV_RESULT_DENIED."""
    mission = load_mission(DEMO_MISSION)
    lat, lon, _ = mission.frame.to_global(*mission.path.point_at(0.0))
    de, dn = mission.path.tangent_at(0.0)
    heading = math.degrees(math.atan2(de, dn)) % 360
    args = ("--home", str(lat), str(lon), "584", "--altitude", str(mission.altitude_m), "--heading", str(heading),
            "--refuse-mode", "BRAKE")  # fmt: skip
    with simulator(tmp_path, *args) as sim:
        chain = _run_on(tmp_path, sim, source="")
    summary = chain.summary()
    assert summary["vehicle"]["refusals"].get("MAV_RESULT_DENIED", 0) >= 1  # by name, though it came at shutdown
    assert any("refused" in f and "MAV_RESULT_DENIED" in f for f in summary["failures"])
    assert any(r["result"] == "MAV_RESULT_DENIED" for r in sim.events("command"))


@pytest.mark.slow
def test_a_drone_the_gate_holds_throughout_fails_the_run_naming_why(tmp_path):
    """A drone handed over above the ceiling (as the drones' 120 m ceiling held ArduRover, whose relative_alt read
    299.6 m on the ground): the gate holds every command, the drone never moves, and the run fails saying so."""
    mission = load_mission(DEMO_MISSION)
    lat, lon, _ = mission.frame.to_global(*mission.path.point_at(0.0))
    with simulator(tmp_path, "--home", str(lat), str(lon), "584", "--altitude", "150") as sim:
        chain = _run_on(tmp_path, sim, source="synthetic://demo?frames=150")
    summary = chain.summary()
    failure = summary["failures"][-1]
    assert failure.startswith("the safety gate held vehicle mavlink:") and "altitude_high" in failure, failure
    assert summary["control_commands"] >= 200 and sum(summary["held"].values()) >= 0.9 * summary["control_commands"]
    assert max(summary["held"], key=summary["held"].get) == "altitude_high"
    assert f"FAILED     {failure}" in chain.stdout().splitlines()
