"""The fleet database: pulled reports, their evidence, one checkpoint per device, and the fleet's reviews."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gridscout.reports.assets import LINK_RADIUS_M, Asset, AssetIndex
from gridscout.reports.review import REVIEW_STATES, Review

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS checkpoints (
        device_id  TEXT PRIMARY KEY,
        url        TEXT NOT NULL,
        since      INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS reports (
        device_id TEXT NOT NULL,
        id        TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        json      TEXT NOT NULL,
        pulled_at TEXT NOT NULL,
        PRIMARY KEY (device_id, id)
    )""",
    """CREATE TABLE IF NOT EXISTS evidence (
        device_id TEXT NOT NULL,
        id        TEXT NOT NULL,
        jpeg      BLOB NOT NULL,
        sha256    TEXT NOT NULL,
        PRIMARY KEY (device_id, id)
    )""",
    # A review made at the fleet (`gridscout fleet review`); a device's own review travels in its report's JSON.
    """CREATE TABLE IF NOT EXISTS reviews (
        device_id   TEXT NOT NULL,
        id          TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('confirmed', 'rejected')),
        severity    TEXT CHECK (severity IN ('high', 'medium', 'low')),
        class_name  TEXT,
        note        TEXT,
        reviewed_at TEXT NOT NULL,
        PRIMARY KEY (device_id, id)
    )""",
    # The utility's asset registry (`gridscout fleet assets import`), replaced whole by each import.
    """CREATE TABLE IF NOT EXISTS assets (
        asset_id      TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        line_id       TEXT,
        lat           REAL NOT NULL,
        lon           REAL NOT NULL,
        asset_type    TEXT NOT NULL,
        source_system TEXT,
        height_m      REAL
    )""",
    # Which asset each report belongs to (NULL: none, and `why`), made once per report and kept across pulls.
    """CREATE TABLE IF NOT EXISTS asset_links (
        device_id  TEXT NOT NULL,
        id         TEXT NOT NULL,
        asset_id   TEXT,
        distance_m REAL,
        why        TEXT,
        PRIMARY KEY (device_id, id)
    )""",
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
)


@dataclass(frozen=True)
class PulledReport:
    id: str
    seq: int
    json: str
    evidence: tuple[bytes, str] | None  # (jpeg, sha256) when downloaded with this page


@dataclass(frozen=True)
class FleetReport:
    """A pulled report as the fleet holds it: the device's JSON, and the fleet's own review if it made one."""

    device_id: str
    id: str
    seq: int
    report: dict
    fleet_review: dict | None
    #: the linked asset (asset_id, name, line_id, asset_type, distance_m), or None and why not
    asset: dict | None = None
    asset_why: str | None = None

    @property
    def review(self) -> dict:
        """The review that stands: the later of the device's and the fleet's, by when each was made (ISO-8601
        UTC, so they compare as text); the device's on a tie. Fields: source, state, severity, class_name, note,
        reviewed_at."""
        device = {
            "source": "device", "state": self.report.get("review_state", "new"),
            "severity": self.report.get("severity"), "class_name": self.report.get("review_class"),
            "note": self.report.get("review_note"), "reviewed_at": self.report.get("reviewed_at"),
        }  # fmt: skip
        fleet = self.fleet_review
        if fleet is None or (device["reviewed_at"] or "") >= fleet["reviewed_at"]:
            return device
        return {"source": "fleet", **fleet}


@dataclass
class LinkCounts:
    """Reports linked to an asset, and those left unlinked, by why."""

    linked: int = 0
    no_position: int = 0
    out_of_range: int = 0

    def format(self, radius_m: float) -> str:
        return (f"{self.linked} reports linked to an asset; not linked: {self.out_of_range} with no structure within"
                f" {radius_m:g} m, {self.no_position} with no position")  # fmt: skip


@dataclass(frozen=True)
class PageCounts:
    new: int
    updated: int
    unchanged: int


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FleetStore:
    """`fleet.db`: written one page per transaction, so a crash never leaves a page half-stored."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    def checkpoint(self, device_id: str) -> int:
        row = self._db.execute("SELECT since FROM checkpoints WHERE device_id = ?", (device_id,)).fetchone()
        return row[0] if row else 0

    def evidence_sha256(self, device_id: str, report_id: str) -> str | None:
        row = self._db.execute(
            "SELECT sha256 FROM evidence WHERE device_id = ? AND id = ?", (device_id, report_id)
        ).fetchone()
        return row[0] if row else None

    def commit_page(self, device_id: str, url: str, reports: Iterable[PulledReport], next_since: int) -> PageCounts:
        """Store a page's reports and evidence and advance the checkpoint, all in one transaction."""
        new = updated = unchanged = 0
        pulled_at = _now_iso()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for report in reports:
                row = self._db.execute(
                    "SELECT seq FROM reports WHERE device_id = ? AND id = ?", (device_id, report.id)
                ).fetchone()
                if row is not None and row[0] >= report.seq:
                    unchanged += 1
                    continue
                new, updated = (new + 1, updated) if row is None else (new, updated + 1)
                self._db.execute(
                    "INSERT OR REPLACE INTO reports (device_id, id, seq, json, pulled_at) VALUES (?, ?, ?, ?, ?)",
                    (device_id, report.id, report.seq, report.json, pulled_at),
                )
                if report.evidence is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO evidence (device_id, id, jpeg, sha256) VALUES (?, ?, ?, ?)",
                        (device_id, report.id, *report.evidence),
                    )
            self._db.execute(
                "INSERT INTO checkpoints (device_id, url, since, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (device_id) DO UPDATE SET url = excluded.url, since = excluded.since,"
                " updated_at = excluded.updated_at",
                (device_id, url, next_since, pulled_at),
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return PageCounts(new, updated, unchanged)

    #: a report with the fleet's review of it and its asset link
    _JOINS = (
        " FROM reports r LEFT JOIN reviews v ON v.device_id = r.device_id AND v.id = r.id"
        " LEFT JOIN asset_links l ON l.device_id = r.device_id AND l.id = r.id"
        " LEFT JOIN assets a ON a.asset_id = l.asset_id"
    )
    _REPORTS = (
        "SELECT r.device_id, r.id, r.seq, r.json, v.state, v.severity, v.class_name, v.note, v.reviewed_at,"
        " l.asset_id, a.name, a.line_id, a.asset_type, l.distance_m, l.why" + _JOINS
    )

    @staticmethod
    def _fleet_report(row: tuple) -> FleetReport:
        device_id, rid, seq, text, state, severity, class_name, note, reviewed_at, *linked = row
        asset_id, name, line_id, asset_type, distance, why = linked
        review = None if state is None else {
            "state": state, "severity": severity, "class_name": class_name, "note": note, "reviewed_at": reviewed_at
        }  # fmt: skip
        asset = None if asset_id is None or name is None else {
            "asset_id": asset_id, "name": name, "line_id": line_id, "asset_type": asset_type, "distance_m": distance
        }  # fmt: skip
        return FleetReport(device_id, rid, seq, json.loads(text), review, asset, why)

    def reports(self, device_id: str | None = None, limit: int = 100, offset: int = 0) -> list[FleetReport]:
        """Pulled reports, newest first by when each was last seen, optionally of one device."""
        where, args = ("WHERE r.device_id = ?", [device_id]) if device_id else ("", [])
        rows = self._db.execute(
            f"{self._REPORTS} {where} ORDER BY json_extract(r.json, '$.last_seen') DESC, r.device_id, r.id"
            " LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [self._fleet_report(row) for row in rows]

    #: the review that stands, in SQL (FleetReport.review in Python): the fleet's when it was made after the
    #: device's, else the device's
    _FLEET_WINS = "v.state IS NOT NULL AND v.reviewed_at > COALESCE(json_extract(r.json, '$.reviewed_at'), '')"
    _STANDING = f"CASE WHEN {_FLEET_WINS} THEN v.state ELSE COALESCE(json_extract(r.json, '$.review_state'), 'new') END"
    _STANDING_SEVERITY = f"CASE WHEN {_FLEET_WINS} THEN v.severity ELSE json_extract(r.json, '$.severity') END"
    _STANDING_CLASS = (
        f"COALESCE(CASE WHEN {_FLEET_WINS} THEN v.class_name END, json_extract(r.json, '$.review_class'),"
        " json_extract(r.json, '$.class_name'))"
    )

    def _narrowed(self, state: str | None, narrow: Mapping[str, str | None]) -> tuple[str, list]:
        """A WHERE clause for the review state that stands and a narrowing: device, class and severity as they
        stand, and the linked asset's line."""
        conditions = [
            (f"{self._STANDING} = ?", state), ("r.device_id = ?", narrow.get("device")),
            (f"{self._STANDING_CLASS} = ?", narrow.get("class_name")),
            (f"{self._STANDING_SEVERITY} = ?", narrow.get("severity")), ("a.line_id = ?", narrow.get("line")),
        ]  # fmt: skip
        kept = [(sql, value) for sql, value in conditions if value]
        return (" WHERE " + " AND ".join(sql for sql, _ in kept) if kept else ""), [value for _, value in kept]

    def review_counts(self, narrow: Mapping[str, str | None] | None = None) -> dict[str, int]:
        """Reports per review state that stands (every state named, zeros too), within `narrow`."""
        where, args = self._narrowed(None, narrow or {})
        rows = self._db.execute(f"SELECT {self._STANDING}, COUNT(*){self._JOINS}{where} GROUP BY 1", args).fetchall()
        return {state: 0 for state in REVIEW_STATES} | dict(rows)

    def queue(
        self, state: str | None, offset: int = 0, limit: int = 50, narrow: Mapping[str, str | None] | None = None
    ) -> list[FleetReport]:
        """Reports of one review state that stands (None: all) within `narrow`, in the order they were first seen."""
        where, args = self._narrowed(state, narrow or {})
        rows = self._db.execute(
            f"{self._REPORTS}{where} ORDER BY json_extract(r.json, '$.first_seen'), r.device_id, r.id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [self._fleet_report(row) for row in rows]

    def get(self, device_id: str, report_id: str) -> FleetReport | None:
        row = self._db.execute(f"{self._REPORTS} WHERE r.device_id = ? AND r.id = ?", (device_id, report_id)).fetchone()
        return self._fleet_report(row) if row else None

    def placed(self, state: str | None = None, narrow: Mapping[str, str | None] | None = None) -> list[tuple]:
        """(device_id, id, lat, lon, class, review state and severity that stand) of every report with a position,
        of that review state and within `narrow`."""
        where, args = self._narrowed(state, narrow or {})
        where += (" AND" if where else " WHERE") + (
            " json_extract(r.json, '$.lat') IS NOT NULL AND json_extract(r.json, '$.lon') IS NOT NULL"
        )
        return self._db.execute(
            "SELECT r.device_id, r.id, json_extract(r.json, '$.lat'), json_extract(r.json, '$.lon'),"
            f" {self._STANDING_CLASS}, {self._STANDING}, {self._STANDING_SEVERITY}{self._JOINS}{where}",
            args,
        ).fetchall()

    def lines(self) -> list[str]:
        """The lines of the registry's assets that some report is linked to."""
        return [line for (line,) in self._db.execute(
            "SELECT DISTINCT a.line_id FROM asset_links l JOIN assets a ON a.asset_id = l.asset_id"
            " WHERE a.line_id IS NOT NULL ORDER BY 1")]  # fmt: skip

    def devices(self) -> list[str]:
        return [d for (d,) in self._db.execute("SELECT DISTINCT device_id FROM reports ORDER BY 1")]

    def find(self, id_prefix: str) -> list[FleetReport]:
        """Reports (of any device) whose id starts with `id_prefix`, at most a few."""
        pattern = id_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._db.execute(f"{self._REPORTS} WHERE r.id LIKE ? ESCAPE '\\' LIMIT 10", (pattern,)).fetchall()
        return [self._fleet_report(row) for row in rows]

    def classes(self) -> set[str]:
        """Every class a pulled report was found as or reviewed to: what a fleet review may correct a class to."""
        found = self._db.execute(
            "SELECT json_extract(json, '$.class_name') FROM reports UNION SELECT json_extract(json, '$.review_class')"
            " FROM reports UNION SELECT class_name FROM reviews"
        ).fetchall()
        return {name for (name,) in found if name}

    def set_review(self, device_id: str, report_id: str, review: Review) -> FleetReport:
        """Record the fleet's review of a pulled report (replacing its earlier one). ReviewError for a review
        that breaks the rules, KeyError for a report this database does not hold."""
        review.checked(self.classes())
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if not self._db.execute(
                "SELECT 1 FROM reports WHERE device_id = ? AND id = ?", (device_id, report_id)
            ).fetchone():
                raise KeyError(report_id)
            self._db.execute(
                "INSERT OR REPLACE INTO reviews (device_id, id, state, severity, class_name, note, reviewed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (device_id, report_id, review.state, review.severity, review.class_name, review.note, _now_iso()),
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        (report,) = [r for r in self.find(report_id) if r.device_id == device_id]
        return report

    def import_assets(self, assets: list[Asset], radius_m: float) -> LinkCounts:
        """Replace the registry with `assets` and link every report anew, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("DELETE FROM assets")
            self._db.executemany(
                "INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.asset_id, a.name, a.line_id, a.lat, a.lon, a.asset_type, a.source_system, a.height_m)
                 for a in assets],
            )  # fmt: skip
            self._db.execute("DELETE FROM asset_links")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('link_radius_m', ?)", (repr(radius_m),))
            counts = self._link(assets, radius_m)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return counts

    def link_new_reports(self) -> LinkCounts:
        """Link the reports no link was made for yet (new since the last pull) to the registry; those linked
        before keep their link, whatever a re-pull changed."""
        if not self._db.execute("SELECT 1 FROM assets LIMIT 1").fetchone():
            return LinkCounts()
        row = self._db.execute("SELECT value FROM meta WHERE key = 'link_radius_m'").fetchone()
        assets = [Asset(*r[:5], line_id=r[5], source_system=r[6], height_m=r[7]) for r in self._db.execute(
            "SELECT asset_id, name, lat, lon, asset_type, line_id, source_system, height_m FROM assets")]  # fmt: skip
        self._db.execute("BEGIN IMMEDIATE")
        try:
            counts = self._link(assets, float(row[0]) if row else LINK_RADIUS_M)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return counts

    def _link(self, assets: list[Asset], radius_m: float) -> LinkCounts:
        index = AssetIndex(assets)
        unlinked = self._db.execute(
            "SELECT r.device_id, r.id, json_extract(r.json, '$.lat'), json_extract(r.json, '$.lon') FROM reports r"
            " WHERE NOT EXISTS (SELECT 1 FROM asset_links l WHERE l.device_id = r.device_id AND l.id = r.id)"
        ).fetchall()
        counts = LinkCounts()
        for device_id, rid, lat, lon in unlinked:
            found = index.nearest(lat, lon, radius_m) if lat is not None and lon is not None else None
            if found:
                asset, distance = found
                link, counts.linked = (asset.asset_id, round(distance, 1), None), counts.linked + 1
            elif lat is None or lon is None:
                link, counts.no_position = (None, None, "the report has no position"), counts.no_position + 1
            else:
                link, counts.out_of_range = (None, None, f"no structure within {radius_m:g} m"), counts.out_of_range + 1
            self._db.execute("INSERT OR REPLACE INTO asset_links VALUES (?, ?, ?, ?, ?)", (device_id, rid, *link))
        return counts

    def evidence(self, device_id: str, report_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT jpeg FROM evidence WHERE device_id = ? AND id = ?", (device_id, report_id)
        ).fetchone()
        return bytes(row[0]) if row else None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
