"""A frame's pinhole intrinsics: its focal length in pixels, from the photo's own metadata or the config.

In order, the first that is known:
1. a calibrated focal length in pixels (DJI's XMP `CalibratedFocalLength`; the renderer's own);
2. the lens's focal length in mm with the sensor's width (a source that states both);
3. the 35 mm equivalent focal length: f_px = f35 * image diagonal px / 43.27 mm (the diagonal of 36 x 24 mm,
   which is how cameras define the equivalent);
4. the focal length in mm with the sensor width of a known camera model (`cameras.CAMERAS`);
5. the config: `hfov_deg`, or `focal_length_mm` with `sensor_width_mm`.
The principal point is the image centre and pixels are square; lens distortion is not modelled (it moves a
box centre near a wide lens's corners by a few percent of the range, inside the error budget's pixel term).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gridscout.edge.geotag.cameras import sensor_for
from gridscout.edge.geotag.settings import GeotagSettings
from gridscout.hardware.frame import CameraPose

#: the diagonal of a 36 x 24 mm frame, which a "35 mm equivalent" focal length is relative to
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


@dataclass(frozen=True, slots=True)
class Intrinsics:
    """Focal length and principal point in pixels of a `width` x `height` image, and where they came from."""

    f_px: float
    cx: float
    cy: float
    width: int
    height: int
    source: str

    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.width / 2 / self.f_px))


def intrinsics_for(pose: CameraPose | None, width: int, height: int, settings: GeotagSettings) -> Intrinsics | None:
    """The intrinsics of a frame of this size (see the module docstring for the order), or None when unknown."""
    found = _focal_px(pose, width, height, settings)
    if found is None:
        return None
    f_px, source = found
    return Intrinsics(f_px, width / 2.0, height / 2.0, width, height, source)


def _focal_px(pose: CameraPose | None, width: int, height: int, settings: GeotagSettings) -> tuple[float, str] | None:
    if pose is not None:
        if pose.focal_length_px:
            return pose.focal_length_px, "calibrated"
        if pose.focal_length_mm and pose.sensor_width_mm:
            return pose.focal_length_mm / pose.sensor_width_mm * width, "focal length and sensor width"
        if pose.focal_length_35mm:
            return pose.focal_length_35mm * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM, "35 mm equivalent"
        if pose.focal_length_mm:
            spec = sensor_for(pose.camera_model, pose.focal_length_mm)
            if spec is not None:
                return pose.focal_length_mm / spec.sensor_width_mm * width, f"{spec.camera} sensor"
    if settings.hfov_deg:
        return width / 2 / math.tan(math.radians(settings.hfov_deg) / 2), "config hfov"
    if settings.focal_length_mm and settings.sensor_width_mm:
        return settings.focal_length_mm / settings.sensor_width_mm * width, "config focal length"
    return None
