"""A bound on stage two's work per frame for a live stream, the strings taking turns.

Each string stage one finds costs stage two a session run. On a live stream the few frames showing three or
more strings set the latency's tail (issue 20): a control command waits on the whole frame. `CropBudget`
lets stage two search at most `per_frame` crops of a frame and hands out the turns fairly: the strings
searched longest ago (or never) first; among those searched as lately, the one searched on fewest frames in
a row (a defect's track is confirmed on two frames in a row: a string's second turn comes before a third),
then the surer one. A string left out is searched on the next frame, so its defects are still seen on
frames in a row, a frame or two later.

Strings are matched to the last frames' by IoU of their crops (a string moves a little between frames). The
choice depends only on the frames' crops, in order: the same footage gives the same choices, so a replay of
a live run reproduces it.
"""

from __future__ import annotations

import numpy as np

#: (stage one's box index, crop box x1, y1, x2, y2), as `Cascade.crops` gives them
Crop = tuple[int, tuple[int, int, int, int]]


def _iou(box: tuple[int, int, int, int], others: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


class CropBudget:
    """At most `per_frame` crops per frame; the strings searched longest ago go first (see the module).

    - `same_iou`: least IoU between a crop and a remembered one for them to be the same string;
    - `memory_frames`: a string unseen for longer is forgotten (it has left the view).
    """

    def __init__(self, per_frame: int, *, same_iou: float = 0.3, memory_frames: int = 30) -> None:
        if per_frame < 1:
            raise ValueError(f"crops per frame {per_frame}: expected at least 1")
        self.per_frame, self.same_iou, self.memory_frames = per_frame, same_iou, memory_frames
        self._frame = 0
        # strings searched lately: their last crop, the frame it was searched, and on how many frames in a row
        self._boxes = np.zeros((0, 4), np.float32)
        self._last = np.zeros(0, np.int64)
        self._run = np.zeros(0, np.int64)
        #: crops left out so far (a frame's strings beyond the budget)
        self.deferred = 0

    def take(self, crops: list[Crop]) -> list[Crop]:
        """This frame's crops to search, in the order given (best parent first), and remember them."""
        self._frame += 1
        chosen = crops
        matches = [self._match(box) for _, box in crops]
        if len(crops) > self.per_frame:
            never = self._frame  # older than any remembered turn
            waited = [self._frame - self._last[m] if m >= 0 else never for m in matches]
            run = [self._run[m] if m >= 0 else 0 for m in matches]
            order = sorted(range(len(crops)), key=lambda i: (-waited[i], run[i], i))[: self.per_frame]
            chosen = [crops[i] for i in sorted(order)]
            matches = [matches[i] for i in sorted(order)]
            self.deferred += len(crops) - self.per_frame
        self._remember([box for _, box in chosen], matches)
        return chosen

    def _match(self, box: tuple[int, int, int, int]) -> int:
        """The remembered string this crop is (its row), or -1."""
        if not len(self._boxes):
            return -1
        iou = _iou(box, self._boxes)
        best = int(iou.argmax())
        return best if iou[best] >= self.same_iou else -1

    def _remember(self, boxes: list[tuple[int, int, int, int]], matches: list[int]) -> None:
        for box, row in zip(boxes, matches, strict=True):
            if row >= 0:
                self._run[row] = self._run[row] + 1 if self._last[row] == self._frame - 1 else 1
                self._boxes[row], self._last[row] = box, self._frame
            else:
                self._boxes = np.vstack([self._boxes, np.asarray(box, np.float32)[None]])
                self._last = np.append(self._last, self._frame)
                self._run = np.append(self._run, 1)
        fresh = self._frame - self._last <= self.memory_frames
        self._boxes, self._last, self._run = self._boxes[fresh], self._last[fresh], self._run[fresh]
