"""Give each physical object one track id across frames, so one defect is one report.

Wraps EdgeFirst's ByteTrack (`edgefirst-tracker`: Rust, numpy only, no cv2); one ByteTrack per class,
so a defect box never steals an insulator's track. Chosen over Roboflow's `trackers` by
bench/bench_tracker.py: the same track quality against synthetic truth at ~1% of its import RSS.

A disc-level defect is small: at a drone's cruise speed it moves further each frame than its own size, so
its boxes of two frames never overlap and IoU association cannot start a track. Those classes (a
`taxonomy.part_of`) are tracked on buffered boxes, grown by `part_buffer` of their size on each side (the
buffered IoU of Yang et al., "Hard to Track Objects with Irregular Motions and Similar Appearances? Make It
Easier by Buffering the Matching Space", WACV 2023); the boxes reported stay as detected.
"""

from __future__ import annotations

import numpy as np
from edgefirst.tracker import ByteTrack

from gridscout.perception.detections import Detections
from gridscout.perception.taxonomy import TAXONOMY


def buffered(boxes: np.ndarray, buffer: float) -> np.ndarray:
    """xyxy boxes grown by `buffer` of their width and height on each side."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    grow = np.tile(boxes[:, 2:] - boxes[:, :2], 2) * buffer
    return boxes + grow * np.array([-1, -1, 1, 1], np.float32)


def _is_part(names: tuple[str, ...], class_id: int) -> bool:
    """A class that sits on another (a disc-level defect on a string): small, and tracked on buffered boxes."""
    known = TAXONOMY.get(names[class_id]) if 0 <= class_id < len(names) else None
    return bool(known and known.part_of)


class _ClassTracks:
    """One class: the ByteTrack, each live track's run of consecutive matched frames, and confirmed ids."""

    def __init__(self, tracker: ByteTrack) -> None:
        self.tracker = tracker
        self.runs: dict[str, tuple[int, int]] = {}  # track uuid -> (last matched frame, frames matched in a row)
        self.ids: dict[str, int] = {}  # confirmed track uuid -> our id


class Tracker:
    """ByteTrack per class; track ids are unique across classes and start at 1, in order of first appearance.

    Deterministic: the same sequence of detections gives the same ids in a fresh Tracker (the
    package names tracks by random UUIDs; they are mapped to sequential ints here).

    Parameters:
    - `frame_rate`: frames per second of the stream; frame n is stamped n / frame_rate seconds, which is
      the clock `lost_track_s` is counted on.
    - `lost_track_s`: how long a lost track is kept for re-association, in seconds.
    - `min_consecutive_frames`: frames in a row a new track must be matched before it gets an id (once it
      has one it keeps it, through gaps shorter than `lost_track_s`).
    - `min_iou`: least IoU between a track's predicted box and a detection to associate them.
    - `high_conf`: detections at or above this go to the first association round, and only they start
      new tracks; lower ones can only continue an existing track (second round).
    - `update_gain`: Kalman update factor in (0, 1]: how far a matched detection moves its track's state.
      1.0 is the plain Kalman update; the package's default 0.25 lags moving boxes (on the bench's drone
      footage it split each defect into ~6 tracks).
    - `part_buffer`: how far a part's box (a class that is `part_of` another: a disc-level defect) is grown
      on each side for association, as a share of its width and height. 1.0 keeps a 45 px missing cap
      associated at 100 px a frame (a drone at 12 m/s on the demo footage).
    """

    def __init__(
        self,
        *,
        frame_rate: float = 10.0,
        lost_track_s: float = 3.0,
        min_consecutive_frames: int = 2,
        min_iou: float = 0.1,
        high_conf: float = 0.5,
        update_gain: float = 1.0,
        part_buffer: float = 1.0,
    ) -> None:
        if not frame_rate > 0:
            raise ValueError(f"frame_rate {frame_rate}: expected > 0")
        if not 0 < update_gain <= 1:
            raise ValueError(f"update_gain {update_gain}: expected 0 < update_gain <= 1")
        if not 0 <= part_buffer <= 10:
            raise ValueError(f"part_buffer {part_buffer}: expected 0 <= part_buffer <= 10")
        self._part_buffer = float(part_buffer)
        self._params = dict(
            high_conf=float(high_conf),
            iou=float(min_iou),
            update=float(update_gain),
            lifespan_ns=round(lost_track_s * 1e9),
        )
        self._frame_ns = 1e9 / frame_rate
        self._min_frames = max(1, int(min_consecutive_frames))
        self._forget_after = max(1, round(lost_track_s * frame_rate)) + 2  # frames; the package has dropped it
        self._per_class: dict[int, _ClassTracks] = {}
        self._frame = 0
        self._next_id = 1

    @property
    def next_id(self) -> int:
        """The id the next confirmed track will get."""
        return self._next_id

    def update(self, detections: Detections) -> Detections:
        """Assign `track_ids` in place of -1 where a track is confirmed; returns a new Detections."""
        return self._step(detections, None)

    def replay(self, detections: Detections, published_ids: np.ndarray, next_id: int) -> None:
        """Rebuild state from a journal: associate one past frame as `update` did, but give each box the id it
        was published with (-1: none yet), and go on from `next_id`. A restarted process that replays the
        frames of its last seconds this way continues every live track under its old id."""
        self._step(detections, np.asarray(published_ids, np.int64).reshape(-1))
        self._next_id = int(next_id)

    def _step(self, detections: Detections, published_ids: np.ndarray | None) -> Detections:
        self._frame += 1
        timestamp = round(self._frame * self._frame_ns)
        track_ids = np.full(len(detections), -1, np.int64)
        class_ids = set(self._per_class) | {int(c) for c in detections.class_ids}
        for class_id in sorted(class_ids):
            tracks = self._per_class.get(class_id)
            if tracks is None:
                tracks = self._per_class[class_id] = _ClassTracks(ByteTrack(**self._params))
            index = np.flatnonzero(detections.class_ids == class_id)
            boxes = detections.boxes[index]
            if _is_part(detections.names, class_id):
                boxes = buffered(boxes, self._part_buffer)
            infos = tracks.tracker.update(
                np.ascontiguousarray(boxes, np.float32).reshape(-1, 4),
                np.ascontiguousarray(detections.scores[index], np.float32),
                np.full(len(index), class_id, np.uint64),
                timestamp,
            )
            for row, info in zip(index, infos, strict=True):
                if info is None:
                    continue
                track_ids[row] = self._confirm(tracks, info.uuid)
                if published_ids is not None:
                    track_ids[row] = self._adopt(tracks, info.uuid, int(published_ids[row]))
            self._forget(tracks)
        return Detections(detections.boxes, detections.scores, detections.class_ids, detections.names, track_ids)

    def _confirm(self, tracks: _ClassTracks, uuid: str) -> int:
        """Count the track's matched frames in a row; its id once confirmed, else -1."""
        last, run = tracks.runs.get(uuid, (-1, 0))
        run = run + 1 if last == self._frame - 1 else 1
        tracks.runs[uuid] = (self._frame, run)
        if uuid not in tracks.ids and run >= self._min_frames:
            tracks.ids[uuid] = self._next_id
            self._next_id += 1
        return tracks.ids.get(uuid, -1)

    def _adopt(self, tracks: _ClassTracks, uuid: str, published: int) -> int:
        """Make the track's id the one published for it (none while it had none)."""
        if published >= 0:
            tracks.ids[uuid] = published
        else:
            tracks.ids.pop(uuid, None)
        return published

    def _forget(self, tracks: _ClassTracks) -> None:
        """Drop tracks unmatched for longer than the package keeps them (they cannot come back)."""
        stale = [u for u, (last, _) in tracks.runs.items() if self._frame - last > self._forget_after]
        for uuid in stale:
            del tracks.runs[uuid]
            tracks.ids.pop(uuid, None)
