"""`gridscout replay`: perception, control and the reporter re-run on a recording, in lock-step.

The recording is read twice. The first pass takes every bus message but the pixels: the frames' metadata,
the telemetry, the control ticks and what the stages produced then (detections, commands, report writes).
From them comes one timeline on the run's own monotonic clock (every bus message carries `t_mono_ns`):

- each frame at the time the camera published it: perception runs on it (every frame, in order);
- its detections when the run's control first had them: just before its first `control_state` naming
  that frame or a later one (a tick's frame id is the newest detections control had). Timestamps alone
  cannot say this: a detection published a millisecond before a tick may not have reached control by
  then. Detections no control state names come at their recorded publish time, and those of a frame the
  run never detected on (live mode skips frames) at the frame's own time; never before an earlier frame's.
  Control and the reporter take them then;
- each telemetry message at its time: the vehicle, simulated from what it reported (a replay never
  drives a vehicle; its commands go into the new recording only);
- each control tick at the time the run's control ticked (its untriggered `control_state` messages, and
  any command whose state the recording lacks; a recording without them gets ticks at `control.rate_hz`).

The second pass streams the camera images in step with that timeline. The stages are the daemons' own
(`PerceptionStage`, `ControlStage`, `ReporterStage`), on that clock instead of the wall clock, so the same
recording, model and config give the same outputs every time, as fast as the CPU allows (`realtime`:
at the recorded pace, published on the bus over tcp for live tools, `BusEcho`). The recording's run id,
device id and mode are kept, so report ids come out the same as the run's for tracks numbered the same.
What comes out: `replay.mcap` (the same recorder and channels as a run: frames, images, telemetry,
detections and their annotations, control states, commands, report writes), a report store, and
`diff.json`: how the outputs differ from the recorded ones (`replay_diff`, which pairs reports by what they
are, so a renumbered track's report is the same report under another id).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import msgspec
import numpy as np
from tqdm import tqdm

from gridscout.control.mission import Mission
from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.daemons.controld import ControlStage
from gridscout.edge.daemons.perceptiond import PerceptionStage
from gridscout.edge.daemons.reporterd import ReporterStage, report_placer
from gridscout.edge.offline.annotate import draw_boxes, draw_status
from gridscout.edge.offline.detect import VideoOut
from gridscout.edge.offline.replay_diff import Diff, Outputs, Tolerances, diff, dump
from gridscout.edge.recording import foxglove, topics
from gridscout.edge.recording.naming import segments_in
from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.recording.reader import SegmentReader
from gridscout.edge.recording.recorder import CONFIG_KEY, Recorder
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.messages import ControlState, FrameDetections, FrameMeta, VehicleCommand
from gridscout.edge.runtime.settings import flown_mission
from gridscout.edge.runtime.vehicle_kinds import kind_defaults
from gridscout.hardware.camera.base import SourceError

log = logging.getLogger(__name__)

#: in the output folder
MCAP_NAME = "replay.mcap"
DIFF_NAME = "diff.json"
#: marks a folder as a replay's output, which a new replay of the same recording may replace
MARKER_NAME = "replay.json"
#: the bus topics the replay reads back (the rest, such as statuses and heartbeat counters, it does not need)
INPUT_TOPICS = ("frames", "detections", "telemetry", "control_state", "vehicle_command", "report_event")
#: the order of things that happen at the same nanosecond
_TELEMETRY, _FRAME, _DETECTIONS, _TICK = range(4)


class ReplayError(ValueError):
    """The recording cannot be replayed (missing, not MCAP, not GridScout's, empty); one line says why."""


@dataclass
class Recording:
    """The first pass over a recording: everything but the pixels."""

    paths: list[Path]
    metadata: dict[str, str]
    frames: dict[int, FrameMeta]
    detections: dict[int, FrameDetections]
    telemetry: list[VehicleTelemetry]
    #: when the run's control ticked (monotonic ns)
    ticks: list[int]
    #: frame id -> when the run's control first had that frame's detections (its first control state naming it)
    control_had: dict[int, int]
    outputs: Outputs
    images: int
    #: the recorder's wall-minus-monotonic offset (its publish times are t_mono_ns moved onto the wall clock)
    wall_minus_mono_ns: int
    t0_ns: int
    t_end_ns: int
    truncated: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.metadata.get("run_id", "replay")

    @property
    def device_id(self) -> str | None:
        return self.metadata.get("device_id") or None

    @property
    def mode(self) -> str:
        return self.metadata.get("mode", "replay")

    @property
    def config(self) -> dict[str, Any] | None:
        raw = self.metadata.get(CONFIG_KEY)
        return json.loads(raw) if raw else None

    @property
    def duration_s(self) -> float:
        return (self.t_end_ns - self.t0_ns) / 1e9

    @property
    def fps(self) -> float | None:
        metas = sorted(self.frames.values(), key=lambda m: m.frame_id)
        if len(metas) < 2 or metas[-1].t_source_s <= metas[0].t_source_s:
            return None
        return (len(metas) - 1) / (metas[-1].t_source_s - metas[0].t_source_s)

    @property
    def name(self) -> str:
        return self.paths[0].stem if len(self.paths) == 1 else f"{self.paths[0].parent.name}-{self.paths[0].stem}"


def recording_paths(path: str | Path) -> list[Path]:
    """A segment, or a folder's segments (oldest first)."""
    p = Path(path)
    expected = "expected a GridScout recording: an .mcap segment of `gridscout run`, or a folder of them"
    if not p.exists():
        raise ReplayError(f"{p}: not found ({expected})")
    if p.is_dir():
        found = segments_in(p)
        if not found:
            raise ReplayError(f"{p}: no recording segments in this folder ({expected})")
        return found
    return [p]


def load_recording(path: str | Path) -> Recording:
    """Read everything but the pixels; `ReplayError` for what cannot be replayed."""
    paths = recording_paths(path)
    metadata: dict[str, str] = {}
    frames: dict[int, FrameMeta] = {}
    detections: dict[int, FrameDetections] = {}
    telemetry: list[VehicleTelemetry] = []
    states: list[ControlState] = []
    produced: list[tuple[int, Any]] = []
    images = 0
    offset: int | None = None
    t0, t_end = None, None
    truncated = []
    for p in paths:
        reader = SegmentReader(p, topics_wanted=[*INPUT_TOPICS, foxglove.IMAGE_TOPIC], decode=False)
        try:
            for m in reader:
                if m.topic == foxglove.IMAGE_TOPIC:
                    images += 1
                    continue
                msg = topics.decode(m.topic, m.message)
                t_ns = msg.t_mono_ns
                if offset is None and t_ns:
                    offset = m.publish_time_ns - t_ns
                t0 = t_ns if t0 is None else min(t0, t_ns)
                t_end = t_ns if t_end is None else max(t_end, t_ns)
                if m.topic == "frames":
                    frames.setdefault(msg.frame_id, msg)
                elif m.topic == "detections":
                    if msg.frame_id not in detections:
                        detections[msg.frame_id] = msg
                        produced.append((t_ns, msg))
                elif m.topic == "telemetry":
                    telemetry.append(msg)
                elif m.topic == "control_state":
                    states.append(msg)
                else:
                    produced.append((t_ns, msg))
        except SourceError as exc:  # not MCAP at all
            raise ReplayError(
                f"{exc}; expected a GridScout recording (gridscout run writes them to DATA/recordings)"
            ) from None
        except OSError as exc:
            raise ReplayError(f"{p}: cannot be read ({exc})") from exc
        except msgspec.DecodeError as exc:
            raise ReplayError(f"{p}: a bus message does not decode ({exc}); not a recording of this GridScout") from exc
        bus = {c.metadata.get(topics.TOPIC_KEY) for c in reader.channels.values()}
        if "frames" not in bus:
            found = ", ".join(sorted(c.topic for c in reader.channels.values())) or "no channels"
            raise ReplayError(
                f"{p}: not a GridScout recording: expected the /bus/frames and {foxglove.IMAGE_TOPIC} channels "
                f"`gridscout run` writes, found {found}"
            )
        theirs = reader.metadata.get("gridscout", {})
        if metadata.get("run_id") and theirs.get("run_id") and theirs["run_id"] != metadata["run_id"]:
            raise ReplayError(
                f"{path}: holds segments of more than one run ({metadata['run_id'][:8]}, {theirs['run_id'][:8]}, "
                "...); replay one segment, or a folder of one run's segments"
            )
        metadata = {**theirs, **metadata}
        if reader.truncated:
            truncated.append(f"{p.name}: {reader.detail}")
    if not frames:
        raise ReplayError(f"{paths[0]}: no camera frames recorded (nothing to replay)")
    assert t0 is not None and t_end is not None
    states.sort(key=lambda cs: cs.t_mono_ns)
    # A command is stamped with its step's time, as its state is; one after the last state (a segment cut
    # between the two) still says control ticked then.
    last_state = states[-1].t_mono_ns if states else -1
    orphans = {m.t_mono_ns for _, m in produced if isinstance(m, VehicleCommand) and m.t_mono_ns > last_state}
    ticks = sorted({cs.t_mono_ns for cs in states if not cs.triggered} | orphans)
    control_had: dict[int, int] = {}
    newest = -1
    for cs in states:
        if cs.frame_id > newest:
            for fid in range(newest + 1, cs.frame_id + 1):
                control_had.setdefault(fid, cs.t_mono_ns)
            newest = cs.frame_id
    produced.sort(key=lambda item: item[0])
    outputs = Outputs()
    for _, msg in produced:
        outputs.take(msg, t0)
    return Recording(
        paths=paths,
        metadata=metadata,
        frames=frames,
        detections=detections,
        telemetry=telemetry,
        ticks=ticks,
        control_had=control_had,
        outputs=outputs,
        images=images,
        wall_minus_mono_ns=offset or 0,
        t0_ns=t0,
        t_end_ns=t_end,
        truncated=truncated,
    )


class _Image(msgspec.Struct):
    data: bytes = b""


_IMAGE = msgspec.json.Decoder(_Image)


def _images(paths: list[Path]) -> Iterator[tuple[int, bytes]]:
    """(sequence, JPEG) of the camera images, in file order; the sequence is the camera frame id."""
    for p in paths:
        for m in SegmentReader(p, topics_wanted=[foxglove.IMAGE_TOPIC], decode=False):
            yield m.sequence, _IMAGE.decode(m.message).data


def decode_jpeg(jpeg: bytes) -> np.ndarray | None:
    """As the camera HAL's .mcap source decodes it (OpenCV), so `gridscout detect run.mcap` sees the same pixels."""
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) if jpeg else None


@dataclass
class ReplayOptions:
    #: the resolved config (`Config.model_dump()`): perception, control and reporter settings
    config: dict[str, Any]
    #: the model perception runs (ignored with `rerun_perception=False`)
    model: Path
    #: where replay.mcap, diff.json and the reports go (replaced when an earlier replay wrote it)
    out_dir: Path
    #: False: control and the reporter take the recorded detections (no model; exact and fast)
    rerun_perception: bool = True
    #: at the recorded pace rather than as fast as possible
    realtime: bool = False
    #: with `realtime`: publish on the bus over tcp too (`BusEcho`)
    publish: bool = False
    video: Path | None = None
    progress: bool = False
    tolerances: Tolerances = field(default_factory=Tolerances)
    #: where the config came from, for the summary
    config_source: str = "recorded"


@dataclass
class ReplayResult:
    recording: Recording
    options: ReplayOptions
    outputs: Outputs
    diff: Diff
    frames: int = 0
    missing_images: int = 0
    seconds: float = 0.0
    model_name: str = ""
    model_sha256: str = ""

    @property
    def out_dir(self) -> Path:
        return self.options.out_dir

    @property
    def mcap_path(self) -> Path:
        return self.out_dir / MCAP_NAME

    @property
    def diff_path(self) -> Path:
        return self.out_dir / DIFF_NAME

    @property
    def recorded_models(self) -> list[str]:
        return sorted({d.model_sha256 for d in self.recording.detections.values()})

    def header(self) -> dict[str, Any]:
        rec = self.recording
        return {
            "recording": [str(p) for p in rec.paths],
            "run_id": rec.run_id,
            "device_id": rec.device_id,
            "mode": rec.mode,
            "recorded_s": round(rec.duration_s, 3),
            "frames": self.frames,
            "missing_images": self.missing_images,
            "truncated": rec.truncated,
            "replay_s": round(self.seconds, 3),
            "perception": "rerun" if self.options.rerun_perception else "recorded detections",
            "model": {"path": str(self.options.model), "name": self.model_name, "sha256": self.model_sha256,
                      "recorded_sha256": self.recorded_models},
            "config": self.options.config_source,
            "realtime": self.options.realtime,
        }  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {**self.header(), "diff": self.diff.to_json()}

    def format(self) -> str:
        rec = self.recording
        fps = self.frames / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"replay     {', '.join(p.name for p in rec.paths)}: run {rec.run_id[:8]} ({rec.mode} mode), "
            f"{self.frames} frames, {rec.duration_s:.1f} s recorded; replayed in {self.seconds:.1f} s "
            f"({fps:.1f} frames/s)" + (", at the recorded pace" if self.options.realtime else ""),
        ]
        if self.options.rerun_perception:
            same = self.recorded_models == [self.model_sha256]
            was = "the recorded model" if same else f"recorded: {', '.join(s[:12] for s in self.recorded_models)}"
            lines.append(f"model      {self.model_name} ({self.model_sha256[:12]}; {was})")
        else:
            lines.append("model      none: control and the reporter took the recorded detections")
        lines.append(f"config     {self.options.config_source}")
        if self.missing_images:
            lines.append(f"images     {self.missing_images} frames had no image in the recording (not replayed)")
        for note in rec.truncated:
            lines.append(f"truncated  {note} (read up to its last complete chunk)")
        lines.append(self.diff.format())
        verdict = "the same as recorded" if self.diff.identical else f"CHANGED: {', '.join(self.diff.changed_stages())}"
        lines.append(f"outputs    {verdict}")
        lines.append(f"recording  {self.mcap_path}")
        lines.append(f"diff       {self.diff_path}")
        lines.append(f"reports    {self.out_dir} (gridscout reports list --data {self.out_dir})")
        if self.options.video:
            lines.append(f"video      {self.options.video}")
        return "\n".join(lines)


def prepare_out_dir(out_dir: Path) -> None:
    """An empty folder for the replay's output; an earlier replay's output there is replaced, anything else kept."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER_NAME).exists():
            raise ReplayError(f"{out_dir}: exists and was not written by gridscout replay; choose another --data")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def _settings(config: dict[str, Any]) -> RecorderSettings:
    """The recorder's settings for a replay: one segment, written as fast as it goes (no fsync)."""
    rec = config.get("recorder", {})
    return RecorderSettings(
        segment_max_s=float("inf"),
        segment_max_mb=1e9,
        chunk_max_s=float("inf"),
        chunk_max_kb=float(rec.get("chunk_max_kb", 1024.0)),
        fsync=False,
        jpeg_quality=int(rec.get("jpeg_quality", 80)),
        max_total_mb=1e9,
        reserve_mb=0.0,  # a replay's output is the engineer's to keep; no reports compete for the disk
    )


class _Timeline:
    """The replay's clock: the recorded time being replayed, on the recording's monotonic and wall clocks."""

    def __init__(self, rec: Recording) -> None:
        self.mono_ns = rec.t0_ns
        self.offset = rec.wall_minus_mono_ns

    def wall_ns(self) -> int:
        return self.mono_ns + self.offset


class BusEcho:
    """`--realtime`: what the replay takes in and puts out, published on the bus over tcp as a running chain
    would (`bus.tcp_host`, `bus.tcp_base_port` + the topic's index), for live tools to watch. Messages keep
    their recorded times. Every socket is bound before the replay starts, so a busy port is said at once."""

    TOPICS = ("frames", "telemetry", "detections", "control_state", "vehicle_command", "report_event")

    def __init__(self, bus: dict[str, Any]) -> None:
        import zmq

        from gridscout.edge.runtime.bus import Endpoints, Publisher

        self.ctx = zmq.Context()
        self.endpoints = Endpoints("tcp", tcp_host=bus["tcp_host"], tcp_base_port=bus["tcp_base_port"])
        self.publishers: dict[str, Publisher] = {}
        try:
            for topic in self.TOPICS:
                self.publishers[topic] = Publisher(self.ctx, self.endpoints, topic, hwm=1000)
        except zmq.ZMQError as exc:
            self.close()
            raise ReplayError(
                f"cannot publish the replay on {self.endpoints.of(topic)} ({exc}); is a chain running with "
                "bus.transport = 'tcp'? Set another bus.tcp_base_port with --config"
            ) from exc

    def publish(self, topic: str, msg: Any, pixels: np.ndarray | None) -> None:
        pub = self.publishers.get(topic)
        if pub is None:
            return
        if topic == "frames":
            if pixels is not None:
                pub.publish_frame(msg, pixels)
        else:
            pub.publish(msg)

    def close(self) -> None:
        for pub in self.publishers.values():
            pub.close()
        self.ctx.destroy(linger=200)


def _events(rec: Recording, rerun: bool, rate_hz: float) -> list[tuple[int, int, int, str, Any]]:
    events: list[tuple[int, int, int, str, Any]] = []
    for i, tel in enumerate(rec.telemetry):
        events.append((tel.t_mono_ns, _TELEMETRY, i, "telemetry", tel))
    for fid, meta in rec.frames.items():
        events.append((meta.t_mono_ns, _FRAME, fid, "frame", meta))
    # the frames whose detections control and the reporter take (recorded ones too when the recording
    # missed their frame), in frame order, each no earlier than the one before
    delivered = sorted(set(rec.frames) | set(rec.detections)) if rerun else sorted(rec.detections)
    previous = 0
    for fid in delivered:
        meta, recorded = rec.frames.get(fid), rec.detections.get(fid)
        if rerun and meta is None:
            continue
        at = rec.control_had.get(fid) if recorded is not None else None
        if at is None:
            at = recorded.t_mono_ns if recorded is not None else meta.t_mono_ns  # type: ignore[union-attr]
        at = max(at, meta.t_mono_ns if meta is not None else 0, previous)
        previous = at
        events.append((at, _DETECTIONS, fid, "detections", fid))
    if rec.ticks:
        events += [(t, _TICK, i, "tick", None) for i, t in enumerate(rec.ticks)]
    else:  # no control in the recording: tick at the configured rate from the first frame
        start = min(m.t_mono_ns for m in rec.frames.values())
        period = round(1e9 / rate_hz)
        events += [(t, _TICK, i, "tick", None) for i, t in enumerate(range(start, rec.t_end_ns + 1, period))]
    events.sort(key=lambda e: e[:3])
    return events


def _crops_per_frame(cfg: dict, mode: str) -> int:
    """The stage-two crop budget the recorded run's perception had: a live run's `live_crops_per_frame`, none
    for a replay-mode run (`gridscout replay` reads a recording older than the key as 0: none)."""
    return int(cfg["perception"]["live_crops_per_frame"]) if mode == "live" else 0


def _flown_mission(cfg: dict) -> Mission | None:
    """The mission the run's vehicle flew (None for a crawler, or a run without one), so control replays with
    the same path, limits and geofence. A mission file missing on this machine is an error naming it: control
    without it would replay different commands."""
    uri, section = (cfg.get("vehicle") or {}).get("uri"), cfg.get("mission") or {}
    mission_file = section.get("file")
    if mission_file and kind_defaults(uri).flies_mission and not Path(mission_file).is_file():
        raise ReplayError(f"the recorded run flew the mission {mission_file}, which is not on this machine")
    return flown_mission(uri, section)


def run_replay(
    rec: Recording,
    options: ReplayOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayResult:
    """Replay `rec` under `options`; writes the output folder and returns the outputs and their diff."""
    cfg = options.config
    replay_mode = rec.mode == "replay"
    out_dir = options.out_dir
    model = None
    if options.rerun_perception:  # first: a bad model must not cost an earlier replay's output
        from gridscout.perception.model_loader import load_model

        p = cfg["perception"]
        model = load_model(options.model, threads=p["threads"] or None, provider=p["provider"], conf=p["conf"])
    prepare_out_dir(out_dir)
    (out_dir / MARKER_NAME).write_text(json.dumps({"recording": [str(p) for p in rec.paths]}) + "\n")
    timeline = _Timeline(rec)
    segments = out_dir / ".segments"
    recorder = Recorder(
        segments,
        _settings(cfg),
        run_id=rec.run_id,
        metadata={
            "device_id": rec.device_id or "",
            "source": rec.metadata.get("source", ""),
            "model": str(options.model) if model is not None else rec.metadata.get("model", ""),
            "mode": rec.mode,
            "replay_of": ",".join(p.name for p in rec.paths),
            CONFIG_KEY: json.dumps(cfg, sort_keys=True, separators=(",", ":")),
        },
        wall_ns=timeline.wall_ns,
        mono_ns=lambda: timeline.mono_ns,
    )
    new = Outputs()
    echo = BusEcho(cfg["bus"]) if options.realtime and options.publish else None

    def emit(topic: str, msg: Any, image: Any = None, pixels: np.ndarray | None = None) -> None:
        recorder.record(topic, msg, image)
        new.take(msg, rec.t0_ns)
        if echo is not None:
            echo.publish(topic, msg, pixels)

    store = ReportStore(out_dir, device_id=rec.device_id)
    reporter = ReporterStage(
        cfg["reporter"],
        store,
        run_id=rec.run_id,
        replay=replay_mode,
        emit=lambda ev: emit("report_event", ev),
        placer=report_placer(cfg, mission_may_be_gone=True),
    )
    vehicle_uri = (cfg.get("vehicle") or {}).get("uri")
    control = ControlStage(
        cfg["control"], replay=replay_mode, vehicle_uri=vehicle_uri, mission=_flown_mission(cfg), camera=cfg["geotag"]
    )
    perception = (
        PerceptionStage(model, frame_rate=cfg["camera"]["fps"] or 10.0, crops_per_frame=_crops_per_frame(cfg, rec.mode))
        if model is not None
        else None
    )
    video = VideoOut(options.video, rec.fps or cfg["camera"]["fps"] or 10.0) if options.video else None
    events = _events(rec, options.rerun_perception, cfg["control"]["rate_hz"])
    delivery = {fid: t for t, kind, fid, _, _ in events if kind == _DETECTIONS}
    images = _images(rec.paths)
    pending_image: tuple[int, bytes] | None = None
    ready: dict[int, tuple[FrameDetections | None, np.ndarray | None]] = {}
    last_command = None
    result = ReplayResult(rec, options, new, diff(rec.outputs, new, options.tolerances))
    if model is not None:
        result.model_name, result.model_sha256 = model.name, perception.sha  # type: ignore[union-attr]
    bar = tqdm(total=len(rec.frames), unit="frame", disable=not options.progress, leave=False, dynamic_ncols=True)
    started = clock()

    def image_of(fid: int) -> bytes | None:
        nonlocal pending_image
        while pending_image is None or pending_image[0] < fid:
            pending_image = next(images, None)
            if pending_image is None:
                return None
        if pending_image[0] == fid:
            jpeg, pending_image = pending_image[1], None
            return jpeg
        return None

    def step(triggered_by: FrameDetections | None = None) -> None:
        nonlocal last_command
        command, state = control.step(timeline.mono_ns, triggered_by=triggered_by)
        if command is not None:
            emit("vehicle_command", command)
            last_command = command
        emit("control_state", state)

    try:
        for t_ns, _, fid, kind, payload in events:
            if options.realtime:
                wait = (t_ns - rec.t0_ns) / 1e9 - (clock() - started)
                if wait > 0:
                    sleep(wait)
            timeline.mono_ns = max(timeline.mono_ns, t_ns)
            if kind == "telemetry":
                control.take(payload)
                reporter.take_telemetry(payload)
                emit("telemetry", payload)
            elif kind == "frame":
                jpeg = image_of(fid)
                pixels = decode_jpeg(jpeg) if jpeg is not None else None
                emit("frames", payload, jpeg, pixels)
                bar.update(1)
                if pixels is None:
                    result.missing_images += 1
                    continue
                result.frames += 1
                reporter.take_frame(payload, pixels)
                if perception is not None:
                    ready[fid] = (perception.step(payload, pixels, t_mono_ns=delivery[fid]), pixels)
                elif video is not None:
                    ready[fid] = (None, pixels)
            elif kind == "detections":
                det, pixels = ready.pop(fid, (None, None))
                while ready and next(iter(ready)) < fid:  # frames no detections came for (in frame order)
                    del ready[next(iter(ready))]
                det = det if perception is not None else rec.detections.get(fid)
                if det is None:
                    continue
                emit("detections", det)
                if control.take(det) and not replay_mode:
                    step(triggered_by=det)
                reporter.on_detections(det, timeline.mono_ns)
                if video is not None and pixels is not None:
                    video.write(_annotated(pixels, det, control, last_command))
            elif kind == "tick":
                step()
        reporter.close_all(timeline.mono_ns)
    finally:
        bar.close()
        result.seconds = clock() - started
        store.close()
        recorder.close()
        if video is not None:
            video.close()
        if echo is not None:
            echo.close()
    if recorder.stats["errors"]:
        raise OSError(f"{out_dir}: writing the replay's recording failed: {recorder.last_error}")
    (written,) = recorder.finished
    written.replace(result.mcap_path)
    shutil.rmtree(segments, ignore_errors=True)
    result.diff = diff(rec.outputs, new, options.tolerances)
    result.diff_path.write_text(dump(result.to_json()))
    (out_dir / MARKER_NAME).write_text(dump(result.header()))
    return result


def _annotated(pixels: np.ndarray, det: FrameDetections, control: ControlStage, command: Any) -> np.ndarray:
    """The frame with its boxes and track ids, the vehicle's state and speed, and what control last commanded."""
    image = draw_boxes(pixels, (((b.x1, b.y1, b.x2, b.y2), b.score, b.class_name, b.track_id) for b in det.boxes))
    t = control.telemetry
    if t is None:
        vehicle = "vehicle: no telemetry"
    else:
        speed = f"{t.speed_mps:.2f} m/s" if t.speed_mps is not None else "speed ?"
        where = f" at {t.position_m:.1f} m" if t.position_m is not None else ""
        vehicle = f"vehicle: {t.state} {speed}{where}"
    mode = str(control.intent.mode) if control.intent is not None else "-"
    commanded = "STOP" if command is not None and command.stop else "nothing yet"
    if command is not None and not command.stop:
        commanded = f"{command.speed_mps:.2f} m/s"
    lines = [f"frame {det.frame_id}  t {det.t_source_s:.1f} s", vehicle, f"control: {mode}, commanded {commanded}"]
    return draw_status(image, lines)
