"""The fleet database: pulled reports, their evidence, and one checkpoint per device."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
)


@dataclass(frozen=True)
class PulledReport:
    id: str
    seq: int
    json: str
    evidence: tuple[bytes, str] | None  # (jpeg, sha256) when downloaded with this page


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

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
