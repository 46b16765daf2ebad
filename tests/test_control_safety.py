"""Safety gate rules, in the style of panda's safety tests: a base class holds the rules, subclasses run them
against different limits, and parametrized sweeps plus a seeded random walk check the invariants."""

import itertools
import math
import random
from dataclasses import replace
from typing import ClassVar

import pytest

from gridscout.control.geodesy import LocalFrame, point_in_polygon
from gridscout.control.mission import Mission, parse_mission, velocity_setpoint
from gridscout.control.safety import HOLD_FAULTS, GateDecision, HaltAction, SafetyGate, SafetyLimits
from gridscout.control.types import SpeedCommand
from gridscout.edge.runtime import settings
from gridscout.edge.runtime.vehicle_kinds import KIND_DEFAULTS, KIND_KEYS, kind_defaults
from tests.shipped import SHIPPED, safety_limits

PERIOD = 0.05  # the control loop's period (20 Hz)
TOL = 1e-9


def tick(k: int, start: float = 100.0) -> float:
    """Time of control tick k; computed from k, so float error does not accumulate."""
    return start + k * PERIOD


def good(now: float, **overrides) -> dict:
    """Keyword arguments of `SafetyGate.step` for fresh, healthy inputs at `now`."""
    return {"last_perception_s": now, "last_telemetry_s": now, "link_ok": True, "position_m": 50.0} | overrides


def is_stop(decision: GateDecision) -> bool:
    return decision.command is not None and decision.command.stop


def is_halt(decision: GateDecision) -> bool:
    """A STOP, or a HOLD (speed 0 sent while a fault keeps the vehicle halted)."""
    c = decision.command
    return c is not None and (c.stop or (decision.stopped_for is not None and c.speed_mps == 0.0))


class GateRules:
    """Rules every gate configuration must satisfy; subclasses pick the limits (and a mission, and where the
    vehicle is on it, for drones and rovers)."""

    LIMITS: SafetyLimits
    MISSION: Mission | None = None
    #: `SafetyGate.step` keywords saying where the vehicle is (lat/lon/altitude), for a gate with a mission
    WHERE: ClassVar[dict] = {}

    def new_gate(self) -> SafetyGate:
        return SafetyGate(self.LIMITS, self.MISSION)

    def good(self, now: float, **overrides) -> dict:
        return good(now) | self.WHERE | overrides

    def halts(self, decision: GateDecision) -> bool:
        """The decision halts the vehicle the way the rules say: a requested stop, or a fault outside
        HOLD_FAULTS, with a STOP; HOLD_FAULTS with the limits' hold_action (a HOLD is speed 0, no STOP)."""
        c = decision.command
        if c is None or c.speed_mps != 0.0:
            return False
        faults = () if decision.stopped_for is None else decision.reasons
        if faults and faults[0].startswith("recovering from "):
            faults = (decision.stopped_for,)
        hold = bool(faults) and all(f.startswith(HOLD_FAULTS) for f in faults)
        return c.stop is not (hold and self.LIMITS.hold_action is HaltAction.HOLD)

    @property
    def period(self) -> float:
        """The gate's minimum gap between commands."""
        return 1.0 / self.LIMITS.max_command_rate_hz

    def gate_at_speed(self, speed: float = 0.5, ticks: int = 100) -> tuple[SafetyGate, int]:
        """A gate driven with healthy inputs for `ticks` ticks towards `speed`; returns it and the next tick."""
        gate = self.new_gate()
        for k in range(ticks):
            gate.step(tick(k), speed, **self.good(tick(k)))
        return gate, ticks

    def clamp(self, speed: float) -> float:
        return min(max(speed, -self.LIMITS.max_reverse_speed_mps), self.LIMITS.max_speed_mps)

    @pytest.mark.parametrize("desired", [-1e9, -2.0, -0.5, -0.0, 0.0, 0.1, 0.5, 1.0, 1.5, 1e9])
    def test_speed_sweep_is_clamped_and_reached(self, desired):
        """Any finite desired speed is clamped to [-max_reverse, max_speed] and reached after the ramp."""
        gate = self.new_gate()
        sent = []
        for k in range(300):
            decision = gate.step(tick(k), desired, **self.good(tick(k)))
            if decision.command is not None:
                sent.append(decision.command)
        assert sent and not any(c.stop for c in sent)
        lo, hi = -self.LIMITS.max_reverse_speed_mps, self.LIMITS.max_speed_mps
        assert all(lo - TOL <= c.speed_mps <= hi + TOL for c in sent)
        assert sent[-1].speed_mps == pytest.approx(self.clamp(desired))

    @pytest.mark.parametrize("desired", [math.nan, math.inf, -math.inf, None, "fast", True])
    def test_invalid_desired_speed_stops(self, desired):
        """NaN, inf, None or a non-number as desired speed is a fault: an immediate STOP."""
        gate, k = self.gate_at_speed()
        decision = gate.step(tick(k), desired, **self.good(tick(k)))
        assert self.halts(decision) and decision.stopped_for == "command_invalid"

    def test_nan_speed_inside_a_command_stops(self):
        """A SpeedCommand carrying NaN is as bad as a bare NaN."""
        gate, k = self.gate_at_speed()
        decision = gate.step(tick(k), SpeedCommand(math.nan, False, "broken"), **self.good(tick(k)))
        assert self.halts(decision) and decision.stopped_for == "command_invalid"

    def test_requested_stop_is_sent_at_once(self):
        """A STOP asked by the behaviour bypasses the rate limit and the decel limit and is no fault."""
        gate, k = self.gate_at_speed(self.LIMITS.max_speed_mps)
        now = tick(k - 1) + 0.001  # right after the last command: a speed change would be rate limited
        decision = gate.step(now, SpeedCommand(0.0, True, "end of line"), **self.good(now))
        assert self.halts(decision) and decision.stopped_for is None
        assert "requested: end of line" in decision.reasons
        assert gate.stop_counts == {}

    def test_fault_stop_right_after_a_requested_stop_is_sent(self):
        """A fault starting just after a requested STOP still sends its own STOP at once, despite the rate limit."""
        gate, k = self.gate_at_speed()
        gate.step(tick(k), SpeedCommand(0.0, True, "hold"), **self.good(tick(k)))
        now = tick(k) + 0.001
        decision = gate.step(now, SpeedCommand(0.0, True, "hold"), **self.good(now, link_ok=False))
        assert self.halts(decision) and decision.stopped_for == "link_lost"

    @pytest.mark.parametrize(
        "perception,telemetry,link", list(itertools.product(("fresh", "stale", "missing"), repeat=3))
    )
    def test_every_staleness_combination(self, perception, telemetry, link):
        """Each of perception, telemetry and link fresh/stale/missing: any non-fresh one gives a STOP naming it."""
        gate, k = self.gate_at_speed()
        now = tick(k)
        old = now - 1.0
        times = {"fresh": now, "stale": old, "missing": None}
        decision = gate.step(
            now,
            0.5,
            last_perception_s=times[perception],
            last_telemetry_s=times[telemetry],
            link_ok=link != "missing",
            last_link_s=old if link == "stale" else now,
            position_m=50.0,
            **self.WHERE,
        )
        expected = {f"perception_{perception}", f"telemetry_{telemetry}"} - {"perception_fresh", "telemetry_fresh"}
        expected |= {"stale": {"link_stale"}, "missing": {"link_lost"}, "fresh": set()}[link]
        assert set(decision.reasons if self.halts(decision) else ()) == expected
        assert self.halts(decision) == bool(expected)
        assert (decision.stopped_for is None) == (not expected)

    @pytest.mark.parametrize("source", ["perception", "telemetry", "link"])
    @pytest.mark.parametrize("margin,stale", [(-1e-3, False), (-1e-6, False), (1e-6, True), (1e-3, True)])
    def test_timeout_boundaries(self, source, margin, stale):
        """An input just younger than its timeout passes; just older stops."""
        gate, k = self.gate_at_speed()
        now = tick(k)
        timeout = getattr(self.LIMITS, f"{source}_timeout_s")
        inputs = self.good(now, last_link_s=now) | {f"last_{source}_s": now - timeout - margin}
        decision = gate.step(now, 0.5, **inputs)
        assert self.halts(decision) == stale
        if stale:
            assert decision.stopped_for == f"{source}_stale"

    @pytest.mark.parametrize("source", ["perception", "telemetry", "link"])
    @pytest.mark.parametrize("phase", [0.0, 0.001, 0.02, 0.049])
    def test_stop_no_later_than_timeout_plus_one_period(self, source, phase):
        """The bar: after the last good input the first step past the timeout halts (a STOP; for stale
        perception the limits' hold_action, a HOLD for drones), at most timeout + one control period (and at
        most 0.5 s) after that input; no halt before the timeout."""
        gate, k = self.gate_at_speed()
        last_good = tick(k) + phase  # inputs are not aligned with control ticks
        timeout = getattr(self.LIMITS, f"{source}_timeout_s")
        for j in range(k + 1, k + 40):
            now = tick(j)
            inputs = self.good(now, last_link_s=now) | {f"last_{source}_s": min(now, last_good)}
            decision = gate.step(now, 0.5, **inputs)
            if now - last_good > timeout:
                assert self.halts(decision), f"no STOP at {now - last_good:.3f} s after the last {source}"
                assert now - last_good <= timeout + PERIOD + TOL
                assert now - last_good <= 0.5
                return
            assert not self.halts(decision)
        pytest.fail("never stopped")

    def test_dropped_link_stops_on_the_same_step(self):
        """The driver reporting link_ok=False stops on that very step, even right after a command."""
        gate, k = self.gate_at_speed()
        now = tick(k - 1) + 0.001
        decision = gate.step(now, 0.5, **self.good(now, link_ok=False))
        assert self.halts(decision) and decision.stopped_for == "link_lost"

    def test_stop_repeats_at_the_rate_limit_while_the_fault_holds(self):
        """A fault's STOP goes out at once, then is re-sent once per period (not faster) so a lost one is repeated."""
        gate, _ = self.gate_at_speed()
        period = 1.0 / self.LIMITS.max_command_rate_hz
        stops = []
        for j in range(200):  # 2 s at 100 Hz with perception gone
            now = 110.0 + j * 0.01
            decision = gate.step(now, 0.5, **self.good(now, last_perception_s=None))
            assert decision.command is None or is_halt(decision)
            if decision.command is not None:
                stops.append(now)
        assert stops[0] == 110.0
        gaps = [b - a for a, b in itertools.pairwise(stops)]
        assert all(period - 1e-6 <= gap <= period + 0.01 + 1e-6 for gap in gaps)

    @pytest.mark.parametrize("fault", ["perception", "link", "position"])
    def test_no_restart_before_recover_s(self, fault):
        """After a fault clears, motion resumes only once inputs stayed good for recover_s, from a gentle ramp."""
        gate, k = self.gate_at_speed()
        bad = {"perception": {"last_perception_s": None}, "link": {"link_ok": False}, "position": {"position_m": None}}
        for j in range(k, k + 10):
            decision = gate.step(tick(j), 0.5, **self.good(tick(j)) | bad[fault])
            assert is_halt(decision) if j == k else decision.command is None or is_halt(decision)
        cleared = tick(k + 10)
        first_move = None
        for j in range(k + 10, k + 40):
            decision = gate.step(tick(j), 0.5, **self.good(tick(j)))
            if decision.command is not None and not is_halt(decision):
                first_move = (tick(j), decision.command.speed_mps)
                break
            assert decision.stopped_for is not None
        assert first_move is not None
        assert self.LIMITS.recover_s - TOL <= first_move[0] - cleared <= self.LIMITS.recover_s + self.period + TOL
        assert first_move[1] <= self.LIMITS.max_accel_mps2 * self.period + TOL

    def test_flapping_fault_restarts_recovery(self):
        """One bad message during recovery restarts the recovery wait."""
        gate, k = self.gate_at_speed()
        gate.step(tick(k), 0.5, **self.good(tick(k), link_ok=False))
        for j in range(k + 1, k + 8):  # 0.35 s good, then one more link loss
            decision = gate.step(tick(j), 0.5, **self.good(tick(j)))
            assert decision.command is None or is_halt(decision)
        gate.step(tick(k + 8), 0.5, **self.good(tick(k + 8), link_ok=False))
        for j in range(k + 9, k + 9 + 10):  # still inside the new recovery window
            decision = gate.step(tick(j), 0.5, **self.good(tick(j)))
            assert decision.command is None or is_halt(decision)
        assert gate.stop_counts == {"link_lost": 2}

    @pytest.mark.parametrize("jump", [-0.001, -1.0, -1e6, 1.5, 1e6])
    def test_time_backwards_or_huge_jump_stops(self, jump):
        """The clock going backwards, or jumping forward more than max_time_jump_s, is a fault."""
        gate, k = self.gate_at_speed()
        now = tick(k - 1) + jump
        decision = gate.step(now, 0.5, **self.good(now))
        assert self.halts(decision)
        assert decision.stopped_for == ("time_backwards" if jump < 0 else "time_jump")

    @pytest.mark.parametrize("now", [math.nan, math.inf, None])
    def test_invalid_time_stops(self, now):
        """A NaN, infinite or missing clock reading is a fault."""
        gate, k = self.gate_at_speed()
        decision = gate.step(now, 0.5, **self.good(tick(k)))
        assert self.halts(decision) and decision.stopped_for == "time_invalid"

    @pytest.mark.parametrize("age", [math.nan, math.inf, -math.inf, -10.0])
    def test_invalid_input_timestamps_stop(self, age):
        """A NaN/inf input timestamp, or one far in the future, is a fault."""
        gate, k = self.gate_at_speed()
        decision = gate.step(tick(k), 0.5, **self.good(tick(k), last_telemetry_s=tick(k) - age))
        assert self.halts(decision) and decision.stopped_for == "telemetry_invalid"

    @pytest.mark.parametrize("position", [None, math.nan, math.inf, -math.inf])
    def test_missing_or_invalid_position_stops(self, position):
        """No position (or a non-finite one) means we cannot check the geofence: STOP."""
        gate, k = self.gate_at_speed()
        decision = gate.step(tick(k), 0.5, **self.good(tick(k), position_m=position))
        assert self.halts(decision)
        assert decision.stopped_for == ("position_missing" if position is None else "position_invalid")

    def test_accel_and_decel_ramps(self):
        """Speeding up is limited by max_accel per period; a non-stop slowdown by max_decel per period."""
        gate = self.new_gate()
        speeds = []
        for k in range(200):
            desired = self.LIMITS.max_speed_mps if k < 100 else 0.0
            decision = gate.step(tick(k), desired, **self.good(tick(k)))
            if decision.command is not None:
                speeds.append((k, decision.command.speed_mps))
        for (_, v1), (k2, v2) in itertools.pairwise(speeds):
            limit = self.LIMITS.max_accel_mps2 if k2 < 100 else self.LIMITS.max_decel_mps2
            assert abs(v2 - v1) <= limit * self.period + TOL
        assert speeds[1][1] - speeds[0][1] == pytest.approx(self.LIMITS.max_accel_mps2 * self.period)
        assert max(v for _, v in speeds) == pytest.approx(self.LIMITS.max_speed_mps)
        assert speeds[-1][1] == 0.0

    def test_fault_stop_from_full_speed_is_immediate(self):
        """A fault at full speed is a STOP at once, not a decel ramp."""
        gate, k = self.gate_at_speed(self.LIMITS.max_speed_mps, ticks=200)
        decision = gate.step(tick(k), self.LIMITS.max_speed_mps, **self.good(tick(k), link_ok=False))
        assert decision.command == SpeedCommand(0.0, True, "link_lost")

    def test_rate_limit_with_a_fast_caller(self):
        """Called at 1 kHz with a changing wish, non-stop commands are still at least 1/max_rate apart."""
        gate = self.new_gate()
        sent = []
        for j in range(3000):
            now = 100.0 + j * 0.001
            decision = gate.step(now, 0.2 + 0.3 * math.sin(j / 50), **self.good(now))
            if decision.command is not None:
                sent.append(now)
        assert all(b - a >= 1 / self.LIMITS.max_command_rate_hz - 1e-6 for a, b in itertools.pairwise(sent))
        assert len(sent) > 10

    def test_keep_alive_resends_an_unchanged_speed_every_resend_s(self):
        """At a steady speed the gate stays quiet but re-sends the speed every resend_s as a keep-alive."""
        gate, k = self.gate_at_speed(0.5, ticks=200)
        sent = []
        for j in range(k, k + 200):
            decision = gate.step(tick(j), 0.5, **self.good(tick(j)))
            if decision.command is not None:
                assert decision.command.speed_mps == pytest.approx(0.5)
                sent.append(tick(j))
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert gaps and all(g == pytest.approx(self.LIMITS.resend_s, abs=PERIOD / 2) for g in gaps)

    def test_counters_count_each_fault_onset_once(self):
        """stop_counts counts how often each fault started, not how many steps it lasted."""
        gate, k = self.gate_at_speed()
        script = [{"last_perception_s": None}] * 5 + [{}] * 20 + [{"last_perception_s": None}] * 3
        script += [{}] * 20 + [{"link_ok": False, "last_perception_s": None}] * 4 + [{}] * 20
        for j, bad in enumerate(script, start=k):
            gate.step(tick(j), 0.5, **self.good(tick(j)) | bad)
        assert gate.stop_counts == {"perception_missing": 3, "link_lost": 1}

    @pytest.mark.parametrize("seed", range(4))
    def test_random_walk_invariants(self, seed):
        """Property test over thousands of random steps (jittery clock, stale/missing inputs, link drops, wild
        speeds): every command is within limits; non-stop commands respect the rate and accel/decel limits; any
        faulty step emits nothing or a STOP, and a STOP at a fault's onset while moving; no motion before
        recover_s of clean inputs."""
        rng = random.Random(seed)
        lim = self.LIMITS
        gate = SafetyGate(lim)
        period = self.period
        timeouts = (lim.perception_timeout_s, lim.telemetry_timeout_s)
        now, prev_now = 100.0, None
        last_move: tuple[float, float] | None = None  # (time, speed) of the last non-stop command
        stopped_since_move = False  # a STOP was sent after the last non-stop command
        prev_faulty, clean_since = False, -math.inf
        desired = 0.3
        moves = stops = 0
        for _ in range(5000):
            dt = rng.choice([PERIOD, PERIOD, rng.uniform(0.0, 0.12)])
            now += dt if rng.random() < 0.99 else rng.choice([-0.001, -0.5, 2.0])  # rare clock faults
            if rng.random() < 0.1:
                desired = rng.choice([rng.uniform(-2, 2), 1e9, -1e9, 0.0, math.nan, math.inf, lim.max_speed_mps])
            ages = [rng.choice([0.0, 0.01, rng.uniform(0, 0.6), None]) if rng.random() < 0.03 else 0.01 for _ in "pt"]
            link_ok = rng.random() > 0.02
            position = rng.choice([50.0, math.nan, None]) if rng.random() < 0.01 else 50.0
            inputs = {
                "last_perception_s": None if ages[0] is None else now - ages[0],
                "last_telemetry_s": None if ages[1] is None else now - ages[1],
                "link_ok": link_ok,
                "position_m": position,
            }
            faulty = (
                (prev_now is not None and not 0 <= now - prev_now <= lim.max_time_jump_s)
                or any(a is None or a > t for a, t in zip(ages, timeouts, strict=True))
                or not link_ok
                or position is None
                or math.isnan(position)
                or not math.isfinite(desired)
            )
            decision = gate.step(now, desired, **self.WHERE | inputs)
            command = decision.command
            if faulty:
                assert command is None or is_halt(decision)
                assert decision.stopped_for is not None
                if not prev_faulty:  # onset: a STOP now, unless one is already in force from an earlier fault
                    assert is_halt(decision) or stopped_since_move
                clean_since = None
            elif clean_since is None:
                clean_since = now
            if is_halt(decision):
                assert command.speed_mps == 0.0
                stopped_since_move, stops = True, stops + 1
            elif command is not None:
                speed = command.speed_mps
                assert -lim.max_reverse_speed_mps - TOL <= speed <= lim.max_speed_mps + TOL
                assert now - clean_since >= lim.recover_s - 1e-6
                if stopped_since_move or last_move is None:  # starting from standstill
                    assert abs(speed) <= lim.max_accel_mps2 * period + TOL
                else:
                    gap = now - last_move[0]
                    assert gap >= period - 1e-6
                    rate = lim.max_accel_mps2 if abs(speed) > abs(last_move[1]) else lim.max_decel_mps2
                    assert abs(speed - last_move[1]) <= rate * min(gap, period) + TOL
                last_move, stopped_since_move, moves = (now, speed), False, moves + 1
            prev_faulty, prev_now = faulty, now
        assert moves > 200 and stops > 100  # the walk really exercised both motion and faults


class TestShippedLimits(GateRules):
    """The limits the product ships, read from the default config: forward only, no geofence."""

    LIMITS = safety_limits()


class TestReverseFastLimits(GateRules):
    """Reverse allowed, a different speed envelope and a slower command rate."""

    LIMITS = safety_limits(
        max_speed_mps=2.0, max_reverse_speed_mps=0.5, max_accel_mps2=1.0, max_decel_mps2=2.0, max_command_rate_hz=10.0
    )


class TestGeofencedLimits(GateRules):
    """A geofence and tighter timeouts."""

    LIMITS = safety_limits(
        geofence_min_m=0.0, geofence_max_m=100.0, perception_timeout_s=0.2, telemetry_timeout_s=0.25, recover_s=1.0
    )

    @pytest.mark.parametrize(
        "position,inside", [(-5.0, False), (-1e-6, False), (0.0, True), (50.0, True), (100.0, True), (100.001, False)]
    )
    def test_geofence(self, position, inside):
        """Positions outside [geofence_min_m, geofence_max_m] stop; the bounds themselves are inside."""
        gate, k = self.gate_at_speed()
        decision = gate.step(tick(k), 0.5, **good(tick(k), position_m=position))
        assert is_stop(decision) != inside
        assert decision.stopped_for == (None if inside else "geofence")


def test_reverse_through_zero_stops_first():
    """With reverse allowed, a change of direction ramps down to 0 first, then up the other way."""
    gate = SafetyGate(safety_limits(max_reverse_speed_mps=0.5))
    speeds = []
    for k in range(200):
        decision = gate.step(tick(k), 0.5 if k < 80 else -0.5, **good(tick(k)))
        if decision.command is not None:
            speeds.append(decision.command.speed_mps)
    assert 0.0 in speeds and speeds[-1] == pytest.approx(-0.5)
    assert all(a * b >= 0 for a, b in itertools.pairwise(speeds))


def test_the_shipped_limits_are_the_configs_own():
    """One home for defaults: the gate's shipped limits are exactly what `gridscout config --default` prints."""
    assert SHIPPED.control.safety.limits(SHIPPED.vehicle.uri) == TestShippedLimits.LIMITS
    assert TestShippedLimits.LIMITS.resend_s == SHIPPED.control.safety.resend_s


@pytest.mark.parametrize("vehicle_max", [0.3, 0.0, 5.0, None, math.nan, -1.0])
def test_the_vehicles_own_speed_limit_lowers_the_gates(vehicle_max):
    """A vehicle that announced a lower top speed is never commanded faster; a higher, missing or broken
    announcement leaves the gate's own limit in force."""
    gate = SafetyGate(safety_limits())
    sent = []
    for k in range(300):
        decision = gate.step(tick(k), 2.0, **good(tick(k)), vehicle_max_speed_mps=vehicle_max)
        if decision.command is not None:
            sent.append(decision.command.speed_mps)
    valid = vehicle_max is not None and math.isfinite(vehicle_max) and vehicle_max >= 0
    shipped = TestShippedLimits.LIMITS.max_speed_mps
    top = min(shipped, vehicle_max) if valid else shipped
    assert max(sent) == pytest.approx(top) and sent[-1] == pytest.approx(top)


# ---- drones and rovers: a mission, its geofence polygon, the altitude band, the ground-speed limit ----

FRAME = LocalFrame(59.9, 10.7)


def lonlat(east: float, north: float) -> list[float]:
    lat, lon, _ = FRAME.to_global(east, north)
    return [lon, lat]


def where(east: float, north: float, alt_rel_m: float | None = 20.0) -> dict:
    """`SafetyGate.step` keywords for a vehicle at (east, north) of the missions' frame, alt_rel_m above home."""
    lat, lon, _ = FRAME.to_global(east, north)
    return {"lat_deg": lat, "lon_deg": lon, "alt_rel_m": alt_rel_m}


def mission(route, fence_ring=None, altitude_m: float = 20.0) -> Mission:
    """A mission over `route` (local east/north points) with an optional geofence ring (local points)."""
    line = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [lonlat(*p) for p in route]},
        "properties": {"altitude_m": altitude_m, "cruise_speed_mps": 3.0},
    }
    features = [line]
    if fence_ring is not None:
        ring = [lonlat(*p) for p in fence_ring]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}})
    return parse_mission({"type": "FeatureCollection", "features": features}, "test-mission.geojson")


#: 200 m east along y = 0, fenced by a box 20 m beyond each end and 15 m to each side
LINE = mission([(0, 0), (200, 0)], [(-20, -15), (220, -15), (220, 15), (-20, 15)])
DRONE = safety_limits(
    hold_action=HaltAction.HOLD, max_speed_mps=2.0, min_alt_rel_m=5.0, max_alt_rel_m=60.0, max_ground_speed_mps=5.0
)


class TestDroneLimits(GateRules):
    """A drone flying a fenced mission: every rule above holds (stale perception HOLDs instead of STOPping)."""

    LIMITS = DRONE
    MISSION = LINE
    WHERE: ClassVar[dict] = where(50.0, 0.0)

    def step_at(self, gate: SafetyGate, k: int, speed: float, **at) -> GateDecision:
        return gate.step(tick(k), speed, **good(tick(k)) | at)

    @pytest.mark.parametrize(
        ("east", "north", "fault"),
        [
            (50.0, 0.0, None),
            (50.0, 14.9, None),
            (-19.9, -14.9, None),
            (50.0, 15.2, "geofence_outside"),
            (221.0, 0.0, "geofence_outside"),
            (-500.0, 3000.0, "geofence_outside"),
        ],
    )
    def test_a_vehicle_outside_the_geofence_is_held(self, east, north, fault):
        """Held where it is: a STOP, since even holding on the path (the guidance's corrections) would fly it
        across ground outside the fence; bringing it back is the pilot's job."""
        gate, k = self.gate_at_speed(1.0)
        decision = self.step_at(gate, k, 1.0, **where(east, north))
        assert decision.stopped_for == fault
        if fault:
            assert decision.command == SpeedCommand(0.0, True, fault)

    @pytest.mark.parametrize(
        ("alt", "fault", "stop"),
        [
            (5.0, None, None),
            (60.0, None, None),
            (4.99, "altitude_low", False),  # a HOLD: holding climbs it back into the band at once
            (60.01, "altitude_high", False),
            (-3.0, "altitude_low", True),  # holding would stay below the band over the horizon: a STOP
            (75.0, "altitude_high", True),
        ],
    )
    def test_altitude_band_above_home(self, alt, fault, stop):
        gate, k = self.gate_at_speed(1.0)
        decision = self.step_at(gate, k, 1.0, **where(50.0, 0.0, alt))
        assert decision.stopped_for == fault
        if fault:
            assert decision.command.speed_mps == 0.0 and decision.command.stop is stop

    @pytest.mark.parametrize(
        ("at", "fault"),
        [
            ({"lat_deg": None}, "gps_missing"),
            ({"lon_deg": None}, "gps_missing"),
            ({"lat_deg": math.nan}, "gps_invalid"),
            ({"lat_deg": 95.0}, "gps_invalid"),
            ({"alt_rel_m": None}, "altitude_missing"),
            ({"alt_rel_m": math.inf}, "altitude_invalid"),
        ],
    )
    def test_a_vehicle_that_does_not_say_where_it_is_stops(self, at, fault):
        """Not knowing where a flying vehicle is, is no position fault to hover through: a STOP."""
        gate, k = self.gate_at_speed(1.0)
        decision = self.step_at(gate, k, 1.0, **self.WHERE | at)
        assert decision.stopped_for == fault and is_stop(decision)

    def test_a_command_that_would_leave_the_fence_is_held(self):
        """A U-shaped fence: the vehicle is in the upper arm, the path in the lower; the guidance's way back
        to the path crosses the gap between the arms, outside the fence, within the horizon."""
        fence = [(-20, -5), (220, -5), (220, 40), (-20, 40), (-20, 25), (150, 25), (150, 5), (-20, 5)]
        u_line = mission([(0, 0), (200, 0)], fence)
        gate = SafetyGate(self.LIMITS, u_line)
        for k in range(40):
            gate.step(tick(k), 1.0, **good(tick(k)) | where(50.0, 0.0))
        decision = gate.step(tick(40), 1.0, **good(tick(40)) | where(50.0, 26.5))
        assert decision.stopped_for == "geofence_ahead" and decision.command.speed_mps == 0.0
        far = gate.step(tick(41), 1.0, **good(tick(41)) | where(200.0, 35.0))  # the arm's end: straight down is in
        assert far.stopped_for in ("geofence_ahead", None)  # nothing new outside; recovery still waits
        assert gate.stop_counts == {"geofence_ahead": 1}

    def test_the_prediction_follows_the_guidance_not_a_straight_line(self):
        """Near the path's end the guidance stops the vehicle: a fence just beyond the end is no violation,
        though a straight line at full speed over the horizon would cross it."""
        tight = mission([(0, 0), (200, 0)], [(-5, -5), (203, -5), (203, 5), (-5, 5)])
        gate = SafetyGate(self.LIMITS, tight)
        sent = []
        for k in range(200):
            decision = gate.step(tick(k), 2.0, **good(tick(k)) | where(196.0, 0.0))
            sent.append(decision)
        assert all(d.stopped_for is None for d in sent)
        assert max(d.command.speed_mps for d in sent if d.command) == pytest.approx(2.0)

    def test_altitude_ahead(self):
        """A mission whose altitude is above the band: climbing towards it is held before the ceiling."""
        high = mission([(0, 0), (200, 0)], altitude_m=80.0)
        gate = SafetyGate(self.LIMITS, high)
        decisions = [gate.step(tick(k), 1.0, **good(tick(k)) | where(50.0, 0.0, 58.0)) for k in range(10)]
        assert decisions[0].stopped_for == "altitude_ahead"
        assert not any(d.command and d.command.speed_mps for d in decisions)

    def test_the_ground_speed_limit_lowers_the_speed_along_the_path(self):
        """Off the path, the guidance adds a correction at right angles: the along-path speed is lowered so
        the ground speed stays at the limit (and back on the path, full speed returns)."""
        limits = replace(self.LIMITS, max_speed_mps=4.0, max_ground_speed_mps=3.0)
        gate = SafetyGate(limits, LINE)
        for k in range(200):
            gate.step(tick(k), 4.0, **good(tick(k)) | where(50.0, 0.0))
        decision = gate.step(tick(200), 4.0, **good(tick(200)) | where(50.0, 10.0))  # 10 m off: 2 m/s correction
        assert "ground_speed" in decision.reasons
        assert decision.command.speed_mps == pytest.approx(math.sqrt(3.0**2 - 2.0**2))
        v_n, v_e, _ = velocity_setpoint(LINE.path, 50.0, 10.0, 20.0, decision.command.speed_mps, 20.0)
        assert math.hypot(v_n, v_e) <= 3.0

    def test_corrections_alone_over_the_limit_stop(self):
        """A ground-speed limit below the guidance's correction back onto the path, far off it: even holding
        on the path would be too fast, so the vehicle brakes where it is (a STOP) until it is nearer."""
        gate = SafetyGate(replace(self.LIMITS, max_ground_speed_mps=1.0), LINE)
        decisions = [gate.step(tick(k), 2.0, **good(tick(k)) | where(50.0, 12.0)) for k in range(20)]
        assert decisions[0].stopped_for == "ground_speed" and is_stop(decisions[0])
        assert all(d.command is None or is_stop(d) for d in decisions)
        near = [gate.step(tick(k), 2.0, **good(tick(k)) | where(50.0, 1.0)) for k in range(20, 60)]
        assert any(d.command and d.command.speed_mps > 0 for d in near)  # 0.5 m/s of correction: it flies

    @pytest.mark.parametrize("seed", range(4))
    def test_geofence_and_speed_limits_are_never_exceeded(self, seed):
        """Property test over random commands: a vehicle drifting (wind, lag) around a concave fenced mission
        under random desired speeds, gusts and GPS jumps, flying every command as the MAVLink driver does (the
        guidance at the commanded speed; a HOLD at speed 0, its corrections back onto the path included; a STOP
        brakes). Every command but a STOP is sent only while the vehicle is inside the fence, asks for a ground
        speed within the limit, and keeps the next control period's straight-line motion and the guidance flown
        over the horizon inside the fence; a motion command only inside the altitude band too."""
        rng = random.Random(seed)
        # the route's arm of the fence (y -20..20) and a second arm above it (30..50), joined beyond x = 150:
        # from the upper arm the guidance's way back to the route crosses the gap between them
        fence = [(-30, -20), (170, -20), (170, 50), (-30, 50), (-30, 30), (150, 30), (150, 20), (-30, 20)]
        route = [(0, 0), (60, 10), (120, 0)]
        flight = mission(route, fence, altitude_m=25.0)
        lim = replace(self.LIMITS, max_ground_speed_mps=rng.choice([1.5, 2.5, 4.0]), min_alt_rel_m=10.0)
        gate = SafetyGate(lim, flight)
        e, n, u = rng.uniform(0, 100), rng.uniform(-10, 20), rng.uniform(15, 40)
        moves = holds = stops = 0
        desired, held_since = 2.0, None
        for k in range(3000):
            if rng.random() < 0.05:
                desired = rng.choice([rng.uniform(-4, 6), 1e9, 4.0, 0.0])
            if rng.random() < 0.01:  # a gust
                e, n, u = e + rng.uniform(-15, 15), n + rng.uniform(-15, 15), u + rng.uniform(-8, 8)
            elif rng.random() < 0.005:  # a GPS jump anywhere around the fence, the notch's arms included
                e, n, u = rng.uniform(-40, 180), rng.uniform(-30, 60), rng.uniform(5, 65)
            if held_since is not None and tick(k) - held_since > 2.0:  # the crew flies it back over the line
                (e, n), u, held_since = flight.path.point_at(rng.uniform(0, flight.path.length_m)), 25.0, None
            decision = gate.step(tick(k), desired, **good(tick(k)) | where(e, n, u))
            c = decision.command
            if c is not None and not c.stop:
                moves, holds = moves + (c.speed_mps != 0.0), holds + (c.speed_mps == 0.0)
                assert point_in_polygon(e, n, flight.geofence_local)
                if c.speed_mps != 0.0:
                    assert lim.min_alt_rel_m <= u <= lim.max_alt_rel_m
                v_n, v_e, v_d = velocity_setpoint(flight.path, e, n, u, c.speed_mps, flight.altitude_m)
                assert math.hypot(v_n, v_e) <= lim.max_ground_speed_mps + TOL
                assert point_in_polygon(e + v_e * PERIOD, n + v_n * PERIOD, flight.geofence_local)
                pe, pn, pu = e, n, u
                for _ in range(round(lim.prediction_horizon_s / 0.05)):
                    w_n, w_e, w_d = velocity_setpoint(flight.path, pe, pn, pu, c.speed_mps, flight.altitude_m)
                    pe, pn, pu = pe + w_e * 0.05, pn + w_n * 0.05, pu - w_d * 0.05
                    assert point_in_polygon(pe, pn, flight.geofence_local, tol=0.05), (pe, pn)
            stops += c is not None and c.stop
            if decision.stopped_for is None:
                held_since = None
            elif held_since is None:
                held_since = tick(k)
            # the vehicle flies the last command (a STOP brakes; speed 0 holds on the path), with some drift
            last = gate._last_sent
            if last is None or last.stop:
                v_n = v_e = v_d = 0.0
            else:
                v_n, v_e, v_d = velocity_setpoint(flight.path, e, n, u, last.speed_mps, flight.altitude_m)
            e += (v_e + rng.gauss(0, 0.3)) * PERIOD
            n += (v_n + rng.gauss(0, 0.3)) * PERIOD
            u -= (v_d + rng.gauss(0, 0.1)) * PERIOD
        assert moves > 100 and holds > 10 and stops > 10  # the walk really flew, held and braked


def test_the_vehicle_kind_fills_in_what_the_config_leaves_to_it():
    """One table says how each kind of vehicle halts and its speed envelope, where [control.safety] leaves them
    unset (auto); a value the config sets wins; an unnamed vehicle gets the crawler's, the most cautious."""
    safety = SHIPPED.control.safety
    assert safety.hold_action == "auto" and all(getattr(safety, key) is None for key in KIND_KEYS)
    crawler, mavlink = KIND_DEFAULTS["crawler"], KIND_DEFAULTS["mavlink"]
    for uri in ("sim-crawler", "crawler:/dev/ttyUSB0", None):
        assert kind_defaults(uri) is crawler
        limits = safety.limits(uri) if uri else settings.safety_limits(safety.model_dump(), None)
        assert limits.hold_action is HaltAction.STOP
        assert [getattr(limits, key) for key in KIND_KEYS] == [getattr(crawler, key) for key in KIND_KEYS]
    assert mavlink.hold_action is HaltAction.HOLD and mavlink.flies_mission and not crawler.flies_mission
    assert mavlink.max_speed_mps > crawler.max_speed_mps
    assert settings.hold_action("hold", "sim-crawler") is HaltAction.HOLD
    assert settings.hold_action("stop", "sim-crawler") is HaltAction.STOP
    section = safety.model_dump() | {"max_speed_mps": 0.7, "hold_action": "hold"}
    set_by_hand = settings.safety_limits(section, "sim-crawler")
    assert set_by_hand.max_speed_mps == 0.7 and set_by_hand.hold_action is HaltAction.HOLD
    assert set_by_hand.max_accel_mps2 == crawler.max_accel_mps2


def test_stale_perception_holds_a_drone_within_half_a_second():
    """Scenario: the camera dies while the drone flies its mission. Within 0.5 s of the last frame the gate sends
    a HOLD (speed 0: brake and hover, no STOP), re-sends it while perception stays away, and resumes (ramped)
    once perception is back and has stayed good for recover_s."""
    gate = SafetyGate(DRONE, LINE)
    last_frame = None
    first_hold = resumed = None
    for k in range(200):
        now = tick(k)
        if k < 60 or k >= 120:
            last_frame = now
        decision = gate.step(now, 3.0, **good(now, last_perception_s=last_frame) | where(50.0, 0.0))
        c = decision.command
        if 60 <= k < 120 and c is not None and first_hold is None and decision.stopped_for:
            first_hold = now
            assert c == SpeedCommand(0.0, False, "perception_stale")
        if first_hold is not None and k < 120:
            assert c is None or (c.speed_mps == 0.0 and not c.stop)
        if k >= 120 and c is not None and c.speed_mps > 0 and resumed is None:
            resumed = now
    assert first_hold is not None and first_hold - tick(59) <= 0.5
    assert resumed is not None and resumed - tick(120) >= DRONE.recover_s - TOL
