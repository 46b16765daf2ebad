"""The `[vehicle]` section: a union of one model per vehicle kind, told apart by the URI's scheme.

`uri = "sim-crawler"` takes the simulator's keys as well as the crawler driver's; `uri = "crawler:..."`
takes the driver's alone, so a simulator key in a real crawler's config is an error naming it. The same
holds for `sim-drone` / `sim-rover` (the MAVLink simulator's `sim_*` keys) and `mavlink:...`. The
drivers' and the simulators' defaults live with them (`CrawlerSettings`, `SimConfig`, `MavlinkSettings`,
`MavSimConfig`); these fields read them from there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from gridscout.edge.config.sections import Section
from gridscout.edge.runtime import settings
from gridscout.hardware.crawler.driver import CrawlerSettings
from gridscout.hardware.mavlink.settings import MavlinkSettings
from gridscout.hardware.sim.crawler.core import SimConfig
from gridscout.hardware.sim.mavlink.config import MavSimConfig
from gridscout.hardware.vehicle.uri import SIM_VEHICLES, VEHICLE_FORMS, parse_vehicle_uri, vehicle_kind

_DRIVER = CrawlerSettings()
_SIM = SimConfig()
_MAV = MavlinkSettings()
_MAV_SIM = MavSimConfig()


class VehicleCommon(Section):
    """What every vehicle kind has."""

    connect_timeout_s: float = Field(
        10.0, gt=0, le=600, description="the run fails (exit 1) when its vehicle has not connected within this"
    )
    command_timeout_s: float = Field(
        0.5,
        gt=0,
        le=2,
        description="the driver stops the vehicle itself when control is silent this long (> control.safety.resend_s)",
    )
    stop_timeout_s: float = Field(
        1.0, gt=0, le=10, description="on shutdown, how long to wait for the vehicle to acknowledge STOP"
    )
    stop_settle_s: float = Field(
        10.0,
        ge=0,
        le=60,
        description="on shutdown, how long to wait after the STOP's acknowledgement for the vehicle to come to rest "
        "(speed over ground at most stop_rest_mps): a drone braking from cruise takes seconds",
    )
    stop_rest_mps: float = Field(
        0.3, gt=0, le=5, description="on shutdown, the vehicle counts as at rest at or below this speed over ground"
    )


class CrawlerVehicle(VehicleCommon):
    """A line crawler speaking docs/crawler_protocol.md."""

    uri: str = Field(description=f"the vehicle: {VEHICLE_FORMS}")
    baud: int = Field(_DRIVER.baud, ge=1200, le=4_000_000, description="serial baud rate (a ?baud= in the URI wins)")
    heartbeat_period_s: float = Field(
        _DRIVER.heartbeat_period_s,
        gt=0,
        le=1,
        description="host→crawler heartbeat period (shortened to a third of the timeout the crawler announces)",
    )
    ack_timeout_s: float = Field(_DRIVER.ack_timeout_s, gt=0, le=2, description="resend a command unanswered this long")
    max_retries: int = Field(
        _DRIVER.max_retries, ge=0, le=20, description="resends before a command counts as unanswered"
    )
    link_timeout_s: float = Field(
        _DRIVER.link_timeout_s, gt=0, le=5, description="the link counts as down after this long without a frame"
    )

    @field_validator("uri")
    @classmethod
    def _parses(cls, uri: str) -> str:
        parse_vehicle_uri(uri)  # ValueError naming the URI and what was expected
        return uri

    def driver_settings(self) -> CrawlerSettings:
        return settings.crawler_settings(self.model_dump())


class SimCrawlerVehicle(CrawlerVehicle):
    """The crawler driver on a simulated crawler, started by `gridscout run` as a supervised process."""

    uri: Literal["sim-crawler"] = Field("sim-crawler", description=f"the vehicle: {VEHICLE_FORMS}")
    sim_line_length_m: float = Field(_SIM.line_length_m, gt=0, description="sim-crawler only: length of the line span")
    sim_max_speed_mps: float = Field(
        _SIM.max_speed_mps, gt=0, description="sim-crawler only: fastest speed the simulated crawler accepts"
    )
    sim_heartbeat_timeout_s: float = Field(
        _SIM.heartbeat_timeout_s, gt=0, le=5, description="sim-crawler only: failsafe stop after host silence"
    )

    def sim_config(self) -> SimConfig:
        return settings.sim_config(self.model_dump())


class MavlinkVehicle(VehicleCommon):
    """An ArduPilot or PX4 drone or rover over MAVLink, GridScout its companion computer."""

    uri: str = Field(description=f"the vehicle: {VEHICLE_FORMS}")
    baud: int = Field(_MAV.baud, ge=1200, le=4_000_000, description="serial baud rate (a ?baud= in the URI wins)")
    system_id: int = Field(
        _MAV.system_id,
        ge=1,
        le=255,
        description="GridScout's MAVLink system id: the autopilot's GCS failsafe counts heartbeats from MAV_GCS_SYSID "
        "(255 by default), so keep the two equal",
    )
    component_id: int = Field(
        _MAV.component_id, ge=0, le=255, description="GridScout's MAVLink component id (191: onboard computer)"
    )
    target_system: int = Field(
        _MAV.target_system, ge=0, le=255, description="the autopilot's system id; 0: the first autopilot heard"
    )
    heartbeat_period_s: float = Field(
        _MAV.heartbeat_period_s,
        gt=0,
        le=1,
        description="GridScout's heartbeat period (MAVLink expects 1 Hz; the GCS failsafe trips without it)",
    )
    setpoint_rate_hz: float = Field(
        _MAV.setpoint_rate_hz,
        ge=4,
        le=50,
        description="velocity setpoints a second while steering (ArduPilot GUIDED stops after 3 s without one, "
        "PX4 OFFBOARD below 2 Hz)",
    )
    telemetry_rate_hz: float = Field(
        _MAV.telemetry_rate_hz, gt=0, le=50, description="GLOBAL_POSITION_INT and ATTITUDE asked for at this rate"
    )
    status_rate_hz: float = Field(
        _MAV.status_rate_hz, gt=0, le=10, description="SYS_STATUS and BATTERY_STATUS asked for at this rate"
    )
    ack_timeout_s: float = Field(
        _MAV.ack_timeout_s, gt=0, le=5, description="resend a command COMMAND_ACK has not answered for this long"
    )
    max_retries: int = Field(
        _MAV.max_retries, ge=0, le=20, description="resends before a command counts as unanswered (a STOP: no limit)"
    )
    link_timeout_s: float = Field(
        _MAV.link_timeout_s, gt=0, le=5, description="the link counts as down after this long without a message"
    )
    heartbeat_lost_s: float = Field(
        _MAV.heartbeat_lost_s, gt=0, le=60, description="the link counts as lost after this long without a HEARTBEAT"
    )
    engage: Literal["auto", "always", "never"] = Field(
        _MAV.engage,  # type: ignore[arg-type]
        description="who switches the armed vehicle into GUIDED / OFFBOARD: auto (GridScout on PX4, whose OFFBOARD "
        "needs its setpoint stream; the crew on ArduPilot), always (GridScout), never (the crew)",
    )
    allow_arm: bool = Field(_MAV.allow_arm, description="GridScout may arm the vehicle (it never does otherwise)")
    allow_takeoff: bool = Field(
        _MAV.allow_takeoff, description="GridScout may take a landed multicopter off to the mission's altitude"
    )
    end_tolerance_m: float = Field(
        _MAV.end_tolerance_m, gt=0, le=50, description="the vehicle reports END_OF_PATH this close to the path's end"
    )
    max_path_distance_m: float = Field(
        _MAV.max_path_distance_m,
        gt=0,
        le=10_000,
        description="the run refuses a vehicle farther than this from the mission's flight path "
        "(`gridscout mission here` makes one where it is)",
    )

    @field_validator("uri")
    @classmethod
    def _parses(cls, uri: str) -> str:
        parse_vehicle_uri(uri)  # ValueError naming the URI and what was expected
        return uri


class SimMavlinkVehicle(MavlinkVehicle):
    """The MAVLink driver on the MAVLink simulator, started by `gridscout run` as a supervised process."""

    uri: Literal["sim-drone", "sim-rover"] = Field("sim-drone", description=f"the vehicle: {VEHICLE_FORMS}")
    sim_port: int = Field(
        0, ge=0, le=65535, description="sim-drone/sim-rover only: its loopback TCP port; 0: a free one, chosen at start"
    )
    sim_home_lat_deg: float | None = Field(
        None, ge=-90, le=90, description="sim-drone/sim-rover only: home latitude; unset: the mission's start"
    )
    sim_home_lon_deg: float | None = Field(
        None, ge=-180, le=180, description="sim-drone/sim-rover only: home longitude; unset: the mission's start"
    )
    sim_home_alt_m: float = Field(_MAV_SIM.home_alt_m, description="sim-drone/sim-rover only: home altitude AMSL")
    sim_max_speed_mps: float = Field(
        _MAV_SIM.max_speed_mps, gt=0, description="sim-drone/sim-rover only: its fastest horizontal speed"
    )
    sim_gcs_timeout_s: float = Field(
        _MAV_SIM.gcs_timeout_s,
        gt=0,
        le=60,
        description="sim-drone/sim-rover only: its GCS failsafe after this long without GridScout's heartbeat",
    )
    sim_setpoint_timeout_s: float = Field(
        _MAV_SIM.setpoint_timeout_s,
        gt=0,
        le=30,
        description="sim-drone/sim-rover only: it stops after this long without a setpoint",
    )
    sim_gps_noise_m: float = Field(
        _MAV_SIM.gps_noise_m, ge=0, le=10, description="sim-drone/sim-rover only: GPS noise (1 sigma)"
    )
    sim_seed: int = Field(_MAV_SIM.seed, description="sim-drone/sim-rover only: the seed of its GPS noise")

    @model_validator(mode="after")
    def _failsafe_outlasts_heartbeats(self) -> SimMavlinkVehicle:
        if self.sim_gcs_timeout_s <= 2 * self.heartbeat_period_s:
            raise ValueError(
                f"vehicle.sim_gcs_timeout_s = {self.sim_gcs_timeout_s} must exceed twice vehicle.heartbeat_period_s "
                f"= {self.heartbeat_period_s}, or the simulator's failsafe trips between heartbeats"
            )
        if (self.sim_home_lat_deg is None) != (self.sim_home_lon_deg is None):
            raise ValueError("vehicle.sim_home_lat_deg and sim_home_lon_deg: set both, or neither")
        return self


#: vehicle kind (from the URI) -> its section model; the first is the default
VARIANTS: dict[str, type[VehicleCommon]] = {
    "sim-crawler": SimCrawlerVehicle,
    "crawler": CrawlerVehicle,
    **dict.fromkeys(SIM_VEHICLES, SimMavlinkVehicle),
    "mavlink": MavlinkVehicle,
}
DEFAULT_KIND = "sim-crawler"


def _kind_of(value: Any) -> str | None:
    uri = value.get("uri", DEFAULT_KIND) if isinstance(value, dict) else getattr(value, "uri", None)
    return vehicle_kind(uri) if isinstance(uri, str) else None


VehicleConfig = Annotated[
    Annotated[SimCrawlerVehicle, Tag("sim-crawler")]
    | Annotated[CrawlerVehicle, Tag("crawler")]
    | Annotated[SimMavlinkVehicle, Tag("sim-drone")]
    | Annotated[SimMavlinkVehicle, Tag("sim-rover")]
    | Annotated[MavlinkVehicle, Tag("mavlink")],
    Discriminator(_kind_of, custom_error_type="vehicle_uri", custom_error_message=f"expected {VEHICLE_FORMS}"),
]


def retarget(section: dict[str, Any], uri: str) -> dict[str, Any]:
    """The `[vehicle]` values with a new URI: keys holding the old kind's defaults (never set) are dropped, so
    `--vehicle crawler:...` works on a default sim-crawler config and `--vehicle mavlink:...` gets MAVLink's
    timings, not the crawler's that both kinds name alike (baud, ack_timeout_s, ...). A set key stays."""
    old, new = VARIANTS.get(_kind_of(section) or ""), VARIANTS.get(vehicle_kind(uri) or "")
    out = {**section, "uri": uri}
    if old is None or new is None or old is new:
        return out
    for key in list(out):
        field = old.model_fields.get(key)
        if key != "uri" and field is not None and out[key] == field.default:
            del out[key]
    return out
