"""The camera's pose from the vehicle's telemetry and the camera's mounting (`[geotag] mount*`).

- `gimbal` (most inspection drones): the gimbal holds the camera's pitch and roll in the world at
  `mount_pitch_deg` and `mount_roll_deg`; its yaw is the vehicle's yaw plus `mount_yaw_deg`.
- `fixed`: the camera is rigid on the body at the mount angles, so it tilts with the vehicle:
  R_camera = R_body · R_mount (both yaw-pitch-roll; unknown pitch and roll count as level).
The vehicle's yaw is its attitude's; without one, its heading over ground (a rover's). No position, or no
yaw at all: no pose.
"""

from __future__ import annotations

from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.geotag.projection import euler_deg, rotation
from gridscout.edge.geotag.settings import GeotagSettings
from gridscout.hardware.frame import CameraPose


def pose_from_telemetry(t: VehicleTelemetry, settings: GeotagSettings) -> CameraPose | None:
    """The camera's pose when the vehicle reported `t`, or None when it lacks a position or a heading."""
    yaw = t.yaw_deg if t.yaw_deg is not None else t.heading_deg
    if t.lat_deg is None or t.lon_deg is None or yaw is None:
        return None
    s = settings
    if s.mount == "gimbal":
        cam_yaw, cam_pitch, cam_roll = (yaw + s.mount_yaw_deg) % 360.0, s.mount_pitch_deg, s.mount_roll_deg
    else:
        body = rotation(yaw, t.pitch_deg or 0.0, t.roll_deg or 0.0)
        cam_yaw, cam_pitch, cam_roll = euler_deg(body @ rotation(s.mount_yaw_deg, s.mount_pitch_deg, s.mount_roll_deg))
    return CameraPose(
        lat_deg=t.lat_deg,
        lon_deg=t.lon_deg,
        alt_m=t.alt_m,
        alt_rel_m=t.alt_rel_m,
        yaw_deg=cam_yaw,
        pitch_deg=cam_pitch,
        roll_deg=cam_roll,
        source="telemetry",
    )
