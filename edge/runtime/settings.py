"""The resolved config as a chain process reads it, without pydantic.

`gridscout run` validates the config once (pydantic, `gridscout.edge.config`) and hands every process
its plain values in the run spec. A process reads them through `ConfigView` (attribute access,
read-only) and builds its settings with the functions here, which `gridscout.edge.config` uses too:
one builder per dataclass. Light processes (control, vehicle, the simulator) so never load pydantic,
about 17 MB of RSS each.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from gridscout.control.behaviour import BehaviourParams
from gridscout.control.camera_view import line_in_view_m
from gridscout.control.mission import Mission, load_mission
from gridscout.control.safety import HaltAction, SafetyLimits
from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.runtime.vehicle_kinds import KIND_KEYS, kind_defaults
from gridscout.hardware.crawler.driver import CrawlerSettings
from gridscout.hardware.mavlink.settings import MavlinkSettings
from gridscout.hardware.sim.crawler.core import SimConfig
from gridscout.hardware.sim.mavlink.config import MavSimConfig
from gridscout.hardware.vehicle.uri import SIM_VEHICLES, parse_vehicle_uri

T = TypeVar("T")

#: sim-crawler's config keys -> SimConfig fields (the config prefixes them, the simulator does not)
SIM_KEYS = {"sim_line_length_m": "line_length_m", "sim_max_speed_mps": "max_speed_mps",
            "sim_heartbeat_timeout_s": "heartbeat_timeout_s"}  # fmt: skip
#: sim-drone's and sim-rover's config keys -> MavSimConfig fields (home and start come from the mission unless set)
MAV_SIM_KEYS = {"sim_home_alt_m": "home_alt_m", "sim_max_speed_mps": "max_speed_mps",
                "sim_gcs_timeout_s": "gcs_timeout_s", "sim_setpoint_timeout_s": "setpoint_timeout_s",
                "sim_gps_noise_m": "gps_noise_m", "sim_seed": "seed"}  # fmt: skip


class ConfigView(Mapping):
    """Read-only attribute access to nested config values: `view.control.behaviour.hold_s`."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._values[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None
        return ConfigView(value) if isinstance(value, Mapping) else value

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def build(cls: type[T], values: Mapping[str, Any], renames: Mapping[str, str] | None = None) -> T:
    """A settings dataclass from the config values of the same names (or renamed); every field must be there."""
    renames = renames or {}
    by_field = {renames.get(key, key): value for key, value in values.items()}
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    missing = [f.name for f in fields if f.name not in by_field and f.default is dataclasses.MISSING]
    if missing:
        raise TypeError(f"config has no value for {cls.__name__}.{', '.join(missing)}")
    return cls(**{f.name: by_field[f.name] for f in fields if f.name in by_field})  # type: ignore[arg-type]


def mission(section: Mapping[str, Any]) -> Mission | None:
    """From `[mission]`: the mission file loaded (the config checked it loads), or None when none is set."""
    return load_mission(section["file"]) if section.get("file") else None


def flown_mission(vehicle_uri: str | None, section: Mapping[str, Any]) -> Mission | None:
    """The mission control flies: `[mission]`'s, for a vehicle kind that flies one (a crawler only places its
    reports on the line), else None. The live control process and a replay ask here alike."""
    return mission(section) if kind_defaults(vehicle_uri).flies_mission else None


def behaviour_params(section: Mapping[str, Any], mission: Mission | None = None) -> BehaviourParams:
    """From `[control.behaviour]`; a mission sets the cruise speed, and the line's end (its flight path's length)
    unless line_end_m is set."""
    values = dict(section)
    if mission is not None:
        values["cruise_speed_mps"] = mission.cruise_speed_mps
        if values.get("line_end_m") is None:
            values["line_end_m"] = mission.path.length_m
    return build(BehaviourParams, values)


def line_in_view(mission: Mission | None, camera: Mapping[str, Any] | None) -> float | None:
    """How much of a mission's line one frame sees, from `[geotag]`'s field of view and mount
    (`control/camera_view.py`), which caps the patrol's speed; None: no mission, or the lens is unknown."""
    hfov = camera_hfov_deg(camera) if camera is not None else None
    if mission is None or hfov is None:
        return None
    return line_in_view_m(mission.standoff_m, camera["mount_yaw_deg"], hfov)


def camera_hfov_deg(camera: Mapping[str, Any]) -> float | None:
    """`[geotag]`'s horizontal field of view: `hfov_deg`, or from the focal length and sensor width; None: unknown."""
    if camera.get("hfov_deg") is not None:
        return camera["hfov_deg"]
    if camera.get("focal_length_mm") and camera.get("sensor_width_mm"):
        return math.degrees(2.0 * math.atan(camera["sensor_width_mm"] / (2.0 * camera["focal_length_mm"])))
    return None


def hold_action(setting: str, vehicle_uri: str | None) -> HaltAction:
    """`[control.safety] hold_action`; "auto": the vehicle kind's (`vehicle_kinds.KIND_DEFAULTS`)."""
    return kind_defaults(vehicle_uri).hold_action if setting == "auto" else HaltAction(setting)


def safety_limits(section: Mapping[str, Any], vehicle_uri: str | None) -> SafetyLimits:
    """From `[control.safety]`, for the vehicle `vehicle_uri` names (None: not known, see `kind_defaults`):
    its kind fills in hold_action "auto" and the speed envelope's unset keys."""
    kind = kind_defaults(vehicle_uri)
    values = {**section, "hold_action": hold_action(section["hold_action"], vehicle_uri)}
    values |= {key: getattr(kind, key) for key in KIND_KEYS if values.get(key) is None}
    return build(SafetyLimits, values)


def crawler_settings(vehicle: Mapping[str, Any]) -> CrawlerSettings:
    """From `[vehicle]` of a crawler kind; what the config does not set keeps the driver's own default."""
    names = {f.name for f in dataclasses.fields(CrawlerSettings)}
    return build(CrawlerSettings, {k: v for k, v in vehicle.items() if k in names})


def sim_config(vehicle: Mapping[str, Any]) -> SimConfig:
    """From `[vehicle]` with `uri = "sim-crawler"`: the `sim_*` keys."""
    return build(SimConfig, {k: v for k, v in vehicle.items() if k in SIM_KEYS}, SIM_KEYS)


def mavlink_settings(vehicle: Mapping[str, Any], limits: SafetyLimits) -> MavlinkSettings:
    """From `[vehicle]` of a MAVLink kind; its setpoints never exceed the gate's `max_ground_speed_mps`."""
    names = {f.name for f in dataclasses.fields(MavlinkSettings)}
    values = {k: v for k, v in vehicle.items() if k in names}
    return build(MavlinkSettings, {**values, "max_speed_mps": limits.max_ground_speed_mps})


def mav_sim_config(vehicle: Mapping[str, Any], mission: Mission) -> MavSimConfig:
    """From `[vehicle]` with `uri = "sim-drone"` or `"sim-rover"`: the `sim_*` keys, and where it starts: armed
    at the start of `mission`'s flight path, facing along it, a drone hovering at the mission's altitude (home
    there too, unless `sim_home_lat_deg` / `_lon_deg` put it elsewhere)."""
    values = {MAV_SIM_KEYS[k]: v for k, v in vehicle.items() if k in MAV_SIM_KEYS}
    lat, lon, _ = mission.frame.to_global(*mission.path.point_at(0.0))
    if vehicle.get("sim_home_lat_deg") is not None:
        lat, lon = vehicle["sim_home_lat_deg"], vehicle["sim_home_lon_deg"]
    de, dn = mission.path.tangent_at(0.0)
    kind = SIM_VEHICLES[vehicle["uri"]]
    return MavSimConfig(
        vehicle=kind,
        home_lat_deg=lat,
        home_lon_deg=lon,
        start_alt_m=mission.altitude_m if kind == "drone" else 0.0,
        start_heading_deg=math.degrees(math.atan2(de, dn)) % 360.0,
        gcs_system_id=vehicle["system_id"],
        **values,
    )


def driver_settings(config: Mapping[str, Any]) -> CrawlerSettings | MavlinkSettings:
    """The settings of the driver `[vehicle] uri` names, from the whole config (a MAVLink vehicle's speed cap is
    the gate's)."""
    vehicle = config["vehicle"]
    if parse_vehicle_uri(vehicle["uri"]).driver == "crawler":
        return crawler_settings(vehicle)
    return mavlink_settings(vehicle, safety_limits(config["control"]["safety"], vehicle["uri"]))


def recorder_settings(section: Mapping[str, Any]) -> RecorderSettings:
    """From `[recorder]` (its `enabled` and `dir` are the recorder process's own business)."""
    return build(RecorderSettings, section)
