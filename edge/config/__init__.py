"""The run's configuration: one TOML file, validated by pydantic, documented by its own fields.

Every field has a default and a description; `gridscout config --default` prints them all as a
commented TOML file. Unknown keys and bad values are errors that name the key, the value and what
was expected. `sections` holds the sections, `vehicle` the `[vehicle]` union (one model per vehicle kind).
"""

from __future__ import annotations

import difflib
import json
import tomllib
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from gridscout.control.safety import mission_problem
from gridscout.edge.config.geotag import GeotagConfig
from gridscout.edge.config.sections import (
    ApiConfig,
    BehaviourConfig,
    BusConfig,
    CameraConfig,
    ControlConfig,
    MissionConfig,
    PerceptionConfig,
    RecorderConfig,
    ReporterConfig,
    RunConfig,
    SafetyConfig,
    Section,
    SupervisorConfig,
)
from gridscout.edge.config.vehicle import (
    DEFAULT_KIND,
    VARIANTS,
    CrawlerVehicle,
    SimCrawlerVehicle,
    VehicleConfig,
    retarget,
)
from gridscout.edge.runtime.vehicle_kinds import kind_defaults
from gridscout.hardware.vehicle.uri import VEHICLE_FORMS, vehicle_kind

__all__ = [
    "ApiConfig",
    "BehaviourConfig",
    "BusConfig",
    "CameraConfig",
    "Config",
    "ConfigError",
    "ControlConfig",
    "CrawlerVehicle",
    "MissionConfig",
    "PerceptionConfig",
    "RecorderConfig",
    "ReporterConfig",
    "RunConfig",
    "SafetyConfig",
    "SimCrawlerVehicle",
    "SupervisorConfig",
    "default_toml",
    "load_config",
    "mission_camera",
    "override",
    "with_mission_camera",
]


class Config(Section):
    run: RunConfig = Field(default_factory=RunConfig, description="what to run on and where to keep results")
    bus: BusConfig = Field(default_factory=BusConfig, description="how the processes talk")
    camera: CameraConfig = Field(default_factory=CameraConfig, description="the camera process")
    perception: PerceptionConfig = Field(default_factory=PerceptionConfig, description="the detector")
    vehicle: VehicleConfig = Field(
        default_factory=VARIANTS[DEFAULT_KIND],
        description=f"the vehicle and its link; the keys depend on the kind its uri names ({VEHICLE_FORMS})",
    )
    mission: MissionConfig = Field(default_factory=MissionConfig, description="the line a drone or rover flies")
    control: ControlConfig = Field(default_factory=ControlConfig, description="behaviours and the safety gate")
    reporter: ReporterConfig = Field(default_factory=ReporterConfig, description="defect reports")
    geotag: GeotagConfig = Field(default_factory=GeotagConfig, description="where defects are: camera and errors")
    recorder: RecorderConfig = Field(default_factory=RecorderConfig, description="the MCAP recording of every run")
    api: ApiConfig = Field(default_factory=ApiConfig, description="the fleet HTTP API")
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig, description="process watchdog")

    @model_validator(mode="after")
    def _keepalive_beats_watchdog(self) -> Config:
        resend, timeout = self.control.safety.resend_s, self.vehicle.command_timeout_s
        if timeout <= resend:
            raise ValueError(
                f"vehicle.command_timeout_s = {timeout} must exceed control.safety.resend_s = {resend}, "
                "or the driver stops the vehicle between keep-alives"
            )
        return self

    @model_validator(mode="after")
    def _mission_within_the_limits(self) -> Config:
        """A mission the vehicle flies must fit the gate's limits (a crawler's only places its reports)."""
        if self.mission.file is None or not kind_defaults(self.vehicle.uri).flies_mission:
            return self
        problem = mission_problem(self.mission.load(), self.control.safety.limits(self.vehicle.uri))
        if problem:
            raise ValueError(f"mission {self.mission.file}: {problem}")
        return self


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, key, value and expectation."""


def _section_models(annotation: Any) -> dict[str, type[BaseModel]]:
    """The models a field holds: {"": Model} for a plain section, {tag: Model} for a tagged union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"": annotation}
    found = {}
    for arg in typing.get_args(annotation):
        for meta in getattr(arg, "__metadata__", ()):
            if hasattr(meta, "tag"):
                found[meta.tag] = typing.get_args(arg)[0]
        found |= {k: v for k, v in _section_models(arg).items() if k}
    return found


def _walk(loc: tuple) -> tuple[list[str], type[BaseModel] | None]:
    """A pydantic error location as the user's dotted key (union tags dropped), and the model it is in."""
    model: type[BaseModel] | None = Config
    key: list[str] = []
    parts = list(loc)
    while parts:
        part = str(parts.pop(0))
        key.append(part)
        field = model.model_fields.get(part) if model else None
        models = _section_models(field.annotation) if field else {}
        if "" in models:
            model = models[""]
        elif models and parts and str(parts[0]) in models:
            model = models[str(parts.pop(0))]
        elif models:
            model = VARIANTS[DEFAULT_KIND]
        else:
            model = None
    return key, model


def _describe(source: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key, _ = _walk(err["loc"])
        dotted = ".".join(key)
        if not dotted:  # a model-level check (e.g. command_timeout_s vs resend_s): its message names the keys
            problems.append(str(err["msg"]).removeprefix("Value error, "))
        elif err["type"] == "vehicle_uri":
            uri = err["input"].get("uri") if isinstance(err["input"], dict) else err["input"]
            problems.append(f"{dotted}.uri = {uri!r}: {err['msg']}")
        elif err["type"] == "extra_forbidden":
            _, model = _walk(err["loc"][:-1])
            known = list(model.model_fields) if model else []
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys here: {', '.join(known)}"
            elsewhere = [tag for tag, v in VARIANTS.items() if v is not model and err["loc"][-1] in v.model_fields]
            if key[0] == "vehicle" and elsewhere:
                hint = f"; it applies to uri = {' or '.join(elsewhere)} only"
            problems.append(f"unknown key {dotted!r}{hint}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{dotted} = {err.get('input')!r}: {msg[:1].lower()}{msg[1:]}")  # paths keep their case
    return f"{source}: " + "; ".join(problems)


def load_config(path: Path | None = None) -> Config:
    """Read and validate a config file; None gives the defaults."""
    if path is None:
        return Config()
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(str(path), exc)) from exc


def override(config: Config, dotted: str, value: Any) -> Config:
    """A copy of `config` with one `section.key` set (validated), e.g. from a command-line flag."""
    data = config.model_dump()
    *sections, key = dotted.split(".")
    node = data
    for part in sections:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            raise ConfigError(f"command line: {dotted!r} is not a config key (sections: {', '.join(data)})")
        node = node[part]
    if dotted == "vehicle.uri":
        data["vehicle"] = retarget(data["vehicle"], value)
    else:
        node[key] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe("command line", exc)) from exc


#: the `[geotag]` keys a mission file's `camera` property may give (`hardware/sim/flight_mission.py: camera_setup`)
MISSION_CAMERA_KEYS = (
    "mount",
    "mount_yaw_deg",
    "mount_pitch_deg",
    "mount_roll_deg",
    "hfov_deg",
    "focal_length_mm",
    "sensor_width_mm",
)
_LENS_KEYS = frozenset({"hfov_deg", "focal_length_mm", "sensor_width_mm"})


def mission_camera(file: str | Path) -> dict[str, Any] | None:
    """The `camera` property of a mission file's LineString feature, checked as `[geotag]` values; None when the
    file has none. The file is one `load_mission` accepted. Raises ConfigError naming the file and the key."""
    obj = json.loads(Path(file).read_text(encoding="utf-8"))
    features = [obj] if obj.get("type") == "Feature" else obj.get("features", [])
    (line,) = [f for f in features if (f.get("geometry") or {}).get("type") == "LineString"]
    camera = (line.get("properties") or {}).get("camera")
    if camera is None:
        return None
    where = f"{file}: property 'camera'"
    if not isinstance(camera, dict):
        raise ConfigError(f"{where}: expected an object of [geotag] keys, got {type(camera).__name__}")
    unknown = sorted(set(camera) - set(MISSION_CAMERA_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known keys here: {', '.join(MISSION_CAMERA_KEYS)}")
    try:
        GeotagConfig.model_validate(camera)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["loc"]:
                problems.append(f"key {err['loc'][0]!r} = {err.get('input')!r}: {msg[:1].lower()}{msg[1:]}")
            else:  # focal_length_mm without sensor_width_mm: the message names both keys
                problems.append(msg)
        raise ConfigError(f"{where}: " + "; ".join(problems)) from None
    return dict(camera)


def with_mission_camera(
    config: Config, *, explicit: Iterable[str] | None = None, mission_file: str | Path | None = None
) -> Config:
    """`config` with the camera values of the mission file's `camera` property in `[geotag]` wherever the user
    left them unset: the one place the run, `detect --mission` (and so a replay of the run) get them from.
    `explicit`: the `[geotag]` keys the user set (default: those set in `config`, right for a config as loaded);
    the lens is one choice, so a user's `hfov_deg` or `focal_length_mm` with `sensor_width_mm` keeps all
    three of the mission's out. `mission_file`: default `[mission] file`."""
    mission_file = mission_file if mission_file is not None else config.mission.file
    if not mission_file:
        return config
    camera = mission_camera(mission_file)
    if not camera:
        return config
    user = set(config.geotag.model_fields_set if explicit is None else explicit)
    taken = {k: v for k, v in camera.items() if k not in user and not (k in _LENS_KEYS and user & _LENS_KEYS)}
    if not taken:
        return config
    geotag = GeotagConfig.model_validate(config.geotag.model_dump() | taken)  # each key was checked above
    return config.model_copy(update={"geotag": geotag})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def default_toml(vehicle: str | None = None) -> str:
    """Every section and key with its default and description, as a commented TOML file; `[vehicle]` for the
    kind of vehicle the URI `vehicle` names (default: sim-crawler's). ConfigError for a URI of no kind."""
    kind = DEFAULT_KIND if vehicle is None else vehicle_kind(vehicle)
    if kind is None:
        raise ConfigError(f"vehicle {vehicle!r}: expected {VEHICLE_FORMS}")
    lines = [
        "# GridScout configuration. Every key is optional; shown here with its default.",
        "# Use it with: gridscout run --config this-file.toml",
    ]

    def emit(model: type[BaseModel], prefix: str) -> None:
        nested = []
        for name, field in model.model_fields.items():
            models = _section_models(field.annotation)
            if models:
                nested.append((name, field, models))
                continue
            lines.append(f"# {field.description}")
            default = field.get_default(call_default_factory=True)
            if name == "uri" and vehicle is not None and model in VARIANTS.values():
                default = vehicle
            lines.append(f"# {name} =  (unset)" if default is None else f"{name} = {_toml_value(default)}")
        for name, field, models in nested:
            table = f"{prefix}.{name}" if prefix else name
            lines.extend(["", f"[{table}]", f"# {field.description}"])
            chosen = models.get("") or models[kind]
            for tag, variant in models.items():
                if variant is not chosen:
                    lines.append(_how_it_differs(tag, chosen, variant))
            emit(chosen, table)

    emit(Config, "")
    return "\n".join(lines) + "\n"


def _how_it_differs(tag: str, chosen: type[BaseModel], variant: type[BaseModel]) -> str:
    """A comment on how the keys of vehicle kind `tag` differ from the ones shown."""
    missing, own = _only_in(chosen, variant), _only_in(variant, chosen)
    text = f"# uri = {tag}...: the same keys" + (f" except {', '.join(missing)}" if missing else "")
    if own:
        text += f"; its own: {', '.join(own)} (gridscout config --default --vehicle {tag})"
    return text


def _only_in(model: type[BaseModel], other: type[BaseModel]) -> list[str]:
    return [name for name in model.model_fields if name not in other.model_fields]
