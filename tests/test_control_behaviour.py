"""Patrol behaviour: cruise, approach a confirmed defect, hold, resume, end of line, wait on a vehicle fault."""

import random

import pytest

from gridscout.control.behaviour import BehaviourParams, Patrol
from gridscout.control.safety import SafetyGate
from gridscout.control.types import Intent, Mode, PerceptionInput, TrackObservation
from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from tests.shipped import behaviour_params, safety_limits

PERIOD = 0.05
PARAMS = behaviour_params(line_end_m=100.0)


def defect(track_id: int = 7, box: float = 0.1, conf: float = 0.82, name: str = "broken_disc") -> TrackObservation:
    return TrackObservation(track_id, name, conf, name not in {"insulator"}, box)


def vehicle(
    t: float,
    position: float = 10.0,
    state: VehicleState = VehicleState.MOVING,
    link_ok: bool = True,
    speed: float = 0.5,
    ground_speed: float | None = None,
) -> VehicleTelemetry:
    ns = round(t * 1e9)
    return VehicleTelemetry(ns, ns, state, link_ok, position_m=position, speed_mps=speed, ground_speed_mps=ground_speed)


class Run:
    """Drives a Patrol at 20 Hz with one perception frame per tick; records every intent. The vehicle reports
    the speed last asked for, reached at once or, with `decel_mps2`, slowing down at that rate."""

    def __init__(self, params: BehaviourParams = PARAMS, decel_mps2: float | None = None) -> None:
        self.patrol = Patrol(params)
        self.k = 0
        self.intents: list[Intent] = []
        self.decel_mps2 = decel_mps2
        self.speed = params.cruise_speed_mps

    def _follow(self, asked: float) -> None:
        slowest = self.speed - self.decel_mps2 * PERIOD if self.decel_mps2 is not None else asked
        self.speed = max(asked, slowest)

    @property
    def now(self) -> float:
        return self.k * PERIOD

    def tick(
        self, *tracks: TrackObservation, position: float = 10.0, state: VehicleState = VehicleState.MOVING, **kw
    ) -> Intent:
        frame = PerceptionInput(self.now, self.k, tracks)
        kw.setdefault("speed", self.speed)
        intent = self.patrol.update(self.now, frame, vehicle(self.now, position, state, **kw))
        self._follow(intent.speed_mps)
        self.intents.append(intent)
        self.k += 1
        return intent

    def ticks(self, n: int, *tracks: TrackObservation, **kw) -> list[Intent]:
        return [self.tick(*tracks, **kw) for _ in range(n)]

    def modes(self) -> list[Mode]:
        return [t.to_mode for t in self.patrol.transitions]


def test_patrol_cruises_without_defects():
    """With nothing in view the crawler cruises at cruise speed and never changes mode."""
    run = Run()
    intents = run.ticks(100)
    assert {(i.mode, i.speed_mps, i.stop, i.target_track_id) for i in intents} == {(Mode.PATROL, 0.5, False, None)}
    assert run.patrol.transitions == [] and not run.patrol.done


def test_defect_seen_fewer_than_min_hits_does_not_trigger():
    """A defect seen in min_hits - 1 frames (then gone) is not acted on."""
    run = Run()
    run.ticks(PARAMS.defect_min_hits - 1, defect())
    run.ticks(100)
    assert all(i.mode is Mode.PATROL for i in run.intents)


def test_same_frame_passed_twice_counts_once():
    """The caller may pass the latest frame on every tick; one frame is one hit, however often it is passed."""
    patrol = Patrol(PARAMS)
    frame = PerceptionInput(0.0, 1, (defect(),))
    for k in range(10):
        intent = patrol.update(k * PERIOD, frame, vehicle(k * PERIOD))
    assert intent.mode is Mode.PATROL


def test_confirmed_defect_approach_hold_resume():
    """A confirmed defect slows the crawler; when its box is close it holds for hold_s at speed 0, then resumes."""
    run = Run()
    intents = run.ticks(PARAMS.defect_min_hits, defect(box=0.1))
    assert [i.mode for i in intents] == [Mode.PATROL] * (PARAMS.defect_min_hits - 1) + [Mode.APPROACH]
    assert intents[-1].speed_mps == PARAMS.slow_speed_mps and intents[-1].target_track_id == 7
    assert intents[-1].reason == "approach defect track 7 (broken_disc, conf 0.82)"
    assert all(i.mode is Mode.APPROACH for i in run.ticks(20, defect(box=0.2)))
    hold = run.tick(defect(box=0.3))
    assert hold.mode is Mode.HOLD and hold.speed_mps == 0.0 and not hold.stop
    assert hold.reason.startswith("hold for defect track 7") and "close" in hold.reason
    hold_started = run.now - PERIOD
    held = [run.tick(defect(box=0.35)) for _ in range(int(PARAMS.hold_s / PERIOD) + 5)]
    resumed_at = next(k for k, i in enumerate(held) if i.mode is not Mode.HOLD)
    assert (resumed_at + 1) * PERIOD == pytest.approx(PARAMS.hold_s)  # held exactly hold_s
    assert all(i.speed_mps == 0.0 for i in held[:resumed_at])
    assert held[resumed_at].mode is Mode.RESUME and held[resumed_at].speed_mps == PARAMS.cruise_speed_mps
    assert run.patrol.transitions[-1].t_s == pytest.approx(hold_started + PARAMS.hold_s)
    assert run.modes() == [Mode.APPROACH, Mode.HOLD, Mode.RESUME]


def test_hold_is_counted_from_when_the_vehicle_is_at_rest():
    """A drone braking from cruise takes seconds to stop: the hold's clock starts once its speed over ground is
    under hold_still_mps, so it stands still for the whole hold_s (ArduCopter at 8 m/s ended 3 s holds moving)."""
    params = behaviour_params(line_end_m=100.0, cruise_speed_mps=8.0, slow_speed_mps=8.0)
    run = Run(params, decel_mps2=2.0)
    run.ticks(params.defect_min_hits, defect(box=0.3))
    hold_started = run.now
    assert run.tick(defect(box=0.3)).mode is Mode.HOLD
    at_rest = hold_started + (8.0 - params.hold_still_mps) / 2.0  # braking at 2 m/s2
    run.ticks(int((at_rest + params.hold_s - hold_started) / PERIOD) + 5, defect(box=0.3))
    resume = run.patrol.transitions[-1]
    assert resume.to_mode is Mode.RESUME
    assert resume.t_s == pytest.approx(at_rest + params.hold_s, abs=2 * PERIOD)
    hold_reason = next(i.reason for i in reversed(run.intents) if i.mode is Mode.HOLD)
    waited = float(hold_reason.split("; at rest after ")[1].removesuffix(" s"))
    assert waited == pytest.approx(at_rest - hold_started, abs=0.1 + PERIOD)  # one decimal, one tick late


def test_hold_of_a_vehicle_that_never_comes_to_rest_is_counted_after_hold_settle_s():
    """A vehicle drifting faster than hold_still_mps (wind, a bad estimate) is held hold_settle_s + hold_s, and
    the reason says it never came to rest."""
    run = Run()
    run.ticks(PARAMS.defect_min_hits, defect(box=0.3))
    hold_started = run.now
    run.ticks(int((PARAMS.hold_settle_s + PARAMS.hold_s) / PERIOD) + 5, defect(box=0.3), ground_speed=0.6)
    resume = run.patrol.transitions[-1]
    assert resume.to_mode is Mode.RESUME
    assert resume.t_s == pytest.approx(hold_started + PARAMS.hold_settle_s + PARAMS.hold_s, abs=2 * PERIOD)
    hold_reason = next(i.reason for i in reversed(run.intents) if i.mode is Mode.HOLD)
    assert f"still at 0.60 m/s after {PARAMS.hold_settle_s:g} s, holding anyway" in hold_reason


def test_approach_timeout_holds_anyway():
    """A defect whose box never gets close is held after approach_timeout_s of slow approach."""
    run = Run()
    run.ticks(PARAMS.defect_min_hits, defect(box=0.05))
    intents = run.ticks(int(PARAMS.approach_timeout_s / PERIOD) + 1, defect(box=0.05))
    first_hold = next(k for k, i in enumerate(intents) if i.mode is Mode.HOLD)
    assert (first_hold + 1) * PERIOD == pytest.approx(PARAMS.approach_timeout_s)
    assert "approach timeout" in intents[first_hold].reason


def test_same_track_is_never_held_twice_but_a_new_one_is():
    """After resuming, the held track (still in view, still close) never triggers again; a new defect track does."""
    run = Run()
    run.ticks(PARAMS.defect_min_hits, defect(box=0.3))
    run.ticks(int(PARAMS.hold_s / PERIOD) + 200, defect(box=0.4))
    assert run.modes() == [Mode.APPROACH, Mode.HOLD, Mode.RESUME, Mode.PATROL]
    run.ticks(PARAMS.defect_min_hits, defect(box=0.4), defect(track_id=8, box=0.1, name="bird_nest"))
    assert run.intents[-1].mode is Mode.APPROACH and run.intents[-1].target_track_id == 8


def test_new_defect_during_resume_triggers():
    """A new defect track confirmed while RESUME is still cruising away from the last one starts a new approach."""
    run = Run()
    run.ticks(PARAMS.defect_min_hits, defect(box=0.3))
    run.ticks(int(PARAMS.hold_s / PERIOD) + 1, defect(box=0.3))  # one tick to see it close, then the hold
    assert run.intents[-1].mode is Mode.RESUME
    run.ticks(PARAMS.defect_min_hits, defect(track_id=9, box=0.1))
    assert run.intents[-1].mode is Mode.APPROACH and run.intents[-1].target_track_id == 9


@pytest.mark.parametrize("box", [0.1, 0.5, 0.9])
def test_insulator_never_triggers(box):
    """Insulators (not defects) never slow the crawler, however confident or close."""
    run = Run()
    run.ticks(300, defect(track_id=3, box=box, conf=0.99, name="insulator"))
    assert {i.mode for i in run.intents} == {Mode.PATROL}


@pytest.mark.parametrize("conf,triggers", [(0.1, False), (0.399, False), (0.4, True), (0.9, True)])
def test_confidence_threshold(conf, triggers):
    """Defect sightings below defect_min_confidence are ignored; at or above it they count."""
    run = Run()
    run.ticks(50, defect(conf=conf))
    assert (Mode.APPROACH in run.modes()) == triggers


def test_lost_target_returns_to_patrol():
    """If the approached track is not seen for track_lost_s, the crawler goes back to cruising."""
    run = Run()
    run.ticks(PARAMS.defect_min_hits, defect())
    intents = run.ticks(int(PARAMS.track_lost_s / PERIOD) + 2)
    assert intents[-1].mode is Mode.PATROL and "lost defect track 7" in intents[-1].reason


@pytest.mark.parametrize("position", [99.0, 99.5, 150.0])
def test_end_of_line_stops_and_stays(position):
    """At line_end_m - end_margin_m the behaviour stops for good, whatever happens next."""
    run = Run()
    run.ticks(10, position=98.9)
    assert run.intents[-1].mode is Mode.PATROL
    end = run.tick(position=position)
    assert end.mode is Mode.END_OF_LINE and end.stop and end.speed_mps == 0.0 and run.patrol.done
    later = run.ticks(50, defect(box=0.5), position=10.0, state=VehicleState.READY) + run.ticks(
        5, state=VehicleState.FAILSAFE
    )
    assert all(i.mode is Mode.END_OF_LINE and i.stop for i in later)
    assert run.modes() == [Mode.END_OF_LINE]


def test_vehicle_reported_end_of_line():
    """The vehicle reporting END_OF_LINE ends the patrol even without a configured line end."""
    run = Run(behaviour_params())
    run.ticks(5)
    assert run.tick(state=VehicleState.END_OF_PATH).mode is Mode.END_OF_LINE and run.patrol.done


@pytest.mark.parametrize(
    "blocked",
    [
        {"state": VehicleState.FAILSAFE},
        {"state": VehicleState.FAULT},
        {"state": VehicleState.DISCONNECTED},
        {"link_ok": False},
    ],
)
def test_vehicle_not_ready_waits_then_resumes(blocked):
    """A vehicle in FAILSAFE/FAULT/unknown state or with its link down: WAIT at speed 0 (STOP), then cruise again."""
    run = Run()
    run.ticks(10)
    waiting = run.ticks(20, **blocked)
    assert all(i.mode is Mode.WAIT and i.speed_mps == 0.0 and i.stop for i in waiting)
    assert run.tick().mode is Mode.PATROL
    assert run.modes() == [Mode.WAIT, Mode.PATROL]


def test_no_telemetry_waits():
    """Before any telemetry arrives the behaviour waits."""
    patrol = Patrol(PARAMS)
    intent = patrol.update(0.0, None, None)
    assert intent.mode is Mode.WAIT and intent.stop and intent.reason == "no telemetry"


def test_failsafe_during_approach_then_reapproach():
    """A failsafe interrupting an approach waits; once ready (PATROL), the still-visible defect is approached again
    on the same tick."""
    run = Run()
    run.ticks(PARAMS.defect_min_hits, defect())
    run.ticks(5, defect(), state=VehicleState.FAILSAFE)
    assert run.tick(defect()).mode is Mode.APPROACH
    assert run.modes() == [Mode.APPROACH, Mode.WAIT, Mode.PATROL, Mode.APPROACH]


def scripted_run(seed: int) -> tuple[list[Intent], list]:
    """A random but seeded scenario: defects of several tracks coming and going, vehicle faults, moving position."""
    rng = random.Random(seed)
    run = Run()
    for k in range(2000):
        tracks = tuple(
            defect(
                track_id=t,
                box=rng.uniform(0, 0.4),
                conf=rng.uniform(0.2, 1),
                name=rng.choice(["missing_cap", "insulator"]),
            )
            for t in range(rng.randint(0, 3))
        )
        run.tick(*tracks, position=k * 0.05, state=rng.choice([VehicleState.MOVING] * 50 + [VehicleState.FAILSAFE]))
    return run.intents, run.patrol.transitions


def test_deterministic_replay():
    """The same input sequence gives exactly the same intents and transitions."""
    first, second = scripted_run(seed=1), scripted_run(seed=1)
    assert first == second
    assert len({t.to_mode for t in first[1]}) >= 4  # the scenario exercised several modes


def test_intents_through_the_gate_end_in_stop():
    """Behaviour and gate together: cruise goes out ramped, and the end of the line goes out as a STOP."""
    patrol, gate = Patrol(PARAMS), SafetyGate(safety_limits())
    sent = []
    for k in range(400):
        now = k * PERIOD
        intent = patrol.update(now, PerceptionInput(now, k, ()), vehicle(now, position=90 + k * 0.025))
        decision = gate.step(
            now, intent.command, last_perception_s=now, last_telemetry_s=now, link_ok=True, position_m=90 + k * 0.025
        )
        if decision.command is not None:
            sent.append(decision.command)
    assert max(c.speed_mps for c in sent) == pytest.approx(PARAMS.cruise_speed_mps)
    assert sent[-1].stop and patrol.done


@pytest.mark.parametrize("frame_period_s,capped", [(0.1, False), (0.25, True)])
def test_cruise_is_capped_so_the_line_stays_in_view_for_frames_in_view_frames(frame_period_s, capped):
    """12 m of line in view, 8 frames in view wanted, 8 m/s asked: at 10 processed frames a second the cap is
    15 m/s (no cap); at 4 fps it is 6 m/s, and the reason says why."""
    params = behaviour_params(line_end_m=100.0, cruise_speed_mps=8.0, frames_in_view=8)
    patrol = Patrol(params, view_m=12.0)
    for k in range(20):
        t = k * frame_period_s
        intent = patrol.update(t, PerceptionInput(t, k, ()), vehicle(t))
    assert intent.mode is Mode.PATROL
    if capped:
        assert intent.speed_mps == pytest.approx(6.0)
        assert "capped at 6.0 m/s: 12.0 m of line in view, 8 frames at 4.0 fps" in intent.reason
    else:
        assert intent.speed_mps == 8.0 and intent.reason == "cruise"
