"""Pinhole camera for the renderer: pose, projection, and the ellipse a 3D circle projects to.

World frame: X along the line, Y to its left, Z up (metres). Camera frame: x right, y down, z forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: points nearer than this (metres, along the view axis) are not drawn
NEAR = 0.35


def look_rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """World-to-camera rotation (rows: right, down, forward). Angles in radians.

    yaw turns the view from +X towards +Y; pitch > 0 looks up; roll turns the image clockwise.
    """
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    fwd = np.array([cp * cy, cp * sy, sp])
    right = np.array([sy, -cy, 0.0])
    down = np.cross(fwd, right)
    cr, sr = np.cos(roll), np.sin(roll)
    r2, d2 = cr * right + sr * down, -sr * right + cr * down
    return np.stack([r2, d2, fwd])


@dataclass(frozen=True)
class Camera:
    """A posed pinhole camera; `f` in pixels, principal point at the image centre."""

    pos: np.ndarray
    rot: np.ndarray
    f: float
    width: int
    height: int

    @property
    def cx(self) -> float:
        return self.width / 2.0

    @property
    def cy(self) -> float:
        return self.height / 2.0

    @property
    def forward(self) -> np.ndarray:
        return self.rot[2]

    def to_cam(self, pts: np.ndarray) -> np.ndarray:
        """World points (..., 3) to camera coordinates (..., 3)."""
        return (pts - self.pos) @ self.rot.T

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) to pixels (..., 2) and depths (...,). Depth <= NEAR means invalid."""
        pc = self.to_cam(pts)
        z = pc[..., 2]
        zs = np.where(z > 1e-6, z, 1e-6)
        uv = np.stack([self.f * pc[..., 0] / zs + self.cx, self.f * pc[..., 1] / zs + self.cy], axis=-1)
        return uv, z

    def circle_ellipses(
        self, centres: np.ndarray, axes: np.ndarray, radii: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project 3D circles (centre, unit normal `axes`, radius) to ellipses, locally affine.

        Returns centres (N, 2) px, the 2x2 maps M (N, 2, 2) so that the ellipse is c + M @ (cos t, sin t),
        and depths (N,).
        """
        pc = self.to_cam(centres)
        z = np.maximum(pc[:, 2], 1e-6)
        uv = np.stack([self.f * pc[:, 0] / z + self.cx, self.f * pc[:, 1] / z + self.cy], axis=-1)
        ac = axes @ self.rot.T
        # two unit vectors u, v perpendicular to each axis (camera frame); cross products by hand (fast)
        use_x = np.abs(ac[:, 0]) < 0.9
        hx, hy = use_x.astype(float), 1.0 - use_x
        ax_, ay_, az_ = ac[:, 0], ac[:, 1], ac[:, 2]
        u = np.stack([-az_ * hy, az_ * hx, ax_ * hy - ay_ * hx], axis=1)
        u /= np.sqrt((u**2).sum(1))[:, None]
        v = np.stack(
            [ay_ * u[:, 2] - az_ * u[:, 1], az_ * u[:, 0] - ax_ * u[:, 2], ax_ * u[:, 1] - ay_ * u[:, 0]], axis=1
        )
        # Jacobian of the projection at each centre: f/z * [[1, 0, -x/z], [0, 1, -y/z]]
        s = self.f / z * radii
        xz, yz = pc[:, 0] / z, pc[:, 1] / z
        m = np.empty((len(z), 2, 2))
        m[:, 0, 0] = (u[:, 0] - xz * u[:, 2]) * s
        m[:, 0, 1] = (v[:, 0] - xz * v[:, 2]) * s
        m[:, 1, 0] = (u[:, 1] - yz * u[:, 2]) * s
        m[:, 1, 1] = (v[:, 1] - yz * v[:, 2]) * s
        return uv, m, pc[:, 2]


def spheres_in_view(cam: Camera, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Which bounding spheres (N, 3), (N,) may touch the view frustum (conservative)."""
    pc = cam.to_cam(centres)
    tx, ty = cam.width / 2 / cam.f, cam.height / 2 / cam.f
    ok = pc[:, 2] > NEAR - radii
    ok &= np.abs(pc[:, 0]) < pc[:, 2] * tx + radii * np.sqrt(1 + tx * tx)
    ok &= np.abs(pc[:, 1]) < pc[:, 2] * ty + radii * np.sqrt(1 + ty * ty)
    return ok


def ellipse_half_extents(m: np.ndarray) -> np.ndarray:
    """Half width and half height (N, 2) of ellipses c + M @ (cos t, sin t)."""
    return np.sqrt((m**2).sum(axis=2))
