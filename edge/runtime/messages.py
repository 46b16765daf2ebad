"""Every message on the bus, as msgspec structs (msgpack on the wire, never pickle), and the topic table.

Conventions: SI units with the unit in the field name; `t_mono_ns` is `time.monotonic_ns()` when the
message was made (one clock for every process on the box); `frame_id` is the camera frame the
message derives from (-1 when none), so latency can be traced from capture to the serial line.
Vehicle telemetry is `gridscout.control.vehicle.VehicleTelemetry`, the one type drivers produce and
control reads; msgspec carries that dataclass as it is. Names never repeat a wire protocol's own
(the crawler protocol has its own `Telemetry` and `Heartbeat`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from gridscout.control.vehicle import VehicleTelemetry

if TYPE_CHECKING:
    from gridscout.hardware.frame import Frame

__all__ = [
    "EVERY_PROCESS",
    "TOPICS",
    "CameraStatus",
    "ChainStatus",
    "CommandWritten",
    "ControlState",
    "DetectionBox",
    "FrameAck",
    "FrameDetections",
    "FrameMeta",
    "Message",
    "ProcessHeartbeat",
    "ProcessState",
    "ReportEvent",
    "RunControl",
    "StorageStatus",
    "Topic",
    "TopicTableError",
    "VehicleCommand",
    "VehicleStatus",
    "VehicleTelemetry",
    "check_publisher",
    "check_subscriber",
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

    @classmethod
    def of(cls, frame: Frame, *, frame_id: int, t_source_s: float) -> FrameMeta:
        """The meta of a camera frame, made now."""
        return cls(
            t_mono_ns=time.monotonic_ns(),
            frame_id=frame_id,
            t_capture_mono_ns=frame.t_capture_mono_ns,
            t_capture_wall_ns=frame.t_capture_wall_ns,
            width=frame.width,
            height=frame.height,
            source_name=frame.source_name,
            name=frame.name,
            t_source_s=t_source_s,
        )


class FrameAck(Message, frozen=True):
    """Perception has handled every frame up to `frame_id` (replay's credit: the camera sends more).
    Sent for every frame taken, and again for a resent frame it had already handled."""


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


class FrameDetections(Message, frozen=True):
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
    """Camera health: `streaming`, `waiting` (a source following the vehicle, before its position is known),
    `stalled`, `reconnecting`, `ended` or `failed`."""

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


class StorageStatus(Message, frozen=True):
    """The data disk and the report store, from the reporter: `ok`; `low` (free space under
    `recorder.reserve_mb`: recording stops, the reports keep the rest); `full` (the store refuses writes: they
    wait in memory and are retried). Published at 1 Hz and on every change."""

    data_dir: str
    state: str
    free_mb: float
    reserve_mb: float
    #: writes the store refused so far, and those still waiting
    store_errors: int
    store_pending: int
    #: why it is not `ok`, e.g. "OperationalError: database or disk is full"
    detail: str = ""


class VehicleStatus(Message, frozen=True):
    """The link to the vehicle and what went wrong on it. Published at 1 Hz and on every change."""

    uri: str
    #: a `LinkState`: CLOSED, CONNECTING, CONNECTED or REFUSED
    link: str
    #: why it is not CONNECTED (empty when it is)
    detail: str
    #: the handshake completed at least once in this run
    connected_once: bool
    handshakes: int
    link_drops: int
    retries: int
    unanswered: int
    clamped: int
    #: refused commands, by the vehicle's reason
    refusals: dict[str, int]
    #: the newest refusal, e.g. "set_speed seq 41: NO_SESSION"
    last_refusal: str = ""
    max_speed_mps: float | None = None
    heartbeat_timeout_s: float | None = None
    #: times the vehicle left the driver's control unasked (a MAVLink vehicle's failsafe, its crew), and the latest
    failsafes: int = 0
    last_failsafe: str = ""
    #: why the latest connected link was lost (it may have come back since)
    last_link_drop: str = ""
    #: what the driver found wrong with the vehicle's set-up (an autopilot failsafe parameter that is off)
    warnings: tuple[str, ...] = ()


class ProcessHeartbeat(Message, frozen=True):
    """A process is alive; `stats` are its counters, which the run summary adds up."""

    process: str
    pid: int
    ready: bool
    stats: dict[str, float] = {}


class ProcessState(msgspec.Struct, frozen=True):
    """One chain process as the supervisor sees it."""

    name: str
    alive: bool
    ready: bool
    restarts: int
    #: why it is down (empty while it runs)
    detail: str = ""


class ChainStatus(Message, frozen=True):
    """The supervisor's view of the chain: run state and each process. Published at 1 Hz."""

    state: str
    processes: tuple[ProcessState, ...]


class RunControl(Message, frozen=True):
    """From the supervisor: `starting` (wait), `running` (go), `stopping` (stop the vehicle, finish)."""

    state: str


#: the consumer entry meaning every chain process
EVERY_PROCESS = "*"
#: a topic with no nominal rate is judged stale after this long (per-event topics)
EVENT_STALE_S = 5.0
#: a topic is stale when its data is older than this many nominal periods
STALE_PERIODS = 3


@dataclass(frozen=True)
class Topic:
    """One row of the topic table."""

    name: str
    type: type
    #: nominal messages per second; None: per event
    rate_hz: float | None
    producer: str
    #: chain processes that subscribe (tools such as benchmarks may subscribe to anything over tcp)
    consumers: tuple[str, ...]
    #: True when raw pixels follow the message in a second multipart part
    carries_pixels: bool = False
    #: the field saying when the data was true (freshness is judged by it), e.g. a frame's capture time
    time_field: str = "t_mono_ns"
    #: carried over PUB/SUB, so any listed consumer (the recorder among them) can hear it; False for the
    #: heartbeats' PUSH/PULL, which only their one consumer reads
    pubsub: bool = True

    @property
    def stale_after_s(self) -> float:
        return STALE_PERIODS / self.rate_hz if self.rate_hz else EVENT_STALE_S


#: the recorder process: a consumer of every PUB/SUB topic (gridscout.edge.daemons.recorderd)
REC = "recorder"

# The topic table, in the spirit of openpilot's cereal/services.py. Rates are nominal. The runtime holds
# every process to it: publishing a topic it does not produce, or subscribing to one it does not consume,
# stops the process at start-up (`check_publisher`, `check_subscriber`). The recorder consumes every topic it
# can hear; tests/test_recording.py fails when a new topic leaves it out.
TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        # The API process (`api`) follows frames, detections and state for the review page's live view.
        Topic("frames", FrameMeta, 10.0, "camera", ("perception", "reporter", "api", REC), carries_pixels=True),
        Topic("frame_ack", FrameAck, 10.0, "perception", ("camera", REC)),
        Topic("camera_status", CameraStatus, 1.0, "camera", ("supervisor", "api", REC)),
        Topic(
            "detections",
            FrameDetections,
            10.0,
            "perception",
            ("control", "reporter", "api", REC),
            time_field="t_capture_mono_ns",
        ),
        Topic("control_state", ControlState, 20.0, "control", ("api", REC)),
        Topic("vehicle_command", VehicleCommand, 20.0, "control", ("vehicle", REC)),
        Topic(
            "telemetry",
            VehicleTelemetry,
            20.0,
            "vehicle",
            ("control", "reporter", "camera", "api", REC),
            time_field="t_rx_mono_ns",
        ),
        Topic("vehicle_status", VehicleStatus, 1.0, "vehicle", ("supervisor", "api", REC)),
        Topic("command_written", CommandWritten, None, "vehicle", (REC,)),
        Topic("report_event", ReportEvent, None, "reporter", (REC,)),
        Topic("storage_status", StorageStatus, 1.0, "reporter", ("supervisor", "api", REC)),
        Topic("chain_status", ChainStatus, 1.0, "supervisor", ("api", REC)),
        Topic("run_control", RunControl, 2.0, "supervisor", (EVERY_PROCESS,)),
        # Heartbeats go over one PUSH/PULL socket to the supervisor rather than PUB/SUB.
        Topic("heartbeat", ProcessHeartbeat, 2.0, EVERY_PROCESS, ("supervisor",), pubsub=False),
    )
}


class TopicTableError(RuntimeError):
    """A process publishes or subscribes to a topic the table does not give it."""


def check_publisher(process: str, topic: str) -> Topic:
    row = _row(topic)
    if row.producer not in (process, EVERY_PROCESS):
        raise TopicTableError(
            f"{process} may not publish {topic!r}: the topic table (gridscout.edge.runtime.messages) "
            f"says {row.producer} produces it"
        )
    return row


def check_subscriber(process: str, topic: str) -> Topic:
    row = _row(topic)
    if process not in row.consumers and EVERY_PROCESS not in row.consumers:
        consumers = ", ".join(row.consumers) or "no chain process"
        raise TopicTableError(
            f"{process} may not subscribe to {topic!r}: the topic table (gridscout.edge.runtime.messages) "
            f"lists {consumers} as its consumers"
        )
    return row


def _row(topic: str) -> Topic:
    if topic not in TOPICS:
        raise TopicTableError(f"unknown topic {topic!r}; known: {', '.join(TOPICS)}")
    return TOPICS[topic]
