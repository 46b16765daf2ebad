"""The review page in a real browser: Debian's Chromium driven by Playwright (no browser download), against the
device's own API server on loopback, over a real report store.

As a person would use it: log in once with the token (a wrong one is refused), go through the queue and review
three reports with the keyboard alone, see every placed report on the map, and see a fleet pull get the reviews.
Screenshots of each page go to the test's output folder (or to $GRIDSCOUT_SCREENSHOTS, which is how
docs/images/ is made).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridscout.edge.api.server import start_in_thread
from gridscout.edge.defaults import DEMO_FOOTAGE
from gridscout.edge.reports import ReportObservation, ReportStore
from gridscout.fleet import pull
from gridscout.fleet import serve as fleet_serve
from gridscout.fleet.db import FleetStore
from gridscout.reports.web.routes import PageExtras
from gridscout.reports.web.tiles import open_tiles
from sim_tests.chain import Chain
from tests.test_tiles import write_mbtiles

TOKEN = "page-token-7Hq"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: flags for a headless Chromium on a machine with no network and no GPU (root: no sandbox)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
N_PLACED, N_UNPLACED = 5, 2

playwright_api = pytest.importorskip("playwright.sync_api", reason="the [test] extra installs playwright")
if not Path(CHROMIUM).is_file():
    pytest.fail("no chromium: the README's test command installs it (tools/install-debian-deps.sh)", pytrace=False)


def frame_jpeg(seed: int) -> bytes:
    """A rendered-looking frame: sky, a dark string of discs, one disc missing at its middle."""
    image = np.full((360, 640, 3), (200, 170, 140), np.uint8)
    image[200:] = (60, 110, 70)
    for k in range(12):
        if k != 6:
            cv2.ellipse(image, (150 + 30 * k, 150 + seed % 5), (9, 22), 0, 0, 360, (40, 50, 120), -1)
    return cv2.imencode(".jpg", image)[1].tobytes()


def observe(i: int, placed: bool) -> ReportObservation:
    lat, lon = (59.62 + i * 0.0009, 10.95 + i * 0.0004) if placed else (None, None)
    return ReportObservation(
        track_key=f"run-web:track-{i}", class_name="missing_cap" if i % 3 else "broken_disc", confidence=0.6 + i / 50,
        t_wall_ns=1_714_564_800_000_000_000 + i * 10**9, frame_id=i, model_name="gridscout-real-cascade-v5",
        model_sha256="5e" * 32, lat=lat, lon=lon, error_m=4.0 if placed else None, position_m=35.0 * i,
        evidence_jpeg=frame_jpeg(i), evidence_box_xyxy=(318.0, 120.0, 352.0, 185.0),
    )  # fmt: skip


@pytest.fixture
def device(tmp_path):
    data = tmp_path / "device"
    with ReportStore(data, device_id="gs-web-1") as store:
        for i in range(N_PLACED + N_UNPLACED):
            store.upsert(observe(i, placed=i < N_PLACED))
    with start_in_thread(data, TOKEN) as server, ReportStore(data) as store:
        yield server, store


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("GRIDSCOUT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(browser, url: str, token: str = TOKEN):
    page = browser.new_page(viewport={"width": 1280, "height": 820})
    page.goto(url + "/")
    page.fill("#token", token)
    page.click("button[type=submit]")
    return page


def http(url: str, *, cookie: str | None = None, body: dict | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return 0  # not listening (yet)


def test_a_wrong_token_is_refused_and_no_page_data_goes_without_a_session(device, browser, shots):
    server, _ = device
    page = log_in(browser, server.url, token="not-the-token")
    page.wait_for_selector("#error:has-text('Wrong token.')")
    page.screenshot(path=shots / "login.png")
    assert page.locator("#queue").count() == 0  # still the login form
    for path in ("/ui/api/session", "/ui/api/reports", "/ui/api/map", "/ui/api/reports/x/evidence.jpg"):
        assert http(server.url + path) == 401, path
        assert http(server.url + path, cookie="gridscout_session=stale-or-forged") == 401, path
    assert http(server.url + "/v1/reports") == 401  # the fleet API's own routes keep their bearer token


def test_three_reports_reviewed_with_the_keyboard_alone_reach_the_store_and_a_fleet_pull(
    device, browser, shots, tmp_path, record_property
):
    server, store = device
    into = tmp_path / "fleet.db"
    pull([server.url], TOKEN, into)
    started = time.monotonic()
    page = log_in(browser, server.url)
    page.wait_for_selector("#queue li")
    page.wait_for_selector(".evidence svg.box rect")  # the finding's box drawn over the raw frame
    first_paint_s = time.monotonic() - started
    assert page.locator("#queue li").count() == N_PLACED + N_UNPLACED
    page.screenshot(path=shots / "review.png")
    first_three = [page.locator("#queue li").nth(i).get_attribute("data-key").split(":")[1] for i in range(3)]

    left = N_PLACED + N_UNPLACED
    # confirm as high; reject; low, pick the next class from the list (t, an arrow, Esc), confirm
    for keys in (["h", "c"], ["x"], ["l", "t", "ArrowDown", "Escape", "c"]):
        for key in keys:
            page.keyboard.press(key)
        left -= 1  # a reviewed report leaves the unreviewed queue
        page.wait_for_function(f"document.querySelectorAll('#queue li').length === {left}")
    page.wait_for_function(
        "document.querySelector('.evidence img') && document.querySelector('.evidence img').complete"
    )
    page.screenshot(path=shots / "review-after.png")

    reviewed = {rid: store.get(rid) for rid in first_three}
    assert [(r.review_state, r.severity) for r in reviewed.values()] == [
        ("confirmed", "high"), ("rejected", None), ("confirmed", "low"),
    ]  # fmt: skip
    assert list(reviewed.values())[2].review_class is not None  # the class picked from the list
    assert "unreviewed 4" in page.inner_text("#filters") and "confirmed 2" in page.inner_text("#filters")

    again = pull([server.url], TOKEN, into).devices[0]
    assert again.updated == 3 and again.new == 0
    record_property("figure", f"3 reviews by keyboard, pulled as 3 updates; first paint {first_paint_s:.2f} s")


def test_every_placed_report_is_on_the_map_coloured_by_its_review(device, browser, shots):
    server, _ = device
    page = log_in(browser, server.url)
    page.wait_for_selector("#queue li")
    page.keyboard.press("g")
    page.wait_for_selector(f"#leaflet[data-markers='{N_PLACED}']")
    assert page.locator("#leaflet path.leaflet-interactive").count() == N_PLACED
    assert f"{N_PLACED} of the {N_PLACED + N_UNPLACED} unreviewed reports shown have a position" in page.inner_text(
        "#unplaced"
    )
    page.screenshot(path=shots / "map.png")
    page.select_option("#narrow-class_name", "broken_disc")  # reports 0 and 3 of the placed five
    page.wait_for_selector("#leaflet[data-markers='2']")
    total = page.evaluate("fetch('/ui/api/reports?state=all&class_name=broken_disc').then(r => r.json())")["total"]
    assert total == len([i for i in range(N_PLACED + N_UNPLACED) if i % 3 == 0])
    page.locator("#leaflet path.leaflet-interactive").first.click()  # a marker opens its report for review
    page.wait_for_selector("#review.active #detail .evidence")


def test_posts_need_the_sessions_csrf_token_and_the_same_origin(device, browser):
    server, store = device
    page = log_in(browser, server.url)
    page.wait_for_selector("#queue li")
    key = page.locator("#queue li").first.get_attribute("data-key")
    status = page.evaluate(
        """key => fetch(`/ui/api/reports/${encodeURIComponent(key)}/review`, {method: "POST",
            headers: {"Content-Type": "application/json"}, body: JSON.stringify({state: "rejected"})})
            .then(r => r.status)""",
        key,
    )
    assert status == 403
    cookie = next(c for c in page.context.cookies() if c["name"] == "gridscout_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    session = f"gridscout_session={cookie['value']}"
    hostile = {"Origin": "http://evil.example", "X-CSRF-Token": "x"}
    forged = http(
        f"{server.url}/ui/api/reports/{key}/review", cookie=session, body={"state": "rejected"}, headers=hostile
    )
    assert forged == 403
    assert store.get(key.split(":")[1]).review_state == "new"


def test_a_10000_report_store_stays_paged(tmp_path, browser, record_property):
    data = tmp_path / "big"
    with ReportStore(data, device_id="gs-web-big") as store:
        for i in range(10_000):
            store.write(ReportObservation(
                track_key=f"big:{i}", class_name="missing_cap", confidence=0.5, t_wall_ns=1_714_564_800_000_000_000 + i,
                frame_id=i, model_name="m", model_sha256="0" * 64, lat=59.6 + i * 1e-5, lon=10.9,
            ))  # fmt: skip
    with start_in_thread(data, TOKEN) as server:
        started = time.monotonic()
        page = log_in(browser, server.url)
        page.wait_for_selector("#queue li")
        first_paint_s = time.monotonic() - started
        assert page.locator("#queue li").count() == 50
        assert "1-50 of 10000 unreviewed" in page.inner_text("#status")
        page.keyboard.press("]")
        page.wait_for_selector("#status:has-text('51-100 of 10000')")
    record_property("figure", f"10,000 reports: 50 a page, first paint {first_paint_s:.2f} s after login")


def test_the_fleet_page_shows_every_devices_reports_on_one_map_and_its_reviews_stand(tmp_path, browser, shots):
    """Scenario: two devices pulled into one fleet database; `gridscout fleet serve` shows both devices' reports
    in one queue and on one map, and a reviewer at the fleet rejects one with the keyboard: the fleet's review
    is stored and stands (`fleet list`)."""
    into = tmp_path / "fleet.db"
    for n, device_id in enumerate(("gs-web-a", "gs-web-b")):
        data = tmp_path / device_id
        with ReportStore(data, device_id=device_id) as store:
            for i in range(3):
                store.upsert(observe(10 * n + i, placed=True))
        with start_in_thread(data, TOKEN) as server:
            assert pull([server.url], TOKEN, into).ok
    page_server = fleet_serve.start(into, TOKEN)
    try:
        page = log_in(browser, page_server.url)
        page.wait_for_selector("#queue li")
        assert "fleet: 2 devices" in page.inner_text("#title")
        assert page.locator("#queue li").count() == 6
        key = page.locator("#queue li").first.get_attribute("data-key")
        page.keyboard.press("x")
        page.wait_for_function("document.querySelectorAll('#queue li').length === 5")
        page.keyboard.press("g")
        page.wait_for_selector("#leaflet[data-markers='5']")  # the unreviewed: the rejected one is not among them
        page.select_option("#narrow-device", "gs-web-b")  # one device of the two
        page.wait_for_selector("#leaflet[data-markers='3']")
        page.keyboard.press("f")  # confirmed: none
        page.wait_for_selector("#leaflet[data-markers='0']")
        page.keyboard.press("f")  # rejected: the one, if it was device a's
        page.keyboard.press("f")  # all of device b
        page.wait_for_selector("#leaflet[data-markers='3']")
        page.select_option("#narrow-device", "")
        page.wait_for_selector("#leaflet[data-markers='6']")
        page.screenshot(path=shots / "fleet-map.png")
    finally:
        page_server.stop()
    device_id, report_id = key.split(":")
    with FleetStore(into) as fleet:
        (row,) = [r for r in fleet.find(report_id) if r.device_id == device_id]
    assert row.review["source"] == "fleet" and row.review["state"] == "rejected"


def test_the_live_view_follows_the_running_chain(tmp_path, browser, shots):
    """Scenario: `gridscout run` on the bundled footage, its API on loopback. Logged in, the Live view shows the
    camera with what perception found drawn on it, and the picture changes by itself; beside it the vehicle's
    link and state and every chain process with its restarts."""
    chain = Chain(tmp_path, source=str(DEMO_FOOTAGE))
    try:
        url = f"http://127.0.0.1:{chain.api_port}"
        chain.wait_for(lambda: http(url + "/v1/health") == 200, 60, "the API")
        page = log_in(browser, url, token="test-token")
        page.wait_for_selector("#views button[data-view=live]:visible")
        page.click("#views button[data-view=live]")
        page.wait_for_function("document.getElementById('live-image').naturalWidth > 0", timeout=30_000)
        first = page.locator("#live-image").screenshot()
        seen = int(page.get_attribute("#live-state", "data-frame") or 0)
        page.wait_for_function(f"(document.getElementById('live-state').dataset.frame | 0) > {seen + 5}")
        assert page.locator("#live-image").screenshot() != first  # the picture moved on by itself
        state = page.inner_text("#live-state")
        for name in ("camera", "perception", "control", "vehicle", "reporter"):
            assert name in state
        assert "sim-crawler" in state and "CONNECTED" in state
        page.wait_for_function("(document.getElementById('live-state').dataset.boxes | 0) > 0", timeout=30_000)
        page.wait_for_timeout(400)  # the picture of those boxes
        page.screenshot(path=shots / "live.png")
    finally:
        chain.close()


def test_an_mbtiles_base_map_is_drawn_under_the_reports_from_the_server_itself(device, browser, tmp_path, shots):
    """Scenario: the operator gives `gridscout serve --tiles line.mbtiles`: the map draws its tiles, fetched from
    the device's own server (and nothing else: no other host is reachable from the test)."""
    _, store = device
    tile = cv2.imencode(".png", np.full((256, 256, 3), (90, 160, 90), np.uint8))[1].tobytes()
    mbtiles = tmp_path / "line.mbtiles"
    write_mbtiles(mbtiles, {(0, 0, 0): tile})
    with start_in_thread(store.data_dir, TOKEN, page=PageExtras(tiles=open_tiles(str(mbtiles)))) as server:
        page = log_in(browser, server.url)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.wait_for_selector("#queue li")
        page.keyboard.press("g")
        page.wait_for_selector(f"#leaflet[data-markers='{N_PLACED}']")
        page.evaluate("ui.map.setView([0, 0], 0)")
        page.wait_for_selector("img.leaflet-tile-loaded[src$='/ui/tiles/0/0/0']")
    assert requested and all(url.startswith(server.url) for url in requested)


@pytest.mark.slow
def test_the_first_commands_run_is_reviewed_pulled_linked_to_its_towers_and_exported(tmp_path, browser, shots):
    """The issue's whole path on the embedded default (bundled footage, shipped model, simulated crawler; in
    replay, so it runs as fast as it goes): its reports are on the page and on the map, one is reviewed with the
    keyboard, a fleet pull gets the review, the demo line's towers (`gridscout mission towers`) link every report,
    and the fleet's GeoPackage opens in ogrinfo with one feature per report."""
    data, into, towers, gpkg = tmp_path / "data", tmp_path / "fleet.db", tmp_path / "towers.csv", tmp_path / "f.gpkg"

    def gridscout(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "gridscout.edge.cli", *argv], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    gridscout("run", "--data", str(data), "--no-api", "--mode", "replay")
    with ReportStore(data, create=False) as store:
        reports = store.list(limit=1000)
    assert reports and all(r.lat is not None for r in reports)  # placed along the footage's line
    with start_in_thread(data, TOKEN) as server:
        page = log_in(browser, server.url)
        page.wait_for_selector("#queue li")
        assert page.locator("#queue li").count() == len(reports)
        page.keyboard.press("h")
        page.keyboard.press("c")
        page.wait_for_function(f"document.querySelectorAll('#queue li').length === {len(reports) - 1}")
        page.keyboard.press("g")
        page.wait_for_selector(f"#leaflet[data-markers='{len(reports) - 1}']")  # the unreviewed ones
        assert pull([server.url], TOKEN, into).ok
    gridscout("mission", "towers", "-o", str(towers))
    linked = gridscout("fleet", "assets", "import", str(towers), "--db", str(into))
    assert f"{len(reports)} reports linked to an asset" in linked
    gridscout("fleet", "export", "--db", str(into), str(gpkg))
    listing = subprocess.run(["ogrinfo", "-ro", "-al", str(gpkg)], capture_output=True, text=True, check=True).stdout
    assert f"Feature Count: {len(reports)}" in listing and "asset_id (String) = T-1" in listing
    assert "review_state (String) = confirmed" in listing and "severity (String) = high" in listing
