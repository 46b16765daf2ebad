"""What the safety gate and the behaviour take from the kind of vehicle, where the config leaves it to them.

A crawler and a drone want different speed envelopes and halt differently, so the keys of `[control.safety]`
that depend on that are unset by default (`auto` for hold_action), and this table fills them in for the
vehicle's driver. It is their one default; the config's descriptions and docs/flying.md read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridscout.control.safety import HaltAction
from gridscout.hardware.vehicle.uri import parse_vehicle_uri


@dataclass(frozen=True, slots=True)
class KindDefaults:
    """A vehicle kind's share of the gate's limits, and whether it flies a mission's path."""

    hold_action: HaltAction
    max_speed_mps: float
    max_accel_mps2: float
    max_decel_mps2: float
    max_ground_speed_mps: float
    #: a mission's path is what it follows (a drone or rover); a crawler rides its conductor whatever the
    #: mission file says, which then only puts its reports on the map
    flies_mission: bool


#: by driver (`hardware/vehicle/registry.py`)
KIND_DEFAULTS: dict[str, KindDefaults] = {
    # a crawler's STOP frame is how it stands on the conductor; 1 m/s along it, gentle ramps (its speed over
    # ground is its speed along the line, so max_speed_mps is what binds; the ground-speed limit is a backstop)
    "crawler": KindDefaults(HaltAction.STOP, 1.0, 0.5, 1.5, 5.0, flies_mission=False),
    # a drone brakes and hovers in GUIDED/OFFBOARD, a rover stands; ArduCopter's own WPNAV_SPEED and
    # WPNAV_ACCEL defaults (10 m/s, 2.5 m/s²) bound the envelope
    "mavlink": KindDefaults(HaltAction.HOLD, 10.0, 2.5, 2.5, 12.0, flies_mission=True),
}
#: the keys of `[control.safety]` an unset value of which this table fills in
KIND_KEYS = ("max_speed_mps", "max_accel_mps2", "max_decel_mps2", "max_ground_speed_mps")
#: each driver's vehicles, in words
KIND_NAMES = {"crawler": "a crawler", "mavlink": "a MAVLink drone or rover"}


def kind_defaults(vehicle_uri: str | None) -> KindDefaults:
    """The defaults for the vehicle `vehicle_uri` names; None (a vehicle not named, as a replay without one
    builds its gate): the crawler's, the most cautious envelope and the halt every driver takes."""
    driver = "crawler" if vehicle_uri is None else parse_vehicle_uri(vehicle_uri).driver
    return KIND_DEFAULTS[driver]


def described(key: str) -> str:
    """`key`'s value per kind, for a config description: '1.0 for a crawler, 10.0 for a MAVLink drone or rover'."""
    return ", ".join(f"{getattr(d, key)} for {KIND_NAMES[driver]}" for driver, d in KIND_DEFAULTS.items())
