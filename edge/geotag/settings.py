"""Geotagging's settings as a plain dataclass, built from the config's `[geotag]` section (its defaults live there)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridscout.edge.runtime.settings import build


@dataclass(frozen=True, slots=True)
class GeotagSettings:
    """What `[geotag]` says: the camera's intrinsics and mounting, the error budget, the limits. Angles in degrees."""

    hfov_deg: float | None
    focal_length_mm: float | None
    sensor_width_mm: float | None
    mount: str  # "gimbal": pitch and roll held in the world, yaw follows the vehicle; "fixed": rigid on the body
    mount_yaw_deg: float
    mount_pitch_deg: float
    mount_roll_deg: float
    ground_alt_m: float | None
    gps_horizontal_error_m: float
    gps_vertical_error_m: float
    attitude_error_deg: float
    yaw_error_deg: float
    box_centre_error: float
    target_height_error_m: float
    min_depression_deg: float
    max_error_m: float
    vehicle_position_error_m: float


def geotag_settings(section: Mapping[str, Any]) -> GeotagSettings:
    """From `[geotag]`."""
    return build(GeotagSettings, section)
