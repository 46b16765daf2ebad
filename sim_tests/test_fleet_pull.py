"""Fleet pull over real HTTP from a real device API: interrupted by a dropped link and by kill -9,
then resumed; updates made on the device arriving as updates; re-runs as no-ops; the CLI end to end."""

import csv
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridscout.edge.api.server import start_in_thread
from gridscout.edge.reports import ReportObservation, ReportStore, Review
from gridscout.fleet import pull
from gridscout.fleet.cli import main as fleet_main

TOKEN = "fleet-test-token"
N_REPORTS = 25


class FlakyLink:
    """A TCP proxy to the device: forwards the first `allowed` connections (each after `delay_s`),
    then hangs up on every later one, like a link that drops mid-pull."""

    def __init__(self, upstream_port: int, allowed: int = 10**9, delay_s: float = 0.0) -> None:
        self.upstream_port, self.allowed, self.delay_s = upstream_port, allowed, delay_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.connections > self.allowed:
                client.close()
            else:
                threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        time.sleep(self.delay_s)
        with client, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            back = threading.Thread(target=_pipe, args=(upstream, client))
            back.start()
            _pipe(client, upstream)
            back.join()

    def close(self) -> None:
        self.listener.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def observe(i: int, conf: float = 0.6, image_seed: int | None = None) -> ReportObservation:
    image = np.random.default_rng(i if image_seed is None else image_seed).integers(0, 255, (40, 56, 3), np.uint8)
    return ReportObservation(
        track_key=f"run-1:track-{i}",
        class_name="broken_insulator",
        confidence=conf,
        t_wall_ns=1_714_564_800_000_000_000 + i * 10**9,
        frame_id=i,
        model_name="cplid-yolo",
        model_sha256="ef" * 32,
        position_m=12.5 * i,
        evidence_jpeg=cv2.imencode(".jpg", image)[1].tobytes(),
        evidence_box_xyxy=(2, 3, 20, 30),
    )


@pytest.fixture
def device(tmp_path):
    """A device store with 25 reports, each with evidence, served on a free loopback port."""
    data = tmp_path / "device"
    with ReportStore(data, device_id="gs-robot-7") as store:
        for i in range(N_REPORTS):
            store.upsert(observe(i))
    with start_in_thread(data, TOKEN) as server, ReportStore(data) as store:
        yield server, store


def fleet_rows(db_path: Path) -> dict[str, dict]:
    """id -> {seq, report, sha256 of the stored evidence} from the fleet database."""
    with sqlite3.connect(db_path) as db:
        evidence = {rid: hashlib.sha256(jpeg).hexdigest() for rid, jpeg in db.execute("SELECT id, jpeg FROM evidence")}
        return {
            rid: {"seq": seq, "report": json.loads(body), "evidence": evidence.get(rid)}
            for rid, seq, body in db.execute("SELECT id, seq, json FROM reports")
        }


def checkpoint(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT since FROM checkpoints WHERE device_id = 'gs-robot-7'").fetchone()[0]


def assert_complete(db_path: Path, store: ReportStore) -> None:
    """Every device report is in the fleet DB exactly once, at its current seq, with matching evidence."""
    rows = fleet_rows(db_path)
    on_device = {r.id: r for r in store.list(limit=1000)}
    assert set(rows) == set(on_device)
    for rid, report in on_device.items():
        assert rows[rid]["seq"] == report.seq
        assert rows[rid]["evidence"] == report.evidence_sha256
        assert cv2.imdecode(np.frombuffer(store.evidence(rid), np.uint8), cv2.IMREAD_COLOR) is not None
    assert checkpoint(db_path) == store.latest_seq()


def test_dropped_link_after_two_pages_resumes_without_gaps_or_duplicates(device, tmp_path):
    """The link dies right after page 2 (health + 2 x (list + 5 evidence) = 13 connections); the pull stops
    with a clear error and 10 reports committed; the next pull fetches exactly the other 15."""
    server, store = device
    into = tmp_path / "fleet.db"
    link = FlakyLink(server.port, allowed=13)
    first = pull([link.url], TOKEN, into, page_size=5, retries=2, backoff_s=0.01, timeout_s=2).devices[0]
    link.close()
    assert first.error and "unreachable" in first.error and link.url in first.error
    assert (first.pages, first.new, first.since) == (2, 10, 10)
    assert len(fleet_rows(into)) == 10 and checkpoint(into) == 10

    second = pull([server.url], TOKEN, into, page_size=5).devices[0]
    assert second.error is None
    assert (second.new, second.updated, second.unchanged) == (15, 0, 0)
    assert_complete(into, store)


def test_puller_killed_mid_pull_resumes_exactly(device, tmp_path):
    """A puller process over a slow link is kill -9'd once it has committed page 2; resuming completes
    the pull with every report once and the checkpoint at the device's latest seq."""
    server, store = device
    into = tmp_path / "fleet.db"
    link = FlakyLink(server.port, delay_s=0.02)
    script = (
        "import sys; from gridscout.fleet import pull; pull(sys.argv[1:2], *sys.argv[2:], page_size=5, progress=True)"
    )
    puller = subprocess.Popen(
        [sys.executable, "-c", script, link.url, TOKEN, str(into)], stderr=subprocess.PIPE, text=True
    )
    for line in puller.stderr:
        if "page 2 committed" in line:
            os.kill(puller.pid, signal.SIGKILL)
            break
    puller.communicate(timeout=10)
    link.close()
    assert puller.returncode == -signal.SIGKILL, "the puller finished before it could be killed"
    committed = checkpoint(into)
    assert 10 <= committed < N_REPORTS and len(fleet_rows(into)) == committed

    resumed = pull([server.url], TOKEN, into, page_size=5).devices[0]
    assert (resumed.error, resumed.new, resumed.updated) == (None, N_REPORTS - committed, 0)
    assert_complete(into, store)


def test_device_updates_arrive_as_updates_and_reruns_are_noops(device, tmp_path):
    """After a full pull, a review and a better frame on the device arrive as 2 updates (only the changed
    evidence is downloaded again); a further pull changes nothing."""
    server, store = device
    into = tmp_path / "fleet.db"
    full = pull([server.url], TOKEN, into, page_size=10).devices[0]
    assert (full.new, full.updated, full.pages) == (N_REPORTS, 0, 3)

    reviewed = store.set_review(store.list(limit=1)[0].id, Review("confirmed", "medium", note="cracked shed"))
    improved = store.upsert(observe(3, conf=0.95, image_seed=1000))
    again = pull([server.url], TOKEN, into, page_size=10).devices[0]
    assert (again.new, again.updated, again.pages) == (0, 2, 1)
    assert again.evidence_bytes == len(store.evidence(improved.id))
    rows = fleet_rows(into)
    assert rows[reviewed.id]["report"]["review_state"] == "confirmed"
    assert rows[improved.id]["report"]["confidence"] == 0.95
    assert_complete(into, store)

    before = fleet_rows(into)
    noop = pull([server.url], TOKEN, into, page_size=10).devices[0]
    assert (noop.new, noop.updated, noop.pages, noop.error) == (0, 0, 0, None)
    assert fleet_rows(into) == before


def test_wrong_token_is_a_clear_error(device, tmp_path):
    """A rejected token stops that device at once (no retries) with an error naming the URL."""
    server, _ = device
    started = time.monotonic()
    summary = pull([server.url], "not-the-token", tmp_path / "fleet.db", retries=5, backoff_s=1.0)
    assert time.monotonic() - started < 1.0
    assert not summary.ok and summary.devices[0].error == f"{server.url}: token rejected (HTTP 401)"
    assert "FAILED" in summary.format()


def gridscout(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gridscout.edge.cli", *args], text=True, **popen)


def test_cli_serve_and_fleet_pull_end_to_end(tmp_path, monkeypatch):
    """`gridscout serve` on a device directory prints its URL and a new token once; `gridscout fleet pull`
    with that token pulls everything and prints a summary; a wrong token exits 1 naming the URL."""
    monkeypatch.delenv("GRIDSCOUT_API_TOKEN", raising=False)
    data = tmp_path / "device"
    with ReportStore(data, device_id="gs-robot-7") as store:
        for i in range(7):
            store.upsert(observe(i))
    server = gridscout("serve", "--data", str(data), "--api", "127.0.0.1:0", stdout=subprocess.PIPE)
    try:
        token_line, url_line = server.stdout.readline(), server.stdout.readline()
        assert "generated API token" in token_line and "fleet API on http://127.0.0.1:" in url_line
        token, url = token_line.rsplit(": ", 1)[1].strip(), url_line.split()[3]
        assert token == (data / "api_token").read_text().strip()

        into = tmp_path / "fleet.db"
        ok = gridscout(
            "fleet",
            "pull",
            url,
            "--token",
            token,
            "--into",
            str(into),
            "--page-size",
            "3",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = ok.communicate(timeout=30)
        assert ok.returncode == 0, err
        assert "page 3 committed" in err and "7 new" in out and "1 of 1 devices pulled" in out
        with ReportStore(data) as store:
            assert_complete(into, store)

        bad = gridscout(
            "fleet", "pull", url, "--token", "nope", "--into", str(into), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, _ = bad.communicate(timeout=30)
        assert bad.returncode == 1 and f"{url}: token rejected" in out
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    assert server.returncode == 0


def test_geotagged_reports_reach_the_fleet_with_their_position_and_error(device, tmp_path):
    """A report placed on the map carries lat, lon, alt and error_m through the API into the fleet database."""
    server, store = device
    placed = store.upsert(
        ReportObservation(
            track_key="run-2:track-1", class_name="missing_cap", confidence=0.8, t_wall_ns=1_714_564_900_000_000_000,
            frame_id=3, model_name="m", model_sha256="ef" * 32, lat=59.6201234, lon=10.9512345, alt=123.25,
            error_m=4.75,
        )
    )  # fmt: skip
    into = tmp_path / "fleet.db"
    assert pull([server.url], TOKEN, into, page_size=50).ok
    pulled = fleet_rows(into)[placed.id]["report"]
    assert (pulled["lat"], pulled["lon"], pulled["alt"], pulled["error_m"]) == (59.6201234, 10.9512345, 123.25, 4.75)
    assert all(row["report"]["error_m"] is None for rid, row in fleet_rows(into).items() if rid != placed.id)


def test_the_fleet_lists_shows_and_reviews_and_the_later_review_stands(device, tmp_path, capsys):
    """Scenario: a fleet reviewer rejects a pulled report; the device's crew confirms it later, and the next pull
    brings that in: the later review stands. The fleet then grades it again, and its review stands. Bad input
    (a class no report has, an unknown id, no database) is one line and exit 2, and changes nothing."""
    server, store = device
    into = tmp_path / "fleet.db"
    pull([server.url], TOKEN, into, page_size=10)
    first = store.list(limit=1)[0]
    db = ["--db", str(into)]

    def stands(report_id: str) -> dict:
        assert fleet_main(["list", *db, "--json"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(rows) == N_REPORTS and {r["device_id"] for r in rows} == {"gs-robot-7"}
        return next(r["review"] for r in rows if r["id"] == report_id)

    assert fleet_main(["review", first.id[:8], *db, "--reject", "--note", "a bird on the crossarm"]) == 0
    assert capsys.readouterr().out.strip() == f"gs-robot-7/{first.id}: rejected (fleet)"
    assert stands(first.id) | {"reviewed_at": None} == {
        "source": "fleet", "state": "rejected", "severity": None, "class_name": None,
        "note": "a bird on the crossarm", "reviewed_at": None,
    }  # fmt: skip

    time.sleep(0.01)  # the device's review is made after the fleet's
    store.set_review(first.id, Review("confirmed", "high", note="two caps gone"))
    pull([server.url], TOKEN, into, page_size=10)
    assert (stands(first.id)["source"], stands(first.id)["state"], stands(first.id)["severity"]) == (
        "device", "confirmed", "high",
    )  # fmt: skip

    time.sleep(0.01)
    assert fleet_main(["review", first.id, *db, "--confirm", "--severity", "low", "--class", "broken_insulator"]) == 0
    capsys.readouterr()
    assert (stands(first.id)["source"], stands(first.id)["severity"]) == ("fleet", "low")
    assert fleet_main(["show", first.id[:10], *db, "--evidence", str(tmp_path / "e.jpg")]) == 0
    shown = capsys.readouterr().out
    assert "review stands    confirmed, low, as broken_insulator (fleet)" in shown and "device_id" in shown
    assert (tmp_path / "e.jpg").read_bytes() == store.evidence(first.id)
    assert fleet_main(["list", *db]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("DEVICE") and len(table) == N_REPORTS + 1

    before = fleet_rows(into)
    for argv, said in [
        (["review", first.id, *db, "--reject", "--class", "missing_cap"], "class 'missing_cap': expected one of"),
        (["review", "zzz", *db, "--reject"], "must match exactly one pulled report"),
        (["list", "--db", str(tmp_path / "none.db")], "no fleet database at"),
    ]:
        assert fleet_main(argv) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
    assert fleet_rows(into) == before


def test_the_fleet_exports_every_pulled_report_with_the_review_that_stands(device, tmp_path, capsys):
    """`gridscout fleet export season.gpkg`: one point-less feature per pulled report (the test device has no
    GPS), the fleet's review where it stands, and every evidence JPEG beside the file, read back by ogrinfo."""
    server, store = device
    into = tmp_path / "fleet.db"
    pull([server.url], TOKEN, into, page_size=10)
    first = store.list(limit=1)[0]
    assert fleet_main(["review", first.id, "--db", str(into), "--reject", "--note", "glare"]) == 0
    out = tmp_path / "season.gpkg"
    assert fleet_main(["export", "--db", str(into), str(out)]) == 0
    assert f"{N_REPORTS} reports -> {out}" in capsys.readouterr().out
    listing = subprocess.run(["ogrinfo", "-ro", "-al", str(out)], capture_output=True, text=True, check=True).stdout
    assert f"Feature Count: {N_REPORTS}" in listing
    feature = listing.split(f"report_id (String) = {first.id}")[1].split("OGRFeature")[0]
    assert "review_state (String) = rejected" in feature and "reviewed_by (String) = fleet" in feature
    assert "device_id (String) = gs-robot-7" in feature and "review_note (String) = glare" in feature
    assert len(list((tmp_path / "season_evidence").iterdir())) == N_REPORTS
    assert fleet_main(["export", "--db", str(into), "--format", "yolo", str(tmp_path / "reviews")]) == 0
    said = capsys.readouterr().out  # these devices' reports predate parent boxes: none is on a known string
    assert said.startswith("0 confirmed and 0 rejected findings") and "1 not on a string" in said
    assert f"{N_REPORTS - 1} not reviewed" in said and (tmp_path / "reviews" / "data.yaml").is_file()


def placed_observation(track: str, lat: float, lon: float, conf: float = 0.8) -> ReportObservation:
    return ReportObservation(
        track_key=track, class_name="missing_cap", confidence=conf, t_wall_ns=1_714_564_900_000_000_000, frame_id=3,
        model_name="m", model_sha256="ef" * 32, lat=lat, lon=lon, error_m=4.0,
    )  # fmt: skip


def test_an_asset_registry_links_each_report_to_its_tower_and_keeps_the_link(device, tmp_path, capsys):
    """Scenario: a utility imports its registry (towers every ~300 m along a line, a span record between them).
    A report 12 m from tower T-2 is linked to T-2, one 400 m from any tower says so, one with no position says
    so; a re-pull of an updated report keeps its link; a report pulled later is linked as it arrives; the
    export names the asset. A broken registry is refused in one line and changes nothing."""
    server, store = device
    north_m = 1 / 111_195
    lat0, lon = 59.62, 10.95
    registry = tmp_path / "towers.csv"
    rows = [f"T-{k},Tower {k},L7,{lat0 + 300 * k * north_m:.7f},{lon},tower,SAP,32" for k in range(1, 4)]
    rows.append(f"SPAN-2-3,Span 2-3,L7,{lat0 + 612 * north_m:.7f},{lon},span,SAP,")
    registry.write_text(
        "identifier,name,line id,latitude,longitude,asset type,source system,height\n" + "\n".join(rows)
    )
    near = store.upsert(placed_observation("run-3:a", lat0 + 612 * north_m, lon))  # 12 m from T-2, 0 m from the span
    lonely = store.upsert(placed_observation("run-3:b", lat0 + 1300 * north_m, lon))  # 400 m past T-3
    into = tmp_path / "fleet.db"
    pull([server.url], TOKEN, into, page_size=50)
    db = ["--db", str(into)]

    assert fleet_main(["assets", "import", str(registry), *db]) == 0
    assert capsys.readouterr().out.strip() == (
        f"4 assets from {registry} (3 structures); 1 reports linked to an asset; not linked: 1 with no structure "
        f"within 50 m, {N_REPORTS} with no position"
    )

    def listed() -> dict[str, dict]:
        assert fleet_main(["list", *db, "--json", "--limit", "1000"]) == 0
        return {r["id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}

    rows_now = listed()
    assert rows_now[near.id]["asset"] | {"distance_m": None} == {
        "asset_id": "T-2", "name": "Tower 2", "line_id": "L7", "asset_type": "tower", "distance_m": None,
    }  # fmt: skip
    assert rows_now[near.id]["asset"]["distance_m"] == pytest.approx(12, abs=0.5)
    assert rows_now[lonely.id]["asset"] is None and rows_now[lonely.id]["asset_why"] == "no structure within 50 m"
    some_other = next(r for r in rows_now.values() if r["id"] not in (near.id, lonely.id))
    assert some_other["asset_why"] == "the report has no position"

    store.upsert(placed_observation("run-3:a", lat0 + 700 * north_m, lon, conf=0.95))  # re-placed, better frame
    later = store.upsert(placed_observation("run-3:c", lat0 + 905 * north_m, lon))  # 5 m from T-3
    summary = pull([server.url], TOKEN, into, page_size=50)
    assert "new reports: 1 linked to an asset, 0 with no structure in range, 0 with no position" in summary.format()
    rows_now = listed()
    assert rows_now[near.id]["confidence"] == 0.95 and rows_now[near.id]["asset"]["asset_id"] == "T-2"  # kept
    assert rows_now[later.id]["asset"]["asset_id"] == "T-3"
    assert fleet_main(["show", near.id, *db]) == 0
    assert "asset            T-2 Tower 2 (tower, line L7), " in capsys.readouterr().out

    out = tmp_path / "linked.csv"
    assert fleet_main(["export", *db, str(out)]) == 0
    capsys.readouterr()
    with out.open() as f:
        exported = {row["report_id"]: row for row in csv.DictReader(f)}
    assert (exported[near.id]["asset_id"], exported[near.id]["asset_name"]) == ("T-2", "Tower 2")
    assert exported[lonely.id]["asset_id"] == ""

    before = fleet_rows(into), listed()
    broken = tmp_path / "broken.csv"
    broken.write_text(registry.read_text() + "\nT-1,Again,L7,59.7,10.95,tower,SAP,30")
    assert fleet_main(["assets", "import", str(broken), *db]) == 2
    err = capsys.readouterr().err
    assert "identifier 'T-1' is given twice" in err and len(err.strip().splitlines()) == 1
    assert (fleet_rows(into), listed()) == before
