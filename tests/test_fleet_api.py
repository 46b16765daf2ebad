"""The fleet API served by real uvicorn on 127.0.0.1 (port 0) over a real report store, and its token."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from gridscout.edge.api import TOKEN_ENV, TokenFileError, resolve_token
from gridscout.edge.api.server import start_in_thread
from gridscout.edge.reports import ReportObservation, ReportStore

TOKEN = "test-token-Zx9"
T0 = 1_714_564_800_000_000_000


def jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def observe(i: int, **extra) -> ReportObservation:
    return ReportObservation(
        track_key=f"run:track-{i}",
        class_name="flashover" if i % 2 else "broken_insulator",
        confidence=0.5 + i / 100,
        t_wall_ns=T0 + i * 10**9,
        frame_id=i,
        model_name="cplid-yolo",
        model_sha256="cd" * 32,
        position_m=100.0 * i,
        **extra,
    )


@pytest.fixture
def api(tmp_path):
    """A store with 12 reports (all but the last with evidence) served on a free loopback port."""
    data = tmp_path / "data"
    with ReportStore(data, device_id="gs-api-test") as store:
        for i in range(12):
            evidence = {"evidence_jpeg": jpeg(i), "evidence_box_xyxy": (4, 5, 30, 40)} if i < 11 else {}
            store.upsert(observe(i, **evidence))
    with start_in_thread(data, TOKEN) as server:
        yield server


def call(url: str, token: str | None = TOKEN, body: dict | None = None) -> tuple[int, dict, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_health_needs_no_token(api):
    """Health answers without a token with the device id, report count and latest seq."""
    status, _, body = call(api.url + "/v1/health", token=None)
    health = json.loads(body)
    assert status == 200
    assert (health["status"], health["device_id"], health["reports"], health["latest_seq"]) == (
        "ok",
        "gs-api-test",
        12,
        12,
    )
    assert health["version"]


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_every_other_route_needs_the_token(api, token):
    """Without the token, or with a wrong one, every data route is 401 with WWW-Authenticate: Bearer."""
    some_id = json.loads(call(api.url + "/v1/reports?limit=1")[2])["reports"][0]["id"]
    for path, body in [
        ("/v1/reports", None),
        (f"/v1/reports/{some_id}", None),
        (f"/v1/reports/{some_id}/evidence.jpg", None),
        (f"/v1/reports/{some_id}/review", {"state": "confirmed"}),
    ]:
        status, headers, _ = call(api.url + path, token=token, body=body)
        assert status == 401, path
        assert headers.get("www-authenticate") == "Bearer", path


def test_paging_with_since_and_next_since(api):
    """Pages of 5 follow next_since through all 12 reports in seq order; past the end, next_since stays put."""
    seen, since = [], 0
    while True:
        page = json.loads(call(f"{api.url}/v1/reports?since={since}&limit=5")[2])
        assert page["device_id"] == "gs-api-test"
        if not page["reports"]:
            assert page["next_since"] == since
            break
        assert len(page["reports"]) <= 5
        assert page["next_since"] == page["reports"][-1]["seq"]
        seen += page["reports"]
        since = page["next_since"]
    assert [r["seq"] for r in seen] == list(range(1, 13))
    assert len({r["id"] for r in seen}) == 12


def test_bad_query_and_body_are_422(api):
    """Out-of-range paging parameters and unknown review states are rejected as 422."""
    for query in ("limit=0", "limit=1001", "since=-1", "since=abc", "since=99999999999999999999999"):
        assert call(f"{api.url}/v1/reports?{query}")[0] == 422, query
    some_id = json.loads(call(api.url + "/v1/reports?limit=1")[2])["reports"][0]["id"]
    assert call(f"{api.url}/v1/reports/{some_id}/review", body={"state": "maybe"})[0] == 422


def test_report_and_evidence(api):
    """One report reads back by id; its evidence is a JPEG that decodes to the stored image size."""
    report = json.loads(call(api.url + "/v1/reports?limit=1")[2])["reports"][0]
    status, _, body = call(f"{api.url}/v1/reports/{report['id']}")
    assert status == 200 and json.loads(body) == report
    assert report["box_xyxy"] == [4, 5, 30, 40] and report["first_seen"].endswith("Z")
    status, headers, body = call(f"{api.url}/v1/reports/{report['id']}/evidence.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (48, 64, 3)
    assert body == jpeg(0)  # as the camera saw it
    status, headers, drawn = call(f"{api.url}/v1/reports/{report['id']}/evidence.jpg?drawn=true")
    assert status == 200 and headers["content-type"] == "image/jpeg" and drawn != body
    assert cv2.imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)


def test_unknown_ids_and_missing_evidence_are_404(api):
    """Unknown report ids are 404 on every per-report route; so is evidence for a report without any."""
    for path, body in [("/v1/reports/nope", None), ("/v1/reports/nope/evidence.jpg", None)]:
        assert call(api.url + path, body=body)[0] == 404
    assert call(api.url + "/v1/reports/nope/review", body={"state": "rejected"})[0] == 404
    bare = json.loads(call(api.url + "/v1/reports?since=11")[2])["reports"][0]
    assert not bare["has_evidence"]
    assert call(f"{api.url}/v1/reports/{bare['id']}/evidence.jpg")[0] == 404


def test_review_bumps_seq_into_the_next_page(api):
    """A review returns the report with a new seq, and a puller at the old latest seq gets exactly it."""
    first = json.loads(call(api.url + "/v1/reports?limit=1")[2])["reports"][0]
    status, _, body = call(f"{api.url}/v1/reports/{first['id']}/review", body={"state": "rejected", "note": "bird"})
    reviewed = json.loads(body)
    assert status == 200 and reviewed["seq"] == 13
    assert (reviewed["review_state"], reviewed["review_note"]) == ("rejected", "bird")
    page = json.loads(call(api.url + "/v1/reports?since=12")[2])
    assert [r["id"] for r in page["reports"]] == [first["id"]] and page["next_since"] == 13


def test_a_review_sets_severity_and_class_and_bad_ones_are_422(api):
    """The API's review takes the terminal's fields; a class outside the taxonomy, a severity that is not high,
    medium or low, or `new` as a verdict is a 422 naming it, and the report is unchanged."""
    first = json.loads(call(api.url + "/v1/reports?limit=1")[2])["reports"][0]
    url = f"{api.url}/v1/reports/{first['id']}/review"
    status, _, body = call(url, body={"state": "confirmed", "severity": "medium", "class_name": "missing_cap"})
    reviewed = json.loads(body)
    assert status == 200 and (reviewed["severity"], reviewed["review_class"]) == ("medium", "missing_cap")
    for bad in ({"state": "confirmed", "class_name": "crack"}, {"state": "confirmed", "severity": "urgent"},
                {"state": "new"}):  # fmt: skip
        status, _, body = call(url, body=bad)
        assert status == 422, bad
    assert (
        "class 'crack': expected one of"
        in json.loads(call(url, body={"state": "rejected", "class_name": "crack"})[2])["detail"]
    )
    assert json.loads(call(f"{api.url}/v1/reports/{first['id']}")[2]) == reviewed


def test_writes_from_another_connection_show_up(api, tmp_path):
    """The reporter writes through its own connection while the API serves; the API sees the new report."""
    with ReportStore(tmp_path / "data") as reporter:
        reporter.upsert(observe(99))
    page = json.loads(call(api.url + "/v1/reports?since=12")[2])
    assert [r["track_key"] for r in page["reports"]] == ["run:track-99"]


def test_openapi_lists_the_routes(api):
    """The OpenAPI document is public and names every route, with the bearer scheme."""
    spec = json.loads(call(api.url + "/openapi.json", token=None)[2])
    assert spec["info"]["title"] == "GridScout fleet API"
    assert set(spec["paths"]) == {
        "/v1/health",
        "/v1/reports",
        "/v1/reports/{report_id}",
        "/v1/reports/{report_id}/evidence.jpg",
        "/v1/reports/{report_id}/review",
    }
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert call(api.url + "/docs", token=None)[0] == 200


def test_token_file_is_created_0600_and_reused(tmp_path, monkeypatch):
    """With no env or configured token, one is generated into DATA/api_token (0600) once, then reused."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token, generated = resolve_token(tmp_path)
    path = tmp_path / "api_token"
    assert generated and len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_token(tmp_path) == (token, False)
    os.chmod(path, 0o644)
    with pytest.raises(TokenFileError, match="chmod 600"):
        resolve_token(tmp_path)


def test_the_command_line_beats_env_beats_configured_beats_file(tmp_path, monkeypatch):
    """`--token` wins over $GRIDSCOUT_API_TOKEN (a crew rotating the token with the flag once kept the old one
    working), which wins over a configured token, which wins over the token file."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    resolve_token(tmp_path)
    assert resolve_token(tmp_path, configured="from-config") == ("from-config", False)
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert resolve_token(tmp_path, configured="from-config") == ("from-env", False)
    assert resolve_token(tmp_path, given="from-flag", configured="from-config") == ("from-flag", False)


def test_serve_with_a_new_token_on_the_command_line_refuses_the_old_one_in_the_environment(tmp_path):
    data = tmp_path / "data"
    with ReportStore(data, device_id="gs-rotate") as store:
        store.upsert(observe(1))
    serve = subprocess.Popen(
        [sys.executable, "-m", "gridscout.edge.cli", "serve", "--data", str(data), "--api", "127.0.0.1:0",
         "--token", "new-token"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, TOKEN_ENV: "old-token"},
    )  # fmt: skip
    try:
        line = serve.stdout.readline()
        url = line.split("fleet API on ", 1)[1].split()[0]
        assert call(f"{url}/v1/reports", token="old-token")[0] == 401
        assert call(f"{url}/v1/reports", token="new-token")[0] == 200
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=30)


def test_a_cursor_past_the_latest_seq_cannot_strip_the_protection_of_unpulled_evidence(api, tmp_path, record_property):
    """One read with since beyond the store (1000 on a store at seq 12, or past SQLite's integers) once marked
    every report pulled, so retention could delete evidence no fleet had; a huge one broke every retention pass
    after. Now: 409 (since > latest: pull from 0) or 422 (not an int64), nothing stored, all still protected."""
    data = tmp_path / "data"
    with ReportStore(data) as store:
        assert store.latest_seq() == 12 and len(store.unpulled_spans()) == 12
    status_code, _, body = call(f"{api.url}/v1/reports?since=1000")
    assert status_code == 409 and b"beyond this device's latest seq 12" in body
    assert call(f"{api.url}/v1/reports?since=99999999999999999999999")[0] == 422
    assert call(f"{api.url}/v1/reports?since={2**63}")[0] == 422
    with ReportStore(data) as store:
        assert store.pulled_seq() == 0 and len(store.unpulled_spans()) == 12
    assert call(f"{api.url}/v1/reports?since=5")[0] == 200  # acknowledges seq 1-5, no more
    with ReportStore(data) as store:
        assert store.pulled_seq() == 5 and len(store.unpulled_spans()) == 7
        store.mark_pulled(10**9)  # the store itself never marks past what it holds
        assert store.pulled_seq() == 12
    record_property("figure", "since=1000: 409, since=1e23: 422, nothing stored; 12 of 12 reports' evidence protected")


def test_a_stored_mark_past_the_latest_seq_is_not_believed(tmp_path):
    """A store written before marks were clamped may hold pulled_seq 1000 at seq 3 (or one past int64): read as
    0, so every report's evidence is protected until a fleet pulls again, and retention's query does not fail."""
    with ReportStore(tmp_path, device_id="gs-old") as store:
        for i in range(3):
            store.upsert(observe(i))
        for bogus in ("1000", str(10**23)):
            with store._write() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('pulled_seq', ?)", (bogus,))
            assert store.pulled_seq() == 0 and len(store.unpulled_spans()) == 3


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_serve_over_tls_is_pulled_with_the_devices_certificate_and_refuses_plain_http(tmp_path):
    """`serve --tls-cert --tls-key`: HTTPS only; `fleet pull --cafile` trusts the device's self-signed
    certificate; without it the pull fails on the certificate, and plain HTTP gets nothing."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    data = tmp_path / "data"
    with ReportStore(data, device_id="gs-tls") as store:
        store.upsert(observe(1))
    serve = subprocess.Popen(
        [sys.executable, "-m", "gridscout.edge.cli", "serve", "--data", str(data), "--api", "127.0.0.1:0",
         "--token", TOKEN, "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = serve.stdout.readline().split("fleet API on ", 1)[1].split()[0]
        assert url.startswith("https://127.0.0.1:")
        pull = [sys.executable, "-m", "gridscout.edge.cli", "fleet", "pull", url, "--token", TOKEN, "--retries", "0"]
        trusted = subprocess.run([*pull, "--into", str(tmp_path / "a.db"), "--cafile", str(cert)],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert trusted.returncode == 0 and "1 new" in trusted.stdout, trusted.stdout + trusted.stderr
        untrusted = subprocess.run(
            [*pull, "--into", str(tmp_path / "b.db")], capture_output=True, text=True, timeout=60
        )
        assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout + untrusted.stderr
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(url.replace("https://", "http://") + "/v1/health", timeout=5).read()
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=30)
