"""A drone's or rover's config: its kind sets the gate's speed envelope and halt, and its mission must fit the
gate's limits before the run starts."""

import json
from pathlib import Path

import pytest

from gridscout.control.geodesy import LocalFrame
from gridscout.control.safety import HaltAction
from gridscout.edge.config import ConfigError, load_config
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.runtime.vehicle_kinds import KIND_DEFAULTS, KIND_KEYS, kind_defaults

FRAME = LocalFrame(59.9, 10.7)
MAVLINK_URIS = ("sim-drone", "sim-rover", "mavlink:tcp:127.0.0.1:5760", "mavlink:udpin:0.0.0.0:14550")


def lonlat(east: float, north: float) -> list[float]:
    lat, lon, _ = FRAME.to_global(east, north)
    return [lon, lat]


def write_mission(tmp_path: Path, **props) -> Path:
    props = {"altitude_m": 20.0, "cruise_speed_mps": 3.0} | props
    line = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [lonlat(0, 0), lonlat(80, 0)]}}
    path = tmp_path / "line.geojson"
    path.write_text(json.dumps(line | {"properties": props}))
    return path


def config(tmp_path: Path, uri: str, mission: Path, safety: str = ""):
    toml = tmp_path / "gridscout.toml"
    toml.write_text(f'[vehicle]\nuri = "{uri}"\n[mission]\nfile = "{mission}"\n[control.safety]\n{safety}')
    return load_config(toml)


@pytest.mark.parametrize("uri", MAVLINK_URIS)
def test_a_mavlink_vehicle_gets_the_drone_envelope_and_holds(uri):
    kind = kind_defaults(uri)
    assert kind is KIND_DEFAULTS["mavlink"] and kind.flies_mission and kind.hold_action is HaltAction.HOLD


@pytest.mark.parametrize("uri", ["sim-drone", "mavlink:tcp:127.0.0.1:5760"])
def test_a_drone_config_takes_a_mission_within_its_limits(tmp_path, uri):
    cfg = config(tmp_path, uri, write_mission(tmp_path, cruise_speed_mps=6.0))
    limits = cfg.control.safety.limits(cfg.vehicle.uri)
    assert [getattr(limits, k) for k in KIND_KEYS] == [getattr(KIND_DEFAULTS["mavlink"], k) for k in KIND_KEYS]
    assert limits.hold_action is HaltAction.HOLD and cfg.mission.load().cruise_speed_mps == 6.0


@pytest.mark.parametrize(
    ("props", "safety", "expected"),
    [
        ({"cruise_speed_mps": 11.0}, "", "cruise_speed_mps = 11.0 exceeds control.safety.max_speed_mps = 10.0"),
        ({"cruise_speed_mps": 3.0}, "max_speed_mps = 2.0\n", "cruise_speed_mps = 3.0 exceeds control.safety"),
        ({"altitude_m": 130.0}, "", r"altitude_m = 130.0 is outside control.safety.min_alt_rel_m"),
        ({"altitude_m": 4.0}, "min_alt_rel_m = 5\n", r"altitude_m = 4.0 is outside .* \(5.0 .. 120.0\)"),
    ],
)
def test_a_drone_mission_the_limits_forbid_is_refused_before_the_run(tmp_path, props, safety, expected):
    mission = write_mission(tmp_path, **props)
    with pytest.raises(ConfigError, match=f"mission {mission}: {expected}"):
        config(tmp_path, "sim-drone", mission, safety)


def test_the_demo_mission_fits_a_drone_out_of_the_box(tmp_path):
    """`gridscout run --vehicle sim-drone` flies the bundled footage's line with no other setting."""
    cfg = config(tmp_path, "sim-drone", DEMO_MISSION)
    mission, limits = cfg.mission.load(), cfg.control.safety.limits(cfg.vehicle.uri)
    assert mission.cruise_speed_mps <= limits.max_speed_mps
    assert mission.geofence is not None and limits.max_alt_rel_m >= mission.altitude_m
