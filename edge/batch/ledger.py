"""The batch's done-list: a table beside the reports in the output's `reports.db`, one row per item by path, and
another naming the item each report came from.

Each row holds the file's size, modification time and sha256 when it was inspected, whether it is `done` or
`failed` (and why), its tries, frames and reports. An item's row is written in the same transaction as its reports
(`ReportStore.write_many`), so a batch killed at any moment has each item's reports stored with its row, or
neither. A re-run skips every item whose row says done for the same file: same size and modification time, or
(a file touched, copied or moved back) the same content hash. Failed items are tried again. The failed ones of
a run are also listed, one `path<TAB>error` a line, in `FAILED_LIST` in the output folder.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from gridscout.edge.batch.items import WorkItem
from gridscout.edge.batch.worker import ItemOutcome
from gridscout.edge.reports.store import BUSY_TIMEOUT_MS

TABLE = "batch_items"
#: which item each report came from (a photo's track key names it too; a video's frame is the report's frame_id)
REPORTS_TABLE = "batch_reports"
FAILED_LIST = "batch-failed.txt"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    path        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    sha256      TEXT,
    status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error       TEXT,
    tries       INTEGER NOT NULL,
    frames      INTEGER NOT NULL,
    reports     INTEGER NOT NULL,
    finished_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS {REPORTS_TABLE} (
    report_id TEXT PRIMARY KEY,
    path      TEXT NOT NULL
)
"""


class Ledger:
    """The done-list of the report store at `db_path` (its own connection, for reading and for its schema)."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path
        self._db = sqlite3.connect(db_path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self._db.execute(statement)

    def pending(self, items: Iterable[WorkItem]) -> tuple[list[WorkItem], int]:
        """The items still to do, in order, and how many were done before (skipped)."""
        done = {
            path: (size, mtime_ns, sha256)
            for path, size, mtime_ns, sha256 in self._db.execute(
                f"SELECT path, size, mtime_ns, sha256 FROM {TABLE} WHERE status = 'done'"
            )
        }
        todo, skipped = [], 0
        for item in items:
            row = done.get(item.path)
            if row is not None and (row[:2] == (item.size, item.mtime_ns) or self._same_content(item, *row)):
                skipped += 1
            else:
                todo.append(item)
        return todo, skipped

    def _same_content(self, item: WorkItem, size: int, _mtime_ns: int, sha256: str | None) -> bool:
        """A done file whose modification time changed: done still when its bytes are (its row takes the new time)."""
        if not sha256 or item.size != size:
            return False
        try:
            with open(item.path, "rb") as file:
                same = hashlib.file_digest(file, "sha256").hexdigest() == sha256
        except OSError:
            return False
        if same:
            self._db.execute(f"UPDATE {TABLE} SET mtime_ns = ? WHERE path = ?", (item.mtime_ns, item.path))
        return same

    @staticmethod
    def mark(outcome: ItemOutcome, report_ids: set[str]) -> Callable[[sqlite3.Connection], None]:
        """The row of `outcome` and its reports' source, written inside the transaction that stores its reports."""
        item = outcome.item
        row = (item.path, item.kind, item.size, item.mtime_ns, outcome.sha256 or None,
               "done" if outcome.ok else "failed", outcome.error or None, outcome.tries, outcome.frames,
               len(report_ids), time.time_ns())  # fmt: skip

        def write(db: sqlite3.Connection) -> None:
            db.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            db.executemany(
                f"INSERT OR REPLACE INTO {REPORTS_TABLE} VALUES (?, ?)", ((rid, item.path) for rid in report_ids)
            )

        return write

    def close(self) -> None:
        self._db.close()


def write_failed_list(out: Path, failed: list[tuple[str, str]]) -> Path | None:
    """`FAILED_LIST` in `out`: each failed item's path and error (a run without failures removes an older one)."""
    path = out / FAILED_LIST
    if not failed:
        path.unlink(missing_ok=True)
        return None
    lines = (f"{p}\t{' '.join(error.split())}" for p, error in failed)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path
