"""The MAVLink driver against the MAVLink simulator, each a real process talking MAVLink 2 over loopback.

The simulator is the one `gridscout sim drone` runs; what it received and did is read from its log.
"""

from __future__ import annotations

import math
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from gridscout.control.vehicle import VehicleState
from gridscout.edge.daemons.vehicled import wait_for_inputs
from gridscout.hardware.mavlink.driver import MavlinkDriver, MavlinkError
from gridscout.hardware.mavlink.settings import MavlinkSettings
from gridscout.hardware.vehicle.driver import LinkError, LinkState
from tests.mavlink_sim import HOME, ready_driver, run_for, run_until, simulator, straight_mission


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connects_over_tcp_and_reports_the_vehicle(tmp_path):
    """Scenario: SITL-like, pre-armed and hovering in GUIDED: the driver finds the autopilot by its heartbeat,
    names it, and reports position, attitude, mode and arming in the shared telemetry. (FS_OPTIONS 0, as the
    crew's checklist has it: no warning.)"""
    with simulator(tmp_path, "--param", "FS_OPTIONS=0") as sim:
        d = ready_driver(sim.url)
        run_for(d, 0.5)
        # the battery comes in SYS_STATUS, at 1 Hz: on a loaded machine not always within those 0.5 s
        run_until(d, lambda: d.telemetry.battery_pct is not None, 5.0, "the battery's state")
        t = d.telemetry
        assert d.link_state is LinkState.CONNECTED and d.link_ok and d.counters.handshakes == 1
        assert d.modes is not None and d.modes.describe == "ArduPilot QUADROTOR"
        assert t.mode == "GUIDED" and t.armed is True and t.state is VehicleState.READY
        assert t.lat_deg == pytest.approx(HOME[0], abs=1e-6) and t.lon_deg == pytest.approx(HOME[1], abs=1e-6)
        assert t.alt_rel_m == pytest.approx(20.0, abs=0.01) and t.alt_m == pytest.approx(604.0, abs=0.01)
        assert t.position_m == pytest.approx(0.0, abs=0.1) and t.battery_pct == pytest.approx(100, abs=1)
        assert t.yaw_deg is not None and t.roll_deg == pytest.approx(0.0, abs=0.1)
        assert d.warnings == [] and d.limits.heartbeat_timeout_s == 5.0
        d.close()
        asked = {c["params"][0]: c["params"][1] for c in sim.commands("SET_MESSAGE_INTERVAL")}
        # GLOBAL_POSITION_INT, ATTITUDE 20 Hz; SYS_STATUS, BATTERY_STATUS, HOME_POSITION 2 Hz
        assert asked == {33.0: 50000.0, 30.0: 50000.0, 1.0: 500000.0, 147.0: 500000.0, 242.0: 500000.0}


@pytest.mark.parametrize("mode", ["tcp", "udp-in"])
def test_an_owner_that_polls_the_link_and_services_it_without_waiting_drives_the_vehicle(tmp_path, mode):
    """The vehicle process's loop: poll the link's descriptor beside its own inputs until something arrives or is
    due (`wait_handle`, `due_in_s`), then `service(0)`. Over TCP and UDP the driver keeps the link, streams its
    setpoints and reads telemetry that way, as with `service(timeout)`."""
    args = ["--udp-in", "127.0.0.1:0"] if mode == "udp-in" else []
    with simulator(tmp_path, *args) as sim:
        d = ready_driver(sim.url)
        assert isinstance(d.wait_handle, int) and 0 <= d.due_in_s() <= 0.2
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            d.command_speed(2.0)
            wait_for_inputs(None, d, 0.05)
            d.service(0.0)
        assert d.telemetry.speed_mps > 0.5 and d.link_ok
        d.close()
        assert d.wait_handle is None and math.isinf(d.due_in_s())


@pytest.mark.parametrize("mode", ["udp-out", "udp-in"])
def test_connects_over_udp_either_way(tmp_path, mode):
    """mavlink:udpin: (we listen, the vehicle sends, as SITL's --out) and mavlink:udpout: (we send first)."""
    port = _free_udp_port()
    args = ["--udp-out", f"127.0.0.1:{port}"] if mode == "udp-out" else ["--udp-in", "127.0.0.1:0"]
    with simulator(tmp_path, *args) as sim:
        assert sim.url.startswith("udpin:" if mode == "udp-out" else "udpout:")
        d = ready_driver(sim.url)
        run_for(d, 1.0, lambda: d.command_speed(2.0))
        assert d.telemetry.speed_mps > 0.5 and d.link_ok
        d.close()


def test_a_vehicle_that_is_not_ready_is_waited_for_and_never_armed(tmp_path):
    """Scenario: the crew has not armed it and it is in LOITER: the driver says so, and arms nothing."""
    with simulator(tmp_path, "--disarmed", "--mode", "LOITER") as sim:
        d = MavlinkDriver(sim.url, straight_mission())
        with pytest.raises(MavlinkError) as info:
            d.wait_ready(3.0)
        detail = str(info.value)
        assert "LOITER, disarmed" in detail and "arm it by hand (vehicle.allow_arm is false)" in detail
        assert "switch it to GUIDED" in detail and d.link_state is LinkState.CONNECTING
        d.close()
        time.sleep(0.2)
        assert sim.commands("COMPONENT_ARM_DISARM") == [] and sim.commands("DO_SET_MODE") == []


def test_with_leave_it_switches_arms_and_takes_off(tmp_path):
    """allow_arm, allow_takeoff and engage=always: a landed, disarmed copter in LOITER is put in GUIDED, armed,
    taken off to the mission's altitude; then it is ready."""
    with simulator(tmp_path, "--disarmed", "--mode", "LOITER", "--altitude", "0") as sim:
        d = MavlinkDriver(
            sim.url,
            straight_mission(altitude_m=6.0),
            MavlinkSettings(engage="always", allow_arm=True, allow_takeoff=True),
        )
        d.wait_ready(15.0)
        assert d.telemetry.armed and d.mode == "GUIDED" and d.telemetry.alt_rel_m >= 1.0
        d.close()
        done = [c["command"] for c in sim.commands() if c["result"] == "MAV_RESULT_ACCEPTED"]
        assert done.index("DO_SET_MODE") < done.index("COMPONENT_ARM_DISARM") < done.index("NAV_TAKEOFF")


def test_speed_along_the_path_streams_velocity_setpoints_above_the_autopilots_timeouts(tmp_path):
    """command_speed(v) becomes SET_POSITION_TARGET_LOCAL_NED velocity setpoints along the mission's path, at
    the configured 10 Hz (ArduPilot stops after 3 s without one, PX4 below 2 Hz); the drone moves along it."""
    with simulator(tmp_path) as sim:
        d = ready_driver(sim.url, straight_mission(standoff_m=4.0))
        t0 = time.monotonic()
        run_for(d, 3.0, lambda: d.command_speed(3.0))
        elapsed = time.monotonic() - t0
        t = d.telemetry
        assert t.state is VehicleState.MOVING and t.speed_mps == pytest.approx(3.0, abs=0.3)
        assert 4.0 < t.position_m < 9.0 and t.heading_deg == pytest.approx(0.0, abs=15)
        d.close()
        setpoints = [e for e in sim.events("setpoint") if e["target"] == "velocity"]
        assert 8.0 <= len(setpoints) / elapsed <= 12.0  # the owner repeats the speed at 50 Hz; the stream is 10 Hz
        assert setpoints[-1]["vector"][0] == pytest.approx(3.0, abs=0.1)  # north, along the path
        assert setpoints[-1]["vector"][1] > 0.5  # east: the 4 m standoff to the right, steered onto
        assert abs((setpoints[-1]["yaw_deg"] + 180) % 360 - 180) < 1.0  # facing along the path (north)


def test_random_speeds_never_command_more_than_the_limit(tmp_path):
    """Property: whatever speeds the owner asks for, no setpoint's horizontal speed exceeds max_speed_mps
    (corrections back onto the path included), and speeds above it are counted as clamped."""
    rng = random.Random(7)
    with simulator(tmp_path) as sim:
        d = ready_driver(sim.url, straight_mission(standoff_m=30.0), max_speed_mps=4.0)
        for _ in range(30):
            v = rng.uniform(-12.0, 12.0)
            run_for(d, 0.05, lambda v=v: d.command_speed(v))
        d.close()
        tops = [math.hypot(*e["vector"][:2]) for e in sim.events("setpoint") if e["target"] == "velocity"]
        assert tops and max(tops) <= 4.0 + 1e-3 and d.counters.clamped > 0


def test_stop_brakes_acknowledged_and_moving_again_returns_to_guided(tmp_path):
    with simulator(tmp_path) as sim:
        d = ready_driver(sim.url)
        run_for(d, 1.5, lambda: d.command_speed(4.0))
        assert d.stop() >= 0 and d.stop_pending
        run_until(d, lambda: not d.stop_pending, 2.0, "the STOP acknowledged")
        run_until(d, lambda: d.telemetry.ground_speed_mps < 0.05, 3.0, "standing still")
        assert d.mode == "BRAKE" and d.telemetry.state is VehicleState.READY  # ours: ready to go on
        run_for(d, 1.5, lambda: d.command_speed(2.0))
        assert d.mode == "GUIDED" and d.telemetry.state is VehicleState.MOVING
        assert d.counters.failsafes == 0 and d.counters.refusals == {}
        d.close()
        modes = [c["params"][1] for c in sim.commands("DO_SET_MODE")]
        assert modes == [17.0, 4.0]  # BRAKE then GUIDED, each once, by ArduCopter's numbers
        # entering GUIDED resets ArduCopter's position-move speed to WPNAV_SPEED: the cruise speed goes again
        assert [c["params"][1] for c in sim.commands("DO_CHANGE_SPEED")] == [3.0, 3.0]


def test_a_refused_command_is_surfaced_with_the_mav_result_name(tmp_path):
    with simulator(tmp_path, "--refuse-mode", "BRAKE", "--no-home") as sim:
        d = ready_driver(sim.url)
        d.stop()
        run_until(d, lambda: not d.stop_pending, 2.0, "the STOP answered")
        d.return_to_launch()
        run_for(d, 0.5)
        refusals = d.take_refusals()
        assert [(r.command, r.reason) for r in refusals] == [
            ("DO_SET_MODE(BRAKE)", "MAV_RESULT_DENIED"),
            ("NAV_RETURN_TO_LAUNCH", "MAV_RESULT_FAILED"),
        ]
        assert d.counters.refusals == {"MAV_RESULT_DENIED": 1, "MAV_RESULT_FAILED": 1}
        assert d.mode == "GUIDED"  # still in GUIDED: its zero-velocity setpoints hold it
        d.close()


def test_an_unanswered_command_is_resent_with_its_confirmation_counted_up(tmp_path):
    """The simulator misses each command's first send: every command needs exactly one resend."""
    with simulator(tmp_path, "--drop-commands", "1") as sim:
        d = ready_driver(sim.url)
        d.stop()
        run_until(
            d, lambda: not d.stop_pending and d.counters.retries >= 1, 3.0, "the STOP acknowledged after a resend"
        )
        run_for(d, 0.3)
        assert d.counters.retries == 1 and d.counters.unanswered == 0  # the STOP's (set-up resends are not counted)
        d.close()
        assert [c["confirmation"] for c in sim.commands("DO_SET_MODE")] == [1]
        assert [c["confirmation"] for c in sim.commands("DO_CHANGE_SPEED")] == [1]
        assert len(sim.events("command_dropped")) >= 2  # the set-up's SET_MESSAGE_INTERVALs too


def test_a_vehicle_that_answers_nothing_leaves_commands_unanswered_but_the_stop_keeps_going(tmp_path):
    with simulator(tmp_path, "--no-ack") as sim:
        d = MavlinkDriver(sim.url, straight_mission(), MavlinkSettings(ack_timeout_s=0.2, max_retries=2))
        d.wait_ready(10.0)  # readiness is the heartbeat's, not an ACK's
        d.set_mode("GUIDED")  # a command of the crew's scripts (the mode it is in already), given up on
        run_for(d, 1.0)
        d.stop()
        run_for(d, 1.5)
        assert d.counters.unanswered >= 1 and d.stop_pending and d.counters.retries >= 5
        assert any("never answered SET_MESSAGE_INTERVAL" in w for w in d.warnings)
        d.close()


def test_failsafe_parameters_that_are_off_are_warned_about(tmp_path):
    """Each names the parameter as this firmware calls it (ArduPilot 4.7: MAV_GCS_SYSID), and Copter's default
    FS_OPTIONS 16 is one of them."""
    with simulator(tmp_path, "--param", "FS_GCS_ENABLE=0", "--param", "MAV_GCS_SYSID=250") as sim:
        d = ready_driver(sim.url)
        run_until(d, lambda: len(d.warnings) >= 3, 3.0, "three warnings")
        assert d.warnings[0].startswith("vehicle parameter FS_GCS_ENABLE = 0: should be not 0")
        assert "MAV_GCS_SYSID = 250: should be 255" in d.warnings[1]
        assert "FS_OPTIONS = 16: should be without bit 4" in d.warnings[2]
        d.close()


_WORKER = textwrap.dedent(
    """
    import sys, time
    from gridscout.hardware.mavlink.driver import MavlinkDriver
    from tests.mavlink_sim import straight_mission
    d = MavlinkDriver(sys.argv[1], straight_mission())
    d.wait_ready(10.0)
    print("ready", flush=True)
    while True:
        d.command_speed(2.0)
        d.service(0.02)
    """
)


def test_the_vehicles_gcs_failsafe_takes_over_when_the_drivers_owner_is_killed(tmp_path):
    """Scenario: the vehicle process dies (kill -9) mid-line. Its heartbeats stop; the autopilot's GCS failsafe
    (here after 1.5 s) flies RTL and says so. A driver that connects afterwards waits, saying the vehicle is in RTL."""
    with simulator(tmp_path, "--gcs-timeout", "1.5") as sim:
        owner = subprocess.Popen([sys.executable, "-c", _WORKER, sim.url], stdout=subprocess.PIPE, text=True)
        try:
            assert owner.stdout.readline().strip() == "ready"
            time.sleep(1.0)
            owner.send_signal(signal.SIGKILL)
            owner.wait(timeout=5)
            killed = time.monotonic()
            deadline = killed + 6.0
            while not sim.events("failsafe") and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            owner.kill()
        (failsafe,) = sim.events("failsafe")
        assert failsafe["kind"] == "gcs" and failsafe["action"] == "RTL" and 1.5 <= failsafe["silent_s"] < 2.6
        assert any(e["text"] == "GCS Failsafe: RTL" for e in sim.events("statustext"))
        d = MavlinkDriver(sim.url, straight_mission())
        with pytest.raises(MavlinkError, match="is RTL, armed"):
            d.wait_ready(2.5)
        d.close()


def test_a_mode_change_nobody_here_asked_for_is_a_failsafe_and_is_not_fought(tmp_path):
    """The driver's owner freezes past the GCS timeout (no heartbeats), then carries on: the vehicle went RTL by
    itself. The driver counts it, quotes the STATUSTEXT, reports FAILSAFE and never switches back to GUIDED."""
    with simulator(tmp_path, "--gcs-timeout", "1.2") as sim:
        d = ready_driver(sim.url)
        run_for(d, 0.5, lambda: d.command_speed(2.0))
        time.sleep(2.2)  # frozen: nothing serviced, no heartbeat
        run_until(d, lambda: d.counters.failsafes == 1, 3.0, "the failsafe seen")
        run_for(d, 1.5, lambda: d.command_speed(2.0))
        assert d.telemetry.state is VehicleState.FAILSAFE and d.mode == "RTL"
        assert d.last_failsafe.startswith("GUIDED -> RTL") and "GCS Failsafe: RTL" in d.last_failsafe
        assert d.stop() >= 0 and not d.stop_pending  # its mode is the vehicle's own now: left as it is
        d.close()
        assert sim.commands("DO_SET_MODE") == []


def test_the_simulators_setpoint_timeout_stops_a_vehicle_left_without_setpoints(tmp_path):
    """A real MAVLink peer (pymavlink) sends one velocity setpoint and then only heartbeats: 3 s later the
    simulator drops it and stops, as ArduPilot's GUIDED does."""
    from gridscout.hardware.mavlink.mav import VELOCITY_YAW_MASK, mavlink, mavutil

    with simulator(tmp_path) as sim:
        conn = mavutil.mavlink_connection(sim.url, source_system=255, source_component=191)
        try:
            assert conn.wait_heartbeat(timeout=5) is not None
            conn.mav.set_position_target_local_ned_send(
                0, 1, 1, mavlink.MAV_FRAME_LOCAL_NED, VELOCITY_YAW_MASK, 0, 0, 0, 4.0, 0, 0, 0, 0, 0, 0, 0
            )
            t0 = time.monotonic()
            while not sim.events("setpoint_timeout") and time.monotonic() - t0 < 6:
                conn.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
                conn.recv_match(blocking=True, timeout=0.3)
        finally:
            conn.close()
        (setpoint,) = sim.events("setpoint")
        (timeout,) = sim.events("setpoint_timeout")
        assert timeout["t_mono"] - setpoint["t_mono"] == pytest.approx(3.0, abs=0.1)
        moving = [s for s in sim.events("state") if s["t_mono"] < timeout["t_mono"]]
        assert max(s["ground_speed_mps"] for s in moving) > 3.0


def test_a_link_that_fails_raises_link_error_and_counts_a_drop(tmp_path):
    with simulator(tmp_path) as sim:
        d = ready_driver(sim.url)
        sim.proc.kill()
        sim.proc.wait()
        with pytest.raises(LinkError, match=r"closed the connection|reset"):
            run_for(d, 2.0)
        assert d.counters.link_drops == 1
        d.close()
    with pytest.raises(LinkError, match=r"cannot open MAVLink link 'tcp:127\.0\.0\.1:9'"):
        MavlinkDriver("tcp:127.0.0.1:9", straight_mission()).connect()


def test_a_rovers_altitude_is_judged_against_home_and_it_keeps_to_the_ground(tmp_path):
    """ArduRover reports GLOBAL_POSITION_INT.relative_alt as its altitude above sea level (299.6 m on the ground
    with home at 300 m; the simulator does the same): the driver takes the rover's altitude above home from
    HOME_POSITION, and marks it a ground vehicle, which the gate's altitude band does not apply to."""
    with simulator(tmp_path, "--home", str(HOME[0]), str(HOME[1]), "300", vehicle="rover") as sim:
        d = ready_driver(sim.url)
        run_for(d, 1.5)
        t = d.telemetry
        d.close()
    assert d.modes is not None and d.modes.family == "rover"
    assert t.alt_m == pytest.approx(300.0, abs=0.01) and t.alt_rel_m == pytest.approx(0.0, abs=0.01)
    assert t.ground_vehicle is True


@pytest.mark.parametrize("vehicle", ["drone", "rover"])
def test_a_hold_off_the_path_corrects_a_drone_but_stands_a_rover(tmp_path, vehicle):
    """Holding 3 m beside the flight path: a drone is brought back onto it; a rover stands (it cannot move
    sideways, and ArduRover chasing the correction drove to and fro through a hold)."""
    with simulator(tmp_path, vehicle=vehicle) as sim:
        d = ready_driver(sim.url, straight_mission(standoff_m=3.0))
        d.hold()
        run_for(d, 1.0)
        d.close()
        vectors = [e["vector"] for e in sim.events("setpoint")]
    assert vectors
    if vehicle == "rover":
        assert all(v == [0.0, 0.0, 0.0] for v in vectors)
    else:
        assert max(abs(v[1]) for v in vectors) > 0.5  # east, back onto the path
