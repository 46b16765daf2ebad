"""The run's configuration: one TOML file, validated by pydantic, documented by its own fields.

Every field has a default and a description; `gridscout config --default` prints them all as a
commented TOML file. Unknown keys and bad values are errors that name the key, the value and what
was expected.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from gridscout.edge.defaults import API_HOST, API_PORT, DATA_DIR
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunConfig(Section):
    source: str = Field(
        "", description="camera URI (file, folder, device, rtsp://, synthetic://); empty: the bundled demo footage"
    )
    mode: Literal["live", "replay"] = Field(
        "live", description="live: newest frame wins, drops counted; replay: every frame in order, deterministic"
    )
    data_dir: str = Field(f"./{DATA_DIR}", description="where reports, the API token and run files live")
    device_id: str = Field("", description="this box's id in reports; empty: generated once and kept in data_dir")


class BusConfig(Section):
    transport: Literal["ipc", "tcp"] = Field(
        "ipc", description="ipc: unix sockets in the run dir; tcp: for processes on other hosts"
    )
    tcp_host: str = Field("127.0.0.1", description="host the tcp endpoints bind and connect to")
    tcp_base_port: int = Field(8500, ge=1024, le=65000, description="first tcp port; topics use consecutive ports")


class CameraConfig(Section):
    fps: float | None = Field(None, gt=0, description="override a file source's frame rate (live pacing)")
    live_source: bool = Field(
        False, description="treat the source as a live camera (newest frame, stall detection) even if it is a file"
    )
    stall_timeout_s: float = Field(2.0, gt=0, le=30, description="a live camera silent this long counts as stalled")
    reconnect_initial_s: float = Field(0.5, gt=0, description="first wait before reconnecting a stalled camera")
    reconnect_max_s: float = Field(10.0, gt=0, description="longest wait between reconnect attempts")


class PerceptionConfig(Section):
    model: str = Field("", description="an .onnx model or a cascade .toml manifest; empty: the shipped model")
    threads: int = Field(0, ge=0, le=256, description="onnxruntime threads; 0: leave one core for the other processes")
    provider: Literal["cpu", "cuda", "tensorrt", "openvino", "auto"] = Field("cpu", description="onnxruntime provider")
    conf: float | None = Field(None, ge=0, le=1, description="minimum confidence, overriding the model's")


class VehicleConfig(Section):
    uri: str = Field(
        "sim-crawler",
        description="sim-crawler (a simulator on a pty) or crawler:<pyserial URL or tcp://host:port>[?baud=N]",
    )
    baud: int = Field(115200, ge=1200, le=4_000_000, description="serial baud rate (a ?baud= in the URI wins)")
    heartbeat_period_s: float = Field(0.1, gt=0, le=1, description="host→vehicle heartbeat period")
    ack_timeout_s: float = Field(0.1, gt=0, le=2, description="resend a command not acknowledged within this")
    max_retries: int = Field(3, ge=0, le=20, description="resends before a command counts as failed")
    command_timeout_s: float = Field(
        0.5,
        gt=0,
        le=2,
        description="the driver stops the vehicle itself when control is silent this long (> control.safety.resend_s)",
    )
    sim_line_length_m: float = Field(300.0, gt=0, description="sim-crawler: length of the line span")
    sim_heartbeat_timeout_s: float = Field(0.3, gt=0, le=5, description="sim-crawler: failsafe stop after host silence")


class BehaviourConfig(Section):
    cruise_speed_mps: float = Field(0.5, ge=0, description="patrol speed along the line")
    slow_speed_mps: float = Field(0.15, ge=0, description="approach speed once a defect is confirmed")
    hold_s: float = Field(3.0, ge=0, description="how long to hold still for a close look")
    defect_min_confidence: float = Field(0.4, ge=0, le=1, description="a defect track counts from this confidence")
    defect_min_hits: int = Field(3, ge=1, description="frames a defect track must be seen before acting on it")
    close_box_height_frac: float = Field(
        0.25, gt=0, le=1, description="hold once the defect box is this tall (fraction of frame)"
    )
    approach_timeout_s: float = Field(1.5, gt=0, description="hold anyway after approaching this long")
    track_lost_s: float = Field(1.0, gt=0, description="a defect track unseen this long is forgotten")
    resume_s: float = Field(2.0, ge=0, description="after a hold, cruise this long before new defects count as new")
    line_end_m: float | None = Field(None, description="stop at this position along the line; unset: the vehicle says")
    end_margin_m: float = Field(1.0, ge=0, description="stop this far before line_end_m")


class SafetyConfig(Section):
    max_speed_mps: float = Field(1.0, gt=0, le=10, description="fastest forward command the gate lets through")
    max_reverse_speed_mps: float = Field(0.0, ge=0, le=10, description="fastest reverse command (0: no reverse)")
    max_accel_mps2: float = Field(0.5, gt=0, description="speed-up limit between commands")
    max_decel_mps2: float = Field(1.5, gt=0, description="slow-down limit (an explicit stop is always allowed)")
    max_command_rate_hz: float = Field(20.0, gt=0, le=200, description="most commands per second")
    perception_timeout_s: float = Field(0.3, gt=0, le=5, description="stop when no detections arrive for this long")
    telemetry_timeout_s: float = Field(0.3, gt=0, le=5, description="stop when the vehicle is silent this long")
    link_timeout_s: float = Field(0.3, gt=0, le=5, description="stop when the link is down this long")
    recover_s: float = Field(
        0.5, ge=0, le=10, description="after a stop for a fault, wait until it has been clear this long"
    )
    resend_s: float = Field(0.2, gt=0, le=2, description="an unchanged speed is re-sent this often as a keep-alive")
    max_time_jump_s: float = Field(1.0, gt=0, description="a clock step larger than this between ticks is a fault")
    geofence_min_m: float | None = Field(None, description="stop below this position along the line")
    geofence_max_m: float | None = Field(None, description="stop beyond this position along the line")


class ControlConfig(Section):
    rate_hz: float = Field(20.0, ge=1, le=200, description="control loop rate")
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig, description="what the vehicle does")
    safety: SafetyConfig = Field(default_factory=SafetyConfig, description="the gate every command passes")


class ReporterConfig(Section):
    min_hits: int = Field(2, ge=1, description="frames a defect track needs before it becomes a report")
    update_interval_s: float = Field(2.0, gt=0, description="refresh a live report's last-seen at most this often")
    track_lost_s: float = Field(1.5, gt=0, description="a track unseen this long is closed with a final update")
    confidence_step: float = Field(0.02, ge=0, le=1, description="a new best frame must beat the old by this much")
    jpeg_quality: int = Field(90, ge=10, le=100, description="evidence JPEG quality")


class ApiConfig(Section):
    enabled: bool = Field(True, description="serve the fleet API while the chain runs")
    host: str = Field(API_HOST, description="bind address; loopback unless you mean it")
    port: int = Field(API_PORT, ge=0, le=65535, description="bind port (0: any free port)")
    token: str = Field("", description="bearer token; empty: $GRIDSCOUT_API_TOKEN, else generated into data_dir")


class SupervisorConfig(Section):
    realtime_priority: int = Field(
        10, ge=0, le=99, description="SCHED_FIFO priority for the control and vehicle processes; 0: normal scheduling"
    )
    startup_grace_s: float = Field(20.0, gt=0, description="time a process gets to send its first heartbeat")
    restart_initial_s: float = Field(0.5, gt=0, description="first restart delay; doubles per failure")
    restart_max_s: float = Field(10.0, gt=0, description="longest restart delay")
    shutdown_timeout_s: float = Field(3.0, gt=0, description="time a process gets to exit before it is killed")


class Config(Section):
    run: RunConfig = Field(default_factory=RunConfig, description="what to run on and where to keep results")
    bus: BusConfig = Field(default_factory=BusConfig, description="how the processes talk")
    camera: CameraConfig = Field(default_factory=CameraConfig, description="the camera process")
    perception: PerceptionConfig = Field(default_factory=PerceptionConfig, description="the detector")
    vehicle: VehicleConfig = Field(default_factory=VehicleConfig, description="the vehicle and its link")
    control: ControlConfig = Field(default_factory=ControlConfig, description="behaviours and the safety gate")
    reporter: ReporterConfig = Field(default_factory=ReporterConfig, description="defect reports")
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


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, key, value and expectation."""


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return list(model.model_fields)


def _describe(source: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if not key:  # a model-level check (e.g. command_timeout_s vs resend_s): its message names the keys
            problems.append(str(err["msg"]).removeprefix("Value error, "))
        elif err["type"] == "extra_forbidden":
            known = _known_keys(Config, err["loc"])
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys here: {', '.join(known)}"
            problems.append(f"unknown key {key!r}{hint}")
        else:
            problems.append(f"{key} = {err.get('input')!r}: {err['msg'].lower()}")
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
    node[key] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe("command line", exc)) from exc


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def default_toml() -> str:
    """Every section and key with its default and description, as a commented TOML file."""
    lines = [
        "# GridScout configuration. Every key is optional; shown here with its default.",
        "# Use it with: gridscout run --config this-file.toml",
    ]

    def emit(model: type[BaseModel], prefix: str) -> None:
        nested = []
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                nested.append((name, field, annotation))
                continue
            lines.append(f"# {field.description}")
            default = field.get_default(call_default_factory=True)
            if default is None:
                lines.append(f"# {name} =  (unset)")
            else:
                lines.append(f"{name} = {_toml_value(default)}")
        for name, field, annotation in nested:
            table = f"{prefix}.{name}" if prefix else name
            lines.extend(["", f"[{table}]", f"# {field.description}"])
            emit(annotation, table)

    emit(Config, "")
    return "\n".join(lines) + "\n"
