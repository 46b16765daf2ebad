"""From a camera pose and a box to a point on the map, with an error in metres.

The plane: flat ground at home altitude, or the line's height above home when the mission gives it
(`Mission.line_height_m`: the conductor and its insulators hang there, not on the ground). The camera's
height above it is its altitude above home minus the plane's height; a photo with only an altitude above
sea level uses `[geotag] ground_alt_m` for the ground's.

Error budget (1 sigma, independent; see `projection` for the propagation): the position fix per
horizontal axis (`gps_horizontal_error_m`, or the RTK fix's own), the camera's height
(`gps_vertical_error_m`, or the RTK fix's own, combined with `target_height_error_m`: how far the defect
may sit off the plane), the heading (`yaw_error_deg`), the tilt about each horizontal axis
(`attitude_error_deg`), and the box centre (`box_centre_error` of the box's size, at least a pixel). A fix
whose error would exceed `max_error_m` is no fix.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gridscout.control.geodesy import LocalFrame
from gridscout.edge.geotag.intrinsics import intrinsics_for
from gridscout.edge.geotag.projection import Ray, locate
from gridscout.edge.geotag.settings import GeotagSettings
from gridscout.hardware.frame import CameraPose

if TYPE_CHECKING:
    from gridscout.control.mission import Mission


@dataclass(frozen=True, slots=True)
class GeoFix:
    """Where a defect is: WGS84 degrees, altitude above sea level (None: not known), 2DRMS error in metres."""

    lat: float
    lon: float
    alt_m: float | None
    error_m: float

    def as_json(self) -> dict[str, Any]:
        """The `geo` object of `gridscout detect --jsonl` (about a centimetre of precision)."""
        return {
            "lat": round(self.lat, 7),
            "lon": round(self.lon, 7),
            "alt_m": round(self.alt_m, 2) if self.alt_m is not None else None,
            "error_m": round(self.error_m, 2),
        }


class Geotagger:
    """Locates boxes for one camera setup. `misses` counts, by reason, the boxes it could not locate."""

    def __init__(self, settings: GeotagSettings, *, line_height_m: float | None = None) -> None:
        self.settings = settings
        self.plane_height_m = line_height_m if line_height_m is not None else 0.0
        self.misses: Counter[str] = Counter()

    def locate(
        self, pose: CameraPose | None, box: tuple[float, float, float, float], width: int, height: int
    ) -> GeoFix | None:
        """The ground position of the box's centre seen in a `width` x `height` frame from `pose`, or None."""
        why = self._why_not(pose)
        if why is not None:
            self.misses[why] += 1
            return None
        assert pose is not None and pose.yaw_deg is not None and pose.pitch_deg is not None
        intr = intrinsics_for(pose, width, height, self.settings)
        if intr is None:
            self.misses["no camera intrinsics"] += 1
            return None
        height_above, plane_alt = self._height(pose)
        if height_above is None:
            self.misses["no altitude above home"] += 1
            return None
        if height_above <= 0:
            self.misses["camera not above the plane"] += 1
            return None
        s = self.settings
        x1, y1, x2, y2 = box
        ray = Ray(
            0.0, 0.0, height_above, pose.yaw_deg, pose.pitch_deg, pose.roll_deg or 0.0,
            (x1 + x2) / 2, (y1 + y2) / 2, intr.f_px, intr.cx, intr.cy,
        )  # fmt: skip
        h_sigma = pose.position_std_m if pose.position_std_m is not None else s.gps_horizontal_error_m
        v_sigma = pose.alt_std_m if pose.alt_std_m is not None else s.gps_vertical_error_m
        sigmas = np.array(
            [
                h_sigma,
                h_sigma,
                math.hypot(v_sigma, s.target_height_error_m),
                s.yaw_error_deg,
                s.attitude_error_deg,
                s.attitude_error_deg,
                max(1.0, s.box_centre_error * (x2 - x1)),
                max(1.0, s.box_centre_error * (y2 - y1)),
            ]
        )
        found = locate(ray, sigmas, s.min_depression_deg)
        if found is None:
            self.misses["ray near or above the horizon"] += 1
            return None
        (north, east), error = found
        if error > s.max_error_m:
            self.misses[f"error over {s.max_error_m:g} m"] += 1
            return None
        lat, lon, _ = LocalFrame(pose.lat_deg, pose.lon_deg).to_global(float(east), float(north))
        return GeoFix(lat, lon, plane_alt, error)

    def _why_not(self, pose: CameraPose | None) -> str | None:
        if pose is None:
            return "no camera pose"
        if pose.yaw_deg is None or pose.pitch_deg is None:
            return "no camera angles"
        return None

    def _height(self, pose: CameraPose) -> tuple[float | None, float | None]:
        """The camera's height above the plane, and the plane's altitude above sea level (None: unknown)."""
        if pose.alt_rel_m is not None:
            home_alt = pose.alt_m - pose.alt_rel_m if pose.alt_m is not None else None
            plane_alt = home_alt + self.plane_height_m if home_alt is not None else None
            return pose.alt_rel_m - self.plane_height_m, plane_alt
        if pose.alt_m is not None and self.settings.ground_alt_m is not None:
            plane_alt = self.settings.ground_alt_m + self.plane_height_m
            return pose.alt_m - plane_alt, plane_alt
        return None, None


def line_fix(mission: Mission, position_m: float, settings: GeotagSettings) -> GeoFix:
    """A crawler's report placed on the mission's path at its position along it (no altitude above sea level:
    the mission's frame is relative to home). Its error is `vehicle_position_error_m`: how far ahead of the
    crawler its camera sees defects, and the slack in its odometry."""
    east, north = mission.path.point_at(position_m)
    lat, lon, _ = mission.frame.to_global(east, north, mission.line_height_m or 0.0)
    return GeoFix(lat, lon, None, settings.vehicle_position_error_m)
