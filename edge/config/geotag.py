"""`[geotag]`: the camera's intrinsics and mounting, and the error budget that sizes each geotag's error_m.

The camera keys a user leaves unset come from the mission file's `camera` property when it has one
(`gridscout.edge.config.with_mission_camera`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gridscout.control.mission import MissionError, load_mission
from gridscout.edge.config.sections import Section
from gridscout.edge.geotag.settings import GeotagSettings, geotag_settings


class GeotagConfig(Section):
    hfov_deg: float | None = Field(
        None,
        gt=0,
        lt=180,
        description="the camera's horizontal field of view; unset: the mission file's camera, focal_length_mm and "
        "sensor_width_mm, or what a photo's own EXIF/XMP says (a photo's metadata wins over these three)",
    )
    focal_length_mm: float | None = Field(None, gt=0, description="the lens's focal length (with sensor_width_mm)")
    sensor_width_mm: float | None = Field(None, gt=0, description="the sensor's width (with focal_length_mm)")
    mount: Literal["gimbal", "fixed"] = Field(
        "gimbal",
        description="gimbal: the camera's pitch and roll are mount_pitch_deg and mount_roll_deg in the world and "
        "its yaw follows the vehicle's; fixed: the camera is rigid on the body and tilts with it; this, the "
        "mount_* angles and the lens keys left unset take a mission file's camera property",
    )
    mount_yaw_deg: float = Field(
        0.0, ge=-180, le=180, description="camera yaw relative to the vehicle's nose, clockwise (90: looks right)"
    )
    mount_pitch_deg: float = Field(
        -30.0, ge=-90, le=90, description="camera pitch (gimbal: in the world; fixed: on the body); -90 looks down"
    )
    mount_roll_deg: float = Field(0.0, ge=-180, le=180, description="camera roll, image's right side down positive")
    ground_alt_m: float | None = Field(
        None, description="the ground's altitude above sea level, for photos that carry no altitude above home"
    )
    gps_horizontal_error_m: float = Field(
        2.0, ge=0, description="1-sigma error of the position fix per horizontal axis (an RTK photo states its own)"
    )
    gps_vertical_error_m: float = Field(
        1.5, ge=0, description="1-sigma error of the camera's height above home (an RTK photo states its own)"
    )
    attitude_error_deg: float = Field(
        1.0, ge=0, le=30, description="1-sigma tilt error of the camera (its pitch and roll), about each level axis"
    )
    yaw_error_deg: float = Field(2.0, ge=0, le=45, description="1-sigma error of the camera's yaw (compass heading)")
    box_centre_error: float = Field(
        0.1, ge=0, le=1, description="1-sigma error of a box's centre, as a share of the box's width and height"
    )
    target_height_error_m: float = Field(
        2.0, ge=0, description="1-sigma of how far the defect is above or below the plane it is projected on"
    )
    min_depression_deg: float = Field(
        5.0, gt=0, lt=90, description="a box centre's ray must point at least this far below the horizon"
    )
    max_error_m: float = Field(
        50.0, gt=0, description="a geotag whose error_m would exceed this is left out rather than reported"
    )
    vehicle_position_error_m: float = Field(
        5.0,
        ge=0,
        description="error_m of a report placed at the vehicle itself, as a crawler's is (on the mission line by "
        "its position along it, or at its GNSS fix): how far ahead its camera sees defects, and its fix's slack",
    )

    line: str = Field(
        "",
        description="a mission file whose line only places reports, for a vehicle that knows its position along "
        "the line but has no GNSS (a crawler); the vehicle does not fly it ([mission] file does both). "
        "`gridscout run` sets the demo footage's line for the simulated crawler on the bundled footage",
    )

    @field_validator("line")
    @classmethod
    def _line_loads(cls, value: str) -> str:
        if value:
            try:
                load_mission(value)
            except (MissionError, OSError) as exc:
                raise ValueError(f"geotag.line {value}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _focal_with_sensor(self) -> GeotagConfig:
        if (self.focal_length_mm is None) != (self.sensor_width_mm is None):
            raise ValueError("geotag.focal_length_mm and geotag.sensor_width_mm are set together, or neither")
        return self

    def settings(self) -> GeotagSettings:
        return geotag_settings(self.model_dump())
