"""Patrol behaviour: cruise the line, slow for a confirmed defect, hold for a close look, resume, stop at the end.

A small explicit state machine; pure and deterministic (times are passed in), so a logged run replays exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gridscout.control.camera_view import FrameRate, inspection_speed_cap_mps
from gridscout.control.types import Intent, Mode, PerceptionInput, TrackObservation, Transition
from gridscout.control.vehicle import VehicleState, VehicleTelemetry


@dataclass(frozen=True, slots=True)
class BehaviourParams:
    """The patrol's settings. No defaults here: `gridscout.edge.config` builds these from the shipped
    config, where every value has its one default and its description."""

    cruise_speed_mps: float  # speed while patrolling
    slow_speed_mps: float  # speed while approaching a defect
    hold_s: float  # how long to stand still for a close look, counted from when the vehicle is at rest
    hold_still_mps: float  # the vehicle is at rest at or below this speed (over ground where it reports one)
    hold_settle_s: float  # count the hold from here anyway when the vehicle has not come to rest this long
    defect_min_confidence: float  # sightings below this confidence are ignored
    defect_min_hits: int  # frames a defect track must be seen (confidently) before acting on it
    close_box_height_frac: float  # hold once the defect box is this tall (box height / frame height)
    approach_timeout_s: float  # hold anyway after approaching this long
    line_end_m: float | None  # end of the line along the track; None: only the vehicle reports it
    end_margin_m: float  # stop once position >= line_end_m - end_margin_m
    track_lost_s: float  # a track unseen this long is forgotten (an approach on it is dropped)
    resume_s: float  # RESUME lasts this long before it counts as plain PATROL again
    frames_in_view: int  # a point of the line must stay in view this many processed frames: caps the speed


class Patrol:
    """PATROL → APPROACH → HOLD → RESUME → PATROL …, with WAIT (vehicle not ready) and END_OF_LINE (terminal).

    The same machine drives a crawler and a drone or rover flying a mission: speeds are along the path, HOLD
    asks for speed 0 (a crawler stands, a drone hovers), and the line ends at `line_end_m`, for a mission
    the length of its flight path (`gridscout.edge.runtime.settings.behaviour_params` sets it).

    Call `update` once per control tick. Mode changes are appended to `transitions` for the caller to publish.
    A track is held at most once (it is marked held when the hold starts, even if a WAIT cuts the hold short).
    A HOLD first waits for the vehicle to come to rest (`hold_still_mps`, at most `hold_settle_s`): a drone
    braking from cruise takes seconds, and a hold timed from the command ended before it had stopped.
    """

    def __init__(self, params: BehaviourParams, *, view_m: float | None = None) -> None:
        """`view_m`: the stretch of line one frame sees (`camera_view.line_in_view_m`), which caps the speed;
        None: no cap."""
        self.params = params
        self.view_m = view_m
        self.mode = Mode.PATROL
        self.transitions: list[Transition] = []
        self._reason = "cruise"
        self._mode_since_s: float | None = None
        self._target: TrackObservation | None = None
        self._hits: dict[int, int] = {}  # confident defect sightings per track
        self._latest: dict[int, TrackObservation] = {}  # last confident defect sighting per track
        self._last_seen_s: dict[int, float] = {}
        self._held: set[int] = set()
        self._at_rest_s: float | None = None  # when the vehicle came to rest in this HOLD (None: not yet)
        self._frame_rate = FrameRate()
        self._last_frame_id: int | None = None

    @property
    def confirmed_track_ids(self) -> set[int]:
        """The defect tracks seen often enough to act on (held already or not): `defect_min_hits` confident
        sightings, and not lost since."""
        return {t for t, hits in self._hits.items() if hits >= self.params.defect_min_hits}

    @property
    def done(self) -> bool:
        """True once the end of the line is reached; the behaviour then only asks for STOP."""
        return self.mode is Mode.END_OF_LINE

    def update(self, now_s: float, perception: PerceptionInput | None, vehicle: VehicleTelemetry | None) -> Intent:
        if perception is not None and perception.frame_id != self._last_frame_id:
            self._observe(perception)
        if self._mode_since_s is None:
            self._mode_since_s = now_s
        if not self.done:
            self._step(now_s, vehicle)
        return self._intent()

    def _observe(self, perception: PerceptionInput) -> None:
        self._last_frame_id = perception.frame_id
        self._frame_rate.add(perception.t_s)
        p = self.params
        for obs in perception.tracks:
            if obs.is_defect and obs.confidence >= p.defect_min_confidence:
                self._hits[obs.track_id] = self._hits.get(obs.track_id, 0) + 1
                self._latest[obs.track_id] = obs
                self._last_seen_s[obs.track_id] = perception.t_s
        for track_id in [t for t, seen in self._last_seen_s.items() if perception.t_s - seen > p.track_lost_s]:
            del self._hits[track_id], self._latest[track_id], self._last_seen_s[track_id]

    def _step(self, now_s: float, vehicle: VehicleTelemetry | None) -> None:
        p, elapsed = self.params, now_s - self._mode_since_s
        if end := self._end_of_line(vehicle):
            self._enter(now_s, Mode.END_OF_LINE, end)
            return
        if blocked := self._not_ready(vehicle):
            self._enter(now_s, Mode.WAIT, blocked)
            return
        if self.mode is Mode.WAIT:
            self._enter(now_s, Mode.PATROL, "cruise (vehicle ready)")
        if self.mode in (Mode.PATROL, Mode.RESUME):
            if target := self._pick_target():
                self._target = target
                self._enter(now_s, Mode.APPROACH, f"approach {_describe(target)}")
            elif self.mode is Mode.RESUME and elapsed >= p.resume_s:
                self._enter(now_s, Mode.PATROL, "cruise")
        elif self.mode is Mode.APPROACH:
            track_id = self._target.track_id
            self._target = self._latest.get(track_id, self._target)
            if now_s - self._last_seen_s.get(track_id, -math.inf) > p.track_lost_s:
                self._enter(now_s, Mode.PATROL, f"cruise (lost defect track {track_id})")
            elif self._target.box_height_frac >= p.close_box_height_frac:
                self._start_hold(now_s, f"close, box {self._target.box_height_frac:.2f}")
            elif elapsed >= p.approach_timeout_s:
                self._start_hold(now_s, f"approach timeout {p.approach_timeout_s:g} s")
        if self.mode is Mode.HOLD:  # also on the tick the hold starts: a vehicle already at rest counts from now
            self._hold(now_s, vehicle)

    def _hold(self, now_s: float, vehicle: VehicleTelemetry | None) -> None:
        p, elapsed = self.params, now_s - self._mode_since_s
        if self._at_rest_s is None:
            speed = _speed_mps(vehicle)
            if speed is None or speed <= p.hold_still_mps:
                self._at_rest_s = now_s
                self._reason = f"{self._reason}; at rest after {elapsed:.1f} s"
            elif elapsed >= p.hold_settle_s:
                self._at_rest_s = now_s
                self._reason = f"{self._reason}; still at {speed:.2f} m/s after {p.hold_settle_s:g} s, holding anyway"
        if self._at_rest_s is not None and now_s - self._at_rest_s >= p.hold_s:
            self._enter(now_s, Mode.RESUME, f"resume cruise after defect track {self._target.track_id}")

    def _start_hold(self, now_s: float, why: str) -> None:
        self._held.add(self._target.track_id)
        self._at_rest_s = None
        self._enter(now_s, Mode.HOLD, f"hold for {_describe(self._target)}: {why}")

    def _pick_target(self) -> TrackObservation | None:
        """The closest confirmed defect track not held before (ties: lowest id, for determinism)."""
        ready = self.confirmed_track_ids - self._held
        candidates = [obs for track_id, obs in self._latest.items() if track_id in ready]
        return max(candidates, key=lambda obs: (obs.box_height_frac, -obs.track_id), default=None)

    def _end_of_line(self, vehicle: VehicleTelemetry | None) -> str | None:
        if vehicle is None:
            return None
        if vehicle.state is VehicleState.END_OF_PATH:
            return "vehicle reports END_OF_PATH"
        end, position = self.params.line_end_m, vehicle.position_m
        known = position is not None and math.isfinite(position)
        if end is not None and known and position >= end - self.params.end_margin_m:
            return f"end of line at {position:.2f} m (line ends at {end:g} m)"
        return None

    def _not_ready(self, vehicle: VehicleTelemetry | None) -> str | None:
        if vehicle is None:
            return "no telemetry"
        if not vehicle.link_ok:
            return "vehicle link down"
        if vehicle.armed is False:  # None: a vehicle that has no arming (the crawler)
            return "vehicle disarmed"
        return None if vehicle.state.can_drive else f"vehicle {vehicle.state}"

    def _enter(self, now_s: float, mode: Mode, reason: str) -> None:
        if mode is not self.mode:
            self.transitions.append(Transition(now_s, self.mode, mode, reason))
            self.mode, self._mode_since_s = mode, now_s
        self._reason = reason

    def _intent(self) -> Intent:
        p, mode = self.params, self.mode
        speed = {Mode.PATROL: p.cruise_speed_mps, Mode.RESUME: p.cruise_speed_mps, Mode.APPROACH: p.slow_speed_mps}
        target = self._target.track_id if self._target and mode in (Mode.APPROACH, Mode.HOLD, Mode.RESUME) else None
        stop = mode in (Mode.WAIT, Mode.END_OF_LINE)
        wanted, reason = speed.get(mode, 0.0), self._reason
        cap = self.speed_cap_mps
        if cap is not None and wanted > cap:
            wanted = cap
            reason = (
                f"{reason}; capped at {cap:.1f} m/s: {self.view_m:.1f} m of line in view, {p.frames_in_view} frames "
                f"at {self._frame_rate.hz:.1f} fps"
            )
        return Intent(mode, wanted, stop, reason, target)

    @property
    def speed_cap_mps(self) -> float | None:
        """The fastest speed that keeps a point of the line in view for `frames_in_view` frames at the frame
        rate measured so far; None: no cap (no camera geometry, a view reaching the horizon, no rate yet)."""
        view, rate = self.view_m, self._frame_rate.hz
        if view is None or not math.isfinite(view) or rate is None:
            return None
        return inspection_speed_cap_mps(view, rate, self.params.frames_in_view)


def _speed_mps(vehicle: VehicleTelemetry | None) -> float | None:
    """The vehicle's speed: over ground where it reports it (a drone's drift counts), else along the path."""
    if vehicle is None:
        return None
    if vehicle.ground_speed_mps is not None:
        return vehicle.ground_speed_mps
    return None if vehicle.speed_mps is None else abs(vehicle.speed_mps)


def _describe(obs: TrackObservation) -> str:
    return f"defect track {obs.track_id} ({obs.class_name}, conf {obs.confidence:.2f})"
