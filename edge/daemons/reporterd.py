"""The reporter process: defect tracks in, reports (with evidence JPEGs) out, into the SQLite store.

A defect track becomes a report once seen on `min_hits` frames. It is written again when its
confidence beats the best by `confidence_step` (with the new frame as evidence), at most every
`update_interval_s` to move last-seen along, and once more when the track is lost. Time here is
the footage's clock in replay (deterministic) and the monotonic clock live.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import simplejpeg

from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.reports.store import ReportObservation, ReportStore
from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.messages import DetectionBox, FrameDetections, FrameMeta, ReportEvent

#: frames kept for evidence, newest last (frames arrive just before their detections)
FRAME_RING = 32
#: a report takes the vehicle's position from telemetry no older than this (0.5 m at cruise speed)
POSITION_MAX_AGE_S = 1.0


@dataclass
class TrackState:
    key: str
    hits: int = 0
    best_written: float = -1.0
    last_seen_s: float = 0.0
    last_written_s: float | None = None
    unwritten_sighting: bool = False
    last_box: DetectionBox | None = None
    last_detections: FrameDetections | None = None


class Reporter:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cfg = rt.config.reporter
        self.replay = rt.mode == "replay"
        self.store = ReportStore(rt.spec.data_dir, device_id=rt.spec.device_id)
        self.inputs = rt.submaster(["frames", "detections", "telemetry"], hwm=1000 if self.replay else 50)
        self.events = rt.publisher("report_event")
        self.frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self.tracks: dict[str, TrackState] = {}
        self.stats: dict[str, float] = dict.fromkeys(
            ("reports_created", "reports_updated", "evidence_written", "last_frame_id", "missing_evidence_frames"), 0.0
        )
        self.stats["last_frame_id"] = -1

    def now_s(self, det: FrameDetections) -> float:
        return det.t_source_s if self.replay else time.monotonic()

    def take(self, topic: str, msg: object, image: np.ndarray | None) -> None:
        if isinstance(msg, FrameMeta) and image is not None:
            self.frames[msg.frame_id] = image
            while len(self.frames) > FRAME_RING:
                self.frames.popitem(last=False)
        elif isinstance(msg, FrameDetections):
            self.on_detections(msg)

    def on_detections(self, det: FrameDetections) -> None:
        if det.frame_id <= self.stats["last_frame_id"] and self.replay:
            return  # a resent frame we already handled
        now = self.now_s(det)
        for box in det.boxes:
            if not box.is_defect or box.track_id < 0:
                continue
            key = f"{self.rt.spec.run_id}:{det.epoch}:{box.class_name}:{box.track_id}"
            st = self.tracks.setdefault(key, TrackState(key))
            st.hits += 1
            st.last_seen_s, st.last_box, st.last_detections = now, box, det
            st.unwritten_sighting = True
            if st.hits < self.cfg.min_hits:
                continue
            better = box.score >= st.best_written + self.cfg.confidence_step
            due = st.last_written_s is None or now - st.last_written_s >= self.cfg.update_interval_s
            if better or due:
                self.write(st, det, box, with_evidence=better)
        self.close_lost(now)
        self.stats["last_frame_id"] = det.frame_id

    def close_lost(self, now: float) -> None:
        for key, st in list(self.tracks.items()):
            if now - st.last_seen_s < self.cfg.track_lost_s:
                continue
            if st.last_written_s is not None and st.unwritten_sighting and st.last_detections and st.last_box:
                self.write(st, st.last_detections, st.last_box, with_evidence=False)
            del self.tracks[key]

    def close_all(self) -> None:
        self.close_lost(float("inf"))

    def write(self, st: TrackState, det: FrameDetections, box: DetectionBox, *, with_evidence: bool) -> None:
        jpeg = None
        if with_evidence:
            image = self.frames.get(det.frame_id)
            if image is None:
                self.stats["missing_evidence_frames"] += 1
            else:
                # simplejpeg (libjpeg-turbo): this process needs no OpenCV, ~30 MB of RSS
                jpeg = simplejpeg.encode_jpeg(image, quality=self.cfg.jpeg_quality, colorspace="BGR")
        t: VehicleTelemetry | None = self.inputs["telemetry"]
        fresh = self.inputs.fresh("telemetry", POSITION_MAX_AGE_S)
        report = self.store.write(
            ReportObservation(
                track_key=st.key,
                class_name=box.class_name,
                confidence=box.score,
                t_wall_ns=det.t_capture_wall_ns,
                frame_id=det.frame_id,
                model_name=det.model_name,
                model_sha256=det.model_sha256,
                position_m=t.position_m if t and fresh else None,
                lat=t.lat_deg if t and fresh else None,
                lon=t.lon_deg if t and fresh else None,
                alt=t.alt_m if t and fresh else None,
                evidence_jpeg=jpeg,
                evidence_box_xyxy=(box.x1, box.y1, box.x2, box.y2) if jpeg else None,
            )
        )
        created = st.last_written_s is None
        st.last_written_s = self.now_s(det)
        st.unwritten_sighting = False
        if jpeg is not None:
            st.best_written = box.score
            self.stats["evidence_written"] += 1
        self.stats["reports_created" if created else "reports_updated"] += 1
        self.events.publish(
            ReportEvent(
                t_mono_ns=time.monotonic_ns(),
                frame_id=det.frame_id,
                report_id=report.id,
                seq=report.seq,
                class_name=report.class_name,
                confidence=report.confidence,
                created=created,
            )
        )

    def run(self) -> int:
        if not self.rt.wait_until_running(self.stats):
            return 0
        try:
            while not self.rt.should_stop:
                for r in self.inputs.update(0.1):
                    self.take(r.topic, r.msg, r.image)
                self.rt.heartbeat.beat(stats=self.stats)
                self.rt.poll()
            for r in self.inputs.update(0.0):  # what was already in flight when we were told to stop
                self.take(r.topic, r.msg, r.image)
            self.close_all()
        finally:
            self.rt.heartbeat.beat(stats=self.stats, force=True)
            self.store.close()
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_daemon("reporter", lambda rt: Reporter(rt).run(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
