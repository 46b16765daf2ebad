"""The fleet database: pulled reports, their evidence, one checkpoint per device, and the fleet's reviews."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gridscout.reports.review import Review

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

    _REPORTS = (
        "SELECT r.device_id, r.id, r.seq, r.json, v.state, v.severity, v.class_name, v.note, v.reviewed_at"
        " FROM reports r LEFT JOIN reviews v ON v.device_id = r.device_id AND v.id = r.id"
    )

    @staticmethod
    def _fleet_report(row: tuple) -> FleetReport:
        device_id, rid, seq, text, state, severity, class_name, note, reviewed_at = row
        review = None if state is None else {
            "state": state, "severity": severity, "class_name": class_name, "note": note, "reviewed_at": reviewed_at
        }  # fmt: skip
        return FleetReport(device_id, rid, seq, json.loads(text), review)

    def reports(self, device_id: str | None = None, limit: int = 100, offset: int = 0) -> list[FleetReport]:
        """Pulled reports, newest first by when each was last seen, optionally of one device."""
        where, args = ("WHERE r.device_id = ?", [device_id]) if device_id else ("", [])
        rows = self._db.execute(
            f"{self._REPORTS} {where} ORDER BY json_extract(r.json, '$.last_seen') DESC, r.device_id, r.id"
            " LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [self._fleet_report(row) for row in rows]

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
