"""Every message on the bus, as msgspec structs (msgpack on the wire, never pickle), and the topic table.

Conventions: SI units with the unit in the field name; `t_mono_ns` is `time.monotonic_ns()` when the
message was made (one clock for every process on the box); `frame_id` is the camera frame the
message derives from (-1 when none), so latency can be traced from capture to the serial line.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

__all__ = [
    "TOPICS",
    "CameraStatus",
    "CommandWritten",
    "ControlState",
    "DetectionBox",
    "Detections",
    "FrameMeta",
    "Heartbeat",
    "Message",
    "ReportEvent",
    "RunControl",
    "Telemetry",
    "Topic",
    "VehicleCommand",
]


class Message(msgspec.Struct, kw_only=True, frozen=True):
    """Fields every message carries."""

    t_mono_ns: int
    frame_id: int = -1


class FrameMeta(Message, frozen=True):
    """Describes the raw pixels that travel in the next multipart part (HxWx3 BGR uint8)."""

    t_capture_mono_ns: int
    t_capture_wall_ns: int
    width: int
    height: int
    source_name: str
    name: str
    #: seconds since the first frame on the source's own clock (frame_id / fps for files);
    #: replay mode runs control on this clock, so the same footage gives the same decisions
    t_source_s: float


class DetectionBox(msgspec.Struct, frozen=True, array_like=True):
    """One box in source pixels (x1, y1, x2, y2)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    class_name: str
    track_id: int
    is_defect: bool


class Detections(Message, frozen=True):
    """Tracked detections for one frame. Published for every processed frame, empty or not."""

    t_capture_mono_ns: int
    t_capture_wall_ns: int
    t_source_s: float
    width: int
    height: int
    boxes: tuple[DetectionBox, ...]
    infer_ms: float
    model_name: str
    model_sha256: str
    #: counts perception restarts: track ids restart with the tracker, so (epoch, track_id) is unique
    epoch: int = 0


class Telemetry(Message, frozen=True):
    """What the vehicle last reported, plus the health of the link to it."""

    position_m: float
    speed_mps: float
    battery_v: float
    battery_pct: float
    state: str
    failsafe: bool
    link_ok: bool
    last_cmd_seq: int
    t_rx_mono_ns: int


class VehicleCommand(Message, frozen=True):
    """A command that passed the safety gate. `stop` means an explicit STOP on the wire."""

    speed_mps: float
    stop: bool
    reason: str
    mode: str
    #: capture time of the frame behind the decision (0 when none), for capture→wire latency
    t_capture_mono_ns: int = 0


class CommandWritten(Message, frozen=True):
    """The vehicle driver wrote a command's bytes to the link."""

    seq: int
    speed_mps: float
    stop: bool
    t_write_mono_ns: int
    t_capture_mono_ns: int


class ControlState(Message, frozen=True):
    """The behaviour's mode and what the gate did this tick."""

    mode: str
    desired_speed_mps: float
    reason: str
    gate_reasons: tuple[str, ...]
    target_track_id: int
    #: False on the fixed-rate tick, True on the extra step a new detection triggers
    triggered: bool = False


class CameraStatus(Message, frozen=True):
    """Camera health: `streaming`, `stalled`, `reconnecting`, `ended` or `failed`."""

    state: str
    source: str
    frames: int
    dropped_frames: int
    corrupt_frames: int
    reconnects: int
    detail: str = ""


class ReportEvent(Message, frozen=True):
    """The reporter inserted or updated a defect report."""

    report_id: str
    seq: int
    class_name: str
    confidence: float
    created: bool


class Heartbeat(Message, frozen=True):
    """A process is alive; `stats` are its counters, which the run summary adds up."""

    process: str
    pid: int
    ready: bool
    stats: dict[str, float] = {}


class RunControl(Message, frozen=True):
    """From the supervisor: `starting` (wait), `running` (go), `stopping` (stop the vehicle, finish)."""

    state: str


@dataclass(frozen=True)
class Topic:
    """One row of the topic table."""

    name: str
    type: type[Message]
    rate_hz: float | None
    producer: str
    consumers: tuple[str, ...]
    #: True when raw pixels follow the message in a second multipart part
    carries_pixels: bool = False


# The topic table, in the spirit of openpilot's cereal/services.py. Rates are nominal.
TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic("frames", FrameMeta, 10.0, "camera", ("perception", "reporter"), carries_pixels=True),
        Topic("camera_status", CameraStatus, 1.0, "camera", ("supervisor",)),
        Topic("detections", Detections, 10.0, "perception", ("control", "reporter", "camera")),
        Topic("control_state", ControlState, 20.0, "control", ("supervisor",)),
        Topic("vehicle_command", VehicleCommand, 20.0, "control", ("vehicle",)),
        Topic("telemetry", Telemetry, 20.0, "vehicle", ("control", "reporter")),
        Topic("command_written", CommandWritten, 20.0, "vehicle", ("supervisor",)),
        Topic("report_event", ReportEvent, None, "reporter", ("supervisor",)),
        Topic("run_control", RunControl, 2.0, "supervisor", ("camera", "perception", "control", "vehicle", "reporter")),
        # Heartbeats go over one PUSH/PULL socket to the supervisor rather than PUB/SUB.
        Topic("heartbeat", Heartbeat, 2.0, "every process", ("supervisor",)),
    )
}
