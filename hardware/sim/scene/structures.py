"""Lattice towers, conductors and bird nests: 3D line work built once, projected per frame."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from gridscout.hardware.sim.scene.camera import NEAR, Camera

SHIFT = 4
ONE = 1 << SHIFT


@dataclass
class Segments:
    """3D line segments with a radius (m) and a BGR colour each."""

    a: np.ndarray  # (N, 3)
    b: np.ndarray  # (N, 3)
    radius: np.ndarray  # (N,)
    colour: np.ndarray  # (N, 3) float

    def __len__(self) -> int:
        return len(self.radius)

    @staticmethod
    def join(parts: list[Segments]) -> Segments:
        if len(parts) == 1:
            return parts[0]
        return Segments(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("a", "b", "radius", "colour")))


def clip_near(
    a: np.ndarray, b: np.ndarray, za: np.ndarray, zb: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip camera-space segments to z > NEAR. Returns new a, b and a keep mask."""
    keep = (za > NEAR) | (zb > NEAR)
    t = np.clip((NEAR - za) / np.where(np.abs(zb - za) > 1e-9, zb - za, 1e-9), 0, 1)[:, None]
    a2 = np.where((za <= NEAR)[:, None], a + (b - a) * t, a)
    b2 = np.where((zb <= NEAR)[:, None], a + (b - a) * t, b)
    return a2, b2, keep


def draw_segments(img: np.ndarray, cam: Camera, seg: Segments, haze: np.ndarray, visibility: float) -> None:
    """Draw 3D segments as lines whose width follows depth, hazed by distance."""
    if len(seg) == 0:
        return
    h, w = img.shape[:2]
    ca, cb = cam.to_cam(seg.a), cam.to_cam(seg.b)
    ca, cb, keep = clip_near(ca, cb, ca[:, 2], cb[:, 2])
    za, zb = np.maximum(ca[:, 2], NEAR), np.maximum(cb[:, 2], NEAR)
    pa = np.stack([cam.f * ca[:, 0] / za + cam.cx, cam.f * ca[:, 1] / za + cam.cy], 1)
    pb = np.stack([cam.f * cb[:, 0] / zb + cam.cx, cam.f * cb[:, 1] / zb + cam.cy], 1)
    zm = 0.5 * (za + zb)
    px = 2 * seg.radius * cam.f / zm
    keep &= (np.maximum(pa[:, 0], pb[:, 0]) > -px) & (np.minimum(pa[:, 0], pb[:, 0]) < w + px)
    keep &= (np.maximum(pa[:, 1], pb[:, 1]) > -px) & (np.minimum(pa[:, 1], pb[:, 1]) < h + px)
    # keep coordinates in a range cv2 accepts after the fixed-point shift
    pa, pb = np.clip(pa, -1e5, 1e5), np.clip(pb, -1e5, 1e5)
    dist = np.linalg.norm(0.5 * (seg.a + seg.b) - cam.pos, axis=1)
    hz = (1 - np.exp(-dist / visibility))[:, None]
    # thin, far members fade into the background instead of drawing a full pixel
    cover = np.clip(px, 0.25, 1.0)[:, None]
    col = seg.colour * (1 - hz) + haze * hz
    keep &= px > 0.3  # members this thin would hardly show
    idx = np.nonzero(keep)[0]
    if len(idx) == 0:
        return
    thick = np.maximum(1, np.round(px)).astype(int)
    # sub-pixel members: blend their colour with what is already under their middle
    faint = idx[cover[idx, 0] < 1.0]
    if len(faint):
        mid = np.clip(0.5 * (pa[faint] + pb[faint]), 0, [w - 1, h - 1]).astype(int)
        under = img[mid[:, 1], mid[:, 0]].astype(float)
        col[faint] = col[faint] * cover[faint] + under * (1 - cover[faint])
    ends = np.round(np.concatenate([pa[idx], pb[idx]], axis=1) * ONE).astype(np.int64).tolist()
    cols = col[idx].tolist()
    thicks = thick[idx].tolist()
    line, aa, l8 = cv2.line, cv2.LINE_AA, cv2.LINE_8
    for (x1, y1, x2, y2), c, t in zip(ends, cols, thicks, strict=True):
        line(img, (x1, y1), (x2, y2), c, t, aa if t <= 2 else l8, SHIFT)


# --- towers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TowerDesign:
    """Shape shared by the towers of one line."""

    base: float  # half width at the ground, m
    waist: float  # half width from the waist up
    waist_z: float
    arm_z: tuple[float, ...]  # heights of the crossarm bottoms, top first
    arm_len: tuple[float, ...]  # reach beyond the body, per level
    arm_depth: float
    peak: float  # height of the earth-wire peak
    grey: float  # steel brightness


@dataclass
class Tower:
    """One tower: where it stands, its members, and where insulators hang from."""

    x: float
    tension: bool
    seg: Segments
    tips: list[tuple[int, int, np.ndarray]]  # (level, side +1/-1, tip point) for insulators
    peak: np.ndarray
    nest_spots: list[np.ndarray]
    centre: np.ndarray
    body: np.ndarray  # (N, 3) corner points of the lattice body, for occlusion tests


def random_design(rng: np.random.Generator) -> TowerDesign:
    levels = int(rng.choice([1, 2, 3], p=[0.25, 0.3, 0.45]))
    top = rng.uniform(24, 34)
    gap = rng.uniform(5.0, 7.5)
    arm_z = tuple(top - i * gap for i in range(levels))
    base_len = rng.uniform(3.8, 6.5)
    arm_len = tuple(base_len * (1.0 + (0.15 if (levels == 3 and i == 1) else 0.0)) for i in range(levels))
    waist = rng.uniform(0.9, 1.4)
    return TowerDesign(
        base=rng.uniform(3.0, 4.8),
        waist=waist,
        waist_z=arm_z[-1] - rng.uniform(3, 7),
        arm_z=arm_z,
        arm_len=arm_len,
        arm_depth=rng.uniform(1.4, 2.2),
        peak=top + rng.uniform(4, 7),
        grey=rng.uniform(85, 170),
    )


def build_tower(rng: np.random.Generator, d: TowerDesign, x: float, tension: bool, sun: np.ndarray) -> Tower:
    """A lattice tower at line position x; tension towers get a wider body and longer arms."""
    grow = 1.15 if tension else 1.0
    segs: list[tuple[np.ndarray, np.ndarray, float]] = []

    def half(z: float) -> float:
        if z <= d.waist_z:
            return (d.base + (d.waist - d.base) * z / d.waist_z) * grow
        return (d.waist - 0.25 * d.waist * (z - d.waist_z) / max(d.peak - d.waist_z, 1)) * grow

    # body panel levels, roughly square panels
    levels = [0.0]
    while levels[-1] < d.peak - 0.5:
        z = levels[-1]
        step = float(np.clip(1.7 * half(z), 1.6, 4.5))
        levels.append(min(z + step, d.peak))
    for za in d.arm_z:  # make sure each arm root is a panel level
        for zz in (za, za + d.arm_depth):
            if min(abs(zz - v) for v in levels) > 0.6:
                levels.append(zz)
    levels = sorted(levels)
    corners = [(1, 1), (1, -1), (-1, -1), (-1, 1)]
    for z0, z1 in itertools.pairwise(levels):
        h0, h1 = half(z0), half(z1)
        top_cage = z1 > d.peak - 3.5  # the earth-wire peak narrows to a point
        if top_cage:
            h1 = max(0.15, h0 * (d.peak - z1) / max(d.peak - z0, 1e-3))
        for i in range(4):
            sx, sy = corners[i]
            tx, ty = corners[(i + 1) % 4]
            a0 = np.array([x + sx * h0, sy * h0, z0])
            a1 = np.array([x + sx * h1, sy * h1, z1])
            b0 = np.array([x + tx * h0, ty * h0, z0])
            b1 = np.array([x + tx * h1, ty * h1, z1])
            segs.append((a0, a1, 0.085))  # leg
            segs.append((a0, b1, 0.04))  # X brace
            segs.append((b0, a1, 0.04))
            segs.append((a1, b1, 0.04))  # horizontal
            if h0 > 0.9:  # secondary bracing: a diamond through the X-brace crossing
                cm = (a0 + a1 + b0 + b1) / 4
                segs.append(((a0 + a1) / 2, cm, 0.025))
                segs.append(((b0 + b1) / 2, cm, 0.025))
                if h0 > 2.0:
                    segs.append(((a0 + b0) / 2, cm, 0.025))
    tips = []
    nest_spots = []
    for li, (za, length) in enumerate(zip(d.arm_z, d.arm_len, strict=True)):
        length *= 1.12 if tension else 1.0
        hw = half(za)
        for side in (1, -1):
            root_y = side * hw
            tip_y = side * (hw + length)
            bf = (np.array([x + hw, root_y, za]), np.array([x + 0.18, tip_y, za]))
            bb = (np.array([x - hw, root_y, za]), np.array([x - 0.18, tip_y, za]))
            tp = (np.array([x, root_y, za + d.arm_depth]), np.array([x, tip_y, za + 0.25]))
            for c0, c1 in (bf, bb, tp):
                segs.append((c0, c1, 0.06))
            n = max(3, int(length / 1.3))
            for k in range(n):
                s0, s1 = k / n, (k + 1) / n
                p_bf0, p_bf1 = bf[0] + (bf[1] - bf[0]) * s0, bf[0] + (bf[1] - bf[0]) * s1
                p_bb0, p_bb1 = bb[0] + (bb[1] - bb[0]) * s0, bb[0] + (bb[1] - bb[0]) * s1
                p_tp1 = tp[0] + (tp[1] - tp[0]) * s1
                segs.append((p_bf0, p_tp1, 0.035))
                segs.append((p_bb0, p_tp1, 0.035))
                segs.append((p_bf1, p_bb1, 0.035))
                segs.append((p_bf0, p_bb1, 0.03))
                segs.append((p_bf1, p_tp1, 0.03))
                segs.append((p_bb1, p_tp1, 0.03))
            tips.append((li, side, np.array([x, tip_y, za])))
            nest_spots.append(np.array([x, side * (hw + min(1.2, length * 0.3)), za + 0.35 * d.arm_depth]))
    # earth-wire peaks
    for side in (1, -1):
        hw = half(d.peak - 1.5)
        segs.append((np.array([x, side * hw, d.peak - 1.5]), np.array([x, side * (hw + 1.6), d.peak - 0.2]), 0.04))
    a = np.array([s[0] for s in segs])
    b = np.array([s[1] for s in segs])
    r = np.array([s[2] for s in segs])
    direction = (b - a) / np.maximum(np.linalg.norm(b - a, axis=1, keepdims=True), 1e-9)
    lit = 0.8 + 0.3 * np.abs(np.cross(direction, sun)[:, 2]) + rng.uniform(-0.08, 0.08, len(r))
    colour = np.clip(d.grey * lit[:, None] * np.array([1.0, 1.01, 0.99]), 0, 255)
    centre = np.array([x, 0.0, d.arm_z[-1]])
    legs = r == 0.085
    body = np.unique(np.round(np.concatenate([a[legs], b[legs]]), 3), axis=0)
    return Tower(x, tension, Segments(a, b, r, colour), tips, np.array([x, 0.0, d.peak]), nest_spots, centre, body)


# --- conductors -----------------------------------------------------------------------------------


def catenary(a: np.ndarray, b: np.ndarray, sag: float, n: int = 24) -> np.ndarray:
    """Points (n, 3) of a sagging wire from a to b (a parabola: close enough for these spans)."""
    s = np.linspace(0, 1, n)[:, None]
    pts = a + (b - a) * s
    pts[:, 2] -= 4 * sag * (s[:, 0] * (1 - s[:, 0]))
    return pts


def wire_segments(points: list[np.ndarray], radius: float, colour: np.ndarray) -> Segments:
    """Polylines to one Segments bundle."""
    a = np.concatenate([p[:-1] for p in points])
    b = np.concatenate([p[1:] for p in points])
    return Segments(a, b, np.full(len(a), radius), np.tile(colour, (len(a), 1)))


# --- bird nests -----------------------------------------------------------------------------------


@dataclass
class Nest:
    """A twig clump sitting on a crossarm; drawn as a camera-facing sprite."""

    centre: np.ndarray
    size: float  # width, m
    sprite: np.ndarray  # BGRA uint8


def make_nest(rng: np.random.Generator, centre: np.ndarray) -> Nest:
    w, h = 96, 56
    img = np.zeros((h, w, 4), np.uint8)
    for _ in range(260):
        cxx, cyy = rng.normal(w / 2, w / 6), rng.normal(h * 0.55, h / 6)
        ang = rng.uniform(-0.5, 0.5) + (np.pi if rng.random() < 0.5 else 0)
        ln = rng.uniform(8, 28)
        x1, y1 = cxx - np.cos(ang) * ln / 2, cyy - np.sin(ang) * ln / 2
        x2, y2 = cxx + np.cos(ang) * ln / 2, cyy + np.sin(ang) * ln / 2
        g = rng.uniform(0.45, 1.1)
        col = (float(40 * g), float(70 * g), float(100 * g), 255.0)
        cv2.line(img, (int(x1), int(y1)), (int(x2), int(y2)), col, int(rng.integers(1, 3)), cv2.LINE_AA)
    ellipse = np.zeros((h, w), np.uint8)
    cv2.ellipse(ellipse, (w // 2, int(h * 0.55)), (w // 2 - 4, h // 2 - 6), 0, 0, 360, 255, -1)
    img[..., 3] = np.minimum(img[..., 3], cv2.GaussianBlur(ellipse, (0, 0), 3))
    return Nest(centre, float(rng.uniform(0.6, 1.0)), img)


def nest_box(cam: Camera, nest: Nest) -> np.ndarray | None:
    """Unclipped pixel box of a nest, or None behind the camera."""
    uv, z = cam.project(nest.centre[None])
    if z[0] <= NEAR:
        return None
    wpx = nest.size * cam.f / z[0]
    hpx = wpx * nest.sprite.shape[0] / nest.sprite.shape[1]
    cx, cy = uv[0]
    return np.array([cx - wpx / 2, cy - hpx / 2, cx + wpx / 2, cy + hpx / 2])


def draw_nest(img: np.ndarray, cam: Camera, nest: Nest) -> None:
    box = nest_box(cam, nest)
    if box is None:
        return
    h, w = img.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = round(float(x2 - x1)), round(float(y2 - y1))
    if bw < 2 or bh < 2 or x2 < 0 or y2 < 0 or x1 >= w or y1 >= h or bw > 4 * w:
        return
    spr = cv2.resize(
        nest.sprite, (bw, bh), interpolation=cv2.INTER_AREA if bw < nest.sprite.shape[1] else cv2.INTER_LINEAR
    )
    ox, oy = round(float(x1)), round(float(y1))
    sx0, sy0 = max(0, -ox), max(0, -oy)
    dx0, dy0 = max(0, ox), max(0, oy)
    dx1, dy1 = min(w, ox + bw), min(h, oy + bh)
    if dx1 <= dx0 or dy1 <= dy0:
        return
    part = spr[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0].astype(np.float32)
    a = part[..., 3:4] / 255.0
    roi = img[dy0:dy1, dx0:dx1]
    roi[:] = (roi * (1 - a) + part[..., :3] * a).astype(np.uint8)
