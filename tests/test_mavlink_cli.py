"""`gridscout sim drone|rover`: the MAVLink simulator as a command, spoken to by plain pymavlink, killed with -9."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from gridscout.hardware.mavlink.mav import mavlink, mavutil


@pytest.mark.parametrize(("vehicle", "mav_type", "mode"), [("drone", "QUADROTOR", 4), ("rover", "GROUND_ROVER", 15)])
def test_gridscout_sim_serves_an_ardupilot_vehicle_speaking_mavlink_2(tmp_path, vehicle, mav_type, mode):
    log = tmp_path / "sim.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridscout.edge.cli", "sim", vehicle, "--tcp", "127.0.0.1:0", "--log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("tcp:127.0.0.1:")
        conn = mavutil.mavlink_connection(url, source_system=255, source_component=191)
        try:
            hb = conn.wait_heartbeat(timeout=5)
            assert hb is not None and hb.get_srcSystem() == 1
            assert (hb.autopilot, hb.type, hb.custom_mode) == (
                mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                getattr(mavlink, f"MAV_TYPE_{mav_type}"),
                mode,
            )
            assert hb.get_header().mlen > 0 and conn.WIRE_PROTOCOL_VERSION == "2.0"
            position = conn.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=5)
            assert position is not None and position.lat == -353632610
        finally:
            conn.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL and '"event": "start"' in log.read_text()


def test_a_bad_option_is_one_line_naming_it(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", "sim", "drone", "--param", "NO_SUCH=1", "--tcp", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == (
        "drone-sim: error: simulator parameter 'NO_SUCH': not one it has (SYSID_THISMAV, MAV_GCS_SYSID, FS_GCS_ENABLE, "
        "FS_GCS_TIMEOUT, RTL_ALT, WPNAV_SPEED, FS_OPTIONS)"
    )
