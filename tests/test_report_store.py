"""The defect report store on real SQLite files: seq bookkeeping, best-frame evidence, stable ids,
reviews, GeoJSON, the `reports` command, and surviving kill -9 mid-write."""

import argparse
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from gridscout.edge.cli import reports as reports_command
from gridscout.edge.reports import (
    ReportObservation,
    ReportStore,
    Review,
    ReviewError,
    StoreNotFoundError,
    report_id_for,
)
from gridscout.edge.reports.store import SCHEMA_VERSION

T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z in ns


def observe(
    track: str, conf: float, t_s: float = 0.0, class_name: str = "broken_insulator", **extra
) -> ReportObservation:
    fields = {"frame_id": int(t_s * 10), "model_name": "cplid-yolo", "model_sha256": "ab" * 32} | extra
    return ReportObservation(
        track_key=track, class_name=class_name, confidence=conf, t_wall_ns=T0 + int(t_s * 1e9), **fields
    )


@pytest.fixture
def store(tmp_path):
    with ReportStore(tmp_path / "data", device_id="gs-test-000001") as s:
        yield s


def test_insert_and_update_each_take_a_new_seq(store):
    """A new track inserts a report at seq 1; seeing it again updates it in place with a new seq and last_seen."""
    first = store.upsert(observe("run1:track-1", 0.6, position_m=10.0))
    other = store.upsert(observe("run1:track-2", 0.7))
    again = store.upsert(observe("run1:track-1", 0.5, t_s=2.5))
    assert (first.seq, other.seq, again.seq) == (1, 2, 3)
    assert again.id == first.id and again.observations == 2
    assert again.first_seen == "2024-05-01T12:00:00.000Z" and again.last_seen == "2024-05-01T12:00:02.500Z"
    assert store.count() == 2 and store.latest_seq() == 3
    assert [r.id for r in store.list()] == [other.id, first.id]
    assert [r.seq for r in store.list(since=2)] == [3]
    assert len(store.list(limit=1)) == 1


def test_best_confidence_owns_evidence_box_and_position(store):
    """A weaker sighting with a frame leaves the best frame alone; a stronger one replaces frame, box and place."""
    store.upsert(observe("t", 0.6, evidence_jpeg=b"frame-a", evidence_box_xyxy=(1, 2, 3, 4), position_m=5.0))
    weaker = store.upsert(observe("t", 0.4, t_s=1, evidence_jpeg=b"frame-b", evidence_box_xyxy=(9, 9, 9, 9)))
    assert weaker.confidence == 0.6 and weaker.position_m == 5.0 and weaker.box_xyxy == (1, 2, 3, 4)
    assert store.evidence(weaker.id) == b"frame-a"
    stronger = store.upsert(
        observe("t", 0.9, t_s=2, evidence_jpeg=b"frame-c", evidence_box_xyxy=(5, 6, 7, 8), position_m=6.5)
    )
    assert (stronger.confidence, stronger.position_m, stronger.box_xyxy) == (0.9, 6.5, (5, 6, 7, 8))
    assert stronger.frame_id == 20 and stronger.observations == 3
    assert store.evidence(stronger.id) == b"frame-c"
    assert stronger.evidence_sha256 == hashlib.sha256(b"frame-c").hexdigest()


def test_report_without_evidence_takes_the_first_frame_it_gets(store):
    """A report first written without a frame takes the next frame offered, even at lower confidence."""
    bare = store.upsert(observe("t", 0.8))
    assert not bare.has_evidence and store.evidence(bare.id) is None
    later = store.upsert(observe("t", 0.5, t_s=1, evidence_jpeg=b"jpeg"))
    assert later.has_evidence and later.confidence == 0.8


def test_a_restarted_reporter_reads_what_its_run_stored_and_the_summary_what_lacks_a_frame(store):
    """Per run: each track's latest stored capture time (what a restarted reporter skips as it catches up), and how
    many of the reports written after a seq have no evidence image (the run's summary line)."""
    store.upsert(observe("run-a:0:missing_cap:1", 0.6, evidence_jpeg=b"jpeg"))
    store.upsert(observe("run-a:0:missing_cap:1", 0.7, t_s=2))
    store.upsert(observe("run-b:0:missing_cap:1", 0.6, t_s=5))  # another run's
    before = store.latest_seq()
    store.upsert(observe("run-a:0:flashover:2", 0.5, t_s=3))  # caught up on: no frame
    assert store.last_seen_by_track("run-a") == {
        "run-a:0:missing_cap:1": T0 + 2_000_000_000, "run-a:0:flashover:2": T0 + 3_000_000_000,
    }  # fmt: skip
    assert store.last_seen_by_track("run") == {}  # a prefix of a run id is not the run
    assert store.without_evidence("run-a") == 1 and store.without_evidence("run-b") == 1
    assert store.without_evidence("run-a", since_seq=before) == 1
    assert store.without_evidence("run-b", since_seq=before) == 0


def test_evidence_attached_later_goes_only_to_a_report_without_one(store):
    """A frame found later (in the recording) becomes a bare report's evidence with a new seq, so the fleet pulls it
    again, and leaves its observations alone; a report that has a frame, or no report, takes nothing."""
    bare = store.upsert(observe("t", 0.8))
    assert store.attach_evidence(bare.id, b"jpeg", (1, 2, 3, 4), (0, 0, 9, 9))
    later = store.get(bare.id)
    assert later.seq > bare.seq and later.observations == 1 and later.confidence == 0.8
    assert store.evidence(bare.id) == b"jpeg" and later.box_xyxy == (1, 2, 3, 4)
    assert not store.attach_evidence(bare.id, b"other", (5, 6, 7, 8)) and store.evidence(bare.id) == b"jpeg"
    assert not store.attach_evidence("no-such-report", b"jpeg", (1, 2, 3, 4))


def test_ids_are_deterministic_and_device_id_persists(tmp_path):
    """Replaying the same tracks on the same device gives the same ids; another device gives others."""
    with ReportStore(tmp_path / "a", device_id="gs-x-1") as a, ReportStore(tmp_path / "b", device_id="gs-x-1") as b:
        assert (
            a.upsert(observe("run:7", 0.5)).id == b.upsert(observe("run:7", 0.5)).id == report_id_for("gs-x-1", "run:7")
        )
    with ReportStore(tmp_path / "c") as c:
        generated = c.device_id
        assert generated.startswith("gs-") and c.upsert(observe("run:7", 0.5)).id != report_id_for("gs-x-1", "run:7")
    with ReportStore(tmp_path / "c") as reopened:
        assert reopened.device_id == generated
    with pytest.raises(ValueError, match="belongs to device"):
        ReportStore(tmp_path / "c", device_id="someone-else")


def test_review_bumps_seq_and_validates(store):
    """A review records state, severity, corrected class, note and time, and takes a new seq so pullers notice
    it; a later review replaces it. Bad reviews name the field and what it expects, and change nothing."""
    report = store.upsert(observe("t", 0.7))
    reviewed = store.set_review(report.id, Review("confirmed", "high", "broken_disc", "crack visible"))
    assert reviewed.seq == report.seq + 1
    assert (reviewed.review_state, reviewed.severity, reviewed.review_class, reviewed.review_note) == (
        "confirmed", "high", "broken_disc", "crack visible",
    )  # fmt: skip
    assert reviewed.class_name == report.class_name  # the detector's class is kept beside the reviewer's
    assert reviewed.reviewed_at.endswith("Z")
    again = store.set_review(report.id, Review("rejected", note="a shadow"))
    assert (again.seq, again.review_state, again.severity) == (report.seq + 2, "rejected", None)
    assert again.review_class is None
    for bad, match in [
        (Review("maybe"), "review state 'maybe': expected one of confirmed, rejected"),
        (Review("new"), "review state 'new'"),
        (Review("confirmed", severity="urgent"), "severity 'urgent': expected one of high, medium, low"),
        (Review("confirmed", class_name="crack"), "class 'crack': expected one of .*missing_cap"),
        (Review("confirmed", note="x" * 4001), "note of 4001 characters"),
    ]:
        with pytest.raises(ReviewError, match=match):
            store.set_review(report.id, bad)
    assert store.get(report.id) == again
    with pytest.raises(KeyError):
        store.set_review("no-such-id", Review("rejected"))
    assert store.get("no-such-id") is None


def test_missing_store_is_a_clear_error(tmp_path):
    """Opening for reading without creating names the directory that has no store."""
    with pytest.raises(StoreNotFoundError, match=str(tmp_path / "empty")):
        ReportStore(tmp_path / "empty", create=False)


def exported_geojson(store: ReportStore, tmp_path) -> dict:
    """The store as `gridscout reports export x.geojson` writes it."""
    path = tmp_path / "export.geojson"
    assert run_reports_cli("--data", str(store.data_dir), "export", str(path)) == 0
    return json.loads(path.read_text())


def test_geojson_points_and_line_positions(store, tmp_path):
    """Reports with lat/lon become Points; those without keep geometry null and position_m in properties."""
    store.upsert(observe("gps", 0.9, lat=47.5, lon=8.25, alt=410.0))
    store.upsert(observe("line-only", 0.8, position_m=1234.5))
    collection = exported_geojson(store, tmp_path)
    assert collection["type"] == "FeatureCollection"
    gps, line = collection["features"]
    assert gps["geometry"] == {"type": "Point", "coordinates": [8.25, 47.5, 410.0]}
    assert line["geometry"] is None and line["properties"]["position_m"] == 1234.5


def run_reports_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    reports_command.register(parser.add_subparsers())
    args = parser.parse_args(["reports", *argv])
    return args.func(args)


def test_reports_command_list_show_export(store, tmp_path, capsys):
    """`gridscout reports` lists a table, shows a report by id prefix with its evidence, and exports GeoJSON."""
    report = store.upsert(observe("t", 0.75, evidence_jpeg=b"\xff\xd8jpeg", position_m=42.0))
    data = str(store.data_dir)
    assert run_reports_cli("--data", data, "list") == 0
    table = capsys.readouterr().out
    assert report.id[:8] in table and "broken_insulator" in table and "42.0 m" in table
    placed = store.upsert(observe("placed", 0.7, lat=59.62, lon=10.95, error_m=4.4))
    assert run_reports_cli("--data", data, "list", "--since", str(report.seq)) == 0
    assert f"{placed.id[:8]}" in (row := capsys.readouterr().out) and "59.620000,10.950000 ±4 m" in row
    assert run_reports_cli("list", "--json", "--data", data) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [report.id, placed.id]
    raw = tmp_path / "raw.jpg"
    assert run_reports_cli("--data", data, "show", report.id[:6], "--raw", str(raw)) == 0
    assert report.id in capsys.readouterr().out and raw.read_bytes() == b"\xff\xd8jpeg"
    with pytest.raises(ValueError, match="not a JPEG that decodes"):
        run_reports_cli("--data", data, "show", report.id[:6], "--evidence", str(tmp_path / "drawn.jpg"))
    geojson = tmp_path / "out.geojson"
    assert run_reports_cli("--data", data, "export", "--geojson", str(geojson)) == 0
    assert len(json.loads(geojson.read_text())["features"]) == 2
    with pytest.raises(ValueError, match="exactly one"):
        run_reports_cli("--data", data, "show", "zzz")
    with pytest.raises(FileNotFoundError, match="no report store"):
        run_reports_cli("--data", str(tmp_path / "nowhere"), "list")


WRITER = textwrap.dedent(
    """
    import hashlib, os, sys
    from gridscout.edge.reports import ReportObservation, ReportStore
    store = ReportStore(sys.argv[1], device_id="gs-kill-test")
    def write(track, conf, i):
        jpeg = os.urandom(3000 + i % 700)
        report = store.upsert(ReportObservation(
            track_key=track, class_name="broken", confidence=conf, t_wall_ns=1_700_000_000_000_000_000 + i,
            frame_id=i, model_name="m", model_sha256="0" * 64, evidence_jpeg=jpeg, evidence_box_xyxy=(1, 2, 3, 4)))
        # Printed only after upsert returned, i.e. after COMMIT.
        print(report.id, report.seq, hashlib.sha256(jpeg).hexdigest(), flush=True)
    for i in range(1, 100_000):
        write(f"run:track-{i}", 0.5, i)
        if i % 3 == 0:
            write(f"run:track-{i // 2}", 0.5 + i / 1e6, i)  # an update with a better frame
    """
)


def test_kill_9_mid_write_loses_nothing_committed(tmp_path):
    """A writer is kill -9'd mid-stream; every report it said was committed is there with its evidence,
    the database is intact, and the seqs are unique with no gaps beyond ones superseded by updates."""
    data = tmp_path / "data"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = [writer.stdout.readline() for _ in range(60)]
    os.kill(writer.pid, signal.SIGKILL)
    rest, errors = writer.communicate(timeout=10)
    assert writer.returncode == -signal.SIGKILL, errors
    printed = [line.split() for line in lines + rest.splitlines() if line.strip()]
    assert [int(seq) for _, seq, _ in printed] == list(range(1, len(printed) + 1)), "seq allocation has gaps"
    last_printed = {rid: (int(seq), sha) for rid, seq, sha in printed}

    with sqlite3.connect(data / "reports.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with ReportStore(data) as store:
        rows = {r.id: r for r in store.list(limit=1_000_000)}
        for rid, (seq, sha) in last_printed.items():
            report = rows[rid]
            assert report.has_evidence and store.evidence(rid) is not None
            assert report.seq >= seq
            if report.seq == seq:
                assert report.evidence_sha256 == sha
        seqs = sorted(r.seq for r in rows.values())
        assert len(seqs) == len(set(seqs))
        assert store.latest_seq() in (len(printed), len(printed) + 1)  # at most one commit not yet printed
        superseded = {int(seq) for rid, seq, _ in printed if rows[rid].seq > int(seq)}
        assert set(seqs) | superseded == set(range(1, store.latest_seq() + 1))


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE reports (
    id TEXT PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL, track_key TEXT NOT NULL,
    class_name TEXT NOT NULL, confidence REAL NOT NULL, first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL,
    position_m REAL, lat REAL, lon REAL, alt REAL, frame_id INTEGER NOT NULL, model_name TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    review_state TEXT NOT NULL DEFAULT 'new' CHECK (review_state IN ('new', 'confirmed', 'rejected')),
    review_note TEXT, reviewed_at_ns INTEGER, observations INTEGER NOT NULL DEFAULT 1, UNIQUE (device_id, seq)
);
CREATE TABLE evidence (
    report_id TEXT PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE, jpeg BLOB NOT NULL, sha256 TEXT NOT NULL,
    x1 REAL, y1 REAL, x2 REAL, y2 REAL
);
INSERT INTO meta VALUES ('device_id', 'gs-old-device'), ('schema_version', '1');
INSERT INTO reports (id, device_id, seq, track_key, class_name, confidence, first_seen_ns, last_seen_ns, position_m,
                     lat, lon, alt, frame_id, model_name, model_sha256)
VALUES ('old-report', 'gs-old-device', 7, 'run:1', 'missing_cap', 0.8, 1, 2, 12.5, 47.5, 8.25, 400.0, 3, 'm', 'ab');
"""


def test_a_version_1_store_is_migrated_and_keeps_its_reports(tmp_path):
    """Scenario: a box upgraded from a GridScout without geotag errors or review severities opens its old
    reports.db: the reports are all there (error unknown, unreviewed), new writes store their error, a review
    its severity, and the file says it is now this version."""
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "reports.db") as db:
        db.executescript(V1_SCHEMA)
    with ReportStore(data) as store:
        assert store.device_id == "gs-old-device"
        (old,) = store.list()
        assert (old.id, old.seq, old.lat, old.lon, old.alt, old.error_m) == ("old-report", 7, 47.5, 8.25, 400.0, None)
        assert (old.review_state, old.severity, old.review_class) == ("new", None, None)
        new = store.upsert(observe("new", 0.9, lat=47.6, lon=8.3, error_m=4.5))
        assert new.seq == 8 and new.error_m == 4.5
        assert store.set_review(old.id, Review("confirmed", "low")).severity == "low"
    with sqlite3.connect(data / "reports.db") as db:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),) and SCHEMA_VERSION == 4
    with ReportStore(data) as again:  # opening a migrated store again changes nothing
        assert [r.error_m for r in again.list()] == [4.5, None]


def test_geojson_is_rfc_7946_that_gis_tools_open(store, tmp_path):
    """Points are [lon, lat, alt] (longitude first), every feature has a geometry (null allowed) and flat
    properties including error_m, and there is no `crs` member (RFC 7946 dropped it: WGS84 always)."""
    store.upsert(observe("geo", 0.9, lat=59.62, lon=10.95, alt=120.5, error_m=3.25))
    store.upsert(observe("flat", 0.8, lat=59.63, lon=10.96))
    store.upsert(observe("none", 0.7, position_m=15.0))
    collection = exported_geojson(store, tmp_path)
    assert set(collection) == {"type", "features"} and collection["type"] == "FeatureCollection"
    for feature in collection["features"]:
        assert set(feature) == {"type", "id", "geometry", "properties"} and feature["type"] == "Feature"
        assert all(not isinstance(v, dict) for v in feature["properties"].values())
        geometry = feature["geometry"]
        if geometry is not None:
            lon, lat, *alt = geometry["coordinates"]
            assert geometry["type"] == "Point" and -180 <= lon <= 180 and -90 <= lat <= 90 and len(alt) <= 1
    geo, flat, none = collection["features"]
    assert geo["geometry"]["coordinates"] == [10.95, 59.62, 120.5] and geo["properties"]["error_m"] == 3.25
    assert flat["geometry"]["coordinates"] == [10.96, 59.63]
    assert none["geometry"] is None and none["properties"]["error_m"] is None


def _frame_jpeg() -> bytes:
    """A grey 320x240 frame with a dark disc in it, as JPEG."""
    image = np.full((240, 320, 3), 170, np.uint8)
    cv2.circle(image, (160, 120), 20, (40, 40, 40), -1)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_the_evidence_shows_the_finding_and_the_raw_frame_is_kept(store, tmp_path, capsys):
    """`reports show --evidence` writes a copy with the box drawn where the finding is (defects in red), and
    `--raw` the frame as the camera saw it, byte for byte."""
    jpeg = _frame_jpeg()
    box = (130.0, 90.0, 190.0, 150.0)
    report = store.upsert(observe("seen", 0.83, class_name="missing_cap", evidence_jpeg=jpeg, evidence_box_xyxy=box))
    drawn, raw = tmp_path / "drawn.jpg", tmp_path / "raw.jpg"
    data = str(store.data_dir)
    assert run_reports_cli("--data", data, "show", report.id, "--evidence", str(drawn), "--raw", str(raw)) == 0
    out = capsys.readouterr().out
    assert "the finding drawn on it" in out and "as the camera saw it" in out
    assert raw.read_bytes() == jpeg
    image = cv2.imread(str(drawn))
    assert image.shape == (240, 320, 3)
    red = (image[..., 2] > 180) & (image[..., 1] < 90) & (image[..., 0] < 90)
    ys, xs = np.nonzero(red)
    assert red.sum() > 150  # the box's outline and its label
    assert 125 <= xs.min() <= 135 and xs.max() >= 185 and 145 <= ys.max() <= 155
    assert not red[100:140, 140:180].any()  # the finding itself is not painted over


def test_a_review_from_the_terminal_confirms_grades_corrects_and_bumps_seq(store, capsys):
    """`reports review ID --confirm --severity high --class broken_disc --note ...`: recorded, a new seq, and the
    next pull sees it; a bad class, severity or id is refused with a line naming it and nothing changes."""
    report = store.upsert(observe("r1", 0.7))
    data = str(store.data_dir)
    argv = ["--data", data, "review", report.id[:8], "--confirm", "--severity", "high", "--class", "broken_disc"]
    assert run_reports_cli(*argv, "--note", "two sheds cracked") == 0
    assert f"confirmed, severity high, class broken_insulator -> broken_disc; seq {report.seq} -> " in (
        capsys.readouterr().out
    )
    reviewed = store.get(report.id)
    assert (reviewed.review_state, reviewed.severity, reviewed.review_class, reviewed.review_note) == (
        "confirmed", "high", "broken_disc", "two sheds cracked",
    )  # fmt: skip
    assert [r.id for r in store.list(since=report.seq)] == [report.id]  # a puller at the old seq gets it again
    with pytest.raises(ValueError, match="class 'crack': expected one of"):
        run_reports_cli("--data", data, "review", report.id, "--reject", "--class", "crack")
    with pytest.raises(ValueError, match="must match exactly one report"):
        run_reports_cli("--data", data, "review", "zzz", "--reject")
    with pytest.raises(SystemExit):
        run_reports_cli("--data", data, "review", report.id, "--confirm", "--severity", "urgent")
    with pytest.raises(SystemExit):
        run_reports_cli("--data", data, "review", report.id, "--confirm", "--reject")
    assert store.get(report.id) == reviewed
