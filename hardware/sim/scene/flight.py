"""Camera paths: a drone flying beside the line, a crawler riding a conductor, and single still poses.

Every path is a smooth function of time (a straight move plus slow sinusoidal wander), so an object
seen over many frames moves smoothly and any frame can be rendered on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridscout.hardware.sim.scene.camera import Camera, look_rotation
from gridscout.hardware.sim.scene.layout import Layout


@dataclass(frozen=True)
class Pose:
    pos: np.ndarray
    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Wander:
    """Sum of slow sines: amplitude per channel (x, y, z, yaw, pitch, roll), periods and phases."""

    amp: np.ndarray  # (6, 2)
    period: np.ndarray  # (6, 2) seconds
    phase: np.ndarray  # (6, 2)

    @classmethod
    def random(cls, rng: np.random.Generator, amp: tuple[float, ...]) -> Wander:
        a = np.array(amp)[:, None] * rng.uniform(0.5, 1.0, (6, 2))
        return cls(a, rng.uniform(4.0, 17.0, (6, 2)), rng.uniform(0, 2 * np.pi, (6, 2)))

    def at(self, t: float) -> np.ndarray:
        return (self.amp * np.sin(2 * np.pi * t / self.period + self.phase)).sum(1)


@dataclass(frozen=True)
class DroneFlight:
    """Flies along +X beside the line, slowing down where it looks at a tower, looking obliquely ahead.

    `table` holds the along-line position at each step of 1/`rate` s, integrated once from a speed
    that dips near towers, so position is smooth in time and the same for any frame order.
    """

    start: np.ndarray
    table: np.ndarray
    rate: float
    yaw: float
    pitch: float
    wander: Wander
    #: the crossarm level it flies beside (its strings are what it inspects) and the side (+1: +Y)
    level: int = 0
    side: int = 1
    #: transit speed between towers, m/s
    speed: float = 0.0

    def pose(self, t: float) -> Pose:
        w = self.wander.at(t)
        x = float(np.interp(t * self.rate, np.arange(len(self.table)), self.table))
        pos = self.start + np.array([x, 0.0, 0.0]) + w[:3]
        return Pose(pos, self.yaw + w[3], self.pitch + w[4], w[5])


@dataclass(frozen=True)
class CrawlerFlight:
    """Rides a conductor (a polyline through its attachments) along +X, looking ahead."""

    path: np.ndarray  # (N, 3) in increasing X
    x0: float
    speed: float
    offset: np.ndarray  # camera offset from the wire, m
    yaw: float
    pitch: float
    wander: Wander

    def pose(self, t: float) -> Pose:
        x = self.x0 + self.speed * t
        px = self.path[:, 0]
        y = float(np.interp(x, px, self.path[:, 1]))
        z = float(np.interp(x, px, self.path[:, 2]))
        # slope over a metre of wire, smoothed so the view does not jerk at the clamps
        dz = float(np.interp(x + 1.5, px, self.path[:, 2]) - np.interp(x - 1.5, px, self.path[:, 2])) / 3.0
        w = self.wander.at(t)
        pos = np.array([x, y, z]) + self.offset + w[:3]
        return Pose(pos, self.yaw + w[3], self.pitch + 0.6 * np.arctan(dz) + w[4], w[5])


def drone_flight(
    rng: np.random.Generator, layout: Layout, x_start: float, speed: float, duration: float
) -> DroneFlight:
    """A pass along one side of the line, level with one of the crossarms.

    `speed` is the transit speed between towers; the drone slows to a quarter of it at each tower.
    """
    d = layout.design
    side = 1 if rng.random() < 0.5 else -1
    level = int(rng.integers(len(d.arm_z)))
    tip_y = max(abs(tip[2][1]) for tw in layout.towers for tip in tw.tips if tip[0] == level)
    off = rng.uniform(3.0, 6.0)
    dz = rng.uniform(1.0, 4.5)
    psi = rng.uniform(0.8, 1.3)  # angle between the flight direction and the view, rad
    yaw = -side * psi
    reach = off / np.sin(psi)
    pitch = -np.arctan2(dz + 1.0, reach) + rng.uniform(-0.04, 0.1)
    start = np.array([0.0, side * (tip_y + off), d.arm_z[level] + dz])
    # speed profile: slow where the view centre passes a tower, fast in between
    ahead = reach * np.cos(psi)
    towers_x = np.array([tw.x for tw in layout.towers])
    slow, fast = speed * rng.uniform(0.2, 0.3), speed
    rate = 20.0
    n = int(duration * rate) + 2
    table = np.empty(n)
    x = x_start
    for k in range(n):
        table[k] = x
        near = np.exp(-(((x + ahead - towers_x) / 10.0) ** 2)).max()
        x += (fast - (fast - slow) * near) / rate
    wander = Wander.random(rng, (0.25, 0.3, 0.2, 0.03, 0.02, 0.0))
    return DroneFlight(start, table, rate, float(yaw), float(pitch), wander, level, side, float(speed))


def crawler_flight(rng: np.random.Generator, layout: Layout, x_start: float, speed: float) -> CrawlerFlight:
    """A ride on one phase conductor; the camera sits a little above and outside the wire."""
    ph = layout.phases[int(rng.integers(len(layout.phases)))]
    path = ph.path[np.argsort(ph.path[:, 0], kind="stable")]
    offset = np.array([0.0, ph.side * rng.uniform(0.5, 0.9), rng.uniform(0.35, 0.6)])
    yaw = -ph.side * rng.uniform(0.05, 0.25)
    pitch = rng.uniform(0.0, 0.12)
    wander = Wander.random(rng, (0.0, 0.02, 0.03, 0.01, 0.015, 0.02))
    return CrawlerFlight(path, x_start, speed, offset, float(yaw), float(pitch), wander)


def still_pose(rng: np.random.Generator, layout: Layout, f: float, width: int, height: int) -> tuple[Pose, int]:
    """A close-up UAV photo of one string, framed like the real dataset. Returns the pose and string index."""
    si = int(rng.integers(len(layout.strings)))
    s = layout.strings[si]
    spec = s.spec
    axis = np.asarray(spec.axis)
    env = s.envelope
    length = float(np.linalg.norm(env.c2[0] - env.c1[0]) + 2 * spec.radius)
    target = float(np.clip(rng.lognormal(np.log(400), 0.25), 150, 560))  # wanted long side, px
    outside = rng.random() < 0.85  # mostly photographed from outside the tower, towards it
    side = np.sign(s.centre[1]) or 1.0
    for _ in range(30):
        elev = rng.uniform(0.15, 1.0)  # camera above the string, looking down
        az = rng.uniform(0, 2 * np.pi)
        view = np.array([np.cos(elev) * np.cos(az), np.cos(elev) * np.sin(az), -np.sin(elev)])
        if abs(np.dot(view, axis)) < 0.55 and (not outside or view[1] * side < -0.15):
            break
    across = np.sqrt(max(1e-3, 1 - np.dot(view, axis) ** 2))
    dist = f * length * across / target
    dist = float(np.clip(dist, max(2.5, 1.0 * length), 60.0))
    aim = s.centre + rng.normal(0, 0.12, 3) * length
    pos = aim - view * dist
    pos[2] = max(pos[2], 3.0)
    view = aim - pos
    view /= np.linalg.norm(view)
    yaw = float(np.arctan2(view[1], view[0]))
    pitch = float(np.arcsin(np.clip(view[2], -1, 1)))
    # roll so that the string lies within ~35 degrees of horizontal, as in most UAV inspection photos
    cam = Camera(pos, look_rotation(yaw, pitch, 0.0), f, width, height)
    (p1, p2), _ = cam.project(np.stack([env.c1[0], env.c2[0]]))
    seen = float(np.arctan2(p2[1] - p1[1], p2[0] - p1[0]))
    seen = (seen + np.pi / 2) % np.pi - np.pi / 2  # direction of a line: fold into -90..90 degrees
    roll = float(rng.normal(0, 0.06))
    if rng.random() < 0.85:
        roll = float(np.clip(seen - rng.uniform(-0.6, 0.6), -1.2, 1.2))
    horizon_in_view = pitch + 0.6 * np.hypot(width, height) / f > 0
    if horizon_in_view:  # a UAV gimbal keeps the horizon level
        roll = float(np.clip(roll, -0.1, 0.1))
    return Pose(pos, yaw, pitch, roll), si
