"""The fleet database as the review page reads it (`gridscout.reports.web.source.ReportSource`): every device's
reports, with the review that stands (the later of the device's and the fleet's) and the linked asset.

Each call opens the database afresh: the web server answers from several threads, and SQLite connections stay
in the thread that made them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from gridscout.fleet.db import FleetReport, FleetStore
from gridscout.reports.review import Review
from gridscout.reports.web.source import Narrow, item_key, page_item, split_key


def _item(row: FleetReport) -> dict[str, Any]:
    return page_item(row.report, row.device_id, row.review, asset=row.asset, asset_why=row.asset_why)


class FleetSource:
    def __init__(self, db: Path) -> None:
        self.db = Path(db)
        with FleetStore(self.db) as store:
            devices = store.devices()
        self.title = f"fleet: {len(devices)} device{'s' * (len(devices) != 1)}"

    def counts(self, narrow: Narrow) -> dict[str, int]:
        with FleetStore(self.db) as store:
            counts = store.review_counts(asdict(narrow))
        return counts | {"all": sum(counts.values())}

    def page(self, state: str, offset: int, limit: int, narrow: Narrow) -> list[dict[str, Any]]:
        with FleetStore(self.db) as store:
            return [_item(r) for r in store.queue(None if state == "all" else state, offset, limit, asdict(narrow))]

    def facets(self) -> dict[str, list[str]]:
        with FleetStore(self.db) as store:
            return {"devices": store.devices(), "lines": store.lines()}

    def item(self, key: str) -> dict[str, Any] | None:
        try:
            device_id, report_id = split_key(key)
        except KeyError:
            return None
        with FleetStore(self.db) as store:
            row = store.get(device_id, report_id)
        return _item(row) if row else None

    def evidence(self, key: str) -> bytes | None:
        try:
            device_id, report_id = split_key(key)
        except KeyError:
            return None
        with FleetStore(self.db) as store:
            return store.evidence(device_id, report_id)

    def review(self, key: str, review: Review) -> dict[str, Any]:
        device_id, report_id = split_key(key)
        with FleetStore(self.db) as store:
            return _item(store.set_review(device_id, report_id, review))

    def classes(self) -> list[str]:
        with FleetStore(self.db) as store:
            return sorted(store.classes())

    def markers(self, state: str, narrow: Narrow) -> list[dict[str, Any]]:
        with FleetStore(self.db) as store:
            placed = store.placed(None if state == "all" else state, asdict(narrow))
        return [
            {"key": item_key(device_id, rid), "lat": lat, "lon": lon, "class_name": name, "state": state,
             "severity": severity}
            for device_id, rid, lat, lon, name, state, severity in placed
        ]  # fmt: skip

    def route(self) -> dict[str, Any] | None:
        return None
