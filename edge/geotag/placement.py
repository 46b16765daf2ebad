"""Where a defect report goes on the map, from whatever the chain knows when it is written.

In order:
1. the frame's own camera pose (a geotagged photo, a rendered flight) through the `Geotagger`;
2. the camera's pose from fresh telemetry and the configured mount (a drone or rover), through it too;
3. a vehicle with a position but no heading or attitude (a crawler) is where the defect is, give or take
   how far ahead its camera sees: on the mission's line at its position along it, else at its GNSS fix.
A vehicle that has an attitude but whose box cannot be located (a ray near the horizon, no intrinsics) gets
no position rather than its own: a drone stands well off the defect it sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.geotag.geotagger import GeoFix, Geotagger, line_fix
from gridscout.edge.geotag.settings import GeotagSettings
from gridscout.edge.geotag.telemetry_pose import pose_from_telemetry
from gridscout.hardware.frame import CameraPose

if TYPE_CHECKING:
    from gridscout.control.mission import Mission


class ReportPlacer:
    """Places reports for one run: its `[geotag]` settings and, when there is one, its mission. `misses`
    counts, by reason, the boxes it could not place."""

    def __init__(self, settings: GeotagSettings, mission: Mission | None = None) -> None:
        self.settings = settings
        self.mission = mission
        self.geotagger = Geotagger(settings, line_height_m=mission.line_height_m if mission is not None else None)
        self.misses = self.geotagger.misses

    def place(
        self,
        box: tuple[float, float, float, float],
        width: int,
        height: int,
        *,
        frame_pose: CameraPose | None = None,
        telemetry: VehicleTelemetry | None = None,
    ) -> GeoFix | None:
        """The defect's position (see the module docstring), or None. `telemetry` must be fresh, or None."""
        if frame_pose is not None:
            return self.geotagger.locate(frame_pose, box, width, height)
        if telemetry is None:
            self.misses["no camera pose"] += 1
            return None
        pose = pose_from_telemetry(telemetry, self.settings)
        if pose is not None:
            return self.geotagger.locate(pose, box, width, height)
        if telemetry.yaw_deg is not None or telemetry.heading_deg is not None:
            self.misses["no vehicle position"] += 1
            return None
        if self.mission is not None and telemetry.position_m is not None:
            return line_fix(self.mission, telemetry.position_m, self.settings)
        if telemetry.lat_deg is not None and telemetry.lon_deg is not None:
            return GeoFix(telemetry.lat_deg, telemetry.lon_deg, telemetry.alt_m, self.settings.vehicle_position_error_m)
        self.misses["no vehicle position"] += 1
        return None
