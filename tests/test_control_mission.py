"""A mission in the config and in the control process: `[mission] file`, its checks against the safety limits,
and the control stage flying it (the behaviour's line end and cruise speed, the gate's world-position rules)."""

import dataclasses
import json
import math
from pathlib import Path

import pytest

from gridscout.control.geodesy import LocalFrame
from gridscout.control.mission import load_mission
from gridscout.control.safety import mission_problem
from gridscout.control.types import Mode
from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from gridscout.edge.cli.run import register
from gridscout.edge.config import Config, ConfigError, load_config, override
from gridscout.edge.daemons.controld import ControlStage
from gridscout.edge.runtime.messages import DetectionBox, FrameDetections
from gridscout.edge.runtime.vehicle_kinds import kind_defaults
from tests.shipped import safety_limits

FRAME = LocalFrame(59.9, 10.7)
PERIOD_NS = 50_000_000


def lonlat(east: float, north: float) -> list[float]:
    lat, lon, _ = FRAME.to_global(east, north)
    return [lon, lat]


def write_mission(tmp_path: Path, *, altitude_m: float = 20.0, cruise_speed_mps: float = 0.8) -> Path:
    route = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [lonlat(0, 0), lonlat(60, 0)]},
        "properties": {"altitude_m": altitude_m, "cruise_speed_mps": cruise_speed_mps, "standoff_m": 4.0},
    }
    fence = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[lonlat(-10, -15), lonlat(70, -15), lonlat(70, 10), lonlat(-10, 10), lonlat(-10, -15)]],
        },
    }
    path = tmp_path / "span.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [route, fence]}))
    return path


def config_with(tmp_path: Path, body: str) -> Config:
    path = tmp_path / "gridscout.toml"
    path.write_text(body)
    return load_config(path)


def test_a_mission_file_in_the_config_is_checked_and_kept_absolute(tmp_path, monkeypatch):
    write_mission(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = config_with(tmp_path, '[mission]\nfile = "span.geojson"\n')
    assert config.mission.file == str(tmp_path / "span.geojson")
    mission = config.mission.load()
    assert mission.name == "span" and mission.path.length_m == pytest.approx(60.0, abs=0.01)
    assert Config().mission.file is None and Config().mission.load() is None


def test_a_bad_mission_file_is_named_with_what_was_expected(tmp_path):
    bad = tmp_path / "Line 4.geojson"
    bad.write_text(
        json.dumps({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[10, 59], [10.1, 59]]}})
    )
    with pytest.raises(ConfigError) as err:
        config_with(tmp_path, f'[mission]\nfile = "{bad}"\n')
    message = str(err.value)
    assert f"mission.file = '{bad}': {bad}: property 'altitude_m' is required" in message  # the path keeps its case
    with pytest.raises(ConfigError, match=r"absent\.geojson: cannot read the mission file"):
        override(Config(), "mission.file", str(tmp_path / "absent.geojson"))


BAND, FASTEST, SLOW = (
    "control.safety.min_alt_rel_m .. max_alt_rel_m",
    "control.safety.max_speed_mps",
    "raise that or slow the mission",
)


@pytest.mark.parametrize(
    ("mission", "limits", "expected"),
    [
        ({"altitude_m": 150.0}, {}, f"altitude_m = 150.0 is outside {BAND} (None .. 120.0)"),
        ({"altitude_m": 8.0}, {"min_alt_rel_m": 10.0}, f"altitude_m = 8.0 is outside {BAND} (10.0 .. 120.0)"),
        ({"cruise_speed_mps": 3.0}, {"max_speed_mps": 2.5}, f"cruise_speed_mps = 3.0 exceeds {FASTEST} = 2.5; {SLOW}"),
        ({"altitude_m": 120.0, "cruise_speed_mps": 2.5}, {"max_speed_mps": 2.5}, None),
    ],
)  # fmt: skip
def test_a_mission_the_limits_forbid_is_named(tmp_path, mission, limits, expected):
    flight = load_mission(write_mission(tmp_path, **mission))
    assert mission_problem(flight, safety_limits(**limits)) == expected


def test_a_crawler_does_not_fly_its_mission(tmp_path):
    """A crawler rides its conductor: its mission file only puts its reports on the map, so the file must load
    but the flying limits do not apply, and control runs the crawler as without one."""
    path = write_mission(tmp_path, altitude_m=500.0, cruise_speed_mps=9.0)
    config = config_with(tmp_path, f'[mission]\nfile = "{path}"\n')
    assert config.mission.load().altitude_m == 500.0 and not kind_defaults(config.vehicle.uri).flies_mission


def test_an_empty_altitude_band_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"min_alt_rel_m = 50\.0 must be below max_alt_rel_m = 40\.0"):
        config_with(tmp_path, "[control.safety]\nmin_alt_rel_m = 50\nmax_alt_rel_m = 40\n")


def test_run_takes_a_mission_flag(tmp_path):
    import argparse

    from gridscout.edge.cli.run import resolve

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    path = write_mission(tmp_path)
    args = parser.parse_args(["run", "--mission", str(path)])
    assert resolve(args).mission.file == str(path)


# ---- the control stage flying a mission ----


def control_config(tmp_path: Path, extra: str = "") -> Config:
    path = write_mission(tmp_path)
    return config_with(tmp_path, f'[mission]\nfile = "{path}"\n[control.safety]\nhold_action = "hold"\n{extra}')


def stage_for(config: Config) -> ControlStage:
    values = config.model_dump()
    return ControlStage(values["control"], replay=False, vehicle_uri=config.vehicle.uri, mission=config.mission.load())


def telemetry(t_ns: int, stage: ControlStage, east: float, north: float, alt: float | None = 20.0) -> VehicleTelemetry:
    lat, lon, _ = FRAME.to_global(east, north)
    s, _ = stage.gate.mission.path.project(*stage.gate.mission.frame.to_local(lat, lon)[:2])
    return VehicleTelemetry(
        t_ns, t_ns, VehicleState.MOVING, True, position_m=s, lat_deg=lat, lon_deg=lon, alt_rel_m=alt, armed=True
    )


def detections(t_ns: int, frame_id: int, *boxes: DetectionBox) -> FrameDetections:
    return FrameDetections(
        t_mono_ns=t_ns, frame_id=frame_id, t_capture_mono_ns=t_ns, t_capture_wall_ns=t_ns, t_source_s=t_ns / 1e9,
        width=640, height=480, boxes=boxes, infer_ms=5.0, model_name="m", model_sha256="0",
    )  # fmt: skip


def test_the_behaviour_flies_the_missions_speed_and_ends_at_its_path_end(tmp_path):
    config = control_config(tmp_path)
    stage = stage_for(config)
    params = stage.behaviour.params
    assert params.cruise_speed_mps == 0.8
    assert params.line_end_m == pytest.approx(stage.gate.mission.path.length_m)
    east, speed, commands = 0.0, 0.0, []
    for k in range(2000):
        t = 10_000_000_000 + k * PERIOD_NS
        stage.take(detections(t, k))
        stage.take(telemetry(t, stage, east, -4.0))
        command, state = stage.step(t)
        if command is not None:
            commands.append(command)
            speed = 0.0 if command.stop else command.speed_mps
        east += speed * PERIOD_NS / 1e9  # the drone flies the last command until the next
        if stage.behaviour.done:
            break
    assert stage.behaviour.done and state.mode == "END_OF_LINE"
    assert east == pytest.approx(params.line_end_m - params.end_margin_m, abs=0.1)
    assert max(c.speed_mps for c in commands) == pytest.approx(0.8)
    assert commands[-1].stop  # at the end of the line: a STOP (a drone brakes and hovers there)


def test_a_suspected_defect_slows_then_hovers_then_resumes(tmp_path):
    """The patrol's slow, hold and resume for a drone: the hold is speed 0 (hover), not a STOP."""
    stage = stage_for(control_config(tmp_path))
    defect = DetectionBox(300, 200, 340, 260, 0.9, "missing_cap", 3, True)
    modes, sent = [], []
    for k in range(400):
        t = 10_000_000_000 + k * PERIOD_NS
        stage.take(detections(t, k, *((defect,) if 20 <= k < 60 else ())))
        stage.take(telemetry(t, stage, 10.0, -4.0))
        command, state = stage.step(t)
        modes.append(state.mode)
        if command is not None:
            sent.append((state.mode, command))
    assert [m for i, m in enumerate(modes) if i == 0 or m != modes[i - 1]] == [
        "PATROL", "APPROACH", "HOLD", "RESUME", "PATROL"
    ]  # fmt: skip
    approach = [c.speed_mps for m, c in sent if m == "APPROACH"]
    hold = [c for m, c in sent if m == "HOLD"]
    assert approach == sorted(approach, reverse=True)  # slowing (ramped) ...
    assert approach[-1] == pytest.approx(stage.behaviour.params.slow_speed_mps)  # ... down to the slow speed
    assert hold and not any(c.stop for c in hold)  # hovering: speed 0 (after the decel ramp), never a STOP
    assert hold[-1].speed_mps == 0.0 and [c.speed_mps for c in hold] == sorted(
        (c.speed_mps for c in hold), reverse=True
    )


def test_stale_perception_leads_to_a_hold_within_half_a_second(tmp_path):
    """Scenario: detections stop arriving while the drone flies. Within 0.5 s a HOLD goes out (speed 0, not a
    STOP), naming perception as the reason."""
    stage = stage_for(control_config(tmp_path))
    last_frame_ns = None
    for k in range(200):
        t = 10_000_000_000 + k * PERIOD_NS
        if k < 100:
            stage.take(detections(t, k))
            last_frame_ns = t
        stage.take(telemetry(t, stage, 10.0, -4.0))
        command, state = stage.step(t)
        if k >= 100 and command is not None and command.speed_mps == 0.0:
            assert not command.stop and command.reason.startswith("perception_stale")
            assert (t - last_frame_ns) / 1e9 <= 0.5
            assert "perception_stale" in state.gate_reasons
            return
    pytest.fail("no hold")


@pytest.mark.parametrize(
    ("where", "fault", "stop"),
    [
        ((10.0, 30.0), "geofence_outside", True),
        ((10.0, -4.0, 150.0), "altitude_high", True),
        ((10.0, -4.0, None), "altitude_missing", True),
    ],
)
def test_the_gate_in_the_stage_reads_the_vehicles_position(tmp_path, where, fault, stop):
    stage = stage_for(control_config(tmp_path))
    for k in range(40):
        t = 10_000_000_000 + k * PERIOD_NS
        stage.take(detections(t, k))
        stage.take(telemetry(t, stage, *(where if k == 39 else (10.0, -4.0))))
        command, state = stage.step(t)
    assert state.gate_reasons[0] == fault
    assert command is not None and command.speed_mps == 0.0 and command.stop is stop
    assert command.reason.startswith(f"{fault}: ")


@pytest.mark.parametrize("alt", [299.6, None])
def test_a_ground_vehicle_is_held_by_no_altitude_limit(tmp_path, alt):
    """A rover (the driver marks it a ground vehicle) reporting 299.6 m, as ArduRover's relative_alt read with home
    at 300 m, or no altitude: it drives on; the same reports from a drone are altitude_high and altitude_missing."""
    stage = stage_for(control_config(tmp_path))
    commands = []
    for k in range(40):
        t = 10_000_000_000 + k * PERIOD_NS
        stage.take(detections(t, k))
        rover = dataclasses.replace(telemetry(t, stage, 10.0, -4.0, alt), ground_vehicle=True)
        stage.take(rover)
        command, state = stage.step(t)
        commands += [command] if command is not None else []
        assert not any(r.startswith("altitude") for r in state.gate_reasons), state.gate_reasons
    assert commands and not any(c.stop for c in commands) and commands[-1].speed_mps > 0


def test_without_a_mission_the_crawler_stage_is_unchanged():
    """No mission, no vehicle named (as `gridscout replay` builds it): every fault STOPs, no position rules."""
    values = Config().model_dump()
    stage = ControlStage(values["control"], replay=False)
    assert stage.gate.mission is None and stage.gate.limits.hold_action == "stop"
    t = 10_000_000_000
    stage.take(VehicleTelemetry(t, t, VehicleState.MOVING, True, position_m=5.0))
    command, state = stage.step(t)
    assert command.stop and state.gate_reasons == ("perception_missing",)
    assert not math.isnan(stage.behaviour.params.cruise_speed_mps)


def test_a_disarmed_vehicle_waits(tmp_path):
    stage = stage_for(control_config(tmp_path))
    t = 10_000_000_000
    stage.take(detections(t, 0))
    stage.take(VehicleTelemetry(t, t, VehicleState.READY, True, position_m=0.0, armed=False))
    _, state = stage.step(t)
    assert state.mode == Mode.WAIT and state.reason == "vehicle disarmed"
