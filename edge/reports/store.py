"""The defect report store: one SQLite file per device, safe against power loss and kill -9.

Every write runs in one `BEGIN IMMEDIATE` transaction that allocates the next per-device `seq`,
writes the report row and its evidence JPEG together, and commits with `synchronous=FULL`.
WAL mode lets the API read while the reporter writes; several processes may open the same file.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from gridscout.perception.taxonomy import TAXONOMY
from gridscout.reports.review import REVIEW_STATES, Review

if TYPE_CHECKING:
    from gridscout.edge.reports.report import Report

#: 2 added reports.error_m, 3 severity and review_class, 4 the evidence's parent box (an older store is migrated
#: when opened)
SCHEMA_VERSION = 4
DB_NAME = "reports.db"
# Report ids are uuid5(REPORT_NAMESPACE, f"{device_id}/{track_key}"): the same input always gives the same id.
REPORT_NAMESPACE = uuid.UUID("6f0c1a52-3b9e-5d5e-9c4a-6772696473c0")
BUSY_TIMEOUT_MS = 10_000
#: the largest seq SQLite's INTEGER holds: a cursor past it is refused (the API's 422), never stored
MAX_SEQ = 2**63 - 1


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    id             TEXT PRIMARY KEY,
    device_id      TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    track_key      TEXT NOT NULL,
    class_name     TEXT NOT NULL,
    confidence     REAL NOT NULL,
    first_seen_ns  INTEGER NOT NULL,
    last_seen_ns   INTEGER NOT NULL,
    position_m     REAL,
    lat            REAL,
    lon            REAL,
    alt            REAL,
    error_m        REAL,
    frame_id       INTEGER NOT NULL,
    model_name     TEXT NOT NULL,
    model_sha256   TEXT NOT NULL,
    review_state   TEXT NOT NULL DEFAULT 'new' CHECK (review_state IN ('new', 'confirmed', 'rejected')),
    review_note    TEXT,
    reviewed_at_ns INTEGER,
    severity       TEXT CHECK (severity IN ('high', 'medium', 'low')),
    review_class   TEXT,
    observations   INTEGER NOT NULL DEFAULT 1,
    UNIQUE (device_id, seq)
);
CREATE TABLE IF NOT EXISTS evidence (
    report_id TEXT PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
    jpeg      BLOB NOT NULL,
    sha256    TEXT NOT NULL,
    x1 REAL, y1 REAL, x2 REAL, y2 REAL,
    px1 REAL, py1 REAL, px2 REAL, py2 REAL
);
"""

_SELECT = """
SELECT r.id, r.device_id, r.seq, r.track_key, r.class_name, r.confidence, r.first_seen_ns, r.last_seen_ns,
       r.position_m, r.lat, r.lon, r.alt, r.error_m, r.frame_id, r.model_name, r.model_sha256, r.review_state,
       r.review_note, r.reviewed_at_ns, r.severity, r.review_class, r.observations, e.sha256, e.x1, e.y1, e.x2, e.y2,
       e.px1, e.py1, e.px2, e.py2
FROM reports r LEFT JOIN evidence e ON e.report_id = r.id
"""


#: the reports (as `r`) of one run on this device: its reporter's track keys start with "<run id>:" (`_of_run`)
_OF_RUN = "r.device_id = ? AND substr(r.track_key, 1, ?) = ?"


class StoreNotFoundError(FileNotFoundError):
    """No report store in the given data directory."""


class ReportObservation(msgspec.Struct, frozen=True, kw_only=True):
    """One sighting of a tracked defect, as the reporter hands it to the store."""

    track_key: str  # stable per physical defect within a run, e.g. "run-uuid:track-7"
    class_name: str
    confidence: float
    t_wall_ns: int  # UTC wall clock, ns since the epoch
    frame_id: int
    model_name: str
    model_sha256: str
    position_m: float | None = None  # distance along the line
    lat: float | None = None  # WGS84 degrees of the defect (not of the vehicle)
    lon: float | None = None
    alt: float | None = None  # metres above sea level
    error_m: float | None = None  # how far off lat/lon may be (about a 95 % radius)
    evidence_jpeg: bytes | None = None  # only when this observation is a new best frame
    evidence_box_xyxy: tuple[float, float, float, float] | None = None  # pixels in evidence_jpeg
    evidence_parent_xyxy: tuple[float, float, float, float] | None = None  # the string it is on, pixels too


def report_id_for(device_id: str, track_key: str) -> str:
    return str(uuid.uuid5(REPORT_NAMESPACE, f"{device_id}/{track_key}"))


def improves(confidence: float, best: float | None) -> bool:
    """The store's rule: a report's best observation (the first, then any surer one) defines its class,
    confidence, position, model and evidence frame."""
    return best is None or confidence > best


def iso_utc(t_ns: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t_ns // 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default_device_id() -> str:
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname().lower()) or "host"
    return f"gs-{host}-{secrets.token_hex(3)}"


def _report(row: tuple) -> Report:
    # Imported here: pydantic (~17 MB) loads only in processes that read reports back (the API, the CLI),
    # never in the reporter, which only writes.
    from gridscout.edge.reports.report import report_from_row

    return report_from_row(row)


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a store written by an older GridScout up to SCHEMA_VERSION, inside the opening transaction."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(reports)")}
    if version < 2 and "error_m" not in columns:
        db.execute("ALTER TABLE reports ADD COLUMN error_m REAL")
    evidence_columns = {row[1] for row in db.execute("PRAGMA table_info(evidence)")}
    if version < 4 and "px1" not in evidence_columns:
        for column in ("px1", "py1", "px2", "py2"):
            db.execute(f"ALTER TABLE evidence ADD COLUMN {column} REAL")
    if version < 3 and "severity" not in columns:
        db.execute("ALTER TABLE reports ADD COLUMN severity TEXT CHECK (severity IN ('high', 'medium', 'low'))")
        db.execute("ALTER TABLE reports ADD COLUMN review_class TEXT")


class Written(NamedTuple):
    """What `ReportStore.write` did: the report's id and new seq, whether it was new, its best class and confidence."""

    id: str
    seq: int
    created: bool
    class_name: str
    confidence: float


class ReportStore:
    """The device's reports in `data_dir/reports.db`. Thread-safe; safe to open from several processes."""

    def __init__(self, data_dir: Path, *, device_id: str | None = None, create: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        if not create and not self.path.exists():
            raise StoreNotFoundError(f"no report store in {self.data_dir} (expected {self.path})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Autocommit mode: transactions are explicit BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")  # edge boxes lose power
        self._db.execute("PRAGMA foreign_keys = ON")
        self.device_id = self._init_schema(device_id)

    @staticmethod
    def exists(data_dir: Path) -> bool:
        return (Path(data_dir) / DB_NAME).exists()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _init_schema(self, device_id: str | None) -> str:
        current = self._current_device_id(device_id)
        if current is not None:  # nothing to write: a store opens on a full disk, to be read
            return current
        with self._write() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            version = int(meta.get("schema_version", SCHEMA_VERSION))
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has schema version {version}; this GridScout knows {SCHEMA_VERSION}")
            _migrate(db, version)
            stored = meta.get("device_id")
            if stored and device_id and stored != device_id:
                raise ValueError(f"{self.path} belongs to device {stored!r}, not {device_id!r}")
            chosen = stored or device_id or _default_device_id()
            db.execute("INSERT OR IGNORE INTO meta VALUES ('device_id', ?)", (chosen,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return chosen

    def _current_device_id(self, device_id: str | None) -> str | None:
        """The store's device id when its schema is this GridScout's and needs no write; else None."""
        with self._lock:
            try:
                meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.OperationalError:  # a new store: no tables yet
                return None
        stored = meta.get("device_id")
        if stored and device_id and stored != device_id:
            raise ValueError(f"{self.path} belongs to device {stored!r}, not {device_id!r}")
        return stored if stored and meta.get("schema_version") == str(SCHEMA_VERSION) else None

    def _next_seq(self, db: sqlite3.Connection) -> int:
        query = "SELECT COALESCE(MAX(seq), 0) FROM reports WHERE device_id = ?"
        return db.execute(query, (self.device_id,)).fetchone()[0] + 1

    def _get(self, report_id: str) -> Report | None:
        row = self._db.execute(_SELECT + " WHERE r.id = ?", (report_id,)).fetchone()
        return _report(row) if row else None

    def upsert(self, obs: ReportObservation) -> Report:
        """Insert or update the report for `obs.track_key` (it gets a new seq either way); the report as stored."""
        report = self.get(self.write(obs).id)
        assert report is not None
        return report

    def write(self, obs: ReportObservation) -> Written:
        """`upsert` for a writer that needs no report back (the reporter process): no pydantic involved."""
        with self._write() as db:
            return self._write_one(db, obs)

    def write_many(
        self, observations: Sequence[ReportObservation], *, also: Callable[[sqlite3.Connection], None] | None = None
    ) -> list[Written]:
        """`write` each observation, in order, in one transaction, and run `also` on the connection inside it: all of
        it is stored, or (an error, a kill) none of it (`gridscout batch` stores an item's reports with its mark)."""
        with self._write() as db:
            written = [self._write_one(db, obs) for obs in observations]
            if also is not None:
                also(db)
        return written

    def _write_one(self, db: sqlite3.Connection, obs: ReportObservation) -> Written:
        report_id = report_id_for(self.device_id, obs.track_key)
        seq = self._next_seq(db)
        current = db.execute(
            "SELECT r.confidence, e.report_id IS NOT NULL FROM reports r LEFT JOIN evidence e ON e.report_id = r.id"
            " WHERE r.id = ?",
            (report_id,),
        ).fetchone()
        if current is None:
            db.execute(
                "INSERT INTO reports (id, device_id, seq, track_key, class_name, confidence, first_seen_ns,"
                " last_seen_ns, position_m, lat, lon, alt, error_m, frame_id, model_name, model_sha256)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report_id, self.device_id, seq, obs.track_key, obs.class_name, obs.confidence, obs.t_wall_ns,
                 obs.t_wall_ns, obs.position_m, obs.lat, obs.lon, obs.alt, obs.error_m, obs.frame_id,
                 obs.model_name, obs.model_sha256),
            )  # fmt: skip
            better, had_evidence = True, False
        else:
            best_conf, had_evidence = current
            better = improves(obs.confidence, best_conf)
            db.execute(
                "UPDATE reports SET seq = ?, observations = observations + 1,"
                " first_seen_ns = MIN(first_seen_ns, ?), last_seen_ns = MAX(last_seen_ns, ?) WHERE id = ?",
                (seq, obs.t_wall_ns, obs.t_wall_ns, report_id),
            )
            if better:  # the best observation defines class, confidence, position and model
                db.execute(
                    "UPDATE reports SET class_name = ?, confidence = ?, position_m = ?, lat = ?, lon = ?, alt = ?,"
                    " error_m = ?, frame_id = ?, model_name = ?, model_sha256 = ? WHERE id = ?",
                    (obs.class_name, obs.confidence, obs.position_m, obs.lat, obs.lon, obs.alt, obs.error_m,
                     obs.frame_id, obs.model_name, obs.model_sha256, report_id),
                )  # fmt: skip
        # Evidence follows the best confidence; a report with none yet takes whatever frame comes.
        if obs.evidence_jpeg is not None and (better or not had_evidence):
            box = obs.evidence_box_xyxy or (None, None, None, None)
            parent = obs.evidence_parent_xyxy or (None, None, None, None)
            db.execute(
                "INSERT OR REPLACE INTO evidence (report_id, jpeg, sha256, x1, y1, x2, y2, px1, py1, px2, py2)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report_id, obs.evidence_jpeg, hashlib.sha256(obs.evidence_jpeg).hexdigest(), *box, *parent),
            )
        class_name, confidence = db.execute(
            "SELECT class_name, confidence FROM reports WHERE id = ?", (report_id,)
        ).fetchone()
        return Written(report_id, seq, current is None, class_name, confidence)

    def attach_evidence(
        self,
        report_id: str,
        jpeg: bytes,
        box_xyxy: tuple[float, float, float, float],
        parent_xyxy: tuple[float, float, float, float] | None = None,
    ) -> bool:
        """Give a report that has no evidence image this one (a frame found later, in the recording), with a new seq
        so that the fleet pulls it again; its observations stay as they are. False: it has one, or no such report."""
        with self._write() as db:
            row = db.execute(
                "SELECT e.report_id IS NOT NULL FROM reports r LEFT JOIN evidence e ON e.report_id = r.id"
                " WHERE r.id = ?",
                (report_id,),
            ).fetchone()
            if row is None or row[0]:
                return False
            db.execute("UPDATE reports SET seq = ? WHERE id = ?", (self._next_seq(db), report_id))
            db.execute(
                "INSERT INTO evidence (report_id, jpeg, sha256, x1, y1, x2, y2, px1, py1, px2, py2)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report_id, jpeg, hashlib.sha256(jpeg).hexdigest(), *box_xyxy,
                 *(parent_xyxy or (None, None, None, None))),
            )  # fmt: skip
        return True

    def set_review(self, report_id: str, review: Review) -> Report:
        """Record a person's review (it replaces any earlier one); bumps seq so pullers see it. ReviewError for a
        review that breaks the rules (a class outside the taxonomy, say), KeyError if the report is unknown."""
        review.checked(TAXONOMY)
        with self._write() as db:
            seq = self._next_seq(db)
            updated = db.execute(
                "UPDATE reports SET seq = ?, review_state = ?, review_note = ?, reviewed_at_ns = ?, severity = ?,"
                " review_class = ? WHERE id = ?",
                (seq, review.state, review.note, time.time_ns(), review.severity, review.class_name, report_id),
            ).rowcount
            if not updated:
                raise KeyError(report_id)
            report = self._get(report_id)
        assert report is not None
        return report

    def get(self, report_id: str) -> Report | None:
        with self._lock:
            return self._get(report_id)

    def list(self, since: int = 0, limit: int = 100) -> list[Report]:
        """Reports with seq > since, in seq order."""
        with self._lock:
            rows = self._db.execute(
                _SELECT + " WHERE r.device_id = ? AND r.seq > ? ORDER BY r.seq LIMIT ?", (self.device_id, since, limit)
            ).fetchall()
        return [_report(row) for row in rows]

    @staticmethod
    def _narrowed(state: str | None, class_name: str | None, severity: str | None) -> tuple[str, tuple]:
        """SQL conditions (after `WHERE device_id = ?`) for a review queue's state, class as it stands and severity."""
        conditions = [("r.review_state = ?", state), ("COALESCE(r.review_class, r.class_name) = ?", class_name),
                      ("r.severity = ?", severity)]  # fmt: skip
        kept = [(sql, value) for sql, value in conditions if value]
        return "".join(f" AND {sql}" for sql, _ in kept), tuple(value for _, value in kept)

    def page(
        self,
        state: str | None,
        offset: int = 0,
        limit: int = 50,
        *,
        class_name: str | None = None,
        severity: str | None = None,
    ) -> list[Report]:
        """Reports in the order they were first seen, of one review state (None: all), class as it stands and
        severity, for a review queue."""
        where, args = self._narrowed(state, class_name, severity)
        with self._lock:
            rows = self._db.execute(
                _SELECT + f" WHERE r.device_id = ?{where} ORDER BY r.first_seen_ns, r.id LIMIT ? OFFSET ?",
                (self.device_id, *args, limit, offset),
            ).fetchall()
        return [_report(row) for row in rows]

    def review_counts(self, *, class_name: str | None = None, severity: str | None = None) -> dict[str, int]:
        """How many reports are in each review state (every state named, zeros too), of that class and severity."""
        where, args = self._narrowed(None, class_name, severity)
        with self._lock:
            rows = self._db.execute(
                f"SELECT review_state, COUNT(*) FROM reports r WHERE device_id = ?{where} GROUP BY review_state",
                (self.device_id, *args),
            ).fetchall()
        return {state: 0 for state in REVIEW_STATES} | dict(rows)

    def placed(
        self, state: str | None = None, *, class_name: str | None = None, severity: str | None = None
    ) -> list[tuple]:
        """(id, lat, lon, class_name, review_class, review_state, severity) of every report with a position (of that
        review state, class as it stands and severity)."""
        where, args = self._narrowed(state, class_name, severity)
        with self._lock:
            return self._db.execute(
                "SELECT id, lat, lon, class_name, review_class, review_state, severity FROM reports r"
                f" WHERE device_id = ? AND lat IS NOT NULL AND lon IS NOT NULL{where} ORDER BY first_seen_ns",
                (self.device_id, *args),
            ).fetchall()

    def find(self, id_prefix: str) -> list[Report]:
        """Reports whose id starts with `id_prefix` (at most a few, for resolving short ids)."""
        pattern = id_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._lock:
            rows = self._db.execute(_SELECT + " WHERE r.id LIKE ? ESCAPE '\\' LIMIT 10", (pattern,)).fetchall()
        return [_report(row) for row in rows]

    def evidence(self, report_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT jpeg FROM evidence WHERE report_id = ?", (report_id,)).fetchone()
        return bytes(row[0]) if row else None

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM reports").fetchone()[0]

    def run_tally(self, run_id: str) -> tuple[int, int]:
        """(reports, observations) of the run `run_id` (its reporter's track keys start with it): a run's summary
        counts its reports from the store, which a restarted reporter's memory is not."""
        with self._lock:
            row = self._db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(r.observations), 0) FROM reports r WHERE {_OF_RUN}",
                self._of_run(run_id),
            ).fetchone()
        return int(row[0]), int(row[1])

    def without_evidence(self, run_id: str, since_seq: int = 0) -> int:
        """How many of run `run_id`'s reports written after `since_seq` have no evidence image: a defect a restarted
        reporter caught up on, seen only while it was down (its frames went with the process)."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM reports r LEFT JOIN evidence e ON e.report_id = r.id"
                f" WHERE {_OF_RUN} AND r.seq > ? AND e.report_id IS NULL",
                (*self._of_run(run_id), since_seq),
            ).fetchone()
        return int(row[0])

    def last_seen_by_track(self, run_id: str) -> dict[str, int]:
        """Each of run `run_id`'s track keys and the capture time (UTC ns) of its latest stored observation: what a
        restarted reporter has already stored, as it catches up."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT r.track_key, r.last_seen_ns FROM reports r WHERE {_OF_RUN}", self._of_run(run_id)
            ).fetchall()
        return dict(rows)

    def _of_run(self, run_id: str) -> tuple[str, int, str]:
        """`_OF_RUN`'s parameters for run `run_id`."""
        return self.device_id, len(run_id) + 1, run_id + ":"

    def latest_seq(self) -> int:
        with self._lock:
            return self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM reports WHERE device_id = ?", (self.device_id,)
            ).fetchone()[0]

    def mark_pulled(self, seq: int) -> None:
        """The fleet asked for the reports after `seq`, so it holds every report up to it (the puller commits
        each page with its checkpoint before it asks for the next). Kept as a high-water mark: an update to a
        report takes a new seq, and so makes it unpulled again."""
        seq = min(seq, self.latest_seq())  # never beyond what exists: later reports stay unpulled
        if seq <= self.pulled_seq():
            return
        with self._write() as db:
            db.execute(
                "INSERT INTO meta VALUES ('pulled_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                " WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)",
                (str(seq),),
            )

    def pulled_seq(self) -> int:
        """The highest seq the fleet is known to hold (0: nothing pulled yet). A stored mark beyond the latest seq
        (written before marks were clamped) is not believed: 0, so every report's evidence stays protected."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'pulled_seq'").fetchone()
        value = int(row[0]) if row else 0
        return value if value <= self.latest_seq() else 0

    def unpulled_spans(self) -> list[tuple[str, int, int]]:
        """(report id, first seen, last seen) in wall-clock ns of each report the fleet has not pulled yet:
        the time spans whose recordings hold its evidence."""
        pulled = self.pulled_seq()
        with self._lock:
            rows = self._db.execute(
                "SELECT id, first_seen_ns, last_seen_ns FROM reports WHERE device_id = ? AND seq > ? ORDER BY seq",
                (self.device_id, pulled),
            ).fetchall()
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ReportStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReportStore({os.fspath(self.path)!r}, device_id={self.device_id!r})"
