"""The last gate before the vehicle: STOP on any stale or bad input; clamp, ramp and rate-limit everything else.

Pure: all state lives in the object and every time is passed in, so a replayed input sequence gives the same output.
Keep-alive: an unchanged speed is re-sent every `resend_s`, so the driver's own command watchdog can be short and a
lost command is corrected within `resend_s`, at a tenth of the traffic of sending every tick. A STOP is different:
while it holds it is re-sent at the full command rate, because a lost STOP is the message that matters most.
"""

import math
from collections import Counter
from dataclasses import dataclass

from gridscout.control.types import SpeedCommand

_EPS = 1e-6  # slack on time comparisons, so float error in 20 Hz timestamps never skips a due command


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
    geofence_min_m: float | None  # stop below this position along the line
    geofence_max_m: float | None  # stop above this position along the line
    recover_s: float  # after a fault, inputs must stay good this long before motion is allowed again
    resend_s: float  # an unchanged speed is re-sent this often as a keep-alive
    max_time_jump_s: float  # a clock step forward larger than this between steps is a fault


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


class SafetyGate:
    """Turns the behaviour's desired speed into what may be sent; see the module docstring for the rules."""

    def __init__(self, limits: SafetyLimits) -> None:
        self.limits = limits
        self._period_s = 1.0 / self.limits.max_command_rate_hz
        self._last_now: float | None = None
        self._last_sent: SpeedCommand | None = None
        self._last_sent_s: float | None = None
        self._faults: tuple[str, ...] = ()  # faults of the previous step, to count each onset once
        self._stopped_for: str | None = None
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
    ) -> GateDecision:
        """One control tick. `last_link_s` (optional) is the driver's last heartbeat, held to link_timeout_s;
        `vehicle_max_speed_mps` (optional) is the vehicle's own limit, which lowers max_speed_mps when smaller."""
        faults = self._check(now_s, desired, last_perception_s, last_telemetry_s, link_ok, last_link_s, position_m)
        if _finite(now_s):
            self._last_now = now_s
        self._stop_counts.update(f for f in faults if f not in self._faults)
        self._faults = faults
        if faults:
            onset = self._stopped_for is None
            self._stopped_for, self._clear_since = faults[0], None
            return self._stop(now_s, faults, force=onset)
        if self._stopped_for is not None:
            self._clear_since = now_s if self._clear_since is None else self._clear_since
            if now_s - self._clear_since < self.limits.recover_s - _EPS:
                return self._stop(now_s, (f"recovering from {self._stopped_for}",), force=False)
            self._stopped_for = None
        if isinstance(desired, SpeedCommand):
            if desired.stop:
                return self._stop(now_s, (f"requested: {desired.reason}",), force=False)
            return self._move(now_s, desired.speed_mps, desired.reason, vehicle_max_speed_mps)
        return self._move(now_s, float(desired), "behaviour", vehicle_max_speed_mps)

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

    def _stop(self, now_s: float, reasons: tuple[str, ...], *, force: bool) -> GateDecision:
        last = self._last_sent
        due = force or last is None or not last.stop or self._since_sent(now_s) >= self._period_s - _EPS
        if not due:
            return GateDecision(None, reasons, self._stopped_for)
        return self._send(now_s, SpeedCommand(0.0, True, "; ".join(reasons)), reasons)

    def _move(self, now_s: float, desired_mps: float, reason: str, vehicle_max_mps: float | None) -> GateDecision:
        lim, last, since = self.limits, self._last_sent, self._since_sent(now_s)
        if since < self._period_s - _EPS:
            return GateDecision(None, ("rate_limited",), None)
        top = lim.max_speed_mps
        if vehicle_max_mps is not None and _finite(vehicle_max_mps) and vehicle_max_mps >= 0:
            top = min(top, vehicle_max_mps)
        reverse = min(lim.max_reverse_speed_mps, top)
        target = min(max(desired_mps, -reverse), top)
        previous = 0.0 if last is None or last.stop else last.speed_mps
        if previous * target < 0:  # through zero: stop first, then speed up the other way
            target = 0.0
        # The step per command assumes at most one period elapsed, so a quiet spell never allows a big jump.
        rate = lim.max_accel_mps2 if abs(target) > abs(previous) else lim.max_decel_mps2
        max_step = rate * min(since, self._period_s)
        speed = min(max(target, previous - max_step), previous + max_step)
        notes = tuple(n for n, hit in (("clamped", target != desired_mps), ("ramped", speed != target)) if hit)
        if last is not None and not last.stop and speed == last.speed_mps and since < lim.resend_s - _EPS:
            return GateDecision(None, ("unchanged", *notes), None)
        return self._send(now_s, SpeedCommand(speed, False, reason), notes)
