"""The MAVLink driver where a real ArduCopter SITL differs from a lone simulator: MAVProxy's traffic on the link,
ACKs addressed to another ground station, chunked STATUSTEXT, the crew switching modes from their own GCS, and a
mission far from the vehicle. Driver and simulator are real processes over loopback."""

from __future__ import annotations

import pytest

from gridscout.control.geodesy import LocalFrame
from gridscout.control.mission import load_mission
from gridscout.control.vehicle import VehicleState
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.hardware.mavlink.driver import MavlinkDriver, MavlinkError
from gridscout.hardware.mavlink.mav import mavlink, mavutil
from gridscout.hardware.vehicle.driver import LinkState
from tests.mavlink_sim import HOME, ready_driver, run_for, run_until, simulator


def test_behind_mavproxy_the_autopilot_is_component_1_and_acks_for_mavproxy_are_not_ours(tmp_path, caplog):
    """`--relayed`: MAVProxy's GCS heartbeat (255/230, as on ArduPilot SITL), a gimbal's and ADS-B's, and 5 DENIED
    DO_SET_MODE ACKs a second addressed to MAVProxy. The simulator misses our first BRAKE; the DENIED meant for
    MAVProxy must not count as its answer: our resend is accepted."""
    with simulator(tmp_path, "--relayed", "--drop-commands", "1") as sim:
        d = ready_driver(sim.url)
        assert d.target == (1, 1)
        d.stop()
        run_until(d, lambda: not d.stop_pending, 3.0, "the STOP acknowledged")
        run_for(d, 0.3)
        assert d.take_refusals() == [] and d.mode == "BRAKE" and d.counters.retries == 1
        shared = [w for w in d.warnings if "component 230 (GCS, e.g. MAVProxy) shares GridScout's system id" in w]
        run_for(d, 2.2)  # two more of MAVProxy's heartbeats: the warning is logged once, not every second
        logged = [r for r in caplog.records if "shares GridScout's system id" in r.getMessage()]
        assert len(shared) == 1 and len(logged) == 1
        d.close()
        assert [c["confirmation"] for c in sim.commands("DO_SET_MODE")] == [1]


def test_a_chunked_statustext_is_read_whole(tmp_path):
    with simulator(tmp_path, "--refuse-mode", "BRAKE") as sim:
        d = ready_driver(sim.url)
        d.stop()
        run_until(d, lambda: not d.stop_pending, 2.0, "the STOP answered")
        run_for(d, 0.2)
        assert "Mode change to BRAKE failed: refused (--refuse-mode)" in d.statustexts
        d.close()


@pytest.mark.parametrize("mode", ["LOITER", "BRAKE"])
def test_the_crew_switching_modes_from_their_gcs_takes_the_vehicle(tmp_path, mode):
    """The crew's MAVProxy (255/190 on the same link) switches to LOITER, or to BRAKE, which GridScout also uses:
    either is the crew taking over. The driver counts it, stops streaming setpoints, reports FAILSAFE, and never
    switches back when told to move."""
    with simulator(tmp_path) as sim:
        d = ready_driver(sim.url)
        run_for(d, 1.0, lambda: d.command_speed(2.0))
        number = d.modes.set_mode_params(mode)[1]
        crew = mavutil.mavlink_connection(sim.url, source_system=255, source_component=190)
        try:
            crew.mav.command_long_send(1, 1, mavlink.MAV_CMD_DO_SET_MODE, 0, 1, number, 0, 0, 0, 0, 0)
            run_until(d, lambda: d.counters.failsafes == 1, 3.0, "the crew's mode change seen")
            run_for(d, 1.5, lambda: d.command_speed(2.0))
        finally:
            crew.close()
        assert d.last_failsafe.startswith(f"GUIDED -> {mode}") and d.telemetry.state is VehicleState.FAILSAFE
        d.close()
        assert [c["params"][1] for c in sim.commands("DO_SET_MODE")] == [number]  # the crew's, none of ours
        (change,) = [e for e in sim.events("mode") if e["mode"] == mode]
        # the mode is known from the next 1 Hz HEARTBEAT; after it, nothing is streamed into the crew's mode
        late = [e for e in sim.events("setpoint_ignored") if e["t_mono"] > change["t_mono"] + 1.1]
        assert late == []


def test_a_vehicle_far_from_the_missions_start_is_refused_and_never_steered(tmp_path):
    """SITL at CMAC, the demo mission in Norway: refused with one line saying how far and what to do; nothing but
    the set-up goes to the vehicle."""
    with simulator(tmp_path) as sim:
        d = MavlinkDriver(sim.url, load_mission(DEMO_MISSION))
        with pytest.raises(MavlinkError) as info:
            d.wait_ready(5.0)
        assert d.link_state is LinkState.REFUSED
        detail = str(info.value)
        assert (
            " km from the flight path of mission 'synthetic-drone-s42'" in detail
            and "max_path_distance_m = 100" in detail
        )
        assert "gridscout mission here --vehicle mavlink:tcp:127.0.0.1:" in detail
        assert d.command_speed(3.0) == -1 and d.stop() == -1
        run_for(d, 0.5)
        d.close()
        assert sim.events("setpoint") == [] and sim.events("setpoint_ignored") == []
        assert {c["command"] for c in sim.commands()} <= {"SET_MESSAGE_INTERVAL"}


def test_a_vehicle_within_the_distance_is_flown(tmp_path):
    """It hovers 60 m east of the line (which runs north): within the default 100 m it is flown; a 50 m limit
    refuses it."""
    lat, lon, _ = LocalFrame(*HOME).to_global(60.0, 0.0)
    with simulator(tmp_path, "--home", str(lat), str(lon), "584") as sim:
        d = ready_driver(sim.url)
        assert d.link_state is LinkState.CONNECTED
        d.close()
        with pytest.raises(MavlinkError, match=r"is (59|60) m from the flight path"):
            ready_driver(sim.url, max_path_distance_m=50.0)


def test_a_vehicle_partway_along_the_line_is_flown_from_there(tmp_path):
    """A vehicle process restarted mid-line finds the drone 150 m along its 200 m line, far from the start but
    on the path: flown, not refused."""
    lat, lon, _ = LocalFrame(*HOME).to_global(5.0, 150.0)
    with simulator(tmp_path, "--home", str(lat), str(lon), "584") as sim:
        d = ready_driver(sim.url, max_path_distance_m=50.0)
        assert d.link_state is LinkState.CONNECTED
        d.close()
