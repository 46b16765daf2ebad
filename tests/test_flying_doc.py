"""docs/flying.md keeps up with the code: its example mission loads, and it names every mission property, every
limit the gate holds a mission to, and every autopilot parameter the MAVLink driver checks."""

import dataclasses
import json
import re
from pathlib import Path

from gridscout.control.mission import Mission, parse_mission
from gridscout.edge.config import SafetyConfig
from gridscout.edge.runtime.vehicle_kinds import KIND_DEFAULTS
from gridscout.hardware.mavlink.failsafe_params import CHECKS

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "flying.md").read_text()

#: the gate's limits that only a mission (a drone or rover) brings into play
MISSION_LIMITS = ("min_alt_rel_m", "max_alt_rel_m", "max_ground_speed_mps", "prediction_horizon_s", "hold_action")


def test_the_example_mission_loads():
    example = re.search(r"```json\n(.*?)```", DOC, re.DOTALL)
    assert example, "docs/flying.md has no ```json example"
    mission = parse_mission(json.loads(example.group(1)), "docs/flying.md")
    assert mission.geofence is not None and mission.standoff_m == 12.0


def test_every_mission_property_is_described():
    properties = {f.name for f in dataclasses.fields(Mission)} - {"line", "geofence"}
    for name in properties:
        assert f"| `{name}` |" in DOC, name


def test_every_mission_limit_is_described():
    for key in MISSION_LIMITS:
        assert key in SafetyConfig.model_fields, key
        assert f"`{key}`" in DOC, key


def test_every_autopilot_parameter_the_driver_checks_is_on_the_checklist():
    for checks in CHECKS.values():
        for check in checks:
            assert f"| `{check.name}` |" in DOC, check.name


def test_the_speed_envelope_per_vehicle_kind_is_quoted_from_its_table():
    crawler, mavlink = KIND_DEFAULTS["crawler"], KIND_DEFAULTS["mavlink"]
    assert mavlink.max_accel_mps2 == mavlink.max_decel_mps2  # the doc says one figure for both
    quoted = (
        f"{crawler.max_speed_mps:g} m/s, {crawler.max_accel_mps2:g} and {crawler.max_decel_mps2:g} m/s² for a "
        f"crawler, {mavlink.max_speed_mps:g} m/s and {mavlink.max_accel_mps2:g} m/s² for a MAVLink drone or rover"
    )
    assert quoted in DOC
    assert f"unset: {mavlink.max_ground_speed_mps:g} m/s for a MAVLink vehicle" in DOC


def test_the_sitl_section_runs_commands_gridscout_has_and_quotes_its_numbers():
    from gridscout.control.mission import load_mission
    from gridscout.edge.cli import build_parser
    from gridscout.edge.defaults import DEMO_MISSION
    from gridscout.hardware.mavlink.settings import MavlinkSettings

    section = DOC.split("## Against ArduPilot SITL", 1)[1]
    commands = re.findall(r"^gridscout .+$", section, re.MULTILINE)
    assert len(commands) == 2
    for line in commands:
        build_parser().parse_args(line.split()[1:])  # SystemExit on an option it does not have
    assert f"`vehicle.max_path_distance_m` ({MavlinkSettings().max_path_distance_m:g} m)" in section
    assert f"{load_mission(DEMO_MISSION).altitude_m:.1f} m altitude above home" in section
