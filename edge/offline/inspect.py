"""One frame inspected: the one code path for a photo or a frame of footage, whatever runs it (`gridscout detect`
in one process, `gridscout batch` in its workers).

The model finds the defects, the tracker (footage only: a folder's photos are unrelated views) follows them, each
detection is placed on the map from the frame's own camera pose, and the reports writer (`DetectReports`) takes
the frame and its detections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridscout.edge.geotag.placement import ReportPlacer
from gridscout.hardware.frame import Frame
from gridscout.perception.detections import Detections
from gridscout.perception.tracker import Tracker

if TYPE_CHECKING:
    from gridscout.edge.offline.detect_reports import DetectReports


@dataclass
class Inspection:
    detections: Detections
    #: each detection as a JSON record with its `geo` (None: not placed)
    records: list[dict]
    #: detections placed on the map
    placed: int


def inspect_frame(
    frame: Frame,
    model: Any,
    placer: ReportPlacer,
    *,
    tracker: Tracker | None = None,
    reports: DetectReports | None = None,
) -> Inspection:
    """Detect, track (with a `tracker`), place each detection and hand the frame to `reports` (when given)."""
    detections = model.detect(frame.image)
    if tracker is not None:
        detections = tracker.update(detections)
    records = detections.to_records()
    placed = 0
    for record, box in zip(records, detections.boxes, strict=True):
        fix = placer.place(tuple(float(v) for v in box), frame.width, frame.height, frame_pose=frame.pose)
        record["geo"] = fix.as_json() if fix else None
        placed += fix is not None
    if reports is not None:
        reports.take(frame, detections)
    return Inspection(detections, records, placed)
