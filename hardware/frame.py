"""The one frame type every camera source yields, the camera pose a frame may carry, and the vehicle pose a
source that follows the vehicle (`synthetic://...?follow=vehicle`) renders from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: where a pose came from: a photo's EXIF/XMP, the vehicle's telemetry, or the renderer's own camera
PoseSource = Literal["exif", "telemetry", "synthetic"]


@dataclass(frozen=True, slots=True)
class CameraPose:
    """Where the camera was and where it looked when a frame was taken (None: not known).

    Position: WGS84 latitude and longitude, `alt_m` above mean sea level, `alt_rel_m` above the home
    (take-off) point. Angles are the camera's own in the world, in degrees, as DJI writes its gimbal's:
    `yaw_deg` clockwise from true north, `pitch_deg` up from the horizon (-90: straight down), `roll_deg`
    about the view axis, positive with the image's right side down (aerospace yaw-pitch-roll order).
    Intrinsics, when the source knows them: a calibrated `focal_length_px` (in this image's pixels), the
    lens's `focal_length_mm` with the `sensor_width_mm` it forms the image on, or the `focal_length_35mm`
    equivalent; `camera_make` and `camera_model` name the camera for a look-up of its sensor.
    `position_std_m` (per horizontal axis) and `alt_std_m` are the position fix's 1-sigma errors when the
    source states them (an RTK fix), else None.
    """

    lat_deg: float
    lon_deg: float
    alt_m: float | None
    alt_rel_m: float | None
    yaw_deg: float | None
    pitch_deg: float | None
    roll_deg: float | None
    source: PoseSource
    focal_length_mm: float | None = None
    focal_length_35mm: float | None = None
    focal_length_px: float | None = None
    sensor_width_mm: float | None = None
    position_std_m: float | None = None
    alt_std_m: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None


@dataclass(frozen=True, slots=True)
class VehiclePose:
    """Where the vehicle carrying the camera is: WGS84 position, `alt_m` above mean sea level and `alt_rel_m`
    above home (either may be None), and `yaw_deg`, its nose's direction clockwise from true north (None: not
    known). What the camera process hands a source that renders from the vehicle's telemetry."""

    lat_deg: float
    lon_deg: float
    alt_m: float | None = None
    alt_rel_m: float | None = None
    yaw_deg: float | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image and where and when it came from.

    `image` is HxWx3 BGR uint8. `frame_id` counts delivered frames from 0 per source.
    `t_capture_mono_ns` is `time.monotonic_ns()` at capture (for latency);
    `t_capture_wall_ns` is `time.time_ns()` (for reports). `name` names the frame for people:
    the file name in a folder source, else `<source>#<index>`. `pose` is the camera's pose when the
    source knows it (a geotagged photo, a rendered flight), else None.
    """

    image: np.ndarray
    frame_id: int
    t_capture_mono_ns: int
    t_capture_wall_ns: int
    source_name: str
    name: str
    pose: CameraPose | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
