"""Detections of one frame, as parallel numpy arrays (cheap to slice, concat and send)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Detections:
    """N boxes in source pixels (x1, y1, x2, y2), their scores, class ids and track ids.

    `names[class_id]` is the class name. `track_ids` is -1 where no track is assigned.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    names: tuple[str, ...]
    track_ids: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        self.class_ids = np.asarray(self.class_ids, np.int32).reshape(-1)
        if self.track_ids is None:
            self.track_ids = np.full(len(self.scores), -1, np.int64)
        self.track_ids = np.asarray(self.track_ids, np.int64).reshape(-1)

    @classmethod
    def empty(cls, names: tuple[str, ...]) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), names)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def class_names(self) -> list[str]:
        return [self.names[i] for i in self.class_ids]

    def select(self, index: np.ndarray) -> Detections:
        """A subset by boolean mask or integer index."""
        return Detections(
            self.boxes[index], self.scores[index], self.class_ids[index], self.names, self.track_ids[index]
        )

    @classmethod
    def concat(cls, parts: list[Detections], names: tuple[str, ...]) -> Detections:
        if not parts:
            return cls.empty(names)
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.class_ids for p in parts]),
            names,
            np.concatenate([p.track_ids for p in parts]),
        )

    def to_records(self, decimals: int = 1) -> list[dict]:
        """JSON-ready dicts: class, confidence, box (source px), track_id (None if untracked)."""
        return [
            {
                "class": self.names[int(c)],
                "confidence": round(float(s), 4),
                "box": [round(float(v), decimals) for v in b],
                "track_id": int(t) if t >= 0 else None,
            }
            for b, s, c, t in zip(self.boxes, self.scores, self.class_ids, self.track_ids, strict=True)
        ]
