"""The MAVLink simulator's vehicle on a clock the test drives: ArduPilot-like modes, kinematics, timeouts,
failsafe, refusals; and the same inputs give the same flight. Messages go through pymavlink's own framing."""

from __future__ import annotations

import math

import pytest

from gridscout.hardware.mavlink.mav import VELOCITY_YAW_MASK, mavlink
from gridscout.hardware.sim.mavlink.config import MavSimConfig
from gridscout.hardware.sim.mavlink.core import MavVehicleSim, parameters

_OURS = mavlink.MAVLink(None, srcSystem=255, srcComponent=191)
_PARSER = mavlink.MAVLink(None)


def wire(msg, sender: mavlink.MAVLink = _OURS):
    """`msg` as the simulator receives it: packed by a sender, parsed back (with its header)."""
    (parsed,) = _PARSER.parse_buffer(msg.pack(sender))
    return parsed


def heartbeat(sender: mavlink.MAVLink = _OURS):
    return wire(
        mavlink.MAVLink_heartbeat_message(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0, 3), sender
    )


def command(cmd: int, *params: float, confirmation: int = 0):
    p = (list(params) + [0.0] * 7)[:7]
    return wire(mavlink.MAVLink_command_long_message(1, 1, cmd, confirmation, *p))


def velocity(north: float, east: float, down: float = 0.0):
    return wire(
        mavlink.MAVLink_set_position_target_local_ned_message(
            0, 1, 1, mavlink.MAV_FRAME_LOCAL_NED, VELOCITY_YAW_MASK, 0, 0, 0, north, east, down, 0, 0, 0, 0, 0
        )
    )


def set_mode(sim: MavVehicleSim, name: str, now: float) -> int:
    (ack,) = [m for m in sim.handle(command(mavlink.MAV_CMD_DO_SET_MODE, 1, sim.mode_numbers[name]), now)
              if m.get_type() == "COMMAND_ACK"]  # fmt: skip
    return ack.result


def run(sim: MavVehicleSim, start: float, end: float, *, feed=None, every: float = 0.1) -> float:
    """Tick from start to end, handing it `feed()`'s messages every `every` seconds (heartbeats by default)."""
    t = start
    while t < end - 1e-9:
        t = round(t + every, 9)
        for msg in feed() if feed else [heartbeat()]:
            sim.handle(msg, t)
        sim.tick(t)
    return t


def test_it_starts_armed_and_hovering_in_guided_and_says_so_as_ardupilot():
    sim = MavVehicleSim(MavSimConfig(), 0.0)
    out = {m.get_type(): m for m in sim.tick(0.0)}
    hb = out["HEARTBEAT"]
    assert hb.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA and hb.type == mavlink.MAV_TYPE_QUADROTOR
    assert hb.custom_mode == 4 and hb.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    assert out["GLOBAL_POSITION_INT"].relative_alt == 20_000 and out["GLOBAL_POSITION_INT"].lat == -353632610


def test_a_velocity_target_is_flown_within_the_acceleration_limit_and_dropped_after_three_seconds():
    sim = MavVehicleSim(MavSimConfig(accel_mps2=2.0), 0.0)
    sim.handle(velocity(4.0, 0.0), 0.0)
    run(sim, 0.0, 1.0, feed=lambda: [heartbeat()])
    assert sim.velocity[1] == pytest.approx(2.0, abs=0.05)  # 1 s at 2 m/s²
    run(sim, 1.0, 2.9)
    assert sim.velocity[1] == pytest.approx(4.0, abs=0.01)
    run(sim, 2.9, 6.0)
    assert [e["after_s"] for e in sim.events if e["event"] == "setpoint_timeout"] == [3.0]
    assert math.hypot(*sim.velocity[:2]) < 0.01 and sim.position[1] > 10


def test_velocity_targets_outside_guided_are_ignored_as_ardupilot_does():
    sim = MavVehicleSim(MavSimConfig(start_mode="LOITER"), 0.0)
    sim.handle(velocity(4.0, 0.0), 0.0)
    run(sim, 0.0, 1.0)
    assert sim.velocity == [0.0, 0.0, 0.0] and sim.events[0]["event"] == "setpoint_ignored"


def test_brake_stops_harder_than_loiter():
    stops = {}
    for mode in ("BRAKE", "LOITER"):
        sim = MavVehicleSim(MavSimConfig(), 0.0)
        run(sim, 0.0, 4.0, feed=lambda: [heartbeat(), velocity(5.0, 0.0)])
        assert set_mode(sim, mode, 4.0) == mavlink.MAV_RESULT_ACCEPTED
        at = sim.position[1]
        run(sim, 4.0, 8.0)
        stops[mode] = sim.position[1] - at
        assert math.hypot(*sim.velocity[:2]) < 0.01
    assert stops["BRAKE"] < stops["LOITER"]


def test_the_gcs_failsafe_flies_rtl_lands_and_disarms_and_clears_when_heartbeats_return():
    sim = MavVehicleSim(MavSimConfig(gcs_timeout_s=2.0, rtl_alt_m=25.0), 0.0)
    run(sim, 0.0, 5.0, feed=lambda: [heartbeat(), velocity(0.0, 4.0)])
    out = []
    t = 5.0
    while sim.mode != "RTL":
        t = round(t + 0.1, 9)
        out += sim.tick(t)
    assert t == pytest.approx(7.0, abs=0.15)  # 2 s of silence
    assert [m.text for m in out if m.get_type() == "STATUSTEXT"] == ["GCS Failsafe: RTL"]
    t = run(sim, t, t + 60.0, feed=list)  # still no GCS
    assert not sim.armed and sim.position[2] == 0.0 and math.hypot(*sim.position[:2]) < 0.6
    assert max(e["alt_rel_m"] for e in [sim.state()]) == 0.0
    replies = sim.handle(heartbeat(), t)
    assert [m.text for m in replies] == ["GCS Failsafe Cleared"]


def test_a_heartbeat_from_another_system_does_not_hold_the_failsafe_off():
    sim = MavVehicleSim(MavSimConfig(gcs_timeout_s=1.0), 0.0)
    stranger = mavlink.MAVLink(None, srcSystem=254, srcComponent=190)
    run(sim, 0.0, 1.0)
    run(sim, 1.0, 3.0, feed=lambda: [heartbeat(stranger)])
    assert sim.mode == "RTL" and sim.in_failsafe


def test_a_rovers_failsafe_holds():
    sim = MavVehicleSim(MavSimConfig(vehicle="rover", gcs_timeout_s=1.0), 0.0)
    run(sim, 0.0, 1.0)
    run(sim, 1.0, 2.5, feed=list)
    assert sim.mode == "HOLD" and sim.position[2] == 0.0


@pytest.mark.parametrize(
    ("config", "cmd", "params", "result"),
    [
        (MavSimConfig(refuse_modes=("BRAKE",)), mavlink.MAV_CMD_DO_SET_MODE, (1, 17), mavlink.MAV_RESULT_DENIED),
        (MavSimConfig(), mavlink.MAV_CMD_DO_SET_MODE, (1, 99), mavlink.MAV_RESULT_UNSUPPORTED),
        (MavSimConfig(), mavlink.MAV_CMD_DO_SET_MODE, (1, 3), mavlink.MAV_RESULT_UNSUPPORTED),  # AUTO: not simulated
        (MavSimConfig(home_set=False), mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, (), mavlink.MAV_RESULT_FAILED),
        (MavSimConfig(), mavlink.MAV_CMD_NAV_TAKEOFF, (0, 0, 0, 0, 0, 0, 10), mavlink.MAV_RESULT_FAILED),  # flying
        (MavSimConfig(), mavlink.MAV_CMD_COMPONENT_ARM_DISARM, (0,), mavlink.MAV_RESULT_FAILED),  # in the air
        (MavSimConfig(), mavlink.MAV_CMD_DO_CHANGE_SPEED, (1, 0), mavlink.MAV_RESULT_DENIED),  # ArduCopter 4.5
        (MavSimConfig(), mavlink.MAV_CMD_DO_CHANGE_SPEED, (7, 4), mavlink.MAV_RESULT_DENIED),  # no such speed type
        (MavSimConfig(), mavlink.MAV_CMD_DO_FENCE_ENABLE, (1,), mavlink.MAV_RESULT_UNSUPPORTED),
        (MavSimConfig(), mavlink.MAV_CMD_DO_CHANGE_SPEED, (1, 4, -1), mavlink.MAV_RESULT_ACCEPTED),
    ],
)
def test_commands_not_allowed_now_are_refused_with_ardupilots_results(config, cmd, params, result):
    sim = MavVehicleSim(config, 0.0)
    (ack,) = [m for m in sim.handle(command(cmd, *params), 0.0) if m.get_type() == "COMMAND_ACK"]
    assert (ack.command, ack.result) == (cmd, result)
    assert (ack.target_system, ack.target_component) == (255, 191)  # addressed to its sender, as ArduPilot does


def test_a_resent_command_it_already_did_is_answered_again_not_done_twice():
    sim = MavVehicleSim(MavSimConfig(), 0.0)
    first = sim.handle(command(mavlink.MAV_CMD_DO_SET_MODE, 1, 17), 0.0)
    again = sim.handle(command(mavlink.MAV_CMD_DO_SET_MODE, 1, 17, confirmation=1), 0.1)
    assert first[-1].result == again[-1].result == mavlink.MAV_RESULT_ACCEPTED and sim.duplicates == 1
    assert [e["event"] for e in sim.events].count("command") == 1


def test_message_rates_follow_set_message_interval():
    sim = MavVehicleSim(MavSimConfig(), 0.0)
    sim.handle(command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 50_000), 0.0)
    sim.handle(command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, -1), 0.0)
    counts: dict[str, int] = {}
    t = 0.0
    while t < 2.0:
        t = round(t + 0.01, 9)
        for m in sim.tick(t):
            counts[m.get_type()] = counts.get(m.get_type(), 0) + 1
    assert (
        38 <= counts["GLOBAL_POSITION_INT"] <= 41 and "ATTITUDE" not in counts and counts["HEARTBEAT"] == 3
    )  # at 0, 1 and 2 s


def test_parameters_are_read_by_name_and_set():
    sim = MavVehicleSim(MavSimConfig(params=(("FS_GCS_ENABLE", 0),)), 0.0)
    read = wire(mavlink.MAVLink_param_request_read_message(1, 1, b"FS_GCS_ENABLE", -1))
    (value,) = sim.handle(read, 0.0)
    assert value.param_id == "FS_GCS_ENABLE" and value.param_value == 0.0
    unknown = wire(mavlink.MAVLink_param_request_read_message(1, 1, b"NO_SUCH", -1))
    assert sim.handle(unknown, 0.0) == []  # as ArduPilot: no answer
    with pytest.raises(ValueError, match="'NO_SUCH': not one it has"):
        parameters(MavSimConfig(params=(("NO_SUCH", 1),)))


def test_the_same_inputs_give_the_same_flight_noise_included():
    def fly(seed: int) -> list:
        sim = MavVehicleSim(MavSimConfig(gps_noise_m=0.5, seed=seed), 0.0)
        fixes = []
        t = 0.0
        while t < 3.0:
            t = round(t + 0.05, 9)
            sim.handle(velocity(3.0, 1.0), t)
            fixes += [(m.lat, m.lon) for m in sim.tick(t) if m.get_type() == "GLOBAL_POSITION_INT"]
        return fixes

    assert fly(1) == fly(1) and fly(1) != fly(2)


def test_a_multicopter_on_the_ground_takes_off_only_by_nav_takeoff():
    sim = MavVehicleSim(MavSimConfig(start_alt_m=0.0), 0.0)
    run(sim, 0.0, 1.0, feed=lambda: [heartbeat(), velocity(0.0, 0.0, -2.0)])
    assert sim.position[2] == 0.0
    sim.handle(command(mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 8.0), 1.0)
    run(sim, 1.0, 10.0)
    assert sim.position[2] == pytest.approx(8.0, abs=0.3)


def test_a_command_for_another_component_of_the_vehicle_is_not_its_own():
    sim = MavVehicleSim(MavSimConfig(), 0.0)
    to_gimbal = wire(mavlink.MAVLink_command_long_message(1, mavlink.MAV_COMP_ID_GIMBAL, 176, 0, 1, 17, 0, 0, 0, 0, 0))
    assert sim.handle(to_gimbal, 0.0) == [] and sim.mode == "GUIDED"


def test_entering_guided_sets_the_speed_of_position_moves_back_to_wpnav_speed():
    """ArduCopter's GUIDED starts its position controller at WPNAV_SPEED each time it is entered."""
    sim = MavVehicleSim(MavSimConfig(wp_speed_mps=5.0), 0.0)
    sim.handle(command(mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, 2.0), 0.0)
    assert sim.wp_speed == 2.0
    sim.handle(command(mavlink.MAV_CMD_DO_SET_MODE, 1, 17), 0.1)  # BRAKE
    sim.handle(command(mavlink.MAV_CMD_DO_SET_MODE, 1, 4), 0.2)  # GUIDED again
    assert sim.wp_speed == 5.0


def test_a_long_statustext_goes_in_chunks_sharing_an_id():
    sim = MavVehicleSim(MavSimConfig(refuse_modes=("BRAKE",)), 0.0)
    texts = [m for m in sim.handle(command(mavlink.MAV_CMD_DO_SET_MODE, 1, 17), 0.0) if m.get_type() == "STATUSTEXT"]
    assert len(texts) == 2 and {t.id for t in texts} == {1} and [t.chunk_seq for t in texts] == [0, 1]
    whole = "".join(wire(t).text for t in texts)
    assert whole == "Mode change to BRAKE failed: refused (--refuse-mode)" and len(wire(texts[0]).text) == 50


def test_relayed_traffic_comes_from_other_systems_and_components():
    """Behind MAVProxy: its GCS heartbeat (255/230), the gimbal's and ADS-B's (1/154, 1/156), ACKs meant for it."""
    from gridscout.hardware.sim.mavlink.core import source_of

    sim = MavVehicleSim(MavSimConfig(relayed=True), 0.0)
    out = sim.tick(0.05)
    heartbeats = {source_of(m): m.type for m in out if m.get_type() == "HEARTBEAT" and source_of(m)}
    assert heartbeats == {
        (255, 230): mavlink.MAV_TYPE_GCS,  # MAVProxy's component on ArduPilot SITL
        (1, 154): mavlink.MAV_TYPE_GIMBAL,
        (1, 156): mavlink.MAV_TYPE_ADSB,
    }
    acks = [m for m in out if m.get_type() == "COMMAND_ACK"]
    assert acks and all((a.target_system, a.target_component) == (255, 230) for a in acks)
    assert sim.gcs_seen == 0.05  # MAVProxy's heartbeat counts for the GCS failsafe, as on ArduPilot


@pytest.mark.parametrize(("fs_options", "action"), [(16, None), (0, "RTL")])
def test_copters_fs_options_16_lets_a_braked_drone_sit_out_the_gcs_failsafe(fs_options, action):
    """As the real ArduCopter did: GridScout braked the drone, then died. With FS_OPTIONS 16 (Copter's default,
    bit 4: continue in pilot-controlled modes) it stayed in BRAKE with no failsafe; with 0 it went RTL."""
    sim = MavVehicleSim(MavSimConfig(gcs_timeout_s=2.0, fs_options=fs_options), 0.0)
    run(sim, 0.0, 2.0, feed=lambda: [heartbeat(), velocity(0.0, 4.0)])
    set_mode(sim, "BRAKE", 2.0)
    run(sim, 2.0, 10.0, feed=list)  # the companion is gone
    assert sim.mode == (action or "BRAKE") and sim.params["FS_OPTIONS"] == fs_options
