"""A defect report as the device stores it and the fleet API serves it (the API's response schema)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gridscout.edge.reports.store import iso_utc
from gridscout.reports.review import ReviewState, Severity


class Report(BaseModel):
    """A defect report as stored on the device and served by the fleet API."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="stable report id: uuid5 of device id and track key")
    device_id: str
    seq: int = Field(description="per-device sequence number; rises on every insert and update")
    track_key: str
    class_name: str
    confidence: float = Field(description="best confidence seen")
    first_seen: str = Field(description="ISO-8601 UTC, e.g. 2024-05-01T12:00:00.123Z")
    last_seen: str = Field(description="ISO-8601 UTC")
    position_m: float | None = Field(description="position along the line at the best observation, metres")
    lat: float | None = Field(description="WGS84 latitude of the defect, degrees")
    lon: float | None = Field(description="WGS84 longitude of the defect, degrees")
    alt: float | None = Field(description="altitude of the defect above sea level, metres")
    error_m: float | None = Field(description="how far off lat/lon may be, metres (2DRMS: about a 95 % radius)")
    box_xyxy: tuple[float, float, float, float] | None = Field(description="box in the evidence image, pixels")
    parent_box_xyxy: tuple[float, float, float, float] | None = Field(
        default=None, description="the asset the defect is on (its insulator string) in the evidence image, pixels"
    )
    frame_id: int = Field(description="frame of the best observation")
    model_name: str
    model_sha256: str
    review_state: ReviewState
    review_note: str | None
    reviewed_at: str | None = Field(description="ISO-8601 UTC of the last review, if any")
    severity: Severity | None = Field(default=None, description="set by a review: how urgent the repair is")
    review_class: str | None = Field(
        default=None, description="set by a review that corrected the class: what the finding really is"
    )
    has_evidence: bool
    evidence_sha256: str | None = Field(description="sha256 of the evidence JPEG, to skip unchanged downloads")
    observations: int = Field(description="how many observations were written into this report")

    def review(self) -> dict:
        """This device's review in the shape the page and the exports take from either side: state, severity,
        class_name (the correction), note, reviewed_at, source."""
        return {
            "state": self.review_state, "severity": self.severity, "class_name": self.review_class,
            "note": self.review_note, "reviewed_at": self.reviewed_at, "source": "device",
        }  # fmt: skip


def report_from_row(row: tuple) -> Report:
    """A row of the store's report query as a Report."""
    (rid, device_id, seq, track_key, class_name, conf, first_ns, last_ns, pos, lat, lon, alt, error_m, frame_id,
     model_name, model_sha, review_state, review_note, reviewed_ns, severity, review_class, observations, ev_sha,
     *boxes) = row  # fmt: skip
    box, parent = boxes[:4], boxes[4:]
    return Report(
        id=rid,
        device_id=device_id,
        seq=seq,
        track_key=track_key,
        class_name=class_name,
        confidence=conf,
        first_seen=iso_utc(first_ns),
        last_seen=iso_utc(last_ns),
        position_m=pos,
        lat=lat,
        lon=lon,
        alt=alt,
        error_m=error_m,
        box_xyxy=tuple(box) if box[0] is not None else None,
        parent_box_xyxy=tuple(parent) if parent[0] is not None else None,
        frame_id=frame_id,
        model_name=model_name,
        model_sha256=model_sha,
        review_state=review_state,
        review_note=review_note,
        reviewed_at=iso_utc(reviewed_ns) if reviewed_ns is not None else None,
        severity=severity,
        review_class=review_class,
        has_evidence=ev_sha is not None,
        evidence_sha256=ev_sha,
        observations=observations,
    )
