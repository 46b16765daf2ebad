"""pymavlink, loaded the one way this project speaks it: MAVLink 2, the ardupilotmega dialect.

pymavlink picks its wire version and dialect from the environment when `mavutil` is first imported, so
every module of ours that needs it imports it from here, never directly.
"""

from __future__ import annotations

import os

os.environ["MAVLINK20"] = "1"
os.environ["MAVLINK_DIALECT"] = "ardupilotmega"

from pymavlink import mavutil

#: the generated dialect module: message classes, enums and constants
mavlink = mavutil.mavlink
assert mavlink.WIRE_PROTOCOL_VERSION == "2.0", "pymavlink was imported before gridscout.hardware.mavlink.mav"

#: velocity only, yaw given (SET_POSITION_TARGET_*: bits set = fields ignored)
VELOCITY_YAW_MASK = (
    mavlink.POSITION_TARGET_TYPEMASK_X_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_Y_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_Z_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_AX_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_AY_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_AZ_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE
)
#: position only (SET_POSITION_TARGET_GLOBAL_INT to a point)
POSITION_MASK = (
    mavlink.POSITION_TARGET_TYPEMASK_VX_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_VY_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_VZ_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_AX_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_AY_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_AZ_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE
    | mavlink.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE
)


#: MAVLink's "not known" in a uint16 field (GLOBAL_POSITION_INT.hdg, battery voltages)
UNKNOWN_U16 = 0xFFFF


def has_position(position) -> bool:
    """A GLOBAL_POSITION_INT with a position in it: ArduPilot sends 0, 0 before its first fix (no EKF origin)."""
    return bool(position.lat or position.lon)


def send_gcs_heartbeat(conn) -> None:
    """Our HEARTBEAT, as a ground station: what ArduPilot's GCS failsafe and PX4's GCS link loss listen for."""
    conn.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE)


def enum_name(enum: str, value: int) -> str:
    """The name of `value` in a MAVLink enum ('MAV_RESULT', 4 -> 'MAV_RESULT_FAILED'), or 'ENUM(value)'."""
    entry = mavlink.enums.get(enum, {}).get(value)
    return entry.name if entry is not None else f"{enum}({value})"


def command_name(command: int) -> str:
    """'MAV_CMD_DO_SET_MODE' -> 'DO_SET_MODE'."""
    return enum_name("MAV_CMD", command).removeprefix("MAV_CMD_")


def text_of(field: bytes | str) -> str:
    """A MAVLink char[] field as text (pymavlink gives str or bytes, NUL-padded)."""
    if isinstance(field, bytes):
        field = field.decode("utf-8", errors="replace")
    return field.split("\x00", 1)[0]


__all__ = [
    "POSITION_MASK",
    "UNKNOWN_U16",
    "VELOCITY_YAW_MASK",
    "command_name",
    "enum_name",
    "has_position",
    "mavlink",
    "mavutil",
    "send_gcs_heartbeat",
    "text_of",
]
