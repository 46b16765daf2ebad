"""Stage one on frames much larger than its input: the whole frame, plus overlapping tiles at full resolution.

A 12 MP survey photo letterboxed to stage one's 384 px shrinks a 350 px insulator string to 34 px, too
small to find. Tiled, each tile of `tile_px` is letterboxed instead, so the string keeps a third or more
of its pixels. Boxes from the whole-frame pass (large, close strings) and from every tile are merged per
class by greedy non-maximum merging, as SAHI does: a box covered for `merge_ios` of the smaller one's
area by a better-scoring box of the same class is folded into it (their union), so a string cut by a
tile edge becomes one box again. Frames no larger than `min_frame_px` go through unchanged.
"""

from __future__ import annotations

import numpy as np

from gridscout.perception.detections import Detections
from gridscout.perception.detector import Detector


def tile_origins(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of `tile` px covering `length` px with at least `overlap` (share) between them."""
    if length <= tile:
        return [0]
    stride = max(1, int(tile * (1.0 - overlap)))
    count = int(np.ceil((length - tile) / stride)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tiles(width: int, height: int, tile: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """(x1, y1, x2, y2) of the tiles covering a frame, row by row."""
    return [
        (x, y, min(width, x + tile), min(height, y + tile))
        for y in tile_origins(height, tile, overlap)
        for x in tile_origins(width, tile, overlap)
    ]


def merge_boxes(dets: Detections, ios: float) -> Detections:
    """Greedy non-maximum merging per class: best score first, each box absorbs the lower-scored boxes of its
    class whose intersection covers at least `ios` of the smaller box; the kept box becomes their union."""
    order = np.argsort(-dets.scores, kind="stable")
    boxes, scores, classes = dets.boxes[order].copy(), dets.scores[order], dets.class_ids[order]
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    alive = np.ones(len(boxes), bool)
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        rest = np.flatnonzero(alive & (classes == classes[i]))
        rest = rest[rest > i]
        if not len(rest):
            continue
        ix1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.maximum(ix2 - ix1, 0) * np.maximum(iy2 - iy1, 0)
        smaller = np.minimum(areas[i], areas[rest])
        absorbed = rest[inter >= ios * np.maximum(smaller, 1e-9)]
        if len(absorbed):
            group = np.concatenate([[i], absorbed])
            boxes[i] = [*boxes[group, :2].min(0), *boxes[group, 2:].max(0)]
            areas[i] = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            alive[absorbed] = False
    keep = np.flatnonzero(alive)
    return Detections(boxes[keep], scores[keep], classes[keep], dets.names)


class TiledDetector:
    """A stage-one detector that also looks at overlapping full-resolution tiles of a large frame.

    - `tile_px`: tile side, in source pixels;
    - `overlap`: least share of a tile shared with its neighbour (make it cover the longest object);
    - `min_frame_px`: frames whose long side is at most this are detected whole, as by `detector`;
    - `merge_ios`: intersection over the smaller box above which two boxes of a class are one object.
    """

    def __init__(
        self, detector: Detector, *, tile_px: int, overlap: float, min_frame_px: int, merge_ios: float = 0.5
    ) -> None:
        if not 0 <= overlap < 1:
            raise ValueError(f"tile overlap {overlap}: expected 0 <= overlap < 1")
        self.detector = detector
        self.tile_px, self.overlap, self.min_frame_px, self.merge_ios = tile_px, overlap, min_frame_px, merge_ios

    def __getattr__(self, name: str):
        return getattr(self.detector, name)  # names, iou, sha256, path ... are the detector's

    @property
    def conf(self) -> float:
        return self.detector.conf

    @conf.setter
    def conf(self, value: float) -> None:  # evaluation lowers it: on the detector that does the work
        self.detector.conf = value

    def detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        whole = self.detector.detect(image)
        if max(height, width) <= self.min_frame_px:
            return whole
        parts = [whole]
        for x1, y1, x2, y2 in tiles(width, height, self.tile_px, self.overlap):
            part = self.detector.detect(image[y1:y2, x1:x2])
            part.boxes += np.array([x1, y1, x1, y1], np.float32)
            parts.append(part)
        return merge_boxes(Detections.concat(parts, whole.names), self.merge_ios)
