"""Ray casting from a posed pinhole camera onto a horizontal plane, and the error of the point it finds.

Frames: the world is local north-east-down (NED) at the camera; the camera's axes are forward, right and
down (image x right, image y down). An attitude (yaw clockwise from north, pitch up, roll right side down,
degrees) rotates camera axes into the world as R = Rz(yaw) Ry(pitch) Rx(roll), the aerospace order DJI's
gimbal angles and MAVLink's ATTITUDE use.

The error is first-order propagation: the Jacobian J of the ground point (north, east) with respect to
p = (north, east, camera height above the plane, heading error, tilt errors about north and east, pixel u,
pixel v), taken by central differences, maps the inputs' 1-sigma errors (independent, diagonal Σ) to the
point's covariance C = J Σ Jᵀ; `error_m` = 2 √(trace C), the "2DRMS" radius that holds the point with about
95 % probability. Attitude errors are small rotations of the camera about the world's down, north and east
axes (a heading error and two tilts), not errors of its Euler angles, which lose an axis looking straight
down (there yaw and roll turn about the same one).
A ray that meets the plane at a grazing angle has a huge, badly linearised error: rays less than
`min_depression_deg` below the horizon give no point at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: central-difference steps: metres, degrees, pixels
_STEPS = np.array([0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.5, 0.5])


def rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Camera (forward, right, down) to world NED: Rz(yaw) Ry(pitch) Rx(roll)."""
    y, p, r = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    cy, sy, cp, sp, cr, sr = math.cos(y), math.sin(y), math.cos(p), math.sin(p), math.cos(r), math.sin(r)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    return rz @ ry @ rx


def euler_deg(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a rotation made by `rotation` (yaw in [0, 360)).

    Looking straight up or down (gimbal lock) yaw and roll turn about the same axis: roll is taken as 0."""
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, -rot[2, 0]))))
    if math.hypot(rot[0, 0], rot[1, 0]) < 1e-9:
        yaw = math.degrees(math.atan2(-rot[0, 1], rot[1, 1]))
        return yaw % 360.0, pitch, 0.0
    yaw = math.degrees(math.atan2(rot[1, 0], rot[0, 0]))
    roll = math.degrees(math.atan2(rot[2, 1], rot[2, 2]))
    return yaw % 360.0, pitch, roll


@dataclass(frozen=True, slots=True)
class Ray:
    """A pixel's ray from a posed pinhole camera `height_m` above the plane, at (north, east) in a local frame."""

    north_m: float
    east_m: float
    height_m: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    u_px: float
    v_px: float
    f_px: float
    cx: float
    cy: float

    def vector(self) -> np.ndarray:
        """p of the module docstring at the nominal point (no attitude error)."""
        return np.array([self.north_m, self.east_m, self.height_m, 0.0, 0.0, 0.0, self.u_px, self.v_px])


def plane_hit(p: np.ndarray, ray: Ray, min_depression_deg: float) -> np.ndarray | None:
    """(north, east) where the ray of p (the module docstring's vector) meets the plane, or None.

    None when the ray points less than `min_depression_deg` below the horizon (or the camera is not above
    the plane)."""
    north, east, height, d_heading, d_tilt_n, d_tilt_e, u, v = p
    if height <= 0:
        return None
    # a small rotation about the world's down, north and east axes (z, x and y of NED), then the attitude
    camera = rotation(d_heading, d_tilt_e, d_tilt_n) @ rotation(ray.yaw_deg, ray.pitch_deg, ray.roll_deg)
    d = camera @ np.array([1.0, (u - ray.cx) / ray.f_px, (v - ray.cy) / ray.f_px])
    if d[2] < math.sin(math.radians(min_depression_deg)) * float(np.linalg.norm(d)):
        return None
    t = height / d[2]
    return np.array([north + t * d[0], east + t * d[1]])


def locate(ray: Ray, sigmas: np.ndarray, min_depression_deg: float) -> tuple[np.ndarray, float] | None:
    """The ground point (north, east) and its 2DRMS error in metres, or None for a grazing ray.

    `sigmas` are the 1-sigma errors of the eight inputs of p, in order (metres, degrees, pixels)."""
    p = ray.vector()
    hit = plane_hit(p, ray, min_depression_deg)
    if hit is None:
        return None
    jac = np.empty((2, len(p)))
    for i, step in enumerate(_STEPS):
        dp = np.zeros(len(p))
        dp[i] = step
        ahead, behind = plane_hit(p + dp, ray, min_depression_deg), plane_hit(p - dp, ray, min_depression_deg)
        if ahead is None or behind is None:
            return None  # within a step of grazing: no honest error to give
        jac[:, i] = (ahead - behind) / (2 * step)
    cov = jac @ np.diag(np.asarray(sigmas, float) ** 2) @ jac.T
    return hit, 2.0 * math.sqrt(max(float(np.trace(cov)), 0.0))
