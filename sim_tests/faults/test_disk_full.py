"""A full data disk: the recorder makes room, then stops, saying so; the reports keep their space and are all
stored; the summary names the disk, not the vehicle; `reports list` and `serve` work on the full disk.

Once: the recorder filled a 20 MB disk, made a 0-byte segment every second, the reporter restarted 6 times and
stored nothing, the crawler simulator died writing its log, and the summary said `FAILED vehicle sim-crawler
was lost`. The disk here is a real 6 MB tmpfs, mounted in a private mount namespace (`unshare -m`); the test
is skipped where the machine does not allow one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gridscout.edge.reports import ReportStore

TOKEN = "disk-full-token"


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount_tmpfs(), reason="no private mount namespace with tmpfs here (unshare -m)")
def test_a_full_data_disk_stops_the_recording_keeps_the_reports_and_is_named(tmp_path, record_property):
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    data = disk / "data"
    (tmp_path / "c.toml").write_text("[recorder]\nreserve_mb = 2.0\n")
    serve_check = textwrap.dedent(f"""
        import json, subprocess, sys, urllib.request
        serve = subprocess.Popen([sys.executable, "-m", "gridscout.edge.cli", "serve", "--data", "{data}",
                                  "--api", "127.0.0.1:0", "--token", "{TOKEN}"], stdout=subprocess.PIPE, text=True)
        url = serve.stdout.readline().split("fleet API on ", 1)[1].split()[0]
        request = urllib.request.Request(url + "/v1/reports?since=1", headers={{"Authorization": "Bearer {TOKEN}"}})
        with urllib.request.urlopen(request, timeout=10) as response:
            page = json.loads(response.read())
        serve.terminate()
        serve.wait(10)
        print(json.dumps({{"status": response.status, "reports": len(page["reports"])}}))
    """)
    (tmp_path / "serve_check.py").write_text(serve_check)
    gs = f"{sys.executable} -m gridscout.edge.cli"
    script = textwrap.dedent(f"""
        mount -t tmpfs -o size=6m tmpfs {disk} || exit 90
        {gs} run --config {tmp_path / "c.toml"} --data {data} --no-api --summary-json {out / "summary.json"} \\
            > {out / "run.txt"} 2>&1
        echo $? > {out / "run.rc"}
        df -k {disk} | tail -1 > {out / "df.txt"}
        ls -l {data / "recordings"} > {out / "segments.txt"}
        {gs} reports list --data {data} > {out / "list.txt"} 2>&1
        echo $? > {out / "list.rc"}
        {sys.executable} {tmp_path / "serve_check.py"} > {out / "serve.json"} 2> {out / "serve.err"}
        cp -r {data} {out / "data"}
    """)
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], cwd=Path(__file__).resolve().parents[1], timeout=240,
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = (out / "run.txt").read_text()
    assert (out / "run.rc").read_text().strip() == "1", run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"][0].startswith("the data disk was full"), summary["failures"]
    assert not any("vehicle" in f for f in summary["failures"]), summary["failures"]
    said = [line for line in run.splitlines() if line.startswith("storage ")]  # from storage_status on the bus
    assert said and ": low: " in said[0] and "recorder.reserve_mb" in said[0], run
    assert summary["restarts"] == {} or not any(summary["restarts"].values()), summary["restarts"]
    assert summary["store_pending"] == 0  # every report update was stored: the reserve kept their space
    with ReportStore(out / "data", create=False) as store:
        stored = store.count()
    assert stored >= 1 and summary["reports_created"] == stored
    sizes = [int(line.split()[4]) for line in (out / "segments.txt").read_text().splitlines()[1:]]
    assert sizes and all(size > 0 for size in sizes)  # no empty segments
    assert (out / "list.rc").read_text().strip() == "0", (out / "list.txt").read_text()
    assert len((out / "list.txt").read_text().splitlines()) == stored + 1  # a header and each report
    served = json.loads((out / "serve.json").read_text() or "{}")
    assert served.get("status") == 200, (out / "serve.err").read_text()[-2000:]
    record_property(
        "figure",
        f"6 MB disk: exit 1, '{summary['failures'][0][:40]}...'; {stored} reports stored, "
        f"{summary['store_pending']} lost; {len(sizes)} segments, 0 empty; reports list and serve answer",
    )
