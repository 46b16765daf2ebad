"""Helpers for MAVLink tests: the simulator as a real subprocess on loopback, its JSON-lines log, a mission.

The simulator is `python -m gridscout.hardware.sim.mavlink`, the same program `gridscout sim drone` runs; it
prints its connection string on its first stdout line. Tests read what it received and did from its log.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gridscout.control.geodesy import LocalFrame
from gridscout.control.mission import Mission, parse_mission
from gridscout.hardware.mavlink.driver import MavlinkDriver
from gridscout.hardware.mavlink.settings import MavlinkSettings

#: the simulator's default home (ArduPilot SITL's)
HOME = (-35.363261, 149.165230)


def straight_mission(length_m: float = 200.0, *, altitude_m: float = 20.0, standoff_m: float = 0.0) -> Mission:
    """A straight line north from the simulator's home."""
    lat1, lon1, _ = LocalFrame(*HOME).to_global(0.0, length_m)
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[HOME[1], HOME[0]], [lon1, lat1]]},
        "properties": {"altitude_m": altitude_m, "cruise_speed_mps": 3.0, "standoff_m": standoff_m, "name": "test"},
    }
    return parse_mission(feature, "test mission")


@dataclass
class Sim:
    url: str
    log_path: Path
    proc: subprocess.Popen

    def events(self, kind: str | None = None) -> list[dict]:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        records = [json.loads(line) for line in lines if line.strip()]
        return [r for r in records if kind is None or r["event"] == kind]

    def commands(self, name: str | None = None) -> list[dict]:
        return [e for e in self.events("command") if name is None or e["command"] == name]

    def last_state(self) -> dict:
        return self.events("state")[-1]


@contextlib.contextmanager
def simulator(tmp_path: Path, *args: str, vehicle: str = "drone", tcp: bool = True) -> Iterator[Sim]:
    """The MAVLink simulator in a subprocess (TCP on a free loopback port unless `args` say otherwise)."""
    log_path = tmp_path / f"{vehicle}-sim-{time.monotonic_ns()}.jsonl"
    where = ["--tcp", "127.0.0.1:0"] if tcp and not any(a.startswith("--udp") for a in args) else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridscout.hardware.sim.mavlink", vehicle, *where, "--log", str(log_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url, f"the simulator printed no connection string (exit {proc.poll()})"
        yield Sim(url, log_path, proc)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def run_for(driver: MavlinkDriver, seconds: float, each: Callable[[], object] | None = None) -> None:
    """Service the driver (as its owner's loop does, every 20 ms at most) for this long."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if each is not None:
            each()
        driver.service(0.02)


def run_until(driver: MavlinkDriver, done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what} ({driver.link_detail})"
        driver.service(0.02)


def ready_driver(url: str, mission: Mission | None = None, **settings: object) -> MavlinkDriver:
    driver = MavlinkDriver(url, mission or straight_mission(), MavlinkSettings(**settings))
    driver.wait_ready(10.0)
    return driver
