"""Flight modes per autopilot and vehicle type, from pymavlink's own tables (never numbers of ours).

ArduPilot numbers its modes per vehicle (Copter's GUIDED is 4, Rover's 15): `mavutil.mode_mapping_byname`
holds them by MAV_TYPE. PX4 has one table for all vehicles, a main mode and a sub mode
(`mavutil.px4_map`). `VehicleModes` names the few modes GridScout uses on a vehicle: the one it steers
in, the one it brakes in, and its return-to-launch.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridscout.hardware.mavlink.mav import enum_name, mavlink, mavutil

#: vehicle types driven as multicopters (hover, brake in place) and as ground vehicles
COPTER_TYPES = frozenset(
    getattr(mavlink, name)
    for name in (
        "MAV_TYPE_QUADROTOR",
        "MAV_TYPE_HEXAROTOR",
        "MAV_TYPE_OCTOROTOR",
        "MAV_TYPE_TRICOPTER",
        "MAV_TYPE_COAXIAL",
        "MAV_TYPE_HELICOPTER",
        "MAV_TYPE_DECAROTOR",
        "MAV_TYPE_DODECAROTOR",
    )
)
ROVER_TYPES = frozenset((mavlink.MAV_TYPE_GROUND_ROVER, mavlink.MAV_TYPE_SURFACE_BOAT))
AUTOPILOTS = {mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA: "ArduPilot", mavlink.MAV_AUTOPILOT_PX4: "PX4"}
#: the flight controller's component id (ArduPilot and PX4 alike); other components of its system are peripherals
AUTOPILOT_COMPONENT = mavlink.MAV_COMP_ID_AUTOPILOT1

#: (autopilot name, family) -> (steer in, brake in, return in)
_USED = {
    ("ArduPilot", "copter"): ("GUIDED", "BRAKE", "RTL"),
    ("ArduPilot", "rover"): ("GUIDED", "HOLD", "RTL"),
    # PX4's Hold is AUTO.LOITER, which pymavlink calls LOITER
    ("PX4", "copter"): ("OFFBOARD", "LOITER", "RTL"),
    ("PX4", "rover"): ("OFFBOARD", "LOITER", "RTL"),
}


class UnsupportedVehicleError(ValueError):
    """An autopilot or vehicle type GridScout cannot drive; the message names it."""


@dataclass(frozen=True, slots=True)
class VehicleModes:
    autopilot: int
    mav_type: int
    #: "copter" or "rover"
    family: str
    #: the mode GridScout steers in (GUIDED; OFFBOARD on PX4)
    control: str
    #: where its stop leaves the vehicle (Copter BRAKE, Rover HOLD, PX4 Hold)
    brake: str
    rtl: str

    @property
    def autopilot_name(self) -> str:
        return AUTOPILOTS[self.autopilot]

    @property
    def px4(self) -> bool:
        return self.autopilot == mavlink.MAV_AUTOPILOT_PX4

    @property
    def describe(self) -> str:
        return f"{self.autopilot_name} {enum_name('MAV_TYPE', self.mav_type).removeprefix('MAV_TYPE_')}"

    def set_mode_params(self, name: str) -> tuple[float, float, float]:
        """MAV_CMD_DO_SET_MODE's params 1 to 3 for mode `name`; UnsupportedVehicleError when it has no such mode."""
        return set_mode_params(self.autopilot, self.mav_type, name)


def modes_for(autopilot: int, mav_type: int) -> VehicleModes:
    """The modes GridScout uses on this vehicle; UnsupportedVehicleError naming it when it cannot drive it."""
    name = AUTOPILOTS.get(autopilot)
    if name is None:
        raise UnsupportedVehicleError(
            f"autopilot {enum_name('MAV_AUTOPILOT', autopilot)} is not supported (ArduPilot or PX4 only)"
        )
    family = "copter" if mav_type in COPTER_TYPES else "rover" if mav_type in ROVER_TYPES else None
    if family is None:
        raise UnsupportedVehicleError(
            f"{name} vehicle type {enum_name('MAV_TYPE', mav_type)} is not supported (multicopters and ground "
            "rovers or boats only)"
        )
    control, brake, rtl = _USED[(name, family)]
    modes = VehicleModes(autopilot, mav_type, family, control, brake, rtl)
    for mode in (control, brake, rtl):
        modes.set_mode_params(mode)  # every one must be in pymavlink's table for this vehicle
    return modes


def mode_numbers(autopilot: int, mav_type: int) -> dict[str, int]:
    """ArduPilot: mode name -> custom_mode for this vehicle type (pymavlink's table); PX4: name -> custom_mode."""
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        return {name: (main << 16) | (sub << 24) for name, (_, main, sub) in mavutil.px4_map.items()}
    return dict(mavutil.mode_mapping_byname(mav_type) or {})


def set_mode_params(autopilot: int, mav_type: int, name: str) -> tuple[float, float, float]:
    """MAV_CMD_DO_SET_MODE's params 1 to 3: (base mode, custom mode, custom sub mode)."""
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        if name not in mavutil.px4_map:
            raise UnsupportedVehicleError(f"PX4 has no mode {name!r} (known: {', '.join(sorted(mavutil.px4_map))})")
        base, main, sub = mavutil.px4_map[name]
        return float(base), float(main), float(sub)
    numbers = mode_numbers(autopilot, mav_type)
    if name not in numbers:
        raise UnsupportedVehicleError(
            f"{enum_name('MAV_TYPE', mav_type)} has no ArduPilot mode {name!r} (known: {', '.join(sorted(numbers))})"
        )
    return float(mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float(numbers[name]), 0.0


def mode_name(heartbeat) -> str:
    """The mode a HEARTBEAT reports, by name ('GUIDED', 'OFFBOARD', 'Mode(42)' when unknown)."""
    return mavutil.mode_string_v10(heartbeat)


def is_armed(heartbeat) -> bool:
    return bool(heartbeat.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)


def is_target_autopilot(heartbeat, src: tuple[int, int], target_system: int) -> bool:
    """The heartbeat of the vehicle to drive: an autopilot's, from its component 1 (not a relayed GCS, gimbal or
    ADS-B receiver), of `target_system` (0: any system)."""
    return src[1] == AUTOPILOT_COMPONENT and is_autopilot(heartbeat) and target_system in (0, src[0])


def is_autopilot(heartbeat) -> bool:
    """A flight controller's heartbeat (not a GCS's, a camera's or another companion's)."""
    return heartbeat.autopilot != mavlink.MAV_AUTOPILOT_INVALID and heartbeat.type not in (
        mavlink.MAV_TYPE_GCS,
        mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
        mavlink.MAV_TYPE_GIMBAL,
        mavlink.MAV_TYPE_CAMERA,
        mavlink.MAV_TYPE_ADSB,
    )
