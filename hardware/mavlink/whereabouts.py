"""Where a MAVLink vehicle is and which way it faces, read once over the link (`gridscout mission here`).

It speaks as GridScout does (heartbeats from `system_id`), takes the autopilot by its heartbeat (component 1, as
the driver does), asks for GLOBAL_POSITION_INT with MAV_CMD_REQUEST_MESSAGE (ArduPilot 4.0+, PX4; streamed
telemetry answers too), and commands nothing.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

from gridscout.hardware.mavlink.link import open_connection
from gridscout.hardware.mavlink.mav import UNKNOWN_U16, has_position, mavlink, send_gcs_heartbeat
from gridscout.hardware.mavlink.modes import (
    UnsupportedVehicleError,
    is_armed,
    is_target_autopilot,
    mode_name,
    modes_for,
)
from gridscout.hardware.mavlink.settings import MavlinkSettings

#: ask again this often until the position comes
ASK_EVERY_S = 1.0


class WhereaboutsError(RuntimeError):
    """No usable position from the vehicle in time; the message says what was missing."""


@dataclass(frozen=True, slots=True)
class Whereabouts:
    lat_deg: float
    lon_deg: float
    #: above home (GLOBAL_POSITION_INT.relative_alt)
    alt_rel_m: float
    #: where its nose points (degrees from north)
    heading_deg: float
    #: 'ArduPilot QUADROTOR, GUIDED, armed'
    describe: str


def read_whereabouts(url: str, timeout_s: float = 10.0, settings: MavlinkSettings | None = None) -> Whereabouts:
    """The vehicle's position and heading on `url` (a pymavlink connection string). LinkError when the link does
    not open; WhereaboutsError when no autopilot, or no position with a GPS fix, comes within `timeout_s`."""
    s = settings or MavlinkSettings()
    conn = open_connection(url, s.baud, s.system_id, s.component_id)
    try:
        return _read(conn, url, timeout_s, s)
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def _read(conn, url: str, timeout_s: float, s: MavlinkSettings) -> Whereabouts:
    deadline = time.monotonic() + timeout_s
    target: tuple[int, int] | None = None
    describe = ""
    yaw_deg: float | None = None
    next_ask = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_ask:
            next_ask = now + ASK_EVERY_S
            send_gcs_heartbeat(conn)
            if target is not None:
                conn.mav.command_long_send(*target, mavlink.MAV_CMD_REQUEST_MESSAGE, 0,
                                           mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 0, 0, 0, 0, 0, 0)  # fmt: skip
        msg = conn.recv_match(blocking=True, timeout=min(0.1, max(0.0, deadline - now)))
        if msg is None or msg.get_type() == "BAD_DATA":
            continue
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        kind = msg.get_type()
        if kind == "HEARTBEAT" and is_target_autopilot(msg, src, s.target_system) and target in (None, src):
            try:
                modes = modes_for(msg.autopilot, msg.type)
            except UnsupportedVehicleError as exc:
                raise WhereaboutsError(f"vehicle on {url} (system {src[0]}): {exc}") from None
            describe = f"{modes.describe}, {mode_name(msg)}, {'armed' if is_armed(msg) else 'disarmed'}"
            if target is None:
                target, next_ask = src, 0.0
        if src != target:
            continue
        if kind == "ATTITUDE":
            yaw_deg = math.degrees(msg.yaw) % 360.0
        elif kind == "GLOBAL_POSITION_INT" and has_position(msg):
            heading = msg.hdg / 100.0 if msg.hdg != UNKNOWN_U16 else yaw_deg
            if heading is None:
                continue  # the heading comes with ATTITUDE
            return Whereabouts(msg.lat / 1e7, msg.lon / 1e7, msg.relative_alt / 1000.0, heading % 360.0, describe)
    if target is None:
        raise WhereaboutsError(f"no HEARTBEAT from an autopilot on {url} within {timeout_s:g} s")
    raise WhereaboutsError(
        f"{describe} on {url}: no position with a GPS fix (GLOBAL_POSITION_INT) within {timeout_s:g} s"
    )
