"""The camera process: reads the source and publishes frames; reconnects a stalled camera with backoff.

live: file sources are paced at their frame rate and frames go out as they come; a consumer
that falls behind gets the newest (PUB drops, the consumer drains). replay: every frame, as fast
as perception takes them, with at most `REPLAY_WINDOW` frames in flight (credit from `frame_ack`).

A source that follows the vehicle (`synthetic://demo?follow=vehicle`: frames rendered from where the drone
is) gets the vehicle's latest position and yaw from `telemetry`, through a SubMaster; until telemetry has a
position the camera publishes nothing and says `waiting` on `camera_status`.

A restarted camera resumes where the last one left off: the frame to resume from is kept in the run
directory (`RESUME_FILE`), as the oldest frame not yet acknowledged in replay and the next frame to
publish live, so frame ids run on and a replay processes every frame exactly once.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.messages import TOPICS, CameraStatus, FrameAck, FrameMeta
from gridscout.edge.runtime.submaster import SubMaster
from gridscout.hardware.camera import (
    CameraStalled,
    FrameSource,
    LiveCapture,
    SourceError,
    VideoFile,
    open_source,
)
from gridscout.hardware.frame import VehiclePose
from gridscout.hardware.secrets import redact_uri

#: frames published ahead of the acknowledgements (replay)
REPLAY_WINDOW = 2
#: resend the unacknowledged frames after this long (perception may have restarted)
REPLAY_RESEND_S = 2.0
#: in the run directory: the frame id a restarted camera starts from
RESUME_FILE = "camera.resume.json"
STATUS_PERIOD_S = 1.0 / TOPICS["camera_status"].rate_hz


def vehicle_pose(t: VehicleTelemetry | None) -> VehiclePose | None:
    """The vehicle's pose in telemetry (yaw: its attitude's, else its heading), or None without a position
    and an altitude."""
    if t is None or t.lat_deg is None or t.lon_deg is None or (t.alt_m is None and t.alt_rel_m is None):
        return None
    yaw = t.yaw_deg if t.yaw_deg is not None else t.heading_deg
    return VehiclePose(t.lat_deg, t.lon_deg, t.alt_m, t.alt_rel_m, yaw)


def read_resume(run_dir: Path) -> int:
    try:
        return int(json.loads((run_dir / RESUME_FILE).read_text())["next_frame_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def write_resume(run_dir: Path, next_frame_id: int) -> None:
    """Atomically: a camera killed mid-write leaves the previous value, never half a file."""
    path = run_dir / RESUME_FILE
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"next_frame_id": next_frame_id}))
    os.replace(temporary, path)


class Camera:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.replay = rt.mode == "replay"
        self.frames_pub = rt.publisher("frames", hwm=1000 if self.replay else 2)
        self.status_pub = rt.publisher("camera_status")
        self.acks = rt.submaster(["frame_ack"], hwm=1000) if self.replay else None
        self.resume_from = read_resume(rt.spec_dir)
        #: the next frame id to publish; frame ids run on across restarts
        self.next_id = self.resume_from
        self.published = 0
        self.reconnects = 0
        self.state = "starting"
        self.detail = ""
        self._last_status = 0.0
        self._published_state = ""
        self._acked = self.resume_from - 1
        self._in_flight: list[tuple[FrameMeta, object]] = []
        self.source: FrameSource | None = None
        #: telemetry, for a source that follows the vehicle (made when one is opened)
        self.telemetry: SubMaster | None = None
        self._vehicle: VehiclePose | None = None
        if self.resume_from:
            rt.log.info("resuming at frame %d", self.resume_from)

    def stats(self, source: FrameSource | None = None) -> dict[str, float]:
        source = source or self.source
        return {
            "frames": self.next_id,
            "published": self.published,
            "resumed_at": self.resume_from,
            "dropped_frames": getattr(source, "dropped_frames", 0),
            "corrupt_frames": source.corrupt_frames if source else 0,
            "missing_frames": source.missing_frames if source else 0,
            "reconnects": self.reconnects,
            "acked": self._acked,
            "ended": float(self.state == "ended"),
        }

    def publish_status(self, source: FrameSource | None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self.state == self._published_state and now - self._last_status < STATUS_PERIOD_S:
            return
        self._last_status, self._published_state = now, self.state
        s = self.stats(source)
        self.status_pub.publish(
            CameraStatus(
                t_mono_ns=time.monotonic_ns(),
                frame_id=self.next_id - 1,
                state=self.state,
                source=redact_uri(self.rt.spec.source),
                frames=self.next_id,
                dropped_frames=int(s["dropped_frames"]),
                corrupt_frames=int(s["corrupt_frames"]),
                reconnects=self.reconnects,
                detail=self.detail,
            )
        )
        self.rt.heartbeat.beat(stats=s, force=force)

    def open(self) -> FrameSource:
        cfg = self.rt.config.camera
        uri = self.rt.spec.source
        http = uri.startswith(("http://", "https://"))
        if http and self.replay and not cfg.live_source:  # --mode replay: every frame of it, lock-step
            return VideoFile(uri, fps=cfg.fps)
        if cfg.live_source or http or uri.startswith("rtsp") or uri.isdigit() or uri.startswith("/dev/video"):
            return LiveCapture(uri, stall_timeout_s=cfg.stall_timeout_s, fps=cfg.fps)
        source = open_source(uri, realtime=self.rt.mode == "live", fps=cfg.fps, max_image_pixels=cfg.max_image_pixels)
        if source.follows_vehicle:
            if self.telemetry is None:
                self.telemetry = self.rt.submaster(["telemetry"])
            source.follow_vehicle(self.vehicle_pose)
        return source

    def vehicle_pose(self) -> VehiclePose | None:
        """The vehicle's latest known pose (None until telemetry has given one): what a following source renders
        from. A report without a position keeps the last one rather than none."""
        assert self.telemetry is not None
        self.telemetry.update(0.0)
        self._vehicle = vehicle_pose(self.telemetry["telemetry"]) or self._vehicle
        return self._vehicle

    def _wait_for_vehicle(self, source: FrameSource) -> None:
        """A following source renders nothing before the vehicle's pose is known: wait for it, heartbeating."""
        if not source.follows_vehicle or self.vehicle_pose() is not None:
            return
        self.state, self.detail = "waiting", "waiting for the vehicle's position on telemetry to render from"
        self.rt.log.info("%s: %s", redact_uri(self.rt.spec.source), self.detail)
        while not self.rt.should_stop and self.vehicle_pose() is None:
            self.publish_status(source)
            self.rt.poll()
            time.sleep(0.05)
        self.detail = ""

    def _take_acks(self) -> None:
        for received in self.acks.update(0.01):
            if isinstance(received.msg, FrameAck) and received.msg.frame_id > self._acked:
                self._acked = received.msg.frame_id
                write_resume(self.rt.spec_dir, self._acked + 1)

    def _wait_for_credit(self, frame_id: int) -> bool:
        """Replay: block until fewer than REPLAY_WINDOW frames before `frame_id` are unacknowledged."""
        last_progress, acked = time.monotonic(), self._acked
        while frame_id - self._acked > REPLAY_WINDOW:
            self._take_acks()
            if self._acked != acked:
                last_progress, acked = time.monotonic(), self._acked
            self.rt.poll()
            if self.rt.should_stop:
                return False
            self.rt.heartbeat.beat(stats=self.stats())
            if time.monotonic() - last_progress > REPLAY_RESEND_S:
                self.rt.log.warning("frame %d not acknowledged in %.0f s; resending", self._acked + 1, REPLAY_RESEND_S)
                self._resend_unacked()
                last_progress = time.monotonic()
        return True

    def _resend_unacked(self) -> None:
        for meta, image in self._in_flight:
            if meta.frame_id > self._acked:
                self.frames_pub.publish_frame(meta, image)

    def _meta(self, frame, source: FrameSource, t0_ns: int) -> FrameMeta:
        live = source.is_live
        frame_id = self.next_id if live else frame.frame_id
        t_source_s = (frame.t_capture_mono_ns - t0_ns) / 1e9 if live or not source.fps else frame.frame_id / source.fps
        return FrameMeta.of(frame, frame_id=frame_id, t_source_s=t_source_s)

    def run(self) -> int:
        try:
            source = self.source = self.open()
        except SourceError as exc:
            self.state, self.detail = "failed", str(exc)
            self.rt.log.error("%s", exc)
            self.publish_status(None, force=True)
            return 2
        if not self.rt.wait_until_running(self.stats(source)):
            source.close()
            return 0
        backoff = self.rt.config.camera.reconnect_initial_s
        t0_ns: int | None = None
        try:
            while not self.rt.should_stop:
                self._wait_for_vehicle(source)
                self.state = "streaming"
                try:
                    for frame in source.iter_from(self.next_id):
                        t0_ns = frame.t_capture_mono_ns if t0_ns is None else t0_ns
                        meta = self._meta(frame, source, t0_ns)
                        if self.replay:
                            self._in_flight = [*self._in_flight[-REPLAY_WINDOW:], (meta, frame.image)]
                            if not self._wait_for_credit(meta.frame_id):
                                break
                        self.frames_pub.publish_frame(meta, frame.image)
                        self.next_id, self.published = meta.frame_id + 1, self.published + 1
                        if not self.replay:
                            write_resume(self.rt.spec_dir, self.next_id)
                        backoff = self.rt.config.camera.reconnect_initial_s
                        self.publish_status(source)
                        self.rt.poll()
                        if self.rt.should_stop:
                            break
                    else:
                        if not source.is_live:
                            return self._finish(source)
                except CameraStalled as exc:
                    self.state, self.detail = "stalled", str(exc)
                    self.rt.log.warning("%s", exc)
                    self.publish_status(source, force=True)
                    source = self.source = self._reconnect(source, backoff)
                    backoff = min(backoff * 2, self.rt.config.camera.reconnect_max_s)
            return 0
        finally:
            self.rt.heartbeat.beat(stats=self.stats(), force=True)
            source.close()

    def _reconnect(self, source: FrameSource, wait_s: float) -> FrameSource:
        """Wait (heartbeating), then reopen; stay `reconnecting` until it works or we are told to stop."""
        self.state = "reconnecting"
        while not self.rt.should_stop:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and not self.rt.should_stop:
                self.rt.poll()
                self.publish_status(source)
                time.sleep(0.05)
            self.reconnects += 1
            try:
                if isinstance(source, LiveCapture):
                    source.reopen()
                    return source
                source.close()
                return self.open()
            except SourceError as exc:
                self.detail = str(exc)
                self.rt.log.warning("reconnect %d failed: %s", self.reconnects, exc)
                wait_s = min(wait_s * 2, self.rt.config.camera.reconnect_max_s)
        return source

    def _finish(self, source: FrameSource) -> int:
        """End of a file: in replay wait until the last frame is acknowledged, then say `ended`."""
        if self.replay:
            self._wait_for_credit(self.next_id - 1 + REPLAY_WINDOW)
        self.state = "ended"
        self.rt.log.info("end of %s after %d frames", redact_uri(self.rt.spec.source), self.next_id)
        if source.shortfall:
            self.detail = source.shortfall
            self.rt.log.error("%s", source.shortfall)
        for _ in range(3):  # a status can be missed by a slow subscriber; say it a few times
            self.publish_status(source, force=True)
            time.sleep(0.05)
        while not self.rt.should_stop:  # stay up (heartbeating) until the supervisor winds down
            self.rt.poll()
            self.publish_status(source)
            time.sleep(0.05)
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_daemon("camera", lambda rt: Camera(rt).run(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
