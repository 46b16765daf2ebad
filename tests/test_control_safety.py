"""Safety gate rules, in the style of panda's safety tests: a base class holds the rules, subclasses run them
against different limits, and parametrized sweeps plus a seeded random walk check the invariants."""

import itertools
import math
import random

import pytest

from gridscout.control.safety import GateDecision, SafetyGate, SafetyLimits
from gridscout.control.types import SpeedCommand
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


class GateRules:
    """Rules every gate configuration must satisfy; subclasses pick the limits."""

    LIMITS: SafetyLimits

    @property
    def period(self) -> float:
        """The gate's minimum gap between commands."""
        return 1.0 / self.LIMITS.max_command_rate_hz

    def gate_at_speed(self, speed: float = 0.5, ticks: int = 100) -> tuple[SafetyGate, int]:
        """A gate driven with healthy inputs for `ticks` ticks towards `speed`; returns it and the next tick."""
        gate = SafetyGate(self.LIMITS)
        for k in range(ticks):
            gate.step(tick(k), speed, **good(tick(k)))
        return gate, ticks

    def clamp(self, speed: float) -> float:
        return min(max(speed, -self.LIMITS.max_reverse_speed_mps), self.LIMITS.max_speed_mps)

    @pytest.mark.parametrize("desired", [-1e9, -2.0, -0.5, -0.0, 0.0, 0.1, 0.5, 1.0, 1.5, 1e9])
    def test_speed_sweep_is_clamped_and_reached(self, desired):
        """Any finite desired speed is clamped to [-max_reverse, max_speed] and reached after the ramp."""
        gate = SafetyGate(self.LIMITS)
        sent = []
        for k in range(300):
            decision = gate.step(tick(k), desired, **good(tick(k)))
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
        decision = gate.step(tick(k), desired, **good(tick(k)))
        assert is_stop(decision) and decision.stopped_for == "command_invalid"

    def test_nan_speed_inside_a_command_stops(self):
        """A SpeedCommand carrying NaN is as bad as a bare NaN."""
        gate, k = self.gate_at_speed()
        decision = gate.step(tick(k), SpeedCommand(math.nan, False, "broken"), **good(tick(k)))
        assert is_stop(decision) and decision.stopped_for == "command_invalid"

    def test_requested_stop_is_sent_at_once(self):
        """A STOP asked by the behaviour bypasses the rate limit and the decel limit and is no fault."""
        gate, k = self.gate_at_speed(self.LIMITS.max_speed_mps)
        now = tick(k - 1) + 0.001  # right after the last command: a speed change would be rate limited
        decision = gate.step(now, SpeedCommand(0.0, True, "end of line"), **good(now))
        assert is_stop(decision) and decision.stopped_for is None
        assert "requested: end of line" in decision.reasons
        assert gate.stop_counts == {}

    def test_fault_stop_right_after_a_requested_stop_is_sent(self):
        """A fault starting just after a requested STOP still sends its own STOP at once, despite the rate limit."""
        gate, k = self.gate_at_speed()
        gate.step(tick(k), SpeedCommand(0.0, True, "hold"), **good(tick(k)))
        now = tick(k) + 0.001
        decision = gate.step(now, SpeedCommand(0.0, True, "hold"), **good(now, link_ok=False))
        assert is_stop(decision) and decision.stopped_for == "link_lost"

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
        )
        expected = {f"perception_{perception}", f"telemetry_{telemetry}"} - {"perception_fresh", "telemetry_fresh"}
        expected |= {"stale": {"link_stale"}, "missing": {"link_lost"}, "fresh": set()}[link]
        assert set(decision.reasons if is_stop(decision) else ()) == expected
        assert is_stop(decision) == bool(expected)
        assert (decision.stopped_for is None) == (not expected)

    @pytest.mark.parametrize("source", ["perception", "telemetry", "link"])
    @pytest.mark.parametrize("margin,stale", [(-1e-3, False), (-1e-6, False), (1e-6, True), (1e-3, True)])
    def test_timeout_boundaries(self, source, margin, stale):
        """An input just younger than its timeout passes; just older stops."""
        gate, k = self.gate_at_speed()
        now = tick(k)
        timeout = getattr(self.LIMITS, f"{source}_timeout_s")
        inputs = good(now, last_link_s=now) | {f"last_{source}_s": now - timeout - margin}
        decision = gate.step(now, 0.5, **inputs)
        assert is_stop(decision) == stale
        if stale:
            assert decision.stopped_for == f"{source}_stale"

    @pytest.mark.parametrize("source", ["perception", "telemetry", "link"])
    @pytest.mark.parametrize("phase", [0.0, 0.001, 0.02, 0.049])
    def test_stop_no_later_than_timeout_plus_one_period(self, source, phase):
        """The bar: after the last good input the first step past the timeout is a STOP, at most
        timeout + one control period (and at most 0.5 s) after that input; no STOP before the timeout."""
        gate, k = self.gate_at_speed()
        last_good = tick(k) + phase  # inputs are not aligned with control ticks
        timeout = getattr(self.LIMITS, f"{source}_timeout_s")
        for j in range(k + 1, k + 40):
            now = tick(j)
            inputs = good(now, last_link_s=now) | {f"last_{source}_s": min(now, last_good)}
            decision = gate.step(now, 0.5, **inputs)
            if now - last_good > timeout:
                assert is_stop(decision), f"no STOP at {now - last_good:.3f} s after the last {source}"
                assert now - last_good <= timeout + PERIOD + TOL
                assert now - last_good <= 0.5
                return
            assert not is_stop(decision)
        pytest.fail("never stopped")

    def test_dropped_link_stops_on_the_same_step(self):
        """The driver reporting link_ok=False stops on that very step, even right after a command."""
        gate, k = self.gate_at_speed()
        now = tick(k - 1) + 0.001
        decision = gate.step(now, 0.5, **good(now, link_ok=False))
        assert is_stop(decision) and decision.stopped_for == "link_lost"

    def test_stop_repeats_at_the_rate_limit_while_the_fault_holds(self):
        """A fault's STOP goes out at once, then is re-sent once per period (not faster) so a lost one is repeated."""
        gate, _ = self.gate_at_speed()
        period = 1.0 / self.LIMITS.max_command_rate_hz
        stops = []
        for j in range(200):  # 2 s at 100 Hz with perception gone
            now = 110.0 + j * 0.01
            decision = gate.step(now, 0.5, **good(now, last_perception_s=None))
            assert decision.command is None or decision.command.stop
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
            decision = gate.step(tick(j), 0.5, **good(tick(j)) | bad[fault])
            assert decision.command.stop if j == k else decision.command is None or decision.command.stop
        cleared = tick(k + 10)
        first_move = None
        for j in range(k + 10, k + 40):
            decision = gate.step(tick(j), 0.5, **good(tick(j)))
            if decision.command is not None and not decision.command.stop:
                first_move = (tick(j), decision.command.speed_mps)
                break
            assert decision.stopped_for is not None
        assert first_move is not None
        assert self.LIMITS.recover_s - TOL <= first_move[0] - cleared <= self.LIMITS.recover_s + self.period + TOL
        assert first_move[1] <= self.LIMITS.max_accel_mps2 * self.period + TOL

    def test_flapping_fault_restarts_recovery(self):
        """One bad message during recovery restarts the recovery wait."""
        gate, k = self.gate_at_speed()
        gate.step(tick(k), 0.5, **good(tick(k), link_ok=False))
        for j in range(k + 1, k + 8):  # 0.35 s good, then one more link loss
            decision = gate.step(tick(j), 0.5, **good(tick(j)))
            assert decision.command is None or decision.command.stop
        gate.step(tick(k + 8), 0.5, **good(tick(k + 8), link_ok=False))
        for j in range(k + 9, k + 9 + 10):  # still inside the new recovery window
            decision = gate.step(tick(j), 0.5, **good(tick(j)))
            assert decision.command is None or decision.command.stop
        assert gate.stop_counts == {"link_lost": 2}

    @pytest.mark.parametrize("jump", [-0.001, -1.0, -1e6, 1.5, 1e6])
    def test_time_backwards_or_huge_jump_stops(self, jump):
        """The clock going backwards, or jumping forward more than max_time_jump_s, is a fault."""
        gate, k = self.gate_at_speed()
        now = tick(k - 1) + jump
        decision = gate.step(now, 0.5, **good(now))
        assert is_stop(decision)
        assert decision.stopped_for == ("time_backwards" if jump < 0 else "time_jump")

    @pytest.mark.parametrize("now", [math.nan, math.inf, None])
    def test_invalid_time_stops(self, now):
        """A NaN, infinite or missing clock reading is a fault."""
        gate, k = self.gate_at_speed()
        decision = gate.step(now, 0.5, **good(tick(k)))
        assert is_stop(decision) and decision.stopped_for == "time_invalid"

    @pytest.mark.parametrize("age", [math.nan, math.inf, -math.inf, -10.0])
    def test_invalid_input_timestamps_stop(self, age):
        """A NaN/inf input timestamp, or one far in the future, is a fault."""
        gate, k = self.gate_at_speed()
        decision = gate.step(tick(k), 0.5, **good(tick(k), last_telemetry_s=tick(k) - age))
        assert is_stop(decision) and decision.stopped_for == "telemetry_invalid"

    @pytest.mark.parametrize("position", [None, math.nan, math.inf, -math.inf])
    def test_missing_or_invalid_position_stops(self, position):
        """No position (or a non-finite one) means we cannot check the geofence: STOP."""
        gate, k = self.gate_at_speed()
        decision = gate.step(tick(k), 0.5, **good(tick(k), position_m=position))
        assert is_stop(decision)
        assert decision.stopped_for == ("position_missing" if position is None else "position_invalid")

    def test_accel_and_decel_ramps(self):
        """Speeding up is limited by max_accel per period; a non-stop slowdown by max_decel per period."""
        gate = SafetyGate(self.LIMITS)
        speeds = []
        for k in range(200):
            desired = self.LIMITS.max_speed_mps if k < 100 else 0.0
            decision = gate.step(tick(k), desired, **good(tick(k)))
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
        decision = gate.step(tick(k), self.LIMITS.max_speed_mps, **good(tick(k), link_ok=False))
        assert decision.command == SpeedCommand(0.0, True, "link_lost")

    def test_rate_limit_with_a_fast_caller(self):
        """Called at 1 kHz with a changing wish, non-stop commands are still at least 1/max_rate apart."""
        gate = SafetyGate(self.LIMITS)
        sent = []
        for j in range(3000):
            now = 100.0 + j * 0.001
            decision = gate.step(now, 0.2 + 0.3 * math.sin(j / 50), **good(now))
            if decision.command is not None:
                sent.append(now)
        assert all(b - a >= 1 / self.LIMITS.max_command_rate_hz - 1e-6 for a, b in itertools.pairwise(sent))
        assert len(sent) > 10

    def test_keep_alive_resends_an_unchanged_speed_every_resend_s(self):
        """At a steady speed the gate stays quiet but re-sends the speed every resend_s as a keep-alive."""
        gate, k = self.gate_at_speed(0.5, ticks=200)
        sent = []
        for j in range(k, k + 200):
            decision = gate.step(tick(j), 0.5, **good(tick(j)))
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
            gate.step(tick(j), 0.5, **good(tick(j)) | bad)
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
            decision = gate.step(now, desired, **inputs)
            command = decision.command
            if faulty:
                assert command is None or command.stop
                assert decision.stopped_for is not None
                if not prev_faulty:  # onset: a STOP now, unless one is already in force from an earlier fault
                    assert (command is not None and command.stop) or stopped_since_move
                clean_since = None
            elif clean_since is None:
                clean_since = now
            if command is not None and command.stop:
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
    assert SHIPPED.control.safety.limits() == TestShippedLimits.LIMITS
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
    top = min(SHIPPED.control.safety.max_speed_mps, vehicle_max) if valid else SHIPPED.control.safety.max_speed_mps
    assert max(sent) == pytest.approx(top) and sent[-1] == pytest.approx(top)
