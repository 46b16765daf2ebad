"""Vehicle URIs: the scheme picks the driver; the rest is the driver's link.

- `sim-crawler`: the crawler driver on a simulated crawler, which `gridscout run` starts as a
  supervised process on a pseudo-terminal (its path is `sim_link_path(run_dir)`).
- `crawler:<pyserial URL or tcp://host:port>[?baud=N]`: a real crawler on a serial port, any pyserial
  URL (`socket://`, `rfc2217://`, `loop://`, a pty) or ZeroMQ through a companion computer.
- `sim-drone`, `sim-rover`: the MAVLink driver on the MAVLink simulator, which `gridscout run` starts as
  a supervised process serving TCP on a loopback port (`vehicle.sim_port`).
- `mavlink:<pymavlink connection string>[?baud=N]`: an ArduPilot or PX4 vehicle, e.g.
  `mavlink:tcp:127.0.0.1:5760` (SITL), `mavlink:udpin:0.0.0.0:14550`, `mavlink:/dev/ttyACM0?baud=57600`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

#: every accepted form, for error messages and --help
VEHICLE_FORMS = (
    "sim-crawler, crawler:<pyserial URL or tcp://host:port>[?baud=N] (e.g. crawler:/dev/ttyUSB0?baud=57600), "
    "sim-drone, sim-rover, or mavlink:<pymavlink connection string>[?baud=N] (e.g. mavlink:tcp:127.0.0.1:5760, "
    "mavlink:udpin:0.0.0.0:14550, mavlink:/dev/ttyACM0?baud=57600)"
)
#: simulated kinds -> the driver they use
SIMULATED = {"sim-crawler": "crawler", "sim-drone": "mavlink", "sim-rover": "mavlink"}
#: the MAVLink simulator's vehicle for each simulated MAVLink kind
SIM_VEHICLES = {"sim-drone": "drone", "sim-rover": "rover"}
#: schemes of real vehicles -> their driver
SCHEMES = {"crawler": "crawler", "mavlink": "mavlink"}
#: the MAVLink simulator started by `gridscout run` serves on loopback only
SIM_HOST = "127.0.0.1"
#: pymavlink connection strings over the network: PREFIX:HOST:PORT
_MAVLINK_NETWORK = re.compile(r"^(tcp|udpin|udpout|udp):([^:/?]+):(\d+)$")


@dataclass(frozen=True)
class VehicleTarget:
    """A parsed vehicle URI."""

    uri: str
    #: "crawler", "sim-crawler", "mavlink", "sim-drone" or "sim-rover": the config section and the simulator
    #: (if any) depend on it
    kind: str
    #: the driver that talks to it
    driver: str
    #: the driver's link: a device path, a pyserial URL, tcp:// or a pymavlink connection string; for a
    #: simulator, set once its run dir (or port) is known
    link: str
    #: from `?baud=N`; None: the configured default
    baud: int | None = None

    @property
    def simulated(self) -> bool:
        return self.kind in SIMULATED

    @property
    def serial_device(self) -> str | None:
        """The device file the link needs (to check before a run), or None for network links and simulators."""
        if self.simulated or "://" in self.link or _MAVLINK_NETWORK.match(self.link):
            return None
        return self.link


def vehicle_kind(uri: str) -> str | None:
    """The kind a URI names by its scheme alone ('crawler', 'sim-drone', ...), or None when it names none."""
    if uri in SIMULATED:
        return uri
    scheme, sep, _ = uri.partition(":")
    return scheme if sep and scheme in SCHEMES else None


def sim_link_path(run_dir: str | Path, kind: str = "sim-crawler") -> Path:
    """Where a simulator started by `gridscout run` links its port: stable across simulator restarts."""
    return Path(run_dir) / f"{kind}.pty"


def sim_mavlink_link(port: int) -> str:
    """The connection string of the MAVLink simulator `gridscout run` starts (`vehicle.sim_port`): loopback TCP."""
    return f"tcp:{SIM_HOST}:{port}"


def _baud(uri: str, query: str) -> int | None:
    if not query:
        return None
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
    return baud


def _mavlink_link(uri: str, link: str, baud: int | None) -> None:
    network = _MAVLINK_NETWORK.match(link)
    if network:
        if not 0 < int(network.group(3)) < 65536:
            raise ValueError(f"vehicle {uri!r}: port {network.group(3)} is out of range (1 to 65535)")
        if baud is not None:
            raise ValueError(f"vehicle {uri!r}: ?baud= is for serial links, not {network.group(1)}:")
        return
    if re.match(r"^[a-z]+:", link) and not link.startswith("/"):
        raise ValueError(
            f"vehicle {uri!r}: {link!r} is not a MAVLink link; expected tcp:HOST:PORT, udpin:HOST:PORT, "
            "udpout:HOST:PORT or a serial device such as /dev/ttyACM0"
        )


def parse_vehicle_uri(uri: str) -> VehicleTarget:
    """Parse `uri`; ValueError naming it and the accepted forms when it is not one of them."""
    kind = vehicle_kind(uri)
    if kind is None:
        raise ValueError(f"vehicle {uri!r}: expected {VEHICLE_FORMS}")
    if kind in SIMULATED:
        return VehicleTarget(uri, kind, SIMULATED[kind], "")
    link, _, query = uri.removeprefix(f"{kind}:").partition("?")
    if not link:
        what = "serial port or tcp:// address" if kind == "crawler" else "pymavlink connection string"
        raise ValueError(f"vehicle {uri!r}: no {what}; expected {VEHICLE_FORMS}")
    baud = _baud(uri, query)
    if kind == "mavlink":
        _mavlink_link(uri, link, baud)
    return VehicleTarget(uri, kind, SCHEMES[kind], link, baud)
