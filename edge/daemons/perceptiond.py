"""The perception process: frames in, tracked detections out (one message per processed frame).

live: drain the frame queue and work on the newest; frames skipped are counted as dropped.
replay: every frame in order (the camera waits for our detections before sending more).

Each processed frame goes into the run's journal (`perception_journal`), so a process restarted after a crash
continues the tracks, their ids and its counters where the last one stopped.

`PerceptionStage` is the per-frame step (detect, track, the bus message), which `gridscout replay`
runs on recorded frames too; this module adds the bus, the acknowledgements and the counters.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence

import numpy as np

from gridscout.edge.daemons.perception_journal import JournalEntry, JournalError, PerceptionJournal
from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.messages import DetectionBox, FrameAck, FrameDetections, FrameMeta
from gridscout.perception.cascade import Cascade
from gridscout.perception.crop_budget import CropBudget
from gridscout.perception.detections import Detections
from gridscout.perception.model_loader import load_model, model_sha256
from gridscout.perception.taxonomy import is_defect
from gridscout.perception.tracker import Tracker


def _threads(configured: int) -> int:
    """0 means: all cores but one, which the camera, control and vehicle processes share."""
    return configured or max(1, (os.cpu_count() or 2) - 1)


def to_message(
    meta: FrameMeta, dets, infer_ms: float, model_name: str, sha: str, epoch: int, t_mono_ns: int | None = None
) -> FrameDetections:
    boxes = tuple(
        DetectionBox(
            float(b[0]),
            float(b[1]),
            float(b[2]),
            float(b[3]),
            float(s),
            dets.names[int(c)],
            int(t),
            is_defect(dets.names[int(c)]),
        )
        for b, s, c, t in zip(dets.boxes, dets.scores, dets.class_ids, dets.track_ids, strict=True)
    )
    return FrameDetections(
        t_mono_ns=time.monotonic_ns() if t_mono_ns is None else t_mono_ns,
        frame_id=meta.frame_id,
        t_capture_mono_ns=meta.t_capture_mono_ns,
        t_capture_wall_ns=meta.t_capture_wall_ns,
        t_source_s=meta.t_source_s,
        width=meta.width,
        height=meta.height,
        boxes=boxes,
        infer_ms=infer_ms,
        model_name=model_name,
        model_sha256=sha,
        epoch=epoch,
    )


class PerceptionStage:
    """One frame in, its tracked detections out: the model, the tracker and the message, nothing else.

    The perception process calls `step` on each frame it takes; `gridscout replay` on each recorded frame,
    stamping the message with the recorded time (`t_mono_ns`) rather than the clock. `crops_per_frame` bounds
    a cascade's stage-two crops per frame (`perception.live_crops_per_frame`, live mode); 0: no bound."""

    def __init__(self, model, *, frame_rate: float, epoch: int = 0, crops_per_frame: int = 0) -> None:
        self.model = model
        self.sha = model_sha256(model)
        self.budget = CropBudget(crops_per_frame) if crops_per_frame and isinstance(model, Cascade) else None
        self.tracker_frame_rate = frame_rate
        self.tracker = Tracker(frame_rate=frame_rate)
        self.epoch = epoch

    def step(self, meta: FrameMeta, image: np.ndarray, *, t_mono_ns: int | None = None) -> FrameDetections:
        t0 = time.perf_counter()
        found = self.model.detect(image, self.budget) if self.budget else self.model.detect(image)
        dets = self.tracker.update(found)
        infer_ms = (time.perf_counter() - t0) * 1e3
        return to_message(meta, dets, infer_ms, self.model.name, self.sha, self.epoch, t_mono_ns)

    def restore(self, entries: list[JournalEntry]) -> None:
        """Continue from a journal: its frames fed to the tracker with the ids they were published with (and
        their strings to the crop budget, which then hands out the turns it would have), and its epoch (the
        tracks keep their keys)."""
        names = tuple(self.model.names)
        for entry in entries:
            boxes = entry.detections.boxes
            self.tracker.replay(
                as_detections(boxes, names), np.array([b.track_id for b in boxes], np.int64), entry.next_id
            )
            if self.budget is not None:  # the turns it gave: the same crops, from the same stage-one boxes
                self.budget.take(self._crops_of(entry.detections))
        if entries:
            self.epoch = entries[-1].detections.epoch

    def _crops_of(self, published: FrameDetections) -> list:
        """The crops the cascade offered stage two on a published frame: its stage-one boxes, as found."""
        first = [b for b in published.boxes if b.class_name in self.model.stage1.names]
        return self.model.crops(as_detections(first, tuple(self.model.names)), published.width, published.height)


def as_detections(boxes: Sequence[DetectionBox], names: tuple[str, ...]) -> Detections:
    """Published boxes as the model gave them (scores and boxes are its float32 values, exactly)."""
    return Detections(
        np.array([(b.x1, b.y1, b.x2, b.y2) for b in boxes], np.float32).reshape(-1, 4),
        np.array([b.score for b in boxes], np.float32),
        np.array([names.index(b.class_name) for b in boxes], np.int64),
        names,
    )


def resume(rt: Runtime, stage: PerceptionStage, journal: PerceptionJournal, stats: dict[str, float]) -> int:
    """After a restart, pick up the last process's tracks and counters from the journal; the last frame id it
    handled (-1: none, or a journal that cannot be trusted, whose tracks then start a new epoch)."""
    try:
        entries = journal.load()
        stage.restore(entries)
    except (JournalError, ValueError, OSError) as exc:  # ValueError: a class this model does not have
        rt.log.error("perception journal not used, track ids start a new epoch: %s", exc)
        stage.tracker = Tracker(frame_rate=stage.tracker_frame_rate)
        with contextlib.suppress(OSError):
            journal.reset()
        return -1
    if not entries:
        return -1
    stats.update(entries[-1].stats)
    last = entries[-1].detections.frame_id
    rt.log.info("resumed after frame %d: %d journalled frames replayed into the tracker", last, len(entries))
    return last


def run(rt: Runtime) -> int:
    cfg = rt.config.perception
    rt.heartbeat.beat(ready=False, force=True)
    model = load_model(
        rt.spec.model or DEFAULT_MODEL, threads=_threads(cfg.threads), provider=cfg.provider, conf=cfg.conf
    )
    model.detect(np.zeros((64, 64, 3), np.uint8))  # warm up before saying ready
    live = rt.mode == "live"
    frames = rt.subscriber(["frames"], hwm=2 if live else 1000)
    out = rt.publisher("detections", hwm=1000)
    acks = rt.publisher("frame_ack", hwm=1000)
    stage = PerceptionStage(
        model,
        frame_rate=rt.config.camera.fps or 10.0,
        epoch=rt.restarts,
        crops_per_frame=cfg.live_crops_per_frame if live else 0,
    )
    stats = {"frames": 0.0, "dropped_frames": 0.0, "infer_ms_total": 0.0, "last_frame_id": -1.0, "journal_errors": 0.0}
    journal = PerceptionJournal(rt.spec_dir)
    if rt.restarts:
        last_id = resume(rt, stage, journal, stats)
    else:
        journal.reset()
        last_id = -1
    try:
        if not rt.wait_until_running(stats):
            return 0
        while not rt.should_stop:
            rt.heartbeat.beat(stats=stats)
            rt.poll()
            first = frames.recv(0.1)
            if first is None:
                continue
            batch = [first, *frames.drain()] if live else [first]
            received = batch[-1]
            meta: FrameMeta = received.msg  # type: ignore[assignment]
            if meta.frame_id <= last_id:  # a resend of a frame already handled: say so again, do no work
                acks.publish(FrameAck(t_mono_ns=time.monotonic_ns(), frame_id=last_id))
                continue
            if live:
                stats["dropped_frames"] += max(0, meta.frame_id - last_id - 1) if last_id >= 0 else 0
            last_id = meta.frame_id
            detections = stage.step(meta, received.image)
            out.publish(detections)
            stats["frames"] += 1
            stats["infer_ms_total"] += detections.infer_ms
            if stage.budget is not None:
                stats["deferred_crops"] = float(stage.budget.deferred)
            stats["last_frame_id"] = meta.frame_id
            keep_journal(rt, journal, JournalEntry(detections, stage.tracker.next_id, dict(stats)), stats)
            acks.publish(FrameAck(t_mono_ns=time.monotonic_ns(), frame_id=meta.frame_id))
        return 0
    finally:
        rt.heartbeat.beat(stats=stats, force=True)


def keep_journal(rt: Runtime, journal: PerceptionJournal, entry: JournalEntry, stats: dict[str, float]) -> None:
    """Journal a frame; one that cannot be written (a full disk) ends the journal, so that a restart never
    trusts one with a gap: its tracks would start a new epoch."""
    if stats["journal_errors"]:
        return
    try:
        journal.append(entry)
    except OSError as exc:
        stats["journal_errors"] += 1
        rt.log.error("perception journal %s stopped (a restart would start new track ids): %s", journal.path, exc)
        with contextlib.suppress(OSError):
            journal.reset()


def main(argv: list[str] | None = None) -> int:
    return run_daemon("perception", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
