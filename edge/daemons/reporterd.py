"""The reporter process: defect tracks in, reports (with evidence JPEGs) out, into the SQLite store.

A defect track becomes a report once seen on `min_hits` frames. It is written again when its
confidence beats the best by `confidence_step` (with the new frame as evidence), at most every
`update_interval_s` to move last-seen along, and once more when the track is lost. Time here is
the footage's clock in replay (deterministic) and the monotonic clock live.

Each write places the defect on the map (`gridscout.edge.geotag.placement`): from the frame's own camera
pose when it has one, else from the vehicle's report nearest the frame's capture (while telemetry is fresh)
with the configured camera mount, or on the mission's line.

`ReporterStage` is that logic on a clock passed in, which `gridscout replay` and `gridscout detect --data` run
on recorded inputs; `Reporter` adds the bus and the store's lifetime.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg

from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.daemons.perception_journal import JOURNAL_FILE, JournalError, read_journal
from gridscout.edge.geotag.placement import ReportPlacer
from gridscout.edge.geotag.settings import geotag_settings
from gridscout.edge.recording.policy import recordings_dir
from gridscout.edge.reports.parent import parent_box
from gridscout.edge.reports.store import ReportObservation, ReportStore, Written, report_id_for
from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.messages import DetectionBox, FrameDetections, FrameMeta, ReportEvent, StorageStatus
from gridscout.edge.runtime.submaster import data_time_s
from gridscout.hardware.frame import CameraPose

#: frames kept for evidence, newest last (frames arrive just before their detections)
FRAME_RING = 32
#: a report takes the vehicle's position from telemetry no older than this (0.5 m at cruise speed)
POSITION_MAX_AGE_S = 1.0
#: telemetry kept to place a report by the vehicle's report nearest its frame's capture, not the newest
#: (3 s at the topic's 20 Hz: a frame reaches the reporter after perception, 0.1 s late or more)
TELEMETRY_RING = 64
#: observations kept while the store refuses writes (a full disk), and how often it is tried again
PENDING_MAX = 1000
STORE_RETRY_S = 1.0
#: how often `storage_status` is published when nothing changed
STORAGE_STATUS_S = 1.0
#: a report caught up on after a restart looks for its evidence frame in the recording this many times, this far
#: apart (the recorder may be restarting too), and once more as the reporter stops
EVIDENCE_TRIES = 3
EVIDENCE_RETRY_S = 5.0

log = logging.getLogger(__name__)


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
    #: its report was written while catching up, its evidence frame gone: the next frame that shows it gives one
    evidence_missing: bool = False


class ReporterStage:
    """Defect tracks in, report writes out: the reporter's whole logic, on a clock passed in.

    `take_frame` keeps frames for evidence (with their camera pose, when the source knows it),
    `take_telemetry` the vehicle's recent reports, and `on_detections(det, now_ns)` decides and writes;
    `now_ns` is the monotonic time the detections are handled at (the clock live, the recorded time in
    `gridscout replay`), which judges the telemetry's age and, live, the tracks' timing. Each write goes to
    the store and then to `emit` as a ReportEvent; `placer` puts it on the map (None: position along the
    line only)."""

    def __init__(
        self,
        cfg: Mapping[str, Any],
        store: ReportStore,
        *,
        run_id: str,
        replay: bool,
        emit: Callable[[ReportEvent], None],
        placer: ReportPlacer | None = None,
    ) -> None:
        self.cfg = cfg
        self.placer = placer
        self.store = store
        self.run_id = run_id
        self.replay = replay
        self.emit = emit
        #: the vehicle's latest reports, newest last
        self.telemetry_ring: deque[VehicleTelemetry] = deque(maxlen=TELEMETRY_RING)
        self.frames: OrderedDict[int, tuple[np.ndarray, CameraPose | None]] = OrderedDict()
        self.tracks: dict[str, TrackState] = {}
        self.stats: dict[str, float] = dict.fromkeys(
            ("reports_created", "reports_updated", "evidence_written", "last_frame_id", "missing_evidence_frames",
             "store_errors", "store_pending"), 0.0,
        )  # fmt: skip
        #: observations the store refused (a full disk), oldest first: retried, in order, until it takes them
        self.pending: deque[ReportObservation] = deque(maxlen=PENDING_MAX)
        self._retry_at_ns = 0
        self.last_store_error = ""
        self.stats["last_frame_id"] = -1
        self._now_ns = 0
        #: while catching up after a restart: what the process before stored (track key -> latest capture, UTC ns)
        self._stored_before: dict[str, int] | None = None
        self.caught_up_to = -1
        #: reports written while catching up whose evidence frame is gone: track key -> the frame and box it wants
        self.evidence_wanted: dict[str, tuple[FrameDetections, DetectionBox]] = {}

    def track_time_s(self, det: FrameDetections) -> float:
        """The tracks' clock: the footage's own in replay (deterministic), the monotonic clock live."""
        return det.t_source_s if self.replay else self._now_ns / 1e9

    def take_frame(self, meta: FrameMeta, image: np.ndarray, pose: CameraPose | None = None) -> None:
        self.frames[meta.frame_id] = (image, pose)
        while len(self.frames) > FRAME_RING:
            self.frames.popitem(last=False)

    @property
    def telemetry(self) -> VehicleTelemetry | None:
        """The vehicle's latest report (None: none yet)."""
        return self.telemetry_ring[-1] if self.telemetry_ring else None

    def take_telemetry(self, msg: VehicleTelemetry) -> None:
        self.telemetry_ring.append(msg)

    def telemetry_at(self, t_capture_mono_ns: int) -> VehicleTelemetry | None:
        """The kept vehicle report whose data time is nearest a frame's capture, within POSITION_MAX_AGE_S of
        it, while the newest is fresh (the vehicle is still reporting); else None."""
        if not self.position_fresh():
            return None
        capture_s = t_capture_mono_ns / 1e9
        best, best_gap = None, POSITION_MAX_AGE_S
        for msg in self.telemetry_ring:
            stamp = data_time_s("telemetry", msg)
            if stamp is not None and abs(stamp - capture_s) <= best_gap:
                best, best_gap = msg, abs(stamp - capture_s)
        return best

    def catch_up(self, journal: Sequence[FrameDetections], stored: Mapping[str, int]) -> int:
        """After a restart: perception's journalled frames, handled as if they had come, on their capture clock. A
        write that the process before stored (`stored`: each track key's latest stored capture time, UTC ns) only
        rebuilds its track; the rest are stored, as an undisturbed run would have, but without evidence (the frames
        are gone): each such track takes the next frame that shows it, or its frame from the recording
        (`evidence_wanted`, `take_recorded_evidence`). The number of writes stored."""
        self._stored_before = dict(stored)
        writes = self.stats["reports_created"] + self.stats["reports_updated"]
        try:
            for det in journal:
                self.on_detections(det, det.t_capture_mono_ns)
        finally:
            self._stored_before = None
        self.caught_up_to = int(self.stats["last_frame_id"])
        return int(self.stats["reports_created"] + self.stats["reports_updated"] - writes)

    def on_detections(self, det: FrameDetections, now_ns: int) -> None:
        if det.frame_id <= self.stats["last_frame_id"] and (self.replay or det.frame_id <= self.caught_up_to):
            return  # a resent frame, or one caught up on from the journal, already handled
        self._now_ns = now_ns
        if self.pending and now_ns >= self._retry_at_ns:
            self.flush_pending()
        now = self.track_time_s(det)
        for box in det.boxes:
            if not box.is_defect or box.track_id < 0:
                continue
            key = f"{self.run_id}:{det.epoch}:{box.class_name}:{box.track_id}"
            st = self.tracks.setdefault(key, TrackState(key))
            st.hits += 1
            st.last_seen_s, st.last_box, st.last_detections = now, box, det
            st.unwritten_sighting = True
            if st.hits < self.cfg["min_hits"]:
                continue
            better = box.score >= st.best_written + self.cfg["confidence_step"]
            due = st.last_written_s is None or now - st.last_written_s >= self.cfg["update_interval_s"]
            if better or due:
                self.write(st, det, box, with_evidence=better)
            if st.evidence_missing and det.frame_id in self.frames:
                self.stand_in_evidence(st, det, box)
        self.close_lost(now)
        self.stats["last_frame_id"] = det.frame_id

    def close_lost(self, now: float) -> None:
        for key, st in list(self.tracks.items()):
            if now - st.last_seen_s < self.cfg["track_lost_s"]:
                continue
            if st.last_written_s is not None and st.unwritten_sighting and st.last_detections and st.last_box:
                self.write(st, st.last_detections, st.last_box, with_evidence=False)
            del self.tracks[key]

    def close_all(self, now_ns: int) -> None:
        self._now_ns = now_ns
        self.close_lost(float("inf"))
        self.flush_pending()

    def flush_pending(self) -> bool:
        """Store what the store refused before, oldest first; True when nothing is left waiting."""
        while self.pending:
            if not self._store(self.pending[0]):
                return False
            self.pending.popleft()
            self.stats["store_pending"] = len(self.pending)
        return True

    def _store(self, obs: ReportObservation) -> Written | None:
        """`obs` into the store; None when it refused (counted, said once a while, retried later)."""
        try:
            return self.store.write(obs)
        except (sqlite3.Error, OSError) as exc:
            self.stats["store_errors"] += 1
            self.last_store_error = f"{type(exc).__name__}: {exc}"
            self._retry_at_ns = self._now_ns + int(STORE_RETRY_S * 1e9)
            if self.stats["store_errors"] <= 3 or self.stats["store_errors"] % 100 == 0:
                log.error("report store refused a write (%d so far, %d waiting): %s", self.stats["store_errors"],
                          len(self.pending) + 1, self.last_store_error)  # fmt: skip
            return None

    def position_fresh(self) -> bool:
        """The telemetry is recent enough to place a report (judged like SubMaster.fresh, on our clock)."""
        stamp = data_time_s("telemetry", self.telemetry)
        return stamp is not None and self._now_ns / 1e9 - stamp <= POSITION_MAX_AGE_S

    def write(self, st: TrackState, det: FrameDetections, box: DetectionBox, *, with_evidence: bool) -> None:
        catching_up = self._stored_before is not None
        if catching_up and det.t_capture_wall_ns <= self._stored_before.get(st.key, -1):
            self._written(st, det, box.score if with_evidence else None)  # stored before the restart
            return
        jpeg = None
        image, frame_pose = self.frames.get(det.frame_id, (None, None))
        if with_evidence:
            if image is not None:
                jpeg = evidence_jpeg(image, self.cfg["jpeg_quality"])
            elif catching_up:
                st.evidence_missing = True
                self.evidence_wanted[st.key] = (det, box)
            else:
                self.stats["missing_evidence_frames"] += 1
        t = self.telemetry_at(det.t_capture_mono_ns)
        xyxy = (box.x1, box.y1, box.x2, box.y2)
        fix = None
        if self.placer is not None:
            fix = self.placer.place(xyxy, det.width, det.height, frame_pose=frame_pose, telemetry=t)
        parent = _parent_of(det, box)
        obs = ReportObservation(
            track_key=st.key,
            class_name=box.class_name,
            confidence=box.score,
            t_wall_ns=det.t_capture_wall_ns,
            frame_id=det.frame_id,
            model_name=det.model_name,
            model_sha256=det.model_sha256,
            position_m=t.position_m if t else None,
            lat=fix.lat if fix else None,
            lon=fix.lon if fix else None,
            alt=fix.alt_m if fix else None,
            error_m=fix.error_m if fix else None,
            evidence_jpeg=jpeg,
            evidence_box_xyxy=xyxy if jpeg else None,
            evidence_parent_xyxy=parent if jpeg else None,
        )
        report = self._store(obs) if not self.pending else None  # behind the waiting ones, in order
        if report is None:
            self.pending.append(obs)
            self.stats["store_pending"] = len(self.pending)
        created = st.last_written_s is None
        # caught up without its frame: judged as the undisturbed run, which had the frame, would judge it
        self._written(st, det, box.score if jpeg is not None or (with_evidence and catching_up) else None)
        if jpeg is not None:
            st.evidence_missing = False
            self.evidence_wanted.pop(st.key, None)
            self.stats["evidence_written"] += 1
        self.stats["reports_created" if created else "reports_updated"] += 1
        if report is None:
            return
        self.emit(
            ReportEvent(
                t_mono_ns=self._now_ns,
                frame_id=det.frame_id,
                report_id=report.id,
                seq=report.seq,
                class_name=report.class_name,
                confidence=report.confidence,
                created=created,
            )
        )

    def stand_in_evidence(self, st: TrackState, det: FrameDetections, box: DetectionBox) -> None:
        """A report caught up on without its frame takes this later frame that shows it as evidence, attached as a
        recorded frame would be: no observation is written and the track's best stays the caught-up one, so a later
        frame is judged, and the store ends, as in the undisturbed run (a stand-in once raised the best, and the
        surer frame after it was never written)."""
        image, _ = self.frames[det.frame_id]
        try:
            attached = self._attach_evidence(st.key, det, box, evidence_jpeg(image, self.cfg["jpeg_quality"]))
        except (sqlite3.Error, OSError) as exc:
            self.stats["store_errors"] += 1
            self.last_store_error = f"{type(exc).__name__}: {exc}"
            return  # tried again on the next frame that shows it
        if not attached and self.pending:
            return  # its report is still waiting for the store
        st.evidence_missing = False
        self.evidence_wanted.pop(st.key, None)

    def wanted_frames(self) -> dict[int, int]:
        """The frames `evidence_wanted` asks for: frame id -> capture time (UTC ns)."""
        return {det.frame_id: det.t_capture_wall_ns for det, _ in self.evidence_wanted.values()}

    def take_recorded_evidence(self, images: Mapping[int, bytes]) -> int:
        """Give each report in `evidence_wanted` whose frame is among `images` (frame id -> JPEG, from the recording)
        that frame as evidence, unless it has one by now; how many took one."""
        taken = 0
        for key, (det, box) in list(self.evidence_wanted.items()):
            jpeg = images.get(det.frame_id)
            if jpeg is None:
                continue
            taken += self._attach_evidence(key, det, box, jpeg)
            del self.evidence_wanted[key]
            if key in self.tracks:
                self.tracks[key].evidence_missing = False
        return taken

    def _attach_evidence(self, key: str, det: FrameDetections, box: DetectionBox, jpeg: bytes) -> bool:
        """`jpeg`, a frame showing `box`, as the evidence of track `key`'s report, unless it has one (counted)."""
        xyxy = (box.x1, box.y1, box.x2, box.y2)
        attached = self.store.attach_evidence(
            report_id_for(self.store.device_id, key), jpeg, xyxy, _parent_of(det, box)
        )
        if attached:
            self.stats["evidence_written"] += 1
        return attached

    def _written(self, st: TrackState, det: FrameDetections, evidence_score: float | None) -> None:
        """The track after a write of `det`; `evidence_score`: the score of the best frame it now has as evidence."""
        st.last_written_s = self.track_time_s(det)
        st.unwritten_sighting = False
        if evidence_score is not None:
            st.best_written = evidence_score


def _parent_of(det: FrameDetections, box: DetectionBox) -> tuple[float, float, float, float] | None:
    """The string a defect box is on, among its frame's boxes (evidence shows both)."""
    xyxy = (box.x1, box.y1, box.x2, box.y2)
    return parent_box(xyxy, box.class_name, (((b.x1, b.y1, b.x2, b.y2), b.class_name) for b in det.boxes))


def evidence_jpeg(image: np.ndarray, quality: int) -> bytes:
    """A BGR frame as evidence JPEG: simplejpeg (libjpeg-turbo), so this process needs no OpenCV (~30 MB RSS)."""
    return simplejpeg.encode_jpeg(image, quality=quality, colorspace="BGR")


def report_placer(config: Mapping[str, Any], *, mission_may_be_gone: bool = False) -> ReportPlacer | None:
    """The run's placer: `[geotag]`, and the mission of `[mission] file` when one is set (None: a config from
    before geotagging). `mission_may_be_gone`: a replay on another machine places without a mission file that
    is not there, rather than failing."""
    if "geotag" not in config:
        return None
    mission = None
    # the mission flown, else a line that only places reports (a crawler's, by its position along it)
    mission_file = (config.get("mission") or {}).get("file") or config["geotag"].get("line")
    if mission_file and not (mission_may_be_gone and not Path(mission_file).is_file()):
        from gridscout.control.mission import load_mission

        mission = load_mission(mission_file)
    return ReportPlacer(geotag_settings(config["geotag"]), mission)


def storage_status(
    data_dir: Path, reserve_mb: float, stats: Mapping[str, float], last_store_error: str, now_ns: int
) -> StorageStatus:
    """The data disk and the store as `storage_status` says them: `full` while writes wait, else `low` under
    the reserve (the recorder's rule: recording stops there), else `ok`."""
    try:
        free_mb = shutil.disk_usage(data_dir).free / 2**20
    except OSError:
        free_mb = -1.0
    pending, errors = int(stats["store_pending"]), int(stats["store_errors"])
    if pending:
        state = "full"
        detail = f"the report store refuses writes ({pending} waiting, retried): {last_store_error}"
    elif 0 <= free_mb < reserve_mb:
        state = "low"
        detail = f"{free_mb:.1f} MB free, under recorder.reserve_mb ({reserve_mb:g} MB): recording stops"
    else:
        state, detail = "ok", ""
    return StorageStatus(
        t_mono_ns=now_ns, data_dir=str(data_dir), state=state, free_mb=round(free_mb, 1), reserve_mb=reserve_mb,
        store_errors=errors, store_pending=pending, detail=detail,
    )  # fmt: skip


class Reporter:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.replay = rt.mode == "replay"
        self.store = ReportStore(rt.spec.data_dir, device_id=rt.spec.device_id)
        self.inputs = rt.submaster(["frames", "detections", "telemetry"], hwm=1000 if self.replay else 50)
        self.events = rt.publisher("report_event")
        self.storage = rt.publisher("storage_status")
        self._storage_said: tuple[str, float] = ("", 0.0)  # state, when
        self.stage = ReporterStage(
            rt.config.reporter,
            self.store,
            run_id=rt.spec.run_id,
            replay=self.replay,
            emit=self.events.publish,
            placer=report_placer(rt.config),
        )
        self.stats = self.stage.stats
        recorder = rt.config.recorder
        #: where a report caught up on finds its evidence frame (None: nothing is recorded)
        self.recordings = recordings_dir(recorder.dir, rt.spec.data_dir) if recorder.enabled else None
        #: when the recorder has written the caught-up frames out (set by `catch_up`)
        self._evidence_at = 0.0
        self._evidence_tries = 0

    def take(self, topic: str, msg: object, image: np.ndarray | None) -> None:
        if isinstance(msg, FrameMeta) and image is not None:
            self.stage.take_frame(msg, image)
        elif isinstance(msg, VehicleTelemetry):
            self.stage.take_telemetry(msg)
        elif isinstance(msg, FrameDetections):
            self.stage.on_detections(msg, time.monotonic_ns())

    def publish_storage(self) -> None:
        """`storage_status` at STORAGE_STATUS_S, and at once when its state changes."""
        now = time.monotonic()
        status = storage_status(
            Path(self.rt.spec.data_dir), self.rt.config.recorder.reserve_mb, self.stats, self.stage.last_store_error,
            time.monotonic_ns(),
        )  # fmt: skip
        said, at = self._storage_said
        if status.state != said or now - at >= STORAGE_STATUS_S:
            self.storage.publish(status)
            self._storage_said = (status.state, now)

    def catch_up(self) -> None:
        """After a restart: store what perception published while this process was down, from its journal (the
        bus keeps what comes meanwhile)."""
        try:
            journal = read_journal(Path(self.rt.spec_dir) / JOURNAL_FILE)
        except JournalError as exc:
            log.error("cannot catch up on the frames published while the reporter was down (unreported): %s", exc)
            return
        stored = self.store.last_seen_by_track(self.rt.spec.run_id)
        writes = self.stage.catch_up([entry.detections for entry in journal], stored)
        # the recorder's chunks reach the disk within chunk_max_s of their frames
        self._evidence_at = time.monotonic() + self.rt.config.recorder.chunk_max_s + 1.0
        log.info("caught up on %d journalled frames up to frame %d: %d writes the last process had not stored",
                 len(journal), self.stage.caught_up_to, writes)  # fmt: skip

    def evidence_from_recording(self, *, last: bool = False) -> None:
        """Evidence for the reports caught up on, from the recording once it holds their frames: tried when due,
        twice more EVIDENCE_RETRY_S apart while some are missing, and once more as the reporter stops."""
        if not self.stage.evidence_wanted or self.recordings is None:
            return
        if not last and (time.monotonic() < self._evidence_at or self._evidence_tries >= EVIDENCE_TRIES):
            return
        from gridscout.edge.recording.frame_images import find_frame_images  # OpenCV with it: only when needed

        self._evidence_tries += 1
        self._evidence_at = time.monotonic() + EVIDENCE_RETRY_S
        wanted = len(self.stage.evidence_wanted)
        try:
            taken = self.stage.take_recorded_evidence(find_frame_images(self.recordings, self.stage.wanted_frames()))
        except Exception as exc:  # a damaged recording or a refused write must not take the reporter down
            log.error("evidence from the recording in %s failed: %s: %s", self.recordings, type(exc).__name__, exc)
            return
        left = len(self.stage.evidence_wanted)
        log.log(logging.WARNING if left and (last or self._evidence_tries >= EVIDENCE_TRIES) else logging.INFO,
                "evidence from the recording for %d of %d reports caught up on%s", taken, wanted,
                f" ({left} frames not in {self.recordings} yet)" if left else "")  # fmt: skip

    def run(self) -> int:
        if not self.rt.wait_until_running(self.stats):
            return 0
        try:
            if self.rt.restarts:
                self.catch_up()
            while not self.rt.should_stop:
                for r in self.inputs.update(0.1):
                    self.take(r.topic, r.msg, r.image)
                self.publish_storage()
                self.evidence_from_recording()
                self.rt.heartbeat.beat(stats=self.stats)
                self.rt.poll()
            for r in self.inputs.update(0.0):  # what was already in flight when we were told to stop
                self.take(r.topic, r.msg, r.image)
            self.stage.close_all(time.monotonic_ns())
            self.evidence_from_recording(last=True)
        finally:
            self.rt.heartbeat.beat(stats=self.stats, force=True)
            self.store.close()
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_daemon("reporter", lambda rt: Reporter(rt).run(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
