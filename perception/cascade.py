"""Two-stage detection: find the parent asset on the whole frame, then defects in its crop.

Defects are small (19-48 px at 640x480); a crop of the insulator string gives the second
stage several times more pixels per defect than a full-frame pass at the same input size.
"""

from __future__ import annotations

import numpy as np

from gridscout.perception.crop_budget import CropBudget
from gridscout.perception.decode import nms
from gridscout.perception.detections import Detections
from gridscout.perception.detector import Detector
from gridscout.perception.errors import ModelError


def grow_box(box: np.ndarray, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Grow an xyxy box by `margin` of its size on each side; integer pixels clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (
        max(0, int(np.floor(x1 - mx))),
        max(0, int(np.floor(y1 - my))),
        min(width, int(np.ceil(x2 + mx))),
        min(height, int(np.ceil(y2 + my))),
    )


class Cascade:
    """Stage one finds `parent` objects; stage two runs on each parent's crop.

    Output class names are stage one's followed by stage two's. At most `max_crops` parents
    (best first) are searched per frame, which bounds the worst-case latency; a live stream may bound it
    further with a `CropBudget`, the strings taking turns across frames. A stage-two class may ask
    for surer parents than `crop_conf` (`class_crop_conf`): its boxes in a weaker parent's crop are dropped.
    """

    def __init__(
        self,
        stage1: Detector,
        stage2: Detector,
        *,
        parent: str = "insulator",
        margin: float = 0.10,
        min_crop_px: int = 16,
        max_crops: int = 8,
        crop_conf: float | None = None,
        class_crop_conf: dict[str, float] | None = None,
        name: str = "cascade",
    ) -> None:
        if parent not in stage1.names:
            raise ModelError(f"parent class {parent!r} is not among stage one's classes {stage1.names}")
        unknown = sorted(set(class_crop_conf or {}) - set(stage2.names))
        if unknown:
            raise ModelError(f"class_crop_conf names {unknown}, not among stage two's classes {stage2.names}")
        self.stage1, self.stage2 = stage1, stage2
        self.parent_id = stage1.names.index(parent)
        self.margin, self.min_crop_px, self.max_crops = margin, min_crop_px, max_crops
        # Parents scoring below this are reported but not searched (evaluation lowers stage one's
        # conf to trace the full precision-recall curve without changing which crops are searched).
        self.crop_conf = stage1.conf if crop_conf is None else crop_conf
        self.class_crop_conf: dict[str, float] = dict(class_crop_conf or {})
        self.names: tuple[str, ...] = stage1.names + stage2.names
        self.offset = len(stage1.names)
        self.name = name

    @property
    def search_conf(self) -> float:
        """The least stage-one score whose crop is searched at all: the lowest of the classes' parent floors."""
        return min([self.crop_conf, *self.class_crop_conf.values()])

    @property
    def detectors(self) -> tuple[Detector, Detector]:
        return self.stage1, self.stage2

    def detect(self, image: np.ndarray, budget: CropBudget | None = None) -> Detections:
        return self.detect_traced(image, budget)[0]

    def crops(self, first: Detections, width: int, height: int) -> list[tuple[int, tuple[int, int, int, int]]]:
        """The crops stage two searches among stage one's boxes `first` (best first) on a `width` x `height` frame:
        (the parent's index, its box grown by the margin), for at most `max_crops` parents scoring `search_conf`,
        less those too small to search."""
        is_parent = (first.class_ids == self.parent_id) & (first.scores >= self.search_conf)
        out = []
        for index in np.flatnonzero(is_parent)[: self.max_crops]:
            x1, y1, x2, y2 = grow_box(first.boxes[index], self.margin, width, height)
            if x2 - x1 >= self.min_crop_px and y2 - y1 >= self.min_crop_px:
                out.append((int(index), (x1, y1, x2, y2)))
        return out

    def detect_traced(self, image: np.ndarray, budget: CropBudget | None = None) -> tuple[Detections, np.ndarray]:
        """`detect`, plus for each output box the stage-one score behind it: its own for a stage-one box,
        its parent's for a stage-two box (evaluation sweeps `crop_conf` with it). With `budget`, stage two
        searches the crops it hands out this frame."""
        height, width = image.shape[:2]
        first = self.stage1.detect(image)
        first = Detections(first.boxes, first.scores, first.class_ids, self.names)
        floors = np.array([self.class_crop_conf.get(n, self.crop_conf) for n in self.stage2.names], np.float32)
        found, parent_scores = [], []
        crops = self.crops(first, width, height)
        for index, (x1, y1, x2, y2) in budget.take(crops) if budget is not None else crops:
            part = self.stage2.detect(image[y1:y2, x1:x2])
            # before NMS, so a defect seen in a sure parent's crop and a weak one's keeps the sure one's box
            part = part.select(first.scores[index] >= floors[part.class_ids])
            part.boxes += np.array([x1, y1, x1, y1], np.float32)
            part.class_ids += self.offset
            found.append(part)
            parent_scores.append(np.full(len(part), first.scores[index], np.float32))
        if not found:
            return first, first.scores.copy()
        second = Detections.concat(found, self.names)
        parent = np.concatenate(parent_scores)
        # Overlapping parents see the same defect twice: keep the best of each.
        keep = nms(second.boxes, second.scores, second.class_ids, self.stage2.iou)
        return Detections.concat([first, second.select(keep)], self.names), np.concatenate([first.scores, parent[keep]])
