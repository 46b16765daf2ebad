"""What the page needs of a report store, whichever side serves it: the device's own store or the fleet's
database of many devices. Both give items in one shape (`page_item`), keyed `device_id:report_id`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gridscout.reports.review import Review

#: the review filters the page offers ("all" is every report)
FILTERS = ("new", "confirmed", "rejected", "all")


@dataclass(frozen=True)
class Narrow:
    """What the page narrows its queue and map to, beside the review state (None: any)."""

    device: str | None = None
    class_name: str | None = None  # as it stands: a review's correction, else the detector's
    severity: str | None = None
    line: str | None = None  # the linked asset's line (the fleet's registry)


def item_key(device_id: str, report_id: str) -> str:
    return f"{device_id}:{report_id}"


def split_key(key: str) -> tuple[str, str]:
    """(device_id, report_id) of an item key; KeyError for one that is not."""
    device_id, sep, report_id = key.rpartition(":")
    if not sep or not device_id or not report_id:
        raise KeyError(key)
    return device_id, report_id


def page_item(report: Mapping[str, Any], device_id: str, review: Mapping[str, Any], *,
              asset: Mapping[str, Any] | None = None, asset_why: str | None = None) -> dict[str, Any]:  # fmt: skip
    """One report as the page shows it: the device's report (as its API serves it), the review that stands
    (state, severity, class_name, note, reviewed_at, source) and the linked asset."""
    state = review.get("state") or "new"
    reviewed = {
        "state": state, "severity": review.get("severity"), "class_name": review.get("class_name"),
        "note": review.get("note"), "reviewed_at": review.get("reviewed_at"),
        "source": review.get("source") if state != "new" else None,
    }  # fmt: skip
    return {
        "key": item_key(device_id, report["id"]),
        "id": report["id"],
        "device_id": device_id,
        "class_name": review.get("class_name") or report["class_name"],
        "detected_class": report["class_name"],
        "confidence": report["confidence"],
        "first_seen": report["first_seen"],
        "last_seen": report["last_seen"],
        "lat": report.get("lat"),
        "lon": report.get("lon"),
        "error_m": report.get("error_m"),
        "position_m": report.get("position_m"),
        "box": report.get("box_xyxy"),
        "frame_id": report.get("frame_id"),
        "model_name": report["model_name"],
        "model_sha256": report["model_sha256"],
        "observations": report.get("observations"),
        "has_evidence": bool(report.get("has_evidence")),
        "review": reviewed,
        "asset": dict(asset) if asset else None,
        "asset_why": asset_why,
    }


class ReportSource(Protocol):
    """A report store as the page reads and reviews it. Keys are `item_key(device_id, report_id)`."""

    #: what the page's header says it is, e.g. "device gs-robot-7" or "fleet (3 devices)"
    title: str

    def counts(self, narrow: Narrow) -> dict[str, int]:
        """Reports per review state that stands (new, confirmed, rejected) and all, within `narrow`."""
        ...

    def page(self, state: str, offset: int, limit: int, narrow: Narrow) -> list[dict[str, Any]]:
        """Items with that review state ("all": any) within `narrow`, in the order they were first seen."""
        ...

    def facets(self) -> dict[str, list[str]]:
        """The devices and lines there are to narrow to (an empty list: nothing to choose)."""
        ...

    def item(self, key: str) -> dict[str, Any] | None: ...

    def evidence(self, key: str) -> bytes | None: ...

    def review(self, key: str, review: Review) -> dict[str, Any]:
        """Record a review; the item after it. KeyError for an unknown key, ReviewError for a bad review."""
        ...

    def classes(self) -> list[str]:
        """The classes a review may correct a finding to."""
        ...

    def markers(self, state: str, narrow: Narrow) -> list[dict[str, Any]]:
        """Every placed report of that review state within `narrow`, small: key, lat, lon, class_name, state,
        severity."""
        ...

    def route(self) -> dict[str, Any] | None:
        """The mission's route as GeoJSON (None: no mission)."""
        ...


class LiveView(Protocol):
    """A running chain as the page's live view shows it (only the device's API, inside `gridscout run`, has one)."""

    closed: bool

    def snapshot(self) -> dict[str, Any]:
        """The latest state: vehicle, control, camera, processes, storage, detections, frame id."""
        ...

    def frames(self) -> Iterator[bytes]:
        """Each new annotated picture as JPEG, until the view closes."""
        ...

    def track(self) -> dict[str, Any] | None:
        """Where the vehicle has been this run, as a GeoJSON LineString (None: no position yet)."""
        ...
