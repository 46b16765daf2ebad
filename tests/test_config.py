"""The run's config: the generated default file, the validation messages and `gridscout config`."""

import argparse
import dataclasses
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from gridscout.edge.config import Config, ConfigError, _section_models, default_toml, load_config, override
from gridscout.edge.config.vehicle import DEFAULT_KIND, VARIANTS
from gridscout.edge.runtime.vehicle_kinds import KIND_KEYS, kind_defaults


def _sections(model: type[BaseModel], prefix: str = "", *, variants: bool = False) -> list[tuple[str, type[BaseModel]]]:
    """Every nested section model with its dotted name, found by walking the field annotations. A union
    section (`[vehicle]`) gives its default variant, or with `variants` every one of them."""
    found = []
    for name, field in model.model_fields.items():
        models = _section_models(field.annotation)
        chosen = list(models.values()) if variants else [models.get("") or models.get(DEFAULT_KIND)]
        for section in filter(None, chosen):
            dotted = f"{prefix}.{name}" if prefix else name
            found.append((dotted, section))
            found.extend(_sections(section, dotted, variants=variants))
    return found


def _write(tmp_path: Path, text: str, name: str = "gridscout.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _load_error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def gridscout(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


# -- the default file -------------------------------------------------------------------------


def test_default_toml_parses_and_validates_to_the_defaults():
    """The file `gridscout config --default` prints is valid TOML and means exactly `Config()`."""
    data = tomllib.loads(default_toml())
    assert Config.model_validate(data) == Config()
    assert load_config(None) == Config()


def test_default_toml_lists_every_key_that_has_a_default_value():
    """Every key with a non-None default appears uncommented in its section, so the file is complete."""
    data = tomllib.loads(default_toml())
    for dotted, model in _sections(Config):
        node = data
        for part in dotted.split("."):
            node = node[part]
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                continue
            if field.get_default(call_default_factory=True) is None:
                assert f"# {name} =" in default_toml(), f"{dotted}.{name} is not shown"
            else:
                assert name in node, f"{dotted}.{name} missing from the default file"


def test_every_field_of_every_section_has_a_description():
    """Walking the models from `Config` down, no field is undocumented (the default file is the manual)."""
    sections = [("", Config), *_sections(Config, variants=True)]
    assert len(sections) >= 12  # Config + 9 sections + control.behaviour + control.safety + a 2nd vehicle kind
    for dotted, model in sections:
        for name, field in model.model_fields.items():
            assert field.description and field.description.strip(), f"{dotted or '<root>'}.{name} has no description"


def test_default_toml_has_every_section_header_and_the_descriptions():
    """Each section, nested ones like [control.safety] included, has its own table header and docs."""
    text = default_toml()
    lines = text.splitlines()
    for dotted, model in _sections(Config):
        assert f"[{dotted}]" in lines, f"no [{dotted}] header"
        for field in model.model_fields.values():
            assert f"# {field.description}" in lines
    assert "[control.safety]" in lines and "[control.behaviour]" in lines


# -- validation messages ----------------------------------------------------------------------


def test_unknown_section_is_named_with_a_suggestion(tmp_path):
    """A misspelt section name is an error naming the key and suggesting the right one."""
    message = _load_error(tmp_path, "[contrl]\nrate_hz = 10\n")
    assert "gridscout.toml" in message
    assert "'contrl'" in message
    assert "did you mean 'control'" in message


def test_unknown_nested_key_is_named_with_its_full_path_and_a_suggestion(tmp_path):
    """A misspelt key two levels down is reported with its dotted path and the close match."""
    message = _load_error(tmp_path, "[control.safety]\nmax_sped_mps = 0.5\n")
    assert "control.safety.max_sped_mps" in message
    assert "did you mean 'max_speed_mps'" in message


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path):
    """With nothing close to suggest, the message lists what is allowed in that section instead."""
    message = _load_error(tmp_path, "[api]\nzzzzzz = 1\n")
    assert "api.zzzzzz" in message
    for key in Config.model_fields["api"].annotation.model_fields:
        assert key in message


def test_wrong_type_names_the_key_and_the_value(tmp_path):
    """A string where a number belongs: the message has the dotted key, the bad value and the expectation."""
    message = _load_error(tmp_path, '[api]\nport = "eighty"\n')
    assert "api.port" in message
    assert "'eighty'" in message
    assert "integer" in message


def test_out_of_range_value_names_the_key_value_and_bound(tmp_path):
    """`control.rate_hz = 0` is below its minimum of 1; the message says so."""
    message = _load_error(tmp_path, "[control]\nrate_hz = 0\n")
    assert "control.rate_hz = 0" in message
    assert "greater than or equal to 1" in message


def test_several_problems_are_all_reported(tmp_path):
    """Two bad keys in one file give one error naming both, so the user fixes them in one go."""
    message = _load_error(tmp_path, "[control]\nrate_hz = 0\n[vehicle]\nbaud = 5\n")
    assert "control.rate_hz" in message and "vehicle.baud" in message


def test_invalid_toml_names_the_file(tmp_path):
    """A syntax error is a ConfigError naming the file and saying it is not TOML."""
    message = _load_error(tmp_path, "[control\nrate_hz = 10\n")
    assert str(tmp_path / "gridscout.toml") in message
    assert "not valid TOML" in message


def test_missing_file_is_a_config_error(tmp_path):
    """A path that does not exist is a ConfigError naming it, not a bare FileNotFoundError."""
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=r"absent\.toml.*not found"):
        load_config(path)


def test_command_timeout_must_exceed_the_keepalive_period(tmp_path):
    """The cross-field check: a driver timeout at or below the gate's resend period is refused, with both keys."""
    message = _load_error(tmp_path, "[vehicle]\ncommand_timeout_s = 0.2\n[control.safety]\nresend_s = 0.2\n")
    assert "vehicle.command_timeout_s = 0.2" in message
    assert "control.safety.resend_s = 0.2" in message
    assert "must exceed" in message


def test_command_timeout_above_the_keepalive_period_is_accepted(tmp_path):
    """The other side of the cross-field check: a larger timeout loads, and the values are kept."""
    config = load_config(_write(tmp_path, "[vehicle]\ncommand_timeout_s = 0.3\n[control.safety]\nresend_s = 0.1\n"))
    assert config.vehicle.command_timeout_s == 0.3
    assert config.control.safety.resend_s == 0.1


def test_partial_file_keeps_defaults_for_the_rest(tmp_path):
    """Only the keys given change; everything else is the default."""
    config = load_config(_write(tmp_path, '[run]\nmode = "replay"\n[control.behaviour]\nhold_s = 1.5\n'))
    expected = Config()
    assert config.run.mode == "replay" and config.control.behaviour.hold_s == 1.5
    assert config.vehicle == expected.vehicle and config.control.safety == expected.control.safety


# -- override ---------------------------------------------------------------------------------


def test_override_sets_one_key_and_leaves_the_original_alone():
    """`override` returns a validated copy with the dotted key set; the input config is unchanged."""
    base = Config()
    changed = override(base, "control.safety.max_speed_mps", 0.7)
    assert changed.control.safety.max_speed_mps == 0.7
    assert base.control.safety.max_speed_mps == Config().control.safety.max_speed_mps
    assert changed.model_copy(update={"control": base.control}) == base


def test_override_validates_the_value():
    """An out-of-range override is a ConfigError naming the key and value, from the command line."""
    with pytest.raises(ConfigError) as info:
        override(Config(), "control.rate_hz", 0)
    assert "command line" in str(info.value)
    assert "control.rate_hz = 0" in str(info.value)


def test_override_validates_the_cross_field_rule():
    """Lowering the driver timeout below the keep-alive period through `override` is refused too."""
    with pytest.raises(ConfigError, match="command_timeout_s"):
        override(Config(), "vehicle.command_timeout_s", 0.1)


def test_override_of_an_unknown_key_suggests_the_right_one():
    """A misspelt key in a known section is named with a hint."""
    with pytest.raises(ConfigError, match=r"control\.rat_hz.*did you mean 'rate_hz'"):
        override(Config(), "control.rat_hz", 5)


# -- the command ------------------------------------------------------------------------------


def test_cli_default_output_round_trips(tmp_path):
    """`gridscout config --default` prints the same file as default_toml(), and --check accepts it."""
    printed = gridscout("config", "--default")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == default_toml()
    assert Config.model_validate(tomllib.loads(printed.stdout)) == Config()
    checked = gridscout("config", "--check", str(_write(tmp_path, printed.stdout)))
    assert checked.returncode == 0, checked.stderr
    assert "ok" in checked.stdout.splitlines()[0]


def test_cli_check_of_a_bad_file_exits_2_naming_the_key(tmp_path):
    """`gridscout config --check` on a file with an unknown key exits 2 with the key in a one-line error."""
    path = _write(tmp_path, "[control.safety]\nmax_sped_mps = 0.5\n", "bad.toml")
    result = gridscout("config", "--check", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith("gridscout config: error: ")
    assert "control.safety.max_sped_mps" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# The tests above look up a nested section's fields through `annotation`; make sure the config does
# not grow a section typed `Optional[...]`, which that walk (and the default file) would silently skip.
def test_every_section_field_is_a_plain_model_or_a_tagged_union():
    """Section fields are bare models or a union with a tag per variant (`[vehicle]`), never an untagged one."""
    for dotted, model in [("", Config), *_sections(Config, variants=True)]:
        for name, field in model.model_fields.items():
            args = typing.get_args(field.annotation)
            bare = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            assert not bare, f"{dotted}.{name} is a union of untagged models"


# -- the vehicle section: one model per vehicle kind, told apart by the URI ----------------------


def test_the_vehicle_kind_follows_the_uri(tmp_path):
    """`sim-crawler` gives the simulator's section, `crawler:` the real driver's, each with its own keys."""
    sim = load_config(_write(tmp_path, '[vehicle]\nuri = "sim-crawler"\nsim_line_length_m = 50\n'))
    real = load_config(_write(tmp_path, '[vehicle]\nuri = "crawler:/dev/ttyUSB0"\nbaud = 57600\n', "real.toml"))
    assert type(sim.vehicle) is VARIANTS["sim-crawler"] and sim.vehicle.sim_config().line_length_m == 50
    assert type(real.vehicle) is VARIANTS["crawler"] and real.vehicle.driver_settings().baud == 57600


def test_a_simulator_key_in_a_real_crawlers_section_is_named(tmp_path):
    message = _load_error(tmp_path, '[vehicle]\nuri = "crawler:/dev/ttyUSB0"\nsim_line_length_m = 50\n')
    assert "unknown key 'vehicle.sim_line_length_m'" in message and "applies to uri = sim-crawler only" in message


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("px4:/dev/x", "expected sim-crawler, crawler:"),
        ("crawler:/dev/x?baud=fast", "baud must be an integer"),
        ("mavlink:tcp:host:5760?baud=9600", "?baud= is for serial links"),
    ],
)
def test_a_bad_vehicle_uri_is_named_with_what_was_expected(tmp_path, uri, expected):
    message = _load_error(tmp_path, f'[vehicle]\nuri = "{uri}"\n')
    assert f"vehicle.uri = {uri!r}" in message and expected in message


def test_the_vehicle_flag_retargets_a_default_section():
    """`--vehicle crawler:...` on the default (sim-crawler) config: the simulator's untouched keys go."""
    changed = override(Config(), "vehicle.uri", "crawler:/dev/ttyUSB0")
    assert type(changed.vehicle) is VARIANTS["crawler"] and changed.vehicle.uri == "crawler:/dev/ttyUSB0"


def test_the_vehicle_flag_does_not_silently_drop_a_simulator_setting_the_user_made(tmp_path):
    config = load_config(_write(tmp_path, "[vehicle]\nsim_line_length_m = 50\n"))
    with pytest.raises(ConfigError, match="sim_line_length_m"):
        override(config, "vehicle.uri", "crawler:/dev/ttyUSB0")


def test_the_default_file_says_how_the_other_vehicle_kinds_differ():
    text = default_toml()
    assert "# uri = crawler...: the same keys except sim_line_length_m" in text


# -- one home for defaults ------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "build"), [("behaviour", "params"), ("safety", "limits")])
def test_the_control_dataclasses_are_built_from_the_config_and_nothing_else(section, build):
    """Every field of the behaviour's and the gate's dataclass has its one default in config, and every
    key of those config sections reaches the dataclass (no key that does nothing)."""
    model = getattr(Config().control, section)
    built = getattr(model, build)(*([Config().vehicle.uri] if section == "safety" else []))
    assert {f.name for f in dataclasses.fields(built)} == set(type(model).model_fields)
    expected = model.model_dump()
    if section == "safety":  # "auto" and the unset speed envelope, settled by the default vehicle's kind
        kind = kind_defaults(Config().vehicle.uri)
        expected["hold_action"] = kind.hold_action
        expected |= {key: getattr(kind, key) for key in KIND_KEYS}
    assert dataclasses.asdict(built) == expected
    for f in dataclasses.fields(built):
        assert f.default is dataclasses.MISSING, f"{type(built).__name__}.{f.name} has a default of its own"


def test_the_drivers_settings_read_their_defaults_from_the_driver():
    """The crawler driver's defaults live with the driver; the config shows and validates them."""
    from gridscout.hardware.crawler.driver import CrawlerSettings

    assert Config().vehicle.driver_settings() == CrawlerSettings()


# -- known bugs (see the report): strict, so each flips to a failure once fixed and the marker goes ----------


def test_cross_field_error_does_not_dump_the_whole_file(tmp_path):
    """The cross-field message names the two keys; it does not start with an empty key and echo every value."""
    message = _load_error(
        tmp_path, '[run]\nsource = "rtsp://cam"\n[vehicle]\ncommand_timeout_s = 0.1\n[control.safety]\nresend_s = 0.2\n'
    )
    assert "rtsp://cam" not in message
    assert not message.startswith(f"{tmp_path / 'gridscout.toml'}:  =")


def test_override_of_an_unknown_section_is_a_config_error():
    """`--set nope.x=1` (a section that does not exist) is a ConfigError naming it, not a KeyError."""
    with pytest.raises(ConfigError, match="nope"):
        override(Config(), "nope.x", 1)


def _run_config(*flags: str) -> Config:
    """`gridscout run FLAGS`'s config, as the command resolves it."""
    from gridscout.edge.cli import run as run_cli

    parser = argparse.ArgumentParser()
    run_cli.register(parser.add_subparsers())
    return run_cli.resolve(parser.parse_args(["run", *flags]))


def _mission_with_camera(tmp_path: Path, camera: object) -> Path:
    import json

    from gridscout.edge.defaults import DEMO_MISSION

    obj = json.loads(DEMO_MISSION.read_text())
    obj["features"][0]["properties"]["camera"] = camera
    path = tmp_path / "line.geojson"
    path.write_text(json.dumps(obj))
    return path


def test_a_sim_drone_run_takes_the_demo_missions_camera_into_geotag():
    """`gridscout run --vehicle sim-drone` flies DEMO_MISSION, whose `camera` property is the footage's camera."""
    from gridscout.edge.config import mission_camera
    from gridscout.edge.defaults import DEMO_MISSION

    camera = mission_camera(DEMO_MISSION)
    assert camera and camera["mount"] == "gimbal" and camera["hfov_deg"] > 0
    geotag = _run_config("--vehicle", "sim-drone").geotag
    assert {k: getattr(geotag, k) for k in camera} == camera
    # a crawler run flies no mission: the defaults, and on the bundled footage that footage's line to place reports
    assert _run_config().geotag == Config().geotag.model_copy(update={"line": str(DEMO_MISSION)})
    assert _run_config("--source", "synthetic://demo").geotag == Config().geotag  # other footage: no line


def test_explicit_geotag_keys_win_over_the_missions_camera(tmp_path):
    """Per key for the mount; the lens as one choice (a user's focal length keeps the mission's hfov out)."""
    config = _write(tmp_path, "[geotag]\nmount_pitch_deg = -30.0\nfocal_length_mm = 8.0\nsensor_width_mm = 6.4\n")
    geotag = _run_config("--config", str(config), "--vehicle", "sim-drone").geotag
    assert geotag.mount_pitch_deg == -30.0 and geotag.hfov_deg is None and geotag.focal_length_mm == 8.0
    assert geotag.mount_yaw_deg != 0.0  # the mission's, the user left it unset


@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        ([1, 2], "property 'camera': expected an object of [geotag] keys, got list"),
        ({"mount": "gimbal", "pich": -30}, "property 'camera': unknown key 'pich'"),
        ({"mount_pitch_deg": "down"}, "property 'camera': key 'mount_pitch_deg' = 'down'"),
        ({"hfov_deg": 200}, "property 'camera': key 'hfov_deg' = 200: input should be less than 180"),
        ({"mount": "tripod"}, "property 'camera': key 'mount' = 'tripod'"),
    ],
)
def test_a_malformed_mission_camera_names_the_file_and_the_key(tmp_path, camera, expected):
    mission = _mission_with_camera(tmp_path, camera)
    with pytest.raises(ConfigError) as info:
        _run_config("--vehicle", "sim-drone", "--mission", str(mission))
    assert str(mission) in str(info.value) and expected in str(info.value), str(info.value)
