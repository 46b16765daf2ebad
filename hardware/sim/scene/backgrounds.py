"""Sky and terrain behind the line: built once per scene, drawn per frame with the camera transform.

Terrain is a flat ground plane textured from a vector map (fields, roads, water, buildings, trees)
rasterised at three resolutions (a hand-made mipmap); each screen row is warped from the finest
level that covers it without aliasing, then hazed by distance. The sky is a panorama strip with a
gradient, soft clouds and far hills at the horizon, sliced by the camera's yaw and pitch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gridscout.hardware.sim.scene.camera import Camera

TERRAINS = ("farmland", "grassland", "arid", "suburban", "waterside")


@dataclass
class GroundLevel:
    """One mip level: texture, metres per texel, and the world X/Y of its texel (0, 0) corner."""

    tex: np.ndarray
    res: float
    x0: float
    y1: float  # texel row 0 is at world Y = y1 (rows run towards -Y)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        h, w = self.tex.shape[:2]
        return self.x0, self.x0 + w * self.res, self.y1 - h * self.res, self.y1


@dataclass
class Backdrop:
    """Everything behind the line for one scene."""

    levels: list[GroundLevel]  # fine to coarse
    sky: np.ndarray  # panorama, (rows, cols, 3) uint8
    sky_horizon_row: int
    sky_yaw_max: float  # yaw (rad) at panorama column 0
    f: float  # pixels per radian of the panorama (= camera focal length)
    haze: np.ndarray  # BGR float
    visibility: float  # m; haze reaches 63 % at this distance
    haze_frame: np.ndarray  # full-frame image of the haze colour


def _noise(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Smooth value noise in [-1, 1], `cells` random values upsampled to `shape`."""
    small = rng.uniform(-1, 1, (max(cells[0], 2), max(cells[1], 2))).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


# --- the vector map -----------------------------------------------------------------------------

PALETTES = {  # BGR colours of field/ground patches per terrain kind
    "farmland": [(62, 128, 96), (70, 140, 110), (58, 110, 86), (96, 150, 150), (80, 120, 130), (52, 118, 90)],
    "grassland": [(74, 140, 112), (66, 130, 100), (80, 150, 124), (70, 120, 104)],
    "arid": [(132, 160, 176), (120, 148, 166), (140, 170, 186), (110, 134, 150), (96, 130, 120)],
    "suburban": [(110, 128, 130), (92, 120, 112), (70, 120, 96), (130, 140, 146)],
    "waterside": [(70, 128, 100), (84, 138, 120), (110, 140, 150)],
}


@dataclass
class Feature:
    """A filled polygon (world metres) with a colour; `stripes` > 0 draws crop rows that far apart."""

    poly: np.ndarray
    colour: tuple[float, float, float]
    stripes: float = 0.0
    stripe_angle: float = 0.0


def _rect(cx: float, cy: float, w: float, h: float, ang: float) -> np.ndarray:
    c, s = np.cos(ang), np.sin(ang)
    pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    return pts @ np.array([[c, s], [-s, c]]) + [cx, cy]


def make_features(rng: np.random.Generator, terrain: str, centre: tuple[float, float], radius: float) -> list[Feature]:
    """A random map around `centre` (world X, Y) reaching `radius` m: fields, then roads, water, houses, trees."""
    pal = PALETTES[terrain]
    feats: list[Feature] = []
    cx, cy = centre
    ang = rng.uniform(-0.6, 0.6)
    # fields: a gapless grid of rectangles with random widths, rotated as a whole; some split in strips
    size = rng.uniform(40, 110) if terrain != "grassland" else rng.uniform(120, 300)
    c, s = np.cos(ang), np.sin(ang)
    n = int(np.ceil(radius / (0.5 * size))) + 2
    xs = np.cumsum(rng.uniform(0.6, 1.4, 2 * n) * size)
    ys = np.cumsum(rng.uniform(0.4, 1.2, 2 * n) * size)
    xs, ys = xs - xs[n], ys - ys[n]
    for i in range(len(xs) - 1):
        if xs[i] > radius * 1.45 or xs[i + 1] < -radius * 1.45:
            continue
        for j in range(len(ys) - 1):
            if ys[j] > radius * 1.45 or ys[j + 1] < -radius * 1.45:
                continue
            parts = 1 if rng.random() < 0.7 else int(rng.integers(2, 5))
            for q in range(parts):
                lx0 = xs[i] + (xs[i + 1] - xs[i]) * q / parts
                lx1 = xs[i] + (xs[i + 1] - xs[i]) * (q + 1) / parts
                lx, ly = (lx0 + lx1) / 2, (ys[j] + ys[j + 1]) / 2
                fx, fy = cx + lx * c - ly * s, cy + lx * s + ly * c
                col = np.array(pal[rng.integers(len(pal))], float) * rng.uniform(0.85, 1.12)
                stripes = rng.uniform(0.7, 2.0) if (terrain == "farmland" and rng.random() < 0.55) else 0.0
                rect = _rect(fx, fy, lx1 - lx0 + 0.3, ys[j + 1] - ys[j] + 0.3, ang)
                feats.append(Feature(rect, tuple(col), stripes, ang + rng.choice([0, np.pi / 2])))
    if terrain in ("waterside",) or rng.random() < 0.15:  # a river or lake band
        off = rng.uniform(-radius * 0.3, radius * 0.3)
        wa = rng.uniform(-0.8, 0.8)
        width = rng.uniform(30, 160)
        col = np.array([rng.uniform(120, 160), rng.uniform(130, 150), rng.uniform(105, 130)])
        t = np.linspace(-radius * 1.5, radius * 1.5, 40)
        wig = 25 * np.sin(t / rng.uniform(60, 200) + rng.uniform(0, 6))
        xs = cx + t * np.cos(wa) - (off + wig) * np.sin(wa)
        ys = cy + t * np.sin(wa) + (off + wig) * np.cos(wa)
        nx, ny = -np.sin(wa) * width / 2, np.cos(wa) * width / 2
        bank = np.concatenate(
            [np.stack([xs + nx * 1.25, ys + ny * 1.25], 1), np.stack([xs - nx * 1.25, ys - ny * 1.25], 1)[::-1]]
        )
        feats.append(Feature(bank, tuple(np.array(pal[0]) * 0.9)))
        poly = np.concatenate([np.stack([xs + nx, ys + ny], 1), np.stack([xs - nx, ys - ny], 1)[::-1]])
        feats.append(Feature(poly, tuple(col)))
    for _ in range(rng.integers(1, 4)):  # roads
        ra = ang + rng.choice([0.0, np.pi / 2]) + rng.uniform(-0.1, 0.1)
        off = rng.uniform(-radius * 0.5, radius * 0.5)
        w = rng.uniform(4, 9)
        ox, oy = cx - np.sin(ra) * off, cy + np.cos(ra) * off
        g = rng.uniform(110, 175)
        feats.append(Feature(_rect(ox, oy, radius * 3, w, ra), (g, g + 2, g + 4)))
    n_build = {"suburban": 90, "farmland": 14, "arid": 10, "waterside": 8, "grassland": 3}[terrain]
    for _ in range(int(n_build * rng.uniform(0.5, 1.5))):  # houses and sheds
        bx, by = cx + rng.uniform(-radius, radius) * 0.6, cy + rng.uniform(-radius, radius) * 0.6
        w, h = rng.uniform(8, 40), rng.uniform(6, 16)
        roof = [(150, 100, 60), (90, 90, 150), (140, 140, 140), (170, 170, 168), (80, 96, 120)][rng.integers(5)]
        roof = tuple(np.array(roof, float) * rng.uniform(0.8, 1.15))
        feats.append(Feature(_rect(bx + 2.5, by - 2.5, w, h, ang), (60, 66, 70)))  # shadow/wall
        feats.append(Feature(_rect(bx, by, w, h, ang), roof))
    n_trees = {"suburban": 60, "farmland": 120, "arid": 25, "waterside": 80, "grassland": 40}[terrain]
    for _ in range(int(n_trees * rng.uniform(0.5, 1.5))):  # tree clumps (polygon circles)
        tx, ty = cx + rng.uniform(-radius, radius) * 0.7, cy + rng.uniform(-radius, radius) * 0.7
        for _k in range(rng.integers(1, 6)):
            r = rng.uniform(2, 5)
            th = np.linspace(0, 2 * np.pi, 10, endpoint=False)
            rr = r * rng.uniform(0.8, 1.1, 10)
            px, py = tx + rng.uniform(-6, 6), ty + rng.uniform(-6, 6)
            g = rng.uniform(0.75, 1.1)
            feats.append(Feature(np.stack([px + rr * np.cos(th), py + rr * np.sin(th)], 1), (40 * g, 84 * g, 56 * g)))
    return feats


@dataclass
class WorldNoise:
    """Smooth noise fixed in world coordinates, so every mip level gets the same blotches."""

    grid: np.ndarray  # float32, cells of `cell` metres
    cell: float
    x0: float
    y1: float

    def sample(self, bounds: tuple[float, float, float, float], res: float, size: tuple[int, int]) -> np.ndarray:
        x0, _, _, y1 = bounds
        s = res / self.cell  # grid cells per texel
        m = np.array([[s, 0, (x0 - self.x0) / self.cell], [0, s, (self.y1 - y1) / self.cell]], np.float32)
        return cv2.warpAffine(
            self.grid,
            m,
            (size[1], size[0]),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )


def rasterise(
    feats: list[Feature],
    bounds: tuple[float, float, float, float],
    res: float,
    rng: np.random.Generator,
    base: np.ndarray,
    noise: list[tuple[WorldNoise, float]],
    detail: float,
) -> GroundLevel:
    """Draw the vector map at `res` m/texel over bounds (x0, x1, y0, y1) on top of `base` colour.

    `noise` is (world noise, amplitude) pairs shading every level alike; `detail` adds texel noise.
    """
    x0, x1, y0, y1 = bounds
    w, h = int(np.ceil((x1 - x0) / res)), int(np.ceil((y1 - y0) / res))
    tex = base if base.shape[:2] == (h, w) else cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)
    tex = np.ascontiguousarray(tex)
    ids = np.zeros((h, w), np.int32) if detail > 0 else None
    striped: dict[int, Feature] = {}
    for n, ft in enumerate(feats, start=1):
        p = ft.poly
        if p[:, 0].max() < x0 or p[:, 0].min() > x1 or p[:, 1].max() < y0 or p[:, 1].min() > y1:
            continue
        uv = np.stack([(p[:, 0] - x0) / res, (y1 - p[:, 1]) / res], 1)
        pts = np.round(uv * 8).astype(np.int32)
        cv2.fillPoly(tex, [pts], ft.colour, cv2.LINE_8, 3)
        if ids is not None:
            cv2.fillPoly(ids, [pts], n, cv2.LINE_8, 3)
            if ft.stripes / res >= 2.5:
                striped[n] = ft
    shade = np.ones((h, w), np.float32)
    for wn, amp in noise:
        shade += amp * wn.sample(bounds, res, (h, w))
    if ids is not None and striped:  # crop rows, computed for all striped fields at once
        spacing = np.zeros(len(feats) + 1, np.float32)
        cos_a = np.zeros(len(feats) + 1, np.float32)
        sin_a = np.zeros(len(feats) + 1, np.float32)
        for n, ft in striped.items():
            spacing[n], cos_a[n], sin_a[n] = ft.stripes, np.cos(ft.stripe_angle), np.sin(ft.stripe_angle)
        sp = spacing[ids]
        gx = (x0 + (np.arange(w, dtype=np.float32) + 0.5) * res)[None, :]
        gy = (y1 - (np.arange(h, dtype=np.float32) + 0.5) * res)[:, None]
        phase = (gx * cos_a[ids] + gy * sin_a[ids]) / np.maximum(sp, 1e-3)
        shade += np.where(sp > 0, 0.1 * np.cos(2 * np.pi * phase), 0).astype(np.float32)
    if detail > 0:  # texel grain plus short streaks, like grass and clods seen from above
        grain = rng.standard_normal((h, w), dtype=np.float32)
        streak = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (1, 9), 0) * 2.0
        shade += detail * (0.6 * grain + streak)
    out = tex.astype(np.float32) * shade[..., None]
    out = cv2.GaussianBlur(out, (0, 0), 0.6)
    return GroundLevel(np.clip(out, 0, 255).astype(np.uint8), res, x0, y1)


# --- sky ------------------------------------------------------------------------------------------


def make_sky(
    rng: np.random.Generator, f: float, yaw_range: tuple[float, float], haze: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, int, float]:
    """Sky panorama covering yaw_range plus the field of view; returns (image, horizon row, yaw at col 0)."""
    margin = np.arctan(width / 2 / f) + 0.1
    yaw_hi, yaw_lo = yaw_range[1] + margin, yaw_range[0] - margin
    cols = int(np.ceil((yaw_hi - yaw_lo) * f)) + 2
    up, down = int(height * 1.6), 40
    rows = up + down
    blue = rng.uniform(0.0, 1.0)  # 0: white-grey, 1: clear blue
    zenith = np.array([235.0, 225.0 - 35 * blue, 215.0 - 75 * blue]) * rng.uniform(0.88, 1.0)
    if rng.random() < 0.5:  # overcast / smoggy: nearly white-grey
        zenith = haze * 0.95 + rng.uniform(-8, 8)
    t = np.minimum(np.arange(rows, dtype=np.float32) / up, 1.0)[:, None]  # 0 at top, 1 at the horizon
    grad = zenith[None] * (1 - t**0.6) + haze[None] * t**0.6
    sky = np.repeat(grad[:, None, :], cols, axis=1).astype(np.float32)
    sky[up:] = haze
    if rng.random() < 0.6:  # soft clouds
        cl = _noise(rng, (rows, cols), (6, max(3, cols // 120)))
        cl = np.clip((cl - rng.uniform(-0.2, 0.5)) * 1.5, 0, 1) * (1 - t) ** 0.5
        sky = sky * (1 - 0.5 * cl[..., None]) + 235 * 0.5 * cl[..., None]
    # far hills / tree lines / a skyline, hazed towards the horizon colour
    hill_col = haze * rng.uniform(0.72, 0.92) + np.array([4, 2, -4])
    prof = np.abs(_noise(rng, (1, cols), (1, max(3, cols // 200)))[0]) * rng.uniform(4, 30)
    prof += np.abs(_noise(rng, (1, cols), (1, max(3, cols // 15)))[0]) * rng.uniform(1, 4)
    if rng.random() < 0.3:  # city blocks
        for _ in range(rng.integers(5, 25)):
            c0, cw = int(rng.integers(0, cols - 20)), int(rng.integers(4, 20))
            prof[c0 : c0 + cw] = np.maximum(prof[c0 : c0 + cw], rng.uniform(8, 30))
    rr = np.arange(rows)[:, None]
    mask = (rr >= up - prof[None, :]) & (rr < up + 2)
    sky[mask] = sky[mask] * 0.25 + hill_col * 0.75
    return np.clip(sky, 0, 255).astype(np.uint8), up, float(yaw_hi)


# --- the backdrop ---------------------------------------------------------------------------------


def make_backdrop(
    rng: np.random.Generator,
    terrain: str,
    corridor: tuple[float, float, float, float],
    f: float,
    yaw_range: tuple[float, float],
    width: int,
    height: int,
) -> Backdrop:
    """Build sky and ground for a scene whose cameras stay over `corridor` (x0, x1, y0, y1, metres)."""
    grey = rng.uniform(190, 232)
    haze = grey + np.array([rng.uniform(0, 12), rng.uniform(-3, 5), rng.uniform(-8, 2)])  # neutral to bluish
    visibility = float(rng.uniform(600, 2500))
    x0, x1, y0, y1 = corridor
    x1 = min(x1, x0 + 1500.0)  # very long flights fall back to coarser texture beyond this
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    reach = 0.5 * max(x1 - x0, y1 - y0)
    near_b = (x0 - 45, x1 + 45, y0 - 45, y1 + 45)
    mid_b = (centre[0] - reach - 250, centre[0] + reach + 250, centre[1] - reach - 250, centre[1] + reach + 250)
    wide, far = reach + 1300.0, 4000.0
    wide_b = (centre[0] - wide, centre[0] + wide, centre[1] - wide, centre[1] + wide)
    far_b = (centre[0] - far, centre[0] + far, centre[1] - far, centre[1] + far)
    feats = make_features(rng, terrain, centre, reach + 300.0)
    # far base: a coarse patchwork of the palette; the detailed map goes on top near the middle
    pal = np.array(PALETTES[terrain], np.float32)
    cells = int(2 * far / 90)
    patch = pal[rng.integers(0, len(pal), (cells, cells))] * rng.uniform(0.85, 1.1, (cells, cells, 1)).astype(
        np.float32
    )
    n_far = int(2 * far / 8.0)
    base_far = cv2.resize(patch, (n_far, n_far), interpolation=cv2.INTER_NEAREST)
    base_far = np.clip(cv2.GaussianBlur(base_far, (0, 0), 1.0), 0, 255).astype(np.uint8)
    coarse = WorldNoise(
        rng.uniform(-1, 1, (int(2 * far / 25), int(2 * far / 25))).astype(np.float32), 25.0, far_b[0], far_b[3]
    )
    nh, nw = int((near_b[3] - near_b[2]) / 1.5) + 2, int((near_b[1] - near_b[0]) / 1.5) + 2
    fine = WorldNoise(rng.uniform(-1, 1, (nh, nw)).astype(np.float32), 1.5, near_b[0], near_b[3])
    noise = [(coarse, 0.12)]
    lv3 = rasterise(feats, far_b, 8.0, rng, base_far, noise, 0.0)
    lv2 = rasterise(feats, wide_b, 2.4, rng, _crop_level(lv3, wide_b, 2.4), noise, 0.0)
    lv1 = rasterise(feats, mid_b, 0.6, rng, _crop_level(lv2, mid_b, 0.6), noise, 0.0)
    lv0 = rasterise(feats, near_b, 0.15, rng, _crop_level(lv1, near_b, 0.15), [*noise, (fine, 0.08)], 0.07)
    sky, horizon_row, yaw_max = make_sky(rng, f, yaw_range, haze, width, height)
    haze_frame = np.empty((height, width, 3), np.uint8)
    haze_frame[:] = np.clip(haze, 0, 255).astype(np.uint8)
    return Backdrop([lv0, lv1, lv2, lv3], sky, horizon_row, yaw_max, f, haze, visibility, haze_frame)


def _crop_level(lv: GroundLevel, bounds: tuple[float, float, float, float], res: float) -> np.ndarray:
    """Resample a coarser level's texture over `bounds` at `res` (the base for the next finer level)."""
    x0, x1, y0, y1 = bounds
    w, h = int(np.ceil((x1 - x0) / res)), int(np.ceil((y1 - y0) / res))
    s = res / lv.res
    m = np.array([[s, 0, (x0 - lv.x0) / lv.res], [0, s, (lv.y1 - y1) / lv.res]], np.float32)
    return cv2.warpAffine(
        lv.tex, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )


def _ground_hits(cam: Camera, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World ground points (N, 2) under pixels (xs, ys) and whether the ray hits the ground ahead."""
    d_cam = np.stack([(xs - cam.cx) / cam.f, (ys - cam.cy) / cam.f, np.ones_like(xs)], -1)
    d = d_cam @ cam.rot  # camera -> world direction
    t = np.where(d[:, 2] < -1e-6, -cam.pos[2] / np.minimum(d[:, 2], -1e-6), np.inf)
    hit = cam.pos[None, :2] + d[:, :2] * np.where(np.isfinite(t), t, 0)[:, None]
    return hit, np.isfinite(t)


def render_backdrop(bd: Backdrop, cam: Camera, yaw: float, pitch: float, out: np.ndarray, roll: float = 0.0) -> None:
    """Fill `out` (H, W, 3 uint8) with sky and hazed ground as `cam` sees it.

    Nearly level cameras (|roll| < 0.08 rad: the moving sources) take a fast row-wise path, with the
    sky slice and haze taken as level; rolled ones (stills) a slower per-pixel one.
    """
    if abs(roll) > 0.08:
        _render_rolled(bd, cam, yaw, out)
        return
    h, w = out.shape[:2]
    # sky: slice the panorama, clamping rows beyond its top and bottom
    rz = cam.rot[:, 2]  # z components of the camera's right, down and forward axes
    xs = np.array([0.0, w - 1.0])
    ys_h = cam.cy - (cam.f * rz[2] + rz[0] * (xs - cam.cx)) / rz[1] if rz[1] < -1e-6 else np.array([-1e9])
    top = int(np.clip(np.ceil(ys_h.max()) + 3, 0, h))
    if top > 0:
        y_h = cam.cy + cam.f * np.tan(pitch)
        r0 = round(float(bd.sky_horizon_row - y_h))
        c0 = int(np.clip(round((bd.sky_yaw_max - yaw) * bd.f - w / 2), 0, bd.sky.shape[1] - w))
        rows_idx = np.clip(np.arange(r0, r0 + top), 0, bd.sky.shape[0] - 1)
        out[:top] = bd.sky[rows_idx, c0 : c0 + w]
    if rz[1] >= -1e-6 or top >= h:
        return  # looking straight up or at the sky only
    # ground: the rows below the horizon
    rows = np.arange(top, h, dtype=np.float64)
    mid_hit, ok_mid = _ground_hits(cam, np.full(rows.size, cam.cx), rows)
    l_hit, ok_l = _ground_hits(cam, np.zeros(rows.size), rows)
    r_hit, ok_r = _ground_hits(cam, np.full(rows.size, w - 1.0), rows)
    valid = ok_mid & ok_l & ok_r
    nxt, _ = _ground_hits(cam, np.full(rows.size, cam.cx), rows + 1)
    footprint = np.where(valid, np.linalg.norm(nxt - mid_hit, axis=1), np.inf)
    lateral = np.where(valid, np.linalg.norm(r_hit - l_hit, axis=1) / w, np.inf)
    footprint = np.maximum(footprint, lateral)
    # choose the finest level that covers the row without aliasing
    choice = np.full(rows.size, len(bd.levels) - 1)
    for li in range(len(bd.levels) - 2, -1, -1):
        lv = bd.levels[li]
        inside = np.ones(rows.size, bool)
        for pts in (mid_hit, l_hit, r_hit):
            inside &= _inside(lv, pts)
        good = valid & inside & (footprint < 2.2 * lv.res)
        choice = np.where(good, li, choice)
    # rows are monotonic in distance: keep bands contiguous from coarse (top) to fine (bottom)
    choice = np.minimum.accumulate(choice[::-1])[::-1]
    start = 0
    while start < rows.size:
        li = choice[start]
        end = start
        while end < rows.size and choice[end] == li:
            end += 1
        y0 = top + start
        band = out[y0 : top + end]
        hmat = np.array([[1, 0, 0], [0, 1, -y0], [0, 0, 1.0]]) @ _ground_homography(cam, bd.levels[li])
        cv2.warpPerspective(
            bd.levels[li].tex, hmat, (w, end - start), dst=band, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        start = end
    # haze by distance, per row
    dist = np.hypot(np.linalg.norm(mid_hit - cam.pos[None, :2], axis=1), cam.pos[2])
    alpha = np.where(valid, 1 - np.exp(-dist / bd.visibility), 1.0).astype(np.float32)
    wa = np.ascontiguousarray(np.broadcast_to(alpha[:, None], (rows.size, w)))
    region = out[top:]
    cv2.blendLinear(bd.haze_frame[top:], region, wa, 1 - wa, dst=region)


def _inside(lv: GroundLevel, pts: np.ndarray) -> np.ndarray:
    bx0, bx1, by0, by1 = lv.bounds
    return (pts[..., 0] > bx0) & (pts[..., 0] < bx1) & (pts[..., 1] > by0) & (pts[..., 1] < by1)


def _ground_homography(cam: Camera, lv: GroundLevel) -> np.ndarray:
    """Texture texel (u, v) of a level -> image pixel, through the ground plane Z = 0."""
    kmat = np.array([[cam.f, 0, cam.cx], [0, cam.f, cam.cy], [0, 0, 1.0]])
    rt = np.column_stack([cam.rot[:, 0], cam.rot[:, 1], -cam.rot @ cam.pos])
    a = np.array([[lv.res, 0, lv.x0], [0, -lv.res, lv.y1], [0, 0, 1.0]])
    return kmat @ rt @ a


def _render_rolled(bd: Backdrop, cam: Camera, yaw: float, out: np.ndarray) -> None:
    """Per-pixel sky and ground for a camera with any roll (slower; used for stills)."""
    h, w = out.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.stack([(xs - cam.cx) / cam.f, (ys - cam.cy) / cam.f, np.ones_like(xs)], -1) @ cam.rot.astype(np.float32)
    n = np.linalg.norm(d, axis=-1)
    dz = d[..., 2] / n
    az = yaw + np.angle(np.exp(1j * (np.arctan2(d[..., 1], d[..., 0]) - yaw)))
    elev = np.arcsin(np.clip(dz, -1, 1))
    map_x = ((bd.sky_yaw_max - az) * bd.f).astype(np.float32)
    map_y = (bd.sky_horizon_row - bd.f * np.tan(np.clip(elev, -1.3, 1.3))).astype(np.float32)
    sky = cv2.remap(bd.sky, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ground_mask = dz < -1e-3
    if not ground_mask.any():
        out[:] = sky
        return
    t = np.where(ground_mask, cam.pos[2] / np.maximum(-d[..., 2], 1e-6), 0.0)
    hit = cam.pos[None, None, :2] + d[..., :2] * t[..., None]
    dist = t * n
    footprint = dist / (cam.f * np.maximum(-dz, 0.02))  # metres per pixel along the view
    choice = np.full((h, w), len(bd.levels) - 1)
    for li in range(len(bd.levels) - 2, -1, -1):
        lv = bd.levels[li]
        choice = np.where(_inside(lv, hit) & (footprint < 2.2 * lv.res), li, choice)
    ground = np.zeros((h, w, 3), np.uint8)
    for li in np.unique(choice[ground_mask]):
        lv = bd.levels[li]
        img = cv2.warpPerspective(
            lv.tex, _ground_homography(cam, lv), (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        sel = ground_mask & (choice == li)
        ground[sel] = img[sel]
    alpha = (1 - np.exp(-dist / bd.visibility))[..., None]
    ground = (ground * (1 - alpha) + bd.haze * alpha).astype(np.uint8)
    out[:] = np.where(ground_mask[..., None], ground, sky)
