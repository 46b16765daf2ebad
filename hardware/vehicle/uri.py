"""Vehicle URIs: the scheme picks the driver; the rest is the driver's link.

- `sim-crawler`: the crawler driver on a simulated crawler, which `gridscout run` starts as a
  supervised process on a pseudo-terminal (its path is `sim_link_path(run_dir)`).
- `crawler:<pyserial URL or tcp://host:port>[?baud=N]`: a real crawler on a serial port, any pyserial
  URL (`socket://`, `rfc2217://`, `loop://`, a pty) or ZeroMQ through a companion computer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

#: every accepted form, for error messages and --help
VEHICLE_FORMS = (
    "sim-crawler, or crawler:<pyserial URL or tcp://host:port>[?baud=N] (e.g. crawler:/dev/ttyUSB0?baud=57600)"
)
#: simulated kinds: the driver they use, and the file in the run directory their simulator links its port to
SIMULATED = {"sim-crawler": "crawler"}


@dataclass(frozen=True)
class VehicleTarget:
    """A parsed vehicle URI."""

    uri: str
    #: "crawler" or "sim-crawler": the config section and the simulator (if any) depend on it
    kind: str
    #: the driver that talks to it
    driver: str
    #: the driver's link: a device path, a pyserial URL or tcp://; for a simulator, set once its run dir is known
    link: str
    #: from `?baud=N`; None: the configured default
    baud: int | None = None

    @property
    def simulated(self) -> bool:
        return self.kind in SIMULATED


def vehicle_kind(uri: str) -> str | None:
    """The kind a URI names by its scheme alone ('crawler', 'sim-crawler'), or None when it names none."""
    if uri in SIMULATED:
        return uri
    scheme, sep, _ = uri.partition(":")
    return scheme if sep and scheme == "crawler" else None


def sim_link_path(run_dir: str | Path, kind: str = "sim-crawler") -> Path:
    """Where a simulator started by `gridscout run` links its port: stable across simulator restarts."""
    return Path(run_dir) / f"{kind}.pty"


def parse_vehicle_uri(uri: str) -> VehicleTarget:
    """Parse `uri`; ValueError naming it and the accepted forms when it is not one of them."""
    kind = vehicle_kind(uri)
    if kind is None:
        raise ValueError(f"vehicle {uri!r}: expected {VEHICLE_FORMS}")
    if kind in SIMULATED:
        return VehicleTarget(uri, kind, SIMULATED[kind], "")
    link, _, query = uri.removeprefix("crawler:").partition("?")
    if not link:
        raise ValueError(f"vehicle {uri!r}: no serial port or tcp:// address; expected {VEHICLE_FORMS}")
    baud = None
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
    return VehicleTarget(uri, kind, "crawler", link, baud)
