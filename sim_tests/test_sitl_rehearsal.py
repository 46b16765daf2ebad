"""The ArduPilot SITL check, rehearsed on our simulator as docs/flying.md tells a crew to run it.

A drone hovers armed in GUIDED at SITL's home (CMAC), with MAVProxy's traffic relayed on the link (its GCS
heartbeat as system 255, a gimbal, ADS-B, ACKs meant for MAVProxy). `gridscout mission here` writes the demo
line where the drone is; `gridscout run --vehicle mavlink:... --mission FILE` flies it on the bundled footage
as separate processes over TCP, holds at a defect, stops at the end and stores geotagged reports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gridscout.control.mission import load_mission
from sim_tests.flight_checks import assert_flown_along_and_held, assert_reports_beside_the_line
from tests.mavlink_sim import simulator


def _gridscout(*args: str, cwd, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


@pytest.mark.slow
def test_a_hovering_guided_drone_at_cmac_is_flown_along_a_mission_made_where_it_is(tmp_path):
    mission_file = tmp_path / "sitl.mission.geojson"
    with simulator(tmp_path, "--relayed", "--heading", "60") as sim:
        vehicle = f"mavlink:{sim.url}"
        here = _gridscout("mission", "here", "--vehicle", vehicle, "-o", str(mission_file), cwd=tmp_path, timeout=60)
        assert here.returncode == 0, here.stderr
        run = _gridscout(
            "run", "--vehicle", vehicle, "--mission", str(mission_file), "--no-api", "--data", str(tmp_path / "data"),
            "--summary-json", str(tmp_path / "summary.json"), cwd=tmp_path, timeout=240,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        log = sim.events()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"] and summary["reports_created"] >= 1
    # MAVProxy's heartbeat as system 255 holds the GCS failsafe off: a warning line of the summary
    assert "warning    system 255 component 230 (GCS, e.g. MAVProxy) shares GridScout's system id" in run.stdout
    mission = load_mission(mission_file)
    assert_flown_along_and_held([e for e in log if e["event"] == "state"], mission)  # the line made where it hovered
    assert not [e for e in log if e["event"] == "command" and e["command"] in ("COMPONENT_ARM_DISARM", "NAV_TAKEOFF")]
    assert_reports_beside_the_line(tmp_path / "data", mission)
