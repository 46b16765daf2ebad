"""Give each physical object one track id across frames, so one defect is one report.

Wraps Roboflow's `trackers` ByteTrack (a maintained clean-room implementation); one
ByteTrack per class, so a defect box never steals an insulator's track.
"""

from __future__ import annotations

import warnings

import numpy as np
from gridscout.perception.detections import Detections

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import supervision as sv
    from trackers import ByteTrackTracker


class Tracker:
    """ByteTrack per class; track ids are unique across classes and start at 1.

    Parameters follow ByteTrack's:
    - `frame_rate`: frames per second of the stream; scales `lost_track_s` into frames.
    - `lost_track_s`: how long a lost track is kept for re-association, in seconds.
    - `activation_conf`: a detection must score at least this to start a new track.
    - `min_consecutive_frames`: frames a new track must be matched before it gets an id.
    - `min_iou`: least IoU between a predicted track and a detection to associate them.
    - `high_conf`: detections at or above this go to the first association round.
    """

    def __init__(
        self,
        *,
        frame_rate: float = 10.0,
        lost_track_s: float = 3.0,
        activation_conf: float = 0.3,
        min_consecutive_frames: int = 2,
        min_iou: float = 0.1,
        high_conf: float = 0.5,
    ) -> None:
        self._params = dict(
            lost_track_buffer=max(1, round(lost_track_s * frame_rate)),
            frame_rate=frame_rate,
            track_activation_threshold=activation_conf,
            minimum_consecutive_frames=min_consecutive_frames,
            minimum_iou_threshold=min_iou,
            high_conf_det_threshold=high_conf,
        )
        self._per_class: dict[int, ByteTrackTracker] = {}
        self._global_ids: dict[tuple[int, int], int] = {}

    def _global_id(self, class_id: int, local_id: int) -> int:
        key = (class_id, local_id)
        if key not in self._global_ids:
            self._global_ids[key] = len(self._global_ids) + 1
        return self._global_ids[key]

    def update(self, detections: Detections) -> Detections:
        """Assign `track_ids` in place of -1 where a track is confirmed; returns a new Detections."""
        track_ids = np.full(len(detections), -1, np.int64)
        class_ids = set(self._per_class) | {int(c) for c in detections.class_ids}
        for class_id in sorted(class_ids):
            tracker = self._per_class.get(class_id)
            if tracker is None:
                tracker = self._per_class[class_id] = ByteTrackTracker(**self._params)
            index = np.flatnonzero(detections.class_ids == class_id)
            sv_dets = sv.Detections(
                xyxy=detections.boxes[index].astype(np.float64).reshape(-1, 4),
                confidence=detections.scores[index].astype(np.float64),
                class_id=np.full(len(index), class_id, int),
                data={"row": index},
            )
            tracked = tracker.update(sv_dets)
            for row, local in zip(tracked.data.get("row", []), tracked.tracker_id, strict=True):
                if local >= 0:
                    track_ids[int(row)] = self._global_id(class_id, int(local))
        return Detections(detections.boxes, detections.scores, detections.class_ids, detections.names, track_ids)
