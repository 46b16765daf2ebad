"""The control process: detections + telemetry in, gated vehicle commands out, at a fixed rate.

Every `1/rate_hz` it runs the behaviour and the safety gate and publishes what the gate lets
through. A new detections message also triggers a step at once, so a decision does not wait
for the next tick. The gate runs on this machine's monotonic clock in both modes (staleness is
real), and judges perception by the capture time of the frame behind it, telemetry by when the
vehicle reported, and the vehicle process by when its latest message was made. In replay the
behaviour runs on the footage's own clock, so the same footage gives the same decisions however
fast it is processed.

`ControlStage` is the step itself (inputs in; a command and a state out, on a clock passed in), which
`gridscout replay` drives with recorded messages and recorded times; `Control` adds the bus and the loop.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any, NamedTuple

from gridscout.control.behaviour import Patrol
from gridscout.control.camera_view import stopping_distance_m
from gridscout.control.mission import Mission
from gridscout.control.safety import SafetyGate
from gridscout.control.types import Intent, PerceptionInput, TrackObservation
from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.messages import ControlState, FrameDetections, VehicleCommand
from gridscout.edge.runtime.settings import behaviour_params, flown_mission, line_in_view, safety_limits
from gridscout.edge.runtime.submaster import data_time_s
from gridscout.edge.runtime.summary import HELD_PREFIX


def perception_input(msg: FrameDetections, t_s: float) -> PerceptionInput:
    tracks = tuple(
        TrackObservation(b.track_id, b.class_name, b.score, b.is_defect, (b.y2 - b.y1) / max(1, msg.height))
        for b in msg.boxes
        if b.track_id >= 0
    )
    return PerceptionInput(t_s=t_s, frame_id=msg.frame_id, tracks=tracks)


class ControlStep(NamedTuple):
    #: what the gate let through (None: nothing to send this step)
    command: VehicleCommand | None
    state: ControlState


class ControlStage:
    """The behaviour and the gate over the latest detections and telemetry. Pure apart from the clock, which
    the caller passes: `take` each input as it arrives, `step(now_ns)` on each tick (and, live, on each new
    detections). The same inputs at the same times give the same commands.

    `vehicle_uri` fills in the gate's limits its config leaves to the vehicle's kind (`vehicle_kinds`; None:
    the crawler's); `mission`, for a drone or rover, gives the behaviour its cruise speed and the line's end
    (the flight path's length) and the gate its geofence and path; with `camera` (`[geotag]`) it also caps the
    speed so a defect stays in view for enough frames."""

    def __init__(
        self,
        control: Mapping[str, Any],
        *,
        replay: bool,
        vehicle_uri: str | None = None,
        mission: Mission | None = None,
        camera: Mapping[str, Any] | None = None,
    ) -> None:
        self.behaviour = Patrol(behaviour_params(control["behaviour"], mission), view_m=line_in_view(mission, camera))
        self.gate = SafetyGate(safety_limits(control["safety"], vehicle_uri), mission)
        self.replay = replay
        self.detections: FrameDetections | None = None
        self.telemetry: VehicleTelemetry | None = None
        self.perception: PerceptionInput | None = None
        self.intent: Intent | None = None
        #: commands the gate turned into stops, by the fault it held the vehicle for
        self.held: Counter[str] = Counter()

    def take(self, msg: object) -> bool:
        """Take in one message; True when it is new detections (worth a step at once, live)."""
        if isinstance(msg, VehicleTelemetry):
            self.telemetry = msg
            return False
        if not isinstance(msg, FrameDetections):
            return False
        self.detections = msg
        t_s = msg.t_source_s if self.replay else msg.t_capture_mono_ns / 1e9
        self.perception = perception_input(msg, t_s)
        if self.replay:  # the behaviour steps on the footage's clock, once per frame
            self.intent = self.behaviour.update(t_s, self.perception, self.telemetry)
        return True

    def step(self, now_ns: int, *, triggered_by: FrameDetections | None = None) -> ControlStep:
        now = now_ns / 1e9
        if not self.replay or self.intent is None:
            self.intent = self.behaviour.update(now, self.perception, self.telemetry)
        t = self.telemetry
        decision = self.gate.step(
            now,
            self.intent.command,
            last_perception_s=data_time_s("detections", self.detections),
            last_telemetry_s=data_time_s("telemetry", t),
            link_ok=bool(t and t.link_ok),
            position_m=t.position_m if t else None,
            # the vehicle process itself: it republishes telemetry at a fixed rate while it lives
            last_link_s=t.t_mono_ns / 1e9 if t else None,
            vehicle_max_speed_mps=t.max_speed_mps if t else None,
            lat_deg=t.lat_deg if t else None,
            lon_deg=t.lon_deg if t else None,
            alt_rel_m=t.alt_rel_m if t else None,
            ground_vehicle=bool(t and t.ground_vehicle),
        )
        frame_id = self.detections.frame_id if self.detections else -1
        command = None
        if decision.command is not None:
            c = decision.command
            if c.stop and decision.stopped_for:
                self.held[decision.stopped_for] += 1
            command = VehicleCommand(
                t_mono_ns=now_ns,
                frame_id=frame_id,
                speed_mps=c.speed_mps,
                stop=c.stop,
                reason=c.reason if not decision.stopped_for else f"{decision.stopped_for}: {c.reason}",
                mode=str(self.intent.mode),
                t_capture_mono_ns=triggered_by.t_capture_mono_ns if triggered_by else 0,
            )
        state = ControlState(
            t_mono_ns=now_ns,
            frame_id=frame_id,
            mode=str(self.intent.mode),
            desired_speed_mps=self.intent.speed_mps,
            reason=self.intent.reason,
            gate_reasons=decision.reasons,
            target_track_id=self.intent.target_track_id if self.intent.target_track_id is not None else -1,
            triggered=triggered_by is not None,
        )
        return ControlStep(command, state)

    @property
    def holds(self) -> int:
        return sum(1 for tr in self.behaviour.transitions if str(tr.to_mode) == "HOLD")


class Control:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        cfg = rt.config.control
        self.period_s = 1.0 / cfg.rate_hz
        uri = rt.config.vehicle.uri
        flight = flown_mission(uri, rt.config.mission)
        self.stage = ControlStage(
            cfg, replay=rt.mode == "replay", vehicle_uri=uri, mission=flight, camera=rt.config.geotag
        )
        if (view := self.stage.behaviour.view_m) is not None:
            rt.log.info(
                "%.1f m of line in the camera's view: cruise no faster than keeps it %d frames in view",
                view,
                self.stage.behaviour.params.frames_in_view,
            )
            cruise, decel = self.stage.behaviour.params.cruise_speed_mps, self.stage.gate.limits.max_decel_mps2
            if (stop_m := stopping_distance_m(cruise, decel)) > view:
                rt.log.warning(
                    "from its cruise of %.1f m/s the vehicle needs %.1f m to stop (max_decel_mps2 %.1f), more than "
                    "the %.1f m of line in view: a hold at a defect stands past it",
                    cruise,
                    stop_m,
                    decel,
                    view,
                )
        if flight is not None:
            fence = "a geofence" if flight.geofence else "no geofence"
            rt.log.info(
                "mission %r: %.1f m path at %g m above home, %g m/s, %s",
                flight.name, flight.path.length_m, flight.altitude_m, flight.cruise_speed_mps, fence,
            )  # fmt: skip
        self.sm = rt.submaster(["detections", "telemetry"], hwm=1000)
        self.commands = rt.publisher("vehicle_command")
        self.state_pub = rt.publisher("control_state")
        self.replay = rt.mode == "replay"
        self.lateness_ms: deque[float] = deque(maxlen=4000)
        self.stats: dict[str, float] = dict.fromkeys(
            ("ticks", "commands", "stops", "fault_stops", "holds", "jitter_p99_ms", "last_frame_id"), 0.0
        )

    def take(self, msg: object) -> bool:
        """Take in one message; True when it is new detections (worth a step at once)."""
        fresh = self.stage.take(msg)
        if fresh:
            self.stats["last_frame_id"] = msg.frame_id  # type: ignore[attr-defined]
        return fresh

    def step(self, *, triggered_by: FrameDetections | None = None) -> None:
        command, state = self.stage.step(time.monotonic_ns(), triggered_by=triggered_by)
        if command is not None:
            self.commands.publish(command)
            self.stats["commands"] += 1
            self.stats["stops"] += command.stop
        self.stats["fault_stops"] = sum(self.stage.gate.stop_counts.values())
        self.stats["holds"] = self.stage.holds
        self.stats.update({f"{HELD_PREFIX}{fault}": n for fault, n in self.stage.held.items()})
        self.state_pub.publish(state)

    def run(self) -> int:
        if not self.rt.wait_until_running(self.stats):
            return 0
        next_tick = time.monotonic()
        while not self.rt.should_stop:
            for r in self.sm.update(max(0.0, next_tick - time.monotonic())):
                if self.take(r.msg) and not self.replay:
                    self.step(triggered_by=r.msg)
            now = time.monotonic()
            if now >= next_tick:
                self.lateness_ms.append((now - next_tick) * 1e3)
                self.step()
                self.stats["ticks"] += 1
                next_tick += self.period_s
                if now - next_tick > 1.0:  # fell far behind (suspended?): re-anchor, don't burst
                    next_tick = now + self.period_s
                if int(self.stats["ticks"]) % 20 == 0:
                    ordered = sorted(self.lateness_ms)
                    self.stats["jitter_p99_ms"] = ordered[int(0.99 * (len(ordered) - 1))]
            self.rt.heartbeat.beat(stats=self.stats)
            self.rt.poll()
        self.rt.heartbeat.beat(stats=self.stats, force=True)
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_daemon("control", lambda rt: Control(rt).run(), argv, realtime=True)


if __name__ == "__main__":
    raise SystemExit(main())
