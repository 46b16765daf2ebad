"""Vehicle URIs: `sim-crawler`, or `crawler:<pyserial URL or tcp://host:port>[?baud=N]`."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

VEHICLE_FORMS = (
    "sim-crawler, or crawler:<pyserial URL or tcp://host:port>[?baud=N] (e.g. crawler:/dev/ttyUSB0?baud=57600)"
)


@dataclass(frozen=True)
class VehicleTarget:
    simulated: bool
    link: str  # pyserial URL or tcp://; empty for the simulator until it is started
    baud: int


def parse_vehicle_uri(uri: str, default_baud: int) -> VehicleTarget:
    if uri == "sim-crawler":
        return VehicleTarget(True, "", default_baud)
    if not uri.startswith("crawler:") or uri == "crawler:":
        raise ValueError(f"vehicle {uri!r}: expected {VEHICLE_FORMS}")
    link, _, query = uri.removeprefix("crawler:").partition("?")
    if not link:
        raise ValueError(f"vehicle {uri!r}: no serial port or tcp:// address; expected {VEHICLE_FORMS}")
    baud = default_baud
    if query:
        params = parse_qs(query, keep_blank_values=True)
        unknown = set(params) - {"baud"}
        if unknown:
            raise ValueError(f"vehicle {uri!r}: unknown option(s) {sorted(unknown)}; only ?baud=N is understood")
        try:
            baud = int(params["baud"][-1])
        except ValueError as exc:
            raise ValueError(f"vehicle {uri!r}: baud must be an integer, got {params['baud'][-1]!r}") from exc
        if not 1200 <= baud <= 4_000_000:
            raise ValueError(f"vehicle {uri!r}: baud {baud} is out of range (1200 to 4000000)")
    return VehicleTarget(False, link, baud)


class SimCrawler:
    """The crawler simulator as a child process on a pty; `link` is the pty's path."""

    def __init__(self, *, line_length_m: float, heartbeat_timeout_s: float, log_path: Path):
        cmd = [
            sys.executable,
            "-m",
            "gridscout.hardware.sim.crawler.server",
            "--line-length",
            str(line_length_m),
            "--heartbeat-timeout",
            str(heartbeat_timeout_s),
            "--log",
            str(log_path),
        ]
        self.log_path = log_path
        self._stderr = open(log_path.with_suffix(".stderr.log"), "ab")  # noqa: SIM115 - lives as long as the sim
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, start_new_session=True)
        assert self.proc.stdout is not None
        # The sim prints its pty path first thing; readline returns b"" if it dies instead.
        line = self.proc.stdout.readline()
        self.link = line.decode().strip()
        if not self.link:
            self.close()
            raise RuntimeError(f"crawler simulator did not start; see {log_path.with_suffix('.stderr.log')}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
