"""The last gate before the vehicle: halt on any stale or bad input; clamp, ramp and rate-limit everything else.

Pure: all state lives in the object and every time is passed in, so a replayed input sequence gives the same output.
Keep-alive: an unchanged speed is re-sent every `resend_s`, so the driver's own command watchdog can be short and a
lost command is corrected within `resend_s`, at a tenth of the traffic of sending every tick. A halt is different:
while it holds it is re-sent at the full command rate, because a lost halt is the message that matters most.

A fault halts the vehicle in one of two ways. A STOP (`SpeedCommand.stop`) brakes now and is acknowledged (a
crawler's STOP frame; a drone's brake). A HOLD is speed 0 (the driver's `hold()`: a crawler stands, a drone holds
on the path in its mode, ready to go on). `SafetyLimits.hold_action` says which one the position and perception
faults use (`HOLD_FAULTS`): stale perception, the geofence and the altitude band. Every other fault (telemetry,
link, clock, a broken command or position) always STOPs, and so does a HOLD that would itself break a limit (a
driver may hold by flying the guidance at speed 0, corrections back onto the path included).

With a mission (a drone or rover flying `Mission.path`), the gate also knows where the vehicle is in the world:
it holds a vehicle outside the mission's geofence polygon or the altitude band above home, and a command that
would take it out within `prediction_horizon_s` (the path guidance flown forward, as the driver will fly it);
and it lowers the speed along the path so the ground-speed norm, the guidance's corrections included, stays
under `max_ground_speed_mps`. A lost link gets a STOP that cannot arrive: the autopilot's own failsafe (its GCS
failsafe, see docs/flying.md) takes over, and the gate does nothing cleverer.
"""

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from gridscout.control.geodesy import distance_to_boundary, point_in_polygon, segment_crosses_polygon
from gridscout.control.mission import MAX_CORRECTION_MPS, Mission, velocity_setpoint
from gridscout.control.types import SpeedCommand

_EPS = 1e-6  # slack on time comparisons, so float error in 20 Hz timestamps never skips a due command
_PREDICTION_STEP_S = 0.25  # the look-ahead flies the guidance forward in steps this long


class HaltAction(StrEnum):
    """How the gate halts the vehicle for a fault (see the module docstring)."""

    STOP = "stop"  # an explicit STOP: brake now, acknowledged
    HOLD = "hold"  # speed 0: stand (crawler) or brake and hover (drone), ready to go on


#: faults that halt with `SafetyLimits.hold_action` (prefixes); all others STOP
HOLD_FAULTS = ("perception_", "geofence", "altitude_low", "altitude_high", "altitude_ahead")


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    """The gate's limits. No defaults here: `gridscout.edge.config` builds these from the shipped config,
    where every value has its one default and its description (and the gate's tests run against it)."""

    max_speed_mps: float  # fastest forward command
    max_reverse_speed_mps: float  # fastest reverse command, as a magnitude; 0 forbids reverse
    max_accel_mps2: float  # how fast the commanded speed may grow in magnitude
    max_decel_mps2: float  # how fast it may shrink in a non-stop slowdown; a STOP is never limited
    max_command_rate_hz: float  # commands at most this often (a new fault's STOP goes out regardless)
    perception_timeout_s: float  # perception older than this (by capture time) is stale
    telemetry_timeout_s: float  # telemetry older than this is stale
    link_timeout_s: float  # link heartbeat older than this is stale (when the caller passes last_link_s)
    geofence_min_m: float | None  # halt below this position along the line
    geofence_max_m: float | None  # halt above this position along the line
    recover_s: float  # after a fault, inputs must stay good this long before motion is allowed again
    resend_s: float  # an unchanged speed is re-sent this often as a keep-alive
    max_time_jump_s: float  # a clock step forward larger than this between steps is a fault
    hold_action: HaltAction  # how HOLD_FAULTS halt: STOP (crawler) or HOLD (drones and rovers hover or stand)
    min_alt_rel_m: float | None  # halt below this altitude above home (a vehicle that reports one)
    max_alt_rel_m: float | None  # halt above this altitude above home
    max_ground_speed_mps: float  # the speed over ground a command may ask for, path corrections included
    prediction_horizon_s: float  # hold a command that would leave the geofence or altitude band this soon


@dataclass(frozen=True, slots=True)
class GateDecision:
    command: SpeedCommand | None  # None: nothing to send this tick
    reasons: tuple[str, ...]  # faults, or notes such as "clamped", "ramped", "rate_limited"
    stopped_for: str | None  # the fault keeping the vehicle stopped (also while recovering), else None


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _age_fault(name: str, now_s: float, last_s: float | None, timeout_s: float) -> str | None:
    if last_s is None:
        return f"{name}_missing"
    if not _finite(last_s) or now_s - last_s < -timeout_s:  # far in the future: a broken clock
        return f"{name}_invalid"
    return f"{name}_stale" if now_s - last_s > timeout_s else None


@dataclass(frozen=True, slots=True)
class Pose:
    """Where the vehicle is in the mission's frame: metres east and north of its origin, and above home."""

    east_m: float
    north_m: float
    alt_rel_m: float | None


@dataclass(frozen=True, slots=True)
class _Plan:
    target: float  # the speed aimed at (clamped), which the ramp approaches
    speed: float  # what this step sends (ramped, ground-speed capped)
    notes: tuple[str, ...]
    #: the guidance's corrections alone are faster over ground than the limit: even holding on the path is
    corrections_too_fast: bool


def mission_problem(mission: Mission, limits: SafetyLimits) -> str | None:
    """Why the gate could never let `mission` be flown as its file says (None: it can): its altitude outside
    the band, or its cruise speed above the fastest command."""
    low, high = limits.min_alt_rel_m, limits.max_alt_rel_m
    if (low is not None and mission.altitude_m < low) or (high is not None and mission.altitude_m > high):
        band = f"control.safety.min_alt_rel_m .. max_alt_rel_m ({low} .. {high})"
        return f"altitude_m = {mission.altitude_m} is outside {band}"
    if mission.cruise_speed_mps > limits.max_speed_mps:
        return (
            f"cruise_speed_mps = {mission.cruise_speed_mps} exceeds control.safety.max_speed_mps = "
            f"{limits.max_speed_mps}; raise that or slow the mission"
        )
    return None


def _halt_action(faults: tuple[str, ...], hold_action: HaltAction) -> HaltAction:
    if all(f.startswith(HOLD_FAULTS) for f in faults):
        return hold_action
    return HaltAction.STOP


class SafetyGate:
    """Turns the behaviour's desired speed into what may be sent; see the module docstring for the rules.

    `mission` (optional): the mission a drone or rover flies; its geofence and path make the world-position
    rules apply, and the vehicle must then report its position (lat/lon) on every step."""

    def __init__(self, limits: SafetyLimits, mission: Mission | None = None) -> None:
        self.limits = limits
        self.mission = mission
        self._fence = mission.geofence_local if mission is not None else None
        self._period_s = 1.0 / self.limits.max_command_rate_hz
        self._last_now: float | None = None
        self._last_sent: SpeedCommand | None = None
        self._last_sent_s: float | None = None
        self._faults: tuple[str, ...] = ()  # faults of the previous step, to count each onset once
        self._stopped_for: str | None = None
        self._halt = HaltAction.STOP  # how the fault in _stopped_for halts (also while recovering from it)
        self._clear_since: float | None = None
        self._stop_counts: Counter[str] = Counter()

    @property
    def stop_counts(self) -> dict[str, int]:
        """How many times each fault has started (one fault lasting many steps counts once)."""
        return dict(self._stop_counts)

    def step(
        self,
        now_s: float,
        desired: SpeedCommand | float,
        *,
        last_perception_s: float | None,
        last_telemetry_s: float | None,
        link_ok: bool,
        position_m: float | None,
        last_link_s: float | None = None,
        vehicle_max_speed_mps: float | None = None,
        lat_deg: float | None = None,
        lon_deg: float | None = None,
        alt_rel_m: float | None = None,
        ground_vehicle: bool = False,
    ) -> GateDecision:
        """One control tick. `last_link_s` (optional) is the driver's last heartbeat, held to link_timeout_s;
        `vehicle_max_speed_mps` (optional) is the vehicle's own limit, which lowers max_speed_mps when smaller;
        `lat_deg`, `lon_deg`, `alt_rel_m` (optional) are the vehicle's position, required with a mission;
        a `ground_vehicle` (a rover) has no altitude to hold: the altitude band does not apply to it."""
        faults = self._check(now_s, desired, last_perception_s, last_telemetry_s, link_ok, last_link_s, position_m)
        pose, world_faults = self._locate(lat_deg, lon_deg, None if ground_vehicle else alt_rel_m, ground_vehicle)
        faults += world_faults
        plan = None
        is_stop = isinstance(desired, SpeedCommand) and desired.stop
        if not faults and not is_stop:
            speed = desired.speed_mps if isinstance(desired, SpeedCommand) else float(desired)
            plan = self._plan(now_s, speed, vehicle_max_speed_mps, pose)
            faults = ("ground_speed",) if plan.corrections_too_fast else self._ahead(pose, {plan.target, plan.speed})
        if _finite(now_s):
            self._last_now = now_s
        self._stop_counts.update(f for f in faults if f not in self._faults)
        self._faults = faults
        if faults:
            onset = self._stopped_for is None
            self._stopped_for, self._clear_since = faults[0], None
            self._halt = self._safe(_halt_action(faults, self.limits.hold_action), pose)
            return self._stop(now_s, faults, force=onset, action=self._halt)
        if self._stopped_for is not None:
            self._clear_since = now_s if self._clear_since is None else self._clear_since
            if now_s - self._clear_since < self.limits.recover_s - _EPS:
                self._halt = self._safe(self._halt, pose)
                return self._stop(now_s, (f"recovering from {self._stopped_for}",), force=False, action=self._halt)
            self._stopped_for = None
        if plan is None:
            return self._stop(now_s, (f"requested: {desired.reason}",), force=False)
        reason = desired.reason if isinstance(desired, SpeedCommand) else "behaviour"
        return self._move(now_s, plan, reason)

    def _locate(
        self, lat: object, lon: object, alt_rel: object, ground_vehicle: bool = False
    ) -> tuple[Pose | None, tuple[str, ...]]:
        """The vehicle's pose in the mission frame (None without a mission or a position), and what is wrong
        with where it is: outside the geofence or the altitude band, or not saying where it is (its altitude:
        not for a ground vehicle)."""
        lim, faults = self.limits, []
        alt_known = _finite(alt_rel)
        if alt_rel is not None and not alt_known:
            faults.append("altitude_invalid")
        if self.mission is None:
            pose = None
        elif lat is None or lon is None:
            return None, ("gps_missing",)
        elif not (_finite(lat) and _finite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return None, ("gps_invalid",)
        else:
            east, north, _ = self.mission.frame.to_local(lat, lon)
            pose = Pose(east, north, alt_rel if alt_known else None)
            if self._fence is not None and not point_in_polygon(east, north, self._fence):
                faults.append("geofence_outside")
            banded = lim.min_alt_rel_m is not None or lim.max_alt_rel_m is not None
            if alt_rel is None and banded and not ground_vehicle:
                faults.append("altitude_missing")  # a vehicle flying a mission must say how high it is
        if alt_known:
            if lim.min_alt_rel_m is not None and alt_rel < lim.min_alt_rel_m:
                faults.append("altitude_low")
            if lim.max_alt_rel_m is not None and alt_rel > lim.max_alt_rel_m:
                faults.append("altitude_high")
        return pose, tuple(faults)

    def _setpoint(self, pose: Pose, speed: float) -> tuple[float, float, float]:
        m = self.mission
        up = pose.alt_rel_m if pose.alt_rel_m is not None else m.altitude_m
        return velocity_setpoint(m.path, pose.east_m, pose.north_m, up, speed, m.altitude_m)

    def _ground_speed_cap(self, pose: Pose | None, speed: float) -> float:
        """The largest |speed| along the path whose ground-speed norm, corrections included, is within the limit."""
        top = self.limits.max_ground_speed_mps
        if pose is None or self.mission is None:
            return top  # no path geometry: the speed is the ground speed
        v_n, v_e, _ = self._setpoint(pose, speed)
        if math.hypot(v_n, v_e) <= top:
            return abs(speed)
        correction = self._corrections_mps(pose)  # at right angles to the path
        return math.sqrt(top * top - correction * correction) * (1.0 - 1e-9) if correction < top else 0.0

    def _corrections_mps(self, pose: Pose | None) -> float:
        """The ground speed of the guidance's corrections alone (speed 0 along the path) where the vehicle is."""
        if pose is None or self.mission is None:
            return 0.0
        c_n, c_e, _ = self._setpoint(pose, 0.0)
        return math.hypot(c_n, c_e)

    def _safe(self, action: HaltAction, pose: Pose | None) -> HaltAction:
        """A HOLD, unless holding itself would break a limit: a driver may hold on the path (the MAVLink driver
        flies the guidance at speed 0, its corrections back onto the path and the altitude included), and those
        corrections must keep within the ground-speed limit, the geofence and the band; where they would not,
        a STOP (brake where it is)."""
        if action is HaltAction.STOP or pose is None or self.mission is None:
            return action
        outside = self._fence is not None and not point_in_polygon(pose.east_m, pose.north_m, self._fence)
        if outside or self._corrections_mps(pose) > self.limits.max_ground_speed_mps or self._ahead(pose, (0.0,)):
            return HaltAction.STOP
        return action

    def _ahead(self, pose: Pose | None, speeds: Iterable[float]) -> tuple[str, ...]:
        """Fly the guidance forward over the horizon at each of `speeds` (0: holding on the path, corrections
        only); a point outside the geofence or the altitude band makes the command a fault."""
        if pose is None or self.mission is None:
            return ()
        lim, horizon = self.limits, self.limits.prediction_horizon_s
        low, high, u0 = lim.min_alt_rel_m, lim.max_alt_rel_m, pose.alt_rel_m
        # Only a limit within reach over the horizon needs the guidance flown forward: horizontally the along
        # speed is capped at max_ground_speed_mps and each correction at MAX_CORRECTION_MPS, vertically the
        # altitude correction alone moves it.
        reach = horizon * math.hypot(max(lim.max_ground_speed_mps, MAX_CORRECTION_MPS), MAX_CORRECTION_MPS) + 1.0
        fence = self._fence
        if fence is not None and distance_to_boundary(pose.east_m, pose.north_m, fence) > reach:
            fence = None
        climb = horizon * MAX_CORRECTION_MPS + 0.5
        check_alt = u0 is not None and (
            (low is not None and u0 - low <= climb) or (high is not None and high - u0 <= climb)
        )
        if fence is None and not check_alt:
            return ()
        steps = math.ceil(horizon / _PREDICTION_STEP_S - _EPS)
        for speed in speeds:
            e, n, u = pose.east_m, pose.north_m, pose.alt_rel_m
            for _ in range(steps):
                v_n, v_e, v_d = self._setpoint(Pose(e, n, u), speed)
                e2, n2 = e + v_e * _PREDICTION_STEP_S, n + v_n * _PREDICTION_STEP_S
                if fence is not None and (
                    not point_in_polygon(e2, n2, fence) or segment_crosses_polygon((e, n), (e2, n2), fence)
                ):
                    return ("geofence_ahead",)
                e, n = e2, n2
                if check_alt:
                    u -= v_d * _PREDICTION_STEP_S
                    if (lim.min_alt_rel_m is not None and u < lim.min_alt_rel_m) or (
                        lim.max_alt_rel_m is not None and u > lim.max_alt_rel_m
                    ):
                        return ("altitude_ahead",)
        return ()

    def _check(self, now_s, desired, perception_s, telemetry_s, link_ok, link_s, position_m) -> tuple[str, ...]:
        lim = self.limits
        if not _finite(now_s):
            return ("time_invalid",)
        faults: list[str | None] = []
        gap = None if self._last_now is None else now_s - self._last_now
        if gap is not None and not 0.0 <= gap <= lim.max_time_jump_s:
            faults.append("time_backwards" if gap < 0 else "time_jump")
        faults.append(_age_fault("perception", now_s, perception_s, lim.perception_timeout_s))
        faults.append(_age_fault("telemetry", now_s, telemetry_s, lim.telemetry_timeout_s))
        if not link_ok:
            faults.append("link_lost")
        elif link_s is not None:
            faults.append(_age_fault("link", now_s, link_s, lim.link_timeout_s))
        if not _finite(position_m):
            faults.append("position_missing" if position_m is None else "position_invalid")
        elif (lim.geofence_min_m is not None and position_m < lim.geofence_min_m) or (
            lim.geofence_max_m is not None and position_m > lim.geofence_max_m
        ):
            faults.append("geofence")
        is_stop = isinstance(desired, SpeedCommand) and desired.stop
        speed = desired.speed_mps if isinstance(desired, SpeedCommand) else desired
        if not is_stop and not _finite(speed):
            faults.append("command_invalid")
        return tuple(f for f in faults if f)

    def _since_sent(self, now_s: float) -> float:
        if self._last_sent_s is None or not _finite(now_s):
            return math.inf
        return now_s - self._last_sent_s

    def _send(self, now_s: float, command: SpeedCommand, reasons: tuple[str, ...]) -> GateDecision:
        self._last_sent = command
        if _finite(now_s):
            self._last_sent_s = now_s
        return GateDecision(command, reasons, self._stopped_for)

    def _stop(
        self, now_s: float, reasons: tuple[str, ...], *, force: bool, action: HaltAction = HaltAction.STOP
    ) -> GateDecision:
        command = SpeedCommand(0.0, action is HaltAction.STOP, "; ".join(reasons))
        last = self._last_sent
        # A STOP goes out at once after anything but a STOP; a HOLD after anything but a halt (a STOP already in
        # force is halt enough until the period is up); either is re-sent once per period.
        halted = last is not None and (last.stop if command.stop else last.speed_mps == 0.0)
        due = force or not halted or self._since_sent(now_s) >= self._period_s - _EPS
        if not due:
            return GateDecision(None, reasons, self._stopped_for)
        return self._send(now_s, command, reasons)

    def _plan(self, now_s: float, desired_mps: float, vehicle_max_mps: float | None, pose: Pose | None) -> _Plan:
        """The speed this step would send: clamped to the limits, ramped from the last command, and capped so the
        ground speed stays within its limit (that cap beats the decel ramp: it is a limit, the ramp is comfort)."""
        lim, last, since = self.limits, self._last_sent, self._since_sent(now_s)
        top = lim.max_speed_mps
        if vehicle_max_mps is not None and _finite(vehicle_max_mps) and vehicle_max_mps >= 0:
            top = min(top, vehicle_max_mps)
        reverse = min(lim.max_reverse_speed_mps, top)
        target = min(max(desired_mps, -reverse), top)
        ground = self._ground_speed_cap(pose, target)
        target = min(max(target, -ground), ground)
        previous = 0.0 if last is None or last.stop else last.speed_mps
        if previous * target < 0:  # through zero: stop first, then speed up the other way
            target = 0.0
        # The step per command assumes at most one period elapsed, so a quiet spell never allows a big jump.
        rate = lim.max_accel_mps2 if abs(target) > abs(previous) else lim.max_decel_mps2
        max_step = rate * min(since, self._period_s)
        speed = min(max(target, previous - max_step), previous + max_step)
        ground = self._ground_speed_cap(pose, speed)
        capped = min(max(speed, -ground), ground)
        notes = (("clamped", target != desired_mps), ("ramped", speed != target), ("ground_speed", capped != speed))
        too_fast = self._corrections_mps(pose) > lim.max_ground_speed_mps
        return _Plan(target, capped, tuple(n for n, hit in notes if hit), too_fast)

    def _move(self, now_s: float, plan: _Plan, reason: str) -> GateDecision:
        lim, last, since = self.limits, self._last_sent, self._since_sent(now_s)
        if since < self._period_s - _EPS:
            return GateDecision(None, ("rate_limited",), None)
        speed, notes = plan.speed, plan.notes
        if last is not None and not last.stop and speed == last.speed_mps and since < lim.resend_s - _EPS:
            return GateDecision(None, ("unchanged", *notes), None)
        return self._send(now_s, SpeedCommand(speed, False, reason), notes)
