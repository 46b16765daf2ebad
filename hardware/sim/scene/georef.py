"""Where a synthetic scene stands on the earth: its metres as WGS84 positions, its cameras as `CameraPose`s.

The scene's frame is X along the line, Y to its left, Z up from the flat ground (metres). It is laid on
the earth at (`lat`, `lon`) with the ground `ground_alt_m` above sea level and the line running towards
`bearing_deg` (clockwise from true north), through `control.geodesy.LocalFrame` (exact WGS84). Home, the
take-off point, is on the ground, so a camera's altitude above home is its Z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from gridscout.control.geodesy import LocalFrame
from gridscout.hardware.frame import CameraPose

#: where scenes stand unless their URI says otherwise (farmland south-east of Oslo; any place works)
DEFAULT_LAT = 59.62
DEFAULT_LON = 10.95
DEFAULT_GROUND_ALT_M = 110.0
DEFAULT_BEARING_DEG = 62.0


@dataclass(frozen=True)
class GeoRef:
    lat_deg: float = DEFAULT_LAT
    lon_deg: float = DEFAULT_LON
    ground_alt_m: float = DEFAULT_GROUND_ALT_M
    bearing_deg: float = DEFAULT_BEARING_DEG

    @cached_property
    def frame(self) -> LocalFrame:
        return LocalFrame(self.lat_deg, self.lon_deg, self.ground_alt_m)

    def to_enu(self, x: float, y: float, z: float = 0.0) -> tuple[float, float, float]:
        """Scene metres to (east, north, up) metres of `frame`."""
        b = math.radians(self.bearing_deg)
        return x * math.sin(b) - y * math.cos(b), x * math.cos(b) + y * math.sin(b), z

    def from_enu(self, east: float, north: float, up: float = 0.0) -> tuple[float, float, float]:
        """(east, north, up) metres of `frame` to scene metres."""
        b = math.radians(self.bearing_deg)
        return east * math.sin(b) + north * math.cos(b), -east * math.cos(b) + north * math.sin(b), up

    def to_global(self, x: float, y: float, z: float = 0.0) -> tuple[float, float, float]:
        """(lat, lon, altitude above sea level) of a scene point."""
        return self.frame.to_global(*self.to_enu(x, y, z))

    def from_global(self, lat_deg: float, lon_deg: float, alt_m: float | None = None) -> tuple[float, float, float]:
        """Scene metres of a WGS84 point (Z 0 when no altitude is given)."""
        east, north, up = self.frame.to_local(lat_deg, lon_deg, alt_m if alt_m is not None else self.ground_alt_m)
        return self.from_enu(east, north, up)

    def camera_pose(
        self, pos: tuple[float, float, float], yaw: float, pitch: float, roll: float, f_px: float
    ) -> CameraPose:
        """The `CameraPose` of a scene camera at `pos` with the renderer's angles (radians: yaw from +X towards +Y,
        pitch up, roll turning the image clockwise) and a focal length of `f_px` pixels."""
        lat, lon, alt = self.to_global(*pos)
        return CameraPose(
            lat_deg=lat,
            lon_deg=lon,
            alt_m=alt,
            alt_rel_m=float(pos[2]),
            yaw_deg=(self.bearing_deg - math.degrees(yaw)) % 360.0,
            pitch_deg=math.degrees(pitch),
            roll_deg=math.degrees(roll),
            source="synthetic",
            focal_length_px=f_px,
        )
