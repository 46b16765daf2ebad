"""The device's report store as the review page reads it (`gridscout.reports.web.source.ReportSource`)."""

from __future__ import annotations

from typing import Any

from gridscout.edge.reports.report import Report
from gridscout.edge.reports.store import ReportStore
from gridscout.perception.taxonomy import TAXONOMY
from gridscout.reports.review import Review
from gridscout.reports.web.source import Narrow, item_key, page_item, split_key


class DeviceSource:
    """One device's `reports.db`; `route` is the mission's GeoJSON when the run has one."""

    def __init__(self, store: ReportStore, route: dict[str, Any] | None = None) -> None:
        self.store = store
        self._route = route
        self.title = f"device {store.device_id}"

    def _item(self, report: Report) -> dict[str, Any]:
        return page_item(report.model_dump(mode="json"), self.store.device_id, report.review())

    def _id(self, key: str) -> str | None:
        device_id, report_id = split_key(key)
        return report_id if device_id == self.store.device_id else None

    def _mine(self, narrow: Narrow) -> bool:
        """Whether `narrow` can hold any of this device's reports (one device, no asset registry)."""
        return narrow.device in (None, self.store.device_id) and narrow.line is None

    def counts(self, narrow: Narrow) -> dict[str, int]:
        counts = self.store.review_counts(class_name=narrow.class_name, severity=narrow.severity)
        if not self._mine(narrow):
            counts = dict.fromkeys(counts, 0)
        return counts | {"all": sum(counts.values())}

    def page(self, state: str, offset: int, limit: int, narrow: Narrow) -> list[dict[str, Any]]:
        if not self._mine(narrow):
            return []
        found = self.store.page(None if state == "all" else state, offset, limit, class_name=narrow.class_name,
                                severity=narrow.severity)  # fmt: skip
        return [self._item(r) for r in found]

    def facets(self) -> dict[str, list[str]]:
        return {"devices": [], "lines": []}

    def item(self, key: str) -> dict[str, Any] | None:
        try:
            report_id = self._id(key)
        except KeyError:
            return None
        report = self.store.get(report_id) if report_id else None
        return self._item(report) if report else None

    def evidence(self, key: str) -> bytes | None:
        try:
            report_id = self._id(key)
        except KeyError:
            return None
        return self.store.evidence(report_id) if report_id else None

    def review(self, key: str, review: Review) -> dict[str, Any]:
        report_id = self._id(key)
        if report_id is None:
            raise KeyError(key)
        return self._item(self.store.set_review(report_id, review))

    def classes(self) -> list[str]:
        return list(TAXONOMY)

    def markers(self, state: str, narrow: Narrow) -> list[dict[str, Any]]:
        if not self._mine(narrow):
            return []
        placed = self.store.placed(None if state == "all" else state, class_name=narrow.class_name,
                                   severity=narrow.severity)  # fmt: skip
        return [
            {"key": item_key(self.store.device_id, rid), "lat": lat, "lon": lon, "class_name": corrected or found,
             "state": review_state, "severity": severity}
            for rid, lat, lon, found, corrected, review_state, severity in placed
        ]  # fmt: skip

    def route(self) -> dict[str, Any] | None:
        return self._route
