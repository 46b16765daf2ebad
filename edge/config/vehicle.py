"""The `[vehicle]` section: a union of one model per vehicle kind, told apart by the URI's scheme.

`uri = "sim-crawler"` takes the simulator's keys as well as the crawler driver's; `uri = "crawler:..."`
takes the driver's alone, so a simulator key in a real crawler's config is an error naming it. The
driver's and the simulator's defaults live with them (`CrawlerSettings`, `SimConfig`); these fields
read them from there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator

from gridscout.edge.config.sections import Section
from gridscout.edge.runtime import settings
from gridscout.hardware.crawler.driver import CrawlerSettings
from gridscout.hardware.sim.crawler.core import SimConfig
from gridscout.hardware.vehicle.uri import VEHICLE_FORMS, parse_vehicle_uri, vehicle_kind

_DRIVER = CrawlerSettings()
_SIM = SimConfig()


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


#: vehicle kind (from the URI) -> its section model; the first is the default
VARIANTS: dict[str, type[CrawlerVehicle]] = {"sim-crawler": SimCrawlerVehicle, "crawler": CrawlerVehicle}
DEFAULT_KIND = "sim-crawler"


def _kind_of(value: Any) -> str | None:
    uri = value.get("uri", DEFAULT_KIND) if isinstance(value, dict) else getattr(value, "uri", None)
    return vehicle_kind(uri) if isinstance(uri, str) else None


VehicleConfig = Annotated[
    Annotated[SimCrawlerVehicle, Tag("sim-crawler")] | Annotated[CrawlerVehicle, Tag("crawler")],
    Discriminator(_kind_of, custom_error_type="vehicle_uri", custom_error_message=f"expected {VEHICLE_FORMS}"),
]


def retarget(section: dict[str, Any], uri: str) -> dict[str, Any]:
    """The `[vehicle]` values with a new URI: keys only the old kind has are dropped when they hold its
    defaults (they were never set), so `--vehicle crawler:...` works on a default sim-crawler config."""
    old, new = VARIANTS.get(_kind_of(section) or ""), VARIANTS.get(vehicle_kind(uri) or "")
    out = {**section, "uri": uri}
    if old is None or new is None:
        return out
    for key in list(out):
        field = old.model_fields.get(key)
        if key not in new.model_fields and field is not None and out[key] == field.default:
            del out[key]
    return out
