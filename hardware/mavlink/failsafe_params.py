"""The autopilot parameters that decide what the vehicle does when GridScout goes quiet, and how they should be.

When the companion computer dies or its link drops, only the autopilot's own failsafe is left to act.
At start-up the driver reads these with PARAM_REQUEST_READ and warns about each one that is off; the
crew sets them (docs/architecture.md, "MAVLink vehicles", lists the same table, read from here).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from gridscout.hardware.mavlink.mav import mavlink

#: PX4 sends integer parameters bytewise in PARAM_VALUE's float (MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE)
_INT_TYPES = frozenset(
    (
        mavlink.MAV_PARAM_TYPE_UINT8,
        mavlink.MAV_PARAM_TYPE_INT8,
        mavlink.MAV_PARAM_TYPE_UINT16,
        mavlink.MAV_PARAM_TYPE_INT16,
        mavlink.MAV_PARAM_TYPE_UINT32,
        mavlink.MAV_PARAM_TYPE_INT32,
    )
)


@dataclass(frozen=True, slots=True)
class ParamCheck:
    name: str
    #: the crew's setting, in words ({system_id}: GridScout's own system id)
    wanted: str
    #: (value, GridScout's system id) -> as it should be
    ok: Callable[[float, int], bool]
    #: an older firmware may lack it: no answer is then a note, not a warning
    optional: bool = False
    #: the same parameter under another firmware's name (the first to answer is judged, and named)
    aliases: tuple[str, ...] = ()
    #: only for this vehicle family ("copter" or "rover"); None: every one
    family: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def wanted_for(self, system_id: int) -> str:
        return self.wanted.format(system_id=system_id)


#: autopilot name -> the checks, read in this order
CHECKS: dict[str, tuple[ParamCheck, ...]] = {
    "ArduPilot": (
        ParamCheck("FS_GCS_ENABLE", "not 0 (1: RTL, or the vehicle's own RTL/SmartRTL/Land/Hold)", lambda v, _: v != 0),
        ParamCheck("FS_GCS_TIMEOUT", "at most 10 s (default 5)", lambda v, _: 0 < v <= 10, optional=True),
        ParamCheck(
            "MAV_GCS_SYSID",
            "{system_id}, GridScout's vehicle.system_id, or its heartbeats do not hold off the GCS failsafe",
            lambda v, system_id: int(v) == system_id,
            aliases=("SYSID_MYGCS",),  # its name before ArduPilot 4.7
        ),
        ParamCheck(
            "FS_OPTIONS",
            'without bit 4 (16, "continue in pilot-controlled modes"): with it, a drone GridScout has braked '
            "counts as flown by its pilot and stays in BRAKE when GridScout dies",
            lambda v, _: not int(v) & 16,
            optional=True,
            family="copter",
        ),
    ),
    "PX4": (
        ParamCheck("COM_OF_LOSS_T", "at most 3 s (default 1)", lambda v, _: 0 < v <= 3),
        ParamCheck(
            "COM_OBL_RC_ACT",
            "0 Position, 1 Altitude, 3 Return, 4 Land or 5 Hold (not 2 Manual, 6 Terminate, 7 Disarm)",
            lambda v, _: int(v) in (0, 1, 3, 4, 5),
        ),
    ),
}


def decode_value(px4: bool, param_type: int, value: float) -> float:
    """PARAM_VALUE's number as the parameter's own (PX4 packs integers bytewise into the float)."""
    if px4 and param_type in _INT_TYPES:
        return float(struct.unpack("<i", struct.pack("<f", value))[0])
    return value


def judge(check: ParamCheck, value: float, system_id: int, name: str | None = None) -> str:
    """'' when `value` is as the crew should have it, else a warning naming the parameter (as `name`, the name
    the firmware answered to, when given) and what is wanted."""
    if check.ok(value, system_id):
        return ""
    return f"{name or check.name} = {value:g}: should be {check.wanted_for(system_id)}"


def checks_for(autopilot: str, family: str) -> tuple[ParamCheck, ...]:
    """The checks of `autopilot` ("ArduPilot", "PX4") that apply to a vehicle of `family` ("copter", "rover")."""
    return tuple(c for c in CHECKS[autopilot] if c.family in (None, family))


class ParamReader:
    """Reads the checks' parameters with PARAM_REQUEST_READ (resent until answered, `max_retries` times) and
    judges each answer. `request(name)` sends one request; the caller hands over each PARAM_VALUE."""

    def __init__(self, checks: tuple[ParamCheck, ...], *, px4: bool, system_id: int, resend_s: float,
                 max_retries: int, request: Callable[[str], None]) -> None:  # fmt: skip
        self._px4, self._system_id, self._request = px4, system_id, request
        self._resend_ns, self._max_retries = round(resend_s * 1e9), max_retries
        self._waiting: dict[str, tuple[ParamCheck, int, int]] = {}  # name -> (check, sent_ns, tries)
        self._done: set[str] = set()  # checks answered under one of their names
        #: the values read, by the name that answered
        self.values: dict[str, float] = {}
        self._checks = checks

    def start(self, now_ns: int) -> None:
        self._waiting.clear()
        self._done.clear()
        for check in self._checks:
            for name in check.names:
                self._waiting[name] = (check, now_ns, 0)
                self._request(name)

    def on_value(self, name: str, param_type: int, value: float) -> str | None:
        """A PARAM_VALUE: None when it is not one waited for, else '' (fine) or the warning."""
        waiting = self._waiting.pop(name, None)
        if waiting is None:
            return None
        check = waiting[0]
        for other in check.names:
            self._waiting.pop(other, None)
        self._done.add(check.name)
        value = decode_value(self._px4, param_type, value)
        self.values[name] = value
        problem = judge(check, value, self._system_id, name)
        return f"vehicle parameter {problem}" if problem else ""

    def due(self, now_ns: int) -> list[tuple[ParamCheck, str]]:
        """Resend what is due; returns the checks given up on now, each with the name it gave up on last."""
        given_up = []
        for name, (check, sent_ns, tries) in list(self._waiting.items()):
            if now_ns - sent_ns < self._resend_ns:
                continue
            if tries < self._max_retries:
                self._waiting[name] = (check, now_ns, tries + 1)
                self._request(name)
                continue
            del self._waiting[name]
            if check.name not in self._done and not any(n in self._waiting for n in check.names):
                given_up.append((check, name))
        return given_up
