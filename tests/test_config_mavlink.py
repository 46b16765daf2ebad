"""`[vehicle]` for MAVLink vehicles: `mavlink:...` takes the driver's keys, `sim-drone` / `sim-rover` the
simulator's too; the defaults are the driver's and the simulator's own; the builders the processes use."""

from __future__ import annotations

import dataclasses
import math

import pytest

from gridscout.control.mission import load_mission
from gridscout.edge.config import Config, ConfigError, default_toml, load_config, override
from gridscout.edge.config.vehicle import VARIANTS
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.runtime.settings import driver_settings, mav_sim_config, safety_limits
from gridscout.hardware.mavlink.settings import MavlinkSettings
from gridscout.hardware.sim.mavlink.config import MavSimConfig


def _load(tmp_path, text: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path)


def test_a_mavlink_vehicle_takes_the_drivers_keys_with_the_drivers_defaults(tmp_path):
    config = _load(tmp_path, '[vehicle]\nuri = "mavlink:tcp:127.0.0.1:5760"\nsystem_id = 250\n')
    assert type(config.vehicle) is VARIANTS["mavlink"]
    built = driver_settings(config.model_dump())
    expected = dataclasses.replace(MavlinkSettings(), system_id=250, max_speed_mps=built.max_speed_mps)
    assert built == expected


def test_its_setpoints_are_capped_at_the_gates_ground_speed(tmp_path):
    config = _load(tmp_path, '[vehicle]\nuri = "sim-drone"\n[control.safety]\nmax_ground_speed_mps = 6.5\n')
    assert driver_settings(config.model_dump()).max_speed_mps == 6.5
    default = override(Config(), "vehicle.uri", "sim-drone")
    limits = safety_limits(default.model_dump()["control"]["safety"], "sim-drone")
    assert driver_settings(default.model_dump()).max_speed_mps == limits.max_ground_speed_mps


@pytest.mark.parametrize("kind", ["sim-drone", "sim-rover"])
def test_the_simulators_keys_come_with_its_defaults(tmp_path, kind):
    config = _load(tmp_path, f'[vehicle]\nuri = "{kind}"\nsim_gcs_timeout_s = 3.0\n')
    v = config.vehicle
    assert type(v) is VARIANTS[kind] and v.sim_gcs_timeout_s == 3.0
    assert v.sim_max_speed_mps == MavSimConfig().max_speed_mps and v.allow_arm is False and v.allow_takeoff is False


def test_a_simulator_key_in_a_real_vehicles_section_is_named(tmp_path):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, '[vehicle]\nuri = "mavlink:tcp:127.0.0.1:5760"\nsim_port = 5760\n')
    assert "unknown key 'vehicle.sim_port'" in str(info.value) and "sim-drone or sim-rover only" in str(info.value)


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ('engage = "sometimes"', "vehicle.engage = 'sometimes'"),
        ("setpoint_rate_hz = 2", "vehicle.setpoint_rate_hz = 2"),
        ("system_id = 0", "vehicle.system_id = 0"),
        ("sim_gcs_timeout_s = 1.5", "must exceed twice vehicle.heartbeat_period_s"),
        ("sim_home_lat_deg = 59.9", "set both, or neither"),
    ],
)
def test_bad_values_are_named(tmp_path, keys, says):
    with pytest.raises(ConfigError, match=says.replace("?", r"\?").replace(".", r"\.")):
        _load(tmp_path, f'[vehicle]\nuri = "sim-drone"\n{keys}\n')


def test_the_vehicle_flag_retargets_the_default_section_to_a_drone():
    changed = override(Config(), "vehicle.uri", "sim-drone")
    assert type(changed.vehicle) is VARIANTS["sim-drone"] and changed.vehicle.uri == "sim-drone"


def test_the_default_file_for_a_mavlink_vehicle_lists_its_keys_and_validates(tmp_path):
    text = default_toml("mavlink:tcp:127.0.0.1:5760")
    assert 'uri = "mavlink:tcp:127.0.0.1:5760"' in text and "system_id = 255" in text and 'engage = "auto"' in text
    assert "# uri = sim-drone...: the same keys; its own: sim_port" in text
    assert type(_load(tmp_path, text).vehicle) is VARIANTS["mavlink"]
    with pytest.raises(ConfigError, match="'plane:x': expected"):
        default_toml("plane:x")


def test_the_simulator_starts_at_the_start_of_the_missions_flight_path_facing_along_it():
    mission = load_mission(DEMO_MISSION)
    vehicle = override(Config(), "vehicle.uri", "sim-drone").model_dump()["vehicle"]
    sim = mav_sim_config(vehicle, mission)
    east, north, _ = mission.frame.to_local(sim.home_lat_deg, sim.home_lon_deg)
    assert (east, north) == pytest.approx(mission.path.point_at(0.0), abs=0.01)
    de, dn = mission.path.tangent_at(0.0)
    assert sim.start_heading_deg == pytest.approx(math.degrees(math.atan2(de, dn)) % 360)
    assert sim.vehicle == "drone" and sim.start_alt_m == mission.altitude_m and sim.gcs_system_id == 255
    rover = mav_sim_config({**vehicle, "uri": "sim-rover", "sim_home_lat_deg": 59.9, "sim_home_lon_deg": 10.7}, mission)
    assert (rover.vehicle, rover.start_alt_m, rover.home_lat_deg, rover.home_lon_deg) == ("rover", 0.0, 59.9, 10.7)


def test_the_vehicle_flag_gives_a_mavlink_vehicle_mavlinks_own_timings():
    """Issue 16: `--vehicle mavlink:...` on the default (crawler) config kept the crawler's 10 Hz heartbeat,
    0.1 s ack timeout and 0.5 s link timeout; the same URI in a file got MAVLink's. One source of defaults."""
    by_flag = override(Config(), "vehicle.uri", "mavlink:tcp:127.0.0.1:5760").vehicle
    in_file = VARIANTS["mavlink"](uri="mavlink:tcp:127.0.0.1:5760")
    assert by_flag == in_file
    back = override(override(Config(), "vehicle.uri", "sim-drone"), "vehicle.uri", "sim-crawler").vehicle
    assert back == Config().vehicle
