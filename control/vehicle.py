"""What every vehicle reports, whatever drives it: one telemetry type, its states and its limits.

Vehicle drivers (crawler serial, MAVLink, simulators) translate their own protocol into these values;
the bus carries them as they are; control reads them. Pure standard-library values, so the behaviour
and the safety gate never see a protocol's own names or units.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class VehicleState(StrEnum):
    """A vehicle's state in words every driver can map onto."""

    DISCONNECTED = "DISCONNECTED"  # no handshake yet, or the link was lost
    READY = "READY"  # connected and at rest, taking commands
    MOVING = "MOVING"  # connected and moving on command
    FAILSAFE = "FAILSAFE"  # it stopped itself (it lost us, or its own safety tripped)
    END_OF_PATH = "END_OF_PATH"  # at the end of the line it was driving
    FAULT = "FAULT"  # it cannot move (hardware fault, empty battery)

    @property
    def can_drive(self) -> bool:
        """True when the behaviour may drive it. In FAILSAFE it waits (sending STOP, which clears it)."""
        return self in (VehicleState.READY, VehicleState.MOVING)


@dataclass(frozen=True, slots=True)
class VehicleLimits:
    """What the vehicle announced about itself when the link came up (None: it did not say)."""

    max_speed_mps: float | None
    #: it stops itself after this long without a host frame
    heartbeat_timeout_s: float | None


@dataclass(frozen=True, slots=True)
class VehicleTelemetry:
    """The vehicle's latest report and the health of the link to it (SI units; None: not known).

    `t_mono_ns` is when this message was made (the vehicle process republishes the latest report at a
    fixed rate, so its age says whether that process is alive); `t_rx_mono_ns` is when the vehicle's
    own report arrived (0: never).
    """

    t_mono_ns: int
    t_rx_mono_ns: int
    state: VehicleState
    link_ok: bool
    #: distance along the inspection path (the line)
    position_m: float | None = None
    speed_mps: float | None = None
    battery_v: float | None = None
    battery_pct: float | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    #: altitude above mean sea level (GPS)
    alt_m: float | None = None
    #: altitude above the home (take-off) point, what altitude limits and missions are given in
    alt_rel_m: float | None = None
    #: speed over ground, whatever the direction (a drone's sideways drift included)
    ground_speed_mps: float | None = None
    #: direction of travel over ground, degrees clockwise from true north
    heading_deg: float | None = None
    #: the vehicle body's attitude (degrees; yaw clockwise from true north), for geotagging
    roll_deg: float | None = None
    pitch_deg: float | None = None
    yaw_deg: float | None = None
    #: the autopilot's own mode name ("GUIDED", "OFFBOARD", ...), None for vehicles without modes
    mode: str | None = None
    #: None for vehicles that cannot be armed (the crawler)
    armed: bool | None = None
    #: the newest command the vehicle says it applied (-1: none)
    last_cmd_seq: int = -1
    #: the vehicle's own speed limit, from its handshake; control never commands more
    max_speed_mps: float | None = None
    #: a vehicle that keeps to the ground (a rover): it has no altitude to hold, so no altitude limit applies
    ground_vehicle: bool = False
    frame_id: int = -1
