"""A report's evidence as a reviewer looks at it: the camera's frame with the finding's box, class, confidence
and model drawn on a copy (the stored JPEG stays as the camera saw it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from gridscout.edge.offline.annotate import draw_boxes, draw_status

if TYPE_CHECKING:
    from gridscout.edge.reports.report import Report

JPEG_QUALITY = 90


def annotated_evidence(report: Report, jpeg: bytes) -> bytes:
    """A JPEG copy of `jpeg` with the report's box, class (a reviewer's correction, if any) and confidence, and
    its model, time and review at the bottom. ValueError when `jpeg` does not decode."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"report {report.id}: its evidence is not a JPEG that decodes ({len(jpeg)} bytes)")
    shown = report.review_class or report.class_name
    if report.box_xyxy is not None:
        image = draw_boxes(image, [(report.box_xyxy, report.confidence, shown, -1)])
    review = report.review_state + (f", {report.severity}" if report.severity else "")
    if shown != report.class_name:
        review += f" (found as {report.class_name})"
    draw_status(image, [f"{report.model_name} {report.model_sha256[:12]}", f"{report.last_seen} {review}"])
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    return encoded.tobytes()
