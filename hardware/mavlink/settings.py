"""How the MAVLink driver speaks to an autopilot: its settings, apart from the driver so that reading the
config never loads pymavlink (about 40 MB in every process that would)."""

from __future__ import annotations

from dataclasses import dataclass

#: MAVLink's component id of a companion computer (`mavlink.MAV_COMP_ID_ONBOARD_COMPUTER`; a test holds them equal)
MAV_COMP_ID_ONBOARD_COMPUTER = 191


@dataclass(frozen=True, slots=True)
class MavlinkSettings:
    """How the driver speaks to the autopilot. These are the shipped defaults; `gridscout.edge.config` reads them."""

    #: serial links only (a ?baud= in the URI wins)
    baud: int = 57600
    #: ours; ArduPilot's GCS failsafe listens for MAV_GCS_SYSID, 255 by default
    system_id: int = 255
    component_id: int = MAV_COMP_ID_ONBOARD_COMPUTER
    #: the autopilot's system id; 0: the first autopilot heard
    target_system: int = 0
    heartbeat_period_s: float = 1.0
    setpoint_rate_hz: float = 10.0
    #: GLOBAL_POSITION_INT and ATTITUDE are asked for at this rate
    telemetry_rate_hz: float = 20.0
    #: SYS_STATUS and BATTERY_STATUS
    status_rate_hz: float = 2.0
    ack_timeout_s: float = 0.5
    max_retries: int = 3
    #: link_ok: something heard from the autopilot this recently
    link_timeout_s: float = 1.0
    #: no HEARTBEAT this long: the link is lost (a link drop), until one comes again
    heartbeat_lost_s: float = 5.0
    #: horizontal setpoints never exceed this (m/s), path corrections included; announced as the limit
    max_speed_mps: float = 5.0
    #: who switches an armed vehicle into GUIDED / OFFBOARD at the start: "auto" (GridScout on PX4, which takes
    #: OFFBOARD only from a setpoint stream; the crew on ArduPilot), "always" (GridScout) or "never" (the crew)
    engage: str = "auto"
    allow_arm: bool = False
    allow_takeoff: bool = False
    #: END_OF_PATH within this of the path's end
    end_tolerance_m: float = 1.0
    #: a vehicle farther than this from the mission's flight path is refused (never flown there in a straight line)
    max_path_distance_m: float = 100.0
