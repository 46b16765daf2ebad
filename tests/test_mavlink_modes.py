"""Modes by autopilot and vehicle type, from pymavlink's tables; the command protocol's bookkeeping; PX4's
parameter encoding; the failsafe checks."""

from __future__ import annotations

import struct

import pytest

from gridscout.hardware.mavlink.commands import CommandQueue
from gridscout.hardware.mavlink.failsafe_params import CHECKS, ParamReader, checks_for, decode_value, judge
from gridscout.hardware.mavlink.mav import mavlink
from gridscout.hardware.mavlink.modes import UnsupportedVehicleError, is_armed, is_autopilot, mode_name, modes_for
from gridscout.hardware.mavlink.settings import MAV_COMP_ID_ONBOARD_COMPUTER, MavlinkSettings

ARDUPILOT, PX4 = mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, mavlink.MAV_AUTOPILOT_PX4
QUAD, HEXA, ROVER, BOAT = (
    mavlink.MAV_TYPE_QUADROTOR,
    mavlink.MAV_TYPE_HEXAROTOR,
    mavlink.MAV_TYPE_GROUND_ROVER,
    mavlink.MAV_TYPE_SURFACE_BOAT,
)


def _heartbeat(autopilot: int, mav_type: int, custom_mode: int, *, armed: bool = True):
    base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | (mavlink.MAV_MODE_FLAG_SAFETY_ARMED if armed else 0)
    return mavlink.MAVLink_heartbeat_message(mav_type, autopilot, base, custom_mode, mavlink.MAV_STATE_ACTIVE, 3)


@pytest.mark.parametrize(
    ("autopilot", "mav_type", "family", "control", "brake"),
    [
        (ARDUPILOT, QUAD, "copter", (1.0, 4.0, 0.0), (1.0, 17.0, 0.0)),  # ArduCopter GUIDED 4, BRAKE 17
        (ARDUPILOT, HEXA, "copter", (1.0, 4.0, 0.0), (1.0, 17.0, 0.0)),
        (ARDUPILOT, ROVER, "rover", (1.0, 15.0, 0.0), (1.0, 4.0, 0.0)),  # ArduRover GUIDED 15, HOLD 4
        (ARDUPILOT, BOAT, "rover", (1.0, 15.0, 0.0), (1.0, 4.0, 0.0)),
        (PX4, QUAD, "copter", (29.0, 6.0, 0.0), (29.0, 4.0, 3.0)),  # OFFBOARD main 6; Hold = AUTO (4) LOITER (3)
        (PX4, ROVER, "rover", (29.0, 6.0, 0.0), (29.0, 4.0, 3.0)),
    ],
)
def test_the_modes_are_looked_up_per_autopilot_and_vehicle_type(autopilot, mav_type, family, control, brake):
    """The numbers each autopilot documents, as pymavlink's tables give them (never numbers of ours)."""
    modes = modes_for(autopilot, mav_type)
    assert modes.family == family
    assert modes.set_mode_params(modes.control) == control
    assert modes.set_mode_params(modes.brake) == brake


@pytest.mark.parametrize(
    ("autopilot", "mav_type", "custom_mode", "name"),
    [
        (ARDUPILOT, QUAD, 4, "GUIDED"),
        (ARDUPILOT, QUAD, 6, "RTL"),
        (ARDUPILOT, ROVER, 15, "GUIDED"),
        (ARDUPILOT, ROVER, 4, "HOLD"),
        (PX4, QUAD, 6 << 16, "OFFBOARD"),
        (PX4, QUAD, (4 << 16) | (3 << 24), "LOITER"),
        (PX4, QUAD, (4 << 16) | (5 << 24), "RTL"),
        (ARDUPILOT, QUAD, 99, "Mode(99)"),
    ],
)
def test_a_heartbeats_mode_is_named_by_its_autopilots_table(autopilot, mav_type, custom_mode, name):
    assert mode_name(_heartbeat(autopilot, mav_type, custom_mode)) == name


def test_armed_and_who_is_an_autopilot_come_from_the_heartbeat():
    assert is_armed(_heartbeat(ARDUPILOT, QUAD, 4)) and not is_armed(_heartbeat(ARDUPILOT, QUAD, 4, armed=False))
    gcs = mavlink.MAVLink_heartbeat_message(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0, 3)
    assert is_autopilot(_heartbeat(PX4, QUAD, 0)) and not is_autopilot(gcs)


@pytest.mark.parametrize(
    ("autopilot", "mav_type", "says"),
    [
        (mavlink.MAV_AUTOPILOT_GENERIC, QUAD, "MAV_AUTOPILOT_GENERIC is not supported"),
        (ARDUPILOT, mavlink.MAV_TYPE_FIXED_WING, "MAV_TYPE_FIXED_WING is not supported"),
    ],
)
def test_a_vehicle_it_cannot_drive_is_named(autopilot, mav_type, says):
    with pytest.raises(UnsupportedVehicleError, match=says):
        modes_for(autopilot, mav_type)
    with pytest.raises(UnsupportedVehicleError, match="no ArduPilot mode 'OFFBOARD'"):
        modes_for(ARDUPILOT, QUAD).set_mode_params("OFFBOARD")


def test_our_component_id_is_mavlinks_onboard_computer():
    assert MavlinkSettings().component_id == MAV_COMP_ID_ONBOARD_COMPUTER == mavlink.MAV_COMP_ID_ONBOARD_COMPUTER


def test_commands_are_resent_with_their_confirmation_and_a_stop_never_gives_up():
    q = CommandQueue(ack_timeout_s=0.5, max_retries=2)
    speed = q.make(1, mavlink.MAV_CMD_DO_CHANGE_SPEED, (1, 3, -1), 0)
    stop = q.make(2, mavlink.MAV_CMD_DO_SET_MODE, (1, 17), 0, is_stop=True)
    assert speed.params == (1.0, 3.0, -1.0, 0.0, 0.0, 0.0, 0.0) and q.stop_pending
    assert q.due(int(0.4e9)) == ([], [])
    for n in (1, 2):
        resend, given_up = q.due(int(n * 0.5e9))
        assert [c.retries for c in resend] == [n, n] and given_up == []
    resend, given_up = q.due(int(1.5e9))
    assert resend == [stop] and given_up == [speed] and stop.retries == 3  # the stop goes on
    assert q.answer(mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_RESULT_IN_PROGRESS, int(1.6e9)) is None
    assert q.due(int(2.0e9)) == ([], [])  # in progress: waited for again, not resent
    answer = q.answer(mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_RESULT_DENIED, int(2.1e9))
    assert answer.pending is stop and answer.result_name == "MAV_RESULT_DENIED" and not q.stop_pending
    assert q.answer(mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_RESULT_ACCEPTED, int(2.2e9)) is None  # a late duplicate


def test_a_newer_command_of_the_same_kind_replaces_the_waiting_one():
    q = CommandQueue(0.5, 3)
    q.make(1, mavlink.MAV_CMD_DO_SET_MODE, (1, 17), 0)
    newer = q.make(2, mavlink.MAV_CMD_DO_SET_MODE, (1, 4), 0)
    assert list(q.pending.values()) == [newer]


def test_px4_integer_parameters_are_decoded_bytewise_and_ardupilots_as_they_are():
    packed = struct.unpack("<f", struct.pack("<i", 5))[0]
    assert decode_value(True, mavlink.MAV_PARAM_TYPE_INT32, packed) == 5.0
    assert decode_value(True, mavlink.MAV_PARAM_TYPE_REAL32, 1.5) == 1.5
    assert decode_value(False, mavlink.MAV_PARAM_TYPE_INT32, 5.0) == 5.0


@pytest.mark.parametrize(
    ("name", "value", "fine"),
    [
        ("FS_GCS_ENABLE", 0, False),
        ("FS_GCS_ENABLE", 1, True),
        ("FS_GCS_TIMEOUT", 30, False),
        ("FS_GCS_TIMEOUT", 5, True),
        ("MAV_GCS_SYSID", 254, False),
        ("MAV_GCS_SYSID", 255, True),
        ("FS_OPTIONS", 16, False),  # ArduCopter's default: BRAKE counts as pilot-controlled, no failsafe
        ("FS_OPTIONS", 0, True),
        ("COM_OF_LOSS_T", 10, False),
        ("COM_OBL_RC_ACT", 6, False),
        ("COM_OBL_RC_ACT", 5, True),
    ],
)
def test_failsafe_parameters_are_judged_as_the_crews_checklist_says(name, value, fine):
    (check,) = [c for checks in CHECKS.values() for c in checks if c.name == name]
    problem = judge(check, value, system_id=255)
    assert (problem == "") is fine
    if not fine:
        assert problem.startswith(f"{name} = {value:g}: should be ")


def test_a_parameter_is_read_under_either_of_its_names_and_only_a_missing_one_is_warned_about():
    """MAV_GCS_SYSID was SYSID_MYGCS before ArduPilot 4.7: whichever answers is judged, and named in the warning;
    neither: a warning. FS_OPTIONS is a multicopter's only: a rover is not asked for it."""
    sent: list[str] = []
    reader = ParamReader(
        checks_for("ArduPilot", "rover"), px4=False, system_id=255, resend_s=0.5, max_retries=1, request=sent.append
    )
    reader.start(0)
    assert sent == ["FS_GCS_ENABLE", "FS_GCS_TIMEOUT", "MAV_GCS_SYSID", "SYSID_MYGCS"]
    assert reader.on_value("SYSID_MYGCS", mavlink.MAV_PARAM_TYPE_INT16, 250.0).startswith(
        "vehicle parameter SYSID_MYGCS = 250: should be 255"
    )
    assert reader.on_value("FS_GCS_ENABLE", mavlink.MAV_PARAM_TYPE_INT8, 0.0).startswith(
        "vehicle parameter FS_GCS_ENABLE"
    )
    assert reader.on_value("MAV_GCS_SYSID", mavlink.MAV_PARAM_TYPE_INT16, 1.0) is None  # answered already, as the other
    assert reader.due(int(0.5e9)) == [] and sent[4:] == ["FS_GCS_TIMEOUT"]  # resent once
    given_up = reader.due(int(1.0e9))
    assert [(c.name, c.optional) for c, _ in given_up] == [("FS_GCS_TIMEOUT", True)]
