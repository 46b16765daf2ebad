"""Geotagging: where on the ground a detection is, from the camera's pose and intrinsics.

`Geotagger.locate(pose, box, width, height)` casts the box centre's ray from the camera (pose from a
photo's EXIF/XMP, the vehicle's telemetry, or a rendered flight) onto flat ground at home altitude, or onto
the line's height when the mission gives it, and says how far off it may be (`GeoFix.error_m`). A crawler,
which has no attitude, is placed on the mission's line by its position along it (`line_fix`).
"""

from gridscout.edge.geotag.geotagger import GeoFix, Geotagger, line_fix
from gridscout.edge.geotag.settings import GeotagSettings, geotag_settings
from gridscout.edge.geotag.telemetry_pose import pose_from_telemetry

__all__ = ["GeoFix", "GeotagSettings", "Geotagger", "geotag_settings", "line_fix", "pose_from_telemetry"]
