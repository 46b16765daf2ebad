"""The config's sections, each a pydantic model whose fields carry their default and description.

The behaviour and safety sections are where the control dataclasses get their values: `params()` and
`limits()` build them (with `gridscout.edge.runtime.settings`, as the chain's processes do), so each
default exists here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gridscout.control.behaviour import BehaviourParams
from gridscout.control.mission import Mission, MissionError, load_mission
from gridscout.control.safety import SafetyLimits
from gridscout.edge.defaults import API_HOST, API_PORT, DATA_DIR
from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.runtime import settings
from gridscout.edge.runtime.vehicle_kinds import described
from gridscout.hardware.camera.image_size import DEFAULT_MAX_IMAGE_PIXELS
from gridscout.reports.web.tiles import open_tiles


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
    max_image_pixels: int = Field(
        DEFAULT_MAX_IMAGE_PIXELS,
        gt=0,
        description="a folder's image with more pixels than this (read from its header) is skipped, never decoded",
    )


class PerceptionConfig(Section):
    model: str = Field("", description="an .onnx model or a cascade .toml manifest; empty: the shipped model")
    threads: int = Field(0, ge=0, le=256, description="onnxruntime threads; 0: leave one core for the other processes")
    provider: Literal["cpu", "cuda", "tensorrt", "openvino", "auto"] = Field("cpu", description="onnxruntime provider")
    conf: float | None = Field(None, ge=0, le=1, description="minimum confidence, overriding the model's")
    live_crops_per_frame: int = Field(
        2,
        ge=0,
        le=256,
        description="live mode: strings a cascade searches for defects per frame at most, the others on the next "
        "frames (those searched longest ago first), so a frame showing many strings does not delay the commands; "
        "0: every string the model's max_crops allows",
    )


class MissionConfig(Section):
    file: str | None = Field(
        None,
        description="a GeoJSON mission (the conductor route, standoff_m, altitude_m, cruise_speed_mps, optional "
        "geofence Polygon, optional camera: [geotag] values for keys [geotag] leaves unset) for drones and rovers; "
        "unset: none (a crawler rides its line)",
    )

    @field_validator("file")
    @classmethod
    def _loads(cls, file: str | None) -> str | None:
        if file is None:
            return None
        try:
            load_mission(file)
        except MissionError as e:
            raise ValueError(str(e)) from None
        return str(Path(file).resolve())  # the chain's processes read it too, whatever their directory

    def load(self) -> Mission | None:
        return settings.mission(self.model_dump())


class BehaviourConfig(Section):
    cruise_speed_mps: float = Field(
        0.5, ge=0, description="patrol speed along the line (a mission's cruise_speed_mps replaces it)"
    )
    slow_speed_mps: float = Field(0.15, ge=0, description="approach speed once a defect is confirmed")
    hold_s: float = Field(
        3.0, ge=0, description="how long to hold still for a close look, counted once the vehicle is at rest"
    )
    hold_still_mps: float = Field(
        0.2, gt=0, description="a holding vehicle is at rest at or below this speed (over ground where reported)"
    )
    hold_settle_s: float = Field(
        10.0, ge=0, description="count the hold anyway once the vehicle has not come to rest for this long"
    )
    defect_min_confidence: float = Field(0.4, ge=0, le=1, description="a defect track counts from this confidence")
    defect_min_hits: int = Field(3, ge=1, description="frames a defect track must be seen before acting on it")
    close_box_height_frac: float = Field(
        0.25, gt=0, le=1, description="hold once the defect box is this tall (fraction of frame)"
    )
    approach_timeout_s: float = Field(1.5, gt=0, description="hold anyway after approaching this long")
    track_lost_s: float = Field(1.0, gt=0, description="a defect track unseen this long is forgotten")
    resume_s: float = Field(2.0, ge=0, description="after a hold, cruise this long before new defects count as new")
    frames_in_view: int = Field(
        8,
        ge=1,
        description="with a mission and a known camera, cruise no faster than keeps a point of the line in view "
        "for this many processed frames (the line across the view x the measured frame rate / this)",
    )
    line_end_m: float | None = Field(
        None, description="stop at this position along the line; unset: a mission's path length, else the vehicle says"
    )
    end_margin_m: float = Field(1.0, ge=0, description="stop this far before line_end_m")

    def params(self, mission: Mission | None = None) -> BehaviourParams:
        return settings.behaviour_params(self.model_dump(), mission)


class SafetyConfig(Section):
    max_speed_mps: float | None = Field(
        None,
        gt=0,
        le=10,
        description=f"fastest forward command the gate lets through; unset: {described('max_speed_mps')}",
    )
    max_reverse_speed_mps: float = Field(0.0, ge=0, le=10, description="fastest reverse command (0: no reverse)")
    max_accel_mps2: float | None = Field(
        None, gt=0, description=f"speed-up limit between commands; unset: {described('max_accel_mps2')}"
    )
    max_decel_mps2: float | None = Field(
        None,
        gt=0,
        description=f"slow-down limit (an explicit stop is always allowed); unset: {described('max_decel_mps2')}",
    )
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
    hold_action: Literal["auto", "stop", "hold"] = Field(
        "auto",
        description="how stale perception, the geofence and the altitude band halt the vehicle: stop (an explicit "
        f"STOP), hold (speed 0: brake and hover or stand, ready to go on); auto: {described('hold_action')}",
    )
    min_alt_rel_m: float | None = Field(None, description="hold below this altitude above home (unset: no floor)")
    max_alt_rel_m: float | None = Field(
        120.0, gt=0, description="hold above this altitude above home (120 m: the usual legal ceiling for drones)"
    )
    max_ground_speed_mps: float | None = Field(
        None,
        gt=0,
        le=30,
        description="fastest speed over ground a command may ask for, path corrections included; unset: "
        + described("max_ground_speed_mps"),
    )
    prediction_horizon_s: float = Field(
        2.0, ge=0, le=10, description="hold a command that would leave the geofence or altitude band this soon"
    )

    @model_validator(mode="after")
    def _altitude_band(self) -> SafetyConfig:
        low, high = self.min_alt_rel_m, self.max_alt_rel_m
        if low is not None and high is not None and low >= high:
            raise ValueError(f"control.safety.min_alt_rel_m = {low} must be below max_alt_rel_m = {high}")
        return self

    def limits(self, vehicle_uri: str) -> SafetyLimits:
        """The gate's limits for the vehicle `vehicle_uri` names (its kind fills in what is unset or auto)."""
        return settings.safety_limits(self.model_dump(), vehicle_uri)


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


class RecorderConfig(Section):
    enabled: bool = Field(True, description="record every bus topic (and the camera as JPEG) to MCAP segments")
    dir: str = Field("", description="where the segments go; empty: data_dir/recordings")
    segment_max_s: float = Field(300.0, gt=0, description="start a new segment after this many seconds")
    segment_max_mb: float = Field(512.0, gt=0, description="... or once a segment holds this many megabytes")
    chunk_max_s: float = Field(
        1.0, gt=0, le=60, description="write the open chunk to disk at least this often (a crash loses at most it)"
    )
    chunk_max_kb: float = Field(1024.0, gt=0, description="... or once it holds this many kilobytes")
    fsync: bool = Field(True, description="fsync every chunk, so a power cut also loses at most the open chunk")
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of the recorded camera frames")
    max_total_mb: float = Field(
        8192.0, gt=0, description="keep all recordings under this; oldest first, never unpulled report evidence"
    )
    reserve_mb: float = Field(
        200.0,
        ge=0,
        description="free disk space kept for the report store: below it old segments go, then recording stops "
        "(and resumes when space is back); reports are stored either way",
    )

    def settings(self) -> RecorderSettings:
        return settings.recorder_settings(self.model_dump())


class ApiConfig(Section):
    enabled: bool = Field(True, description="serve the fleet API while the chain runs")
    host: str = Field(API_HOST, description="bind address; loopback unless you mean it")
    port: int = Field(API_PORT, ge=0, le=65535, description="bind port (0: any free port)")
    token: str = Field("", description="bearer token; empty: $GRIDSCOUT_API_TOKEN, else generated into data_dir")
    tls_cert: str = Field("", description="serve HTTPS with this PEM certificate (with tls_key); empty: plain HTTP")
    tls_key: str = Field("", description="the certificate's PEM private key")
    map_tiles: str = Field(
        "",
        description="a base map for the review page: an .mbtiles file, or a tile URL template on your own network "
        "(http://host/{z}/{x}/{y}.png); empty: none, and nothing is fetched from the internet",
    )

    @field_validator("map_tiles")
    @classmethod
    def _tiles(cls, value: str) -> str:
        open_tiles(value)  # TileError (a ValueError) names what is wrong
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiConfig:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("api.tls_cert and api.tls_key go together: set both, or neither for plain HTTP")
        return self


class SupervisorConfig(Section):
    realtime_priority: int = Field(
        10, ge=0, le=99, description="SCHED_FIFO priority for the control and vehicle processes; 0: normal scheduling"
    )
    startup_grace_s: float = Field(20.0, gt=0, description="time a process gets to send its first heartbeat")
    restart_initial_s: float = Field(0.5, gt=0, description="first restart delay; doubles per failure")
    restart_max_s: float = Field(10.0, gt=0, description="longest restart delay")
    shutdown_timeout_s: float = Field(3.0, gt=0, description="time a process gets to exit before it is killed")
