"""Insulator strings as stacks of coaxial frustums: built once per scene, drawn per frame.

A cap-and-pin disc (glass or porcelain) is five frustums: cap, two top (glazed) bands, rim, underside
and pin. A composite insulator is a rod with thin alternating sheds. Each frustum is drawn as the
convex hull of its two projected end circles, back to front along the string axis, so a string seen
from above shows glazed tops and caps, one seen from below shows dark undersides and pins.
A missing cap leaves that disc's cap and pin standing in the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from gridscout.hardware.sim.scene.camera import NEAR, Camera, ellipse_half_extents
from gridscout.hardware.sim.scene.classes import DEFECT_TYPES

SHIFT = 4  # fixed-point bits for sub-pixel drawing
ONE = 1 << SHIFT


@dataclass(frozen=True)
class Material:
    """How one kind of insulator looks. Colours are BGR."""

    kind: str  # "disc" (cap and pin) or "composite" (rod and sheds)
    body: tuple[int, int, int]
    metal: tuple[int, int, int]
    alpha: float = 1.0  # opacity; glass lets some background through
    gloss: float = 0.3  # strength of the glaze highlight on the top band


MATERIALS: dict[str, Material] = {
    "glass": Material("disc", (96, 104, 40), (125, 128, 126), alpha=0.9, gloss=0.9),
    "glass_dark": Material("disc", (70, 84, 34), (110, 112, 110), alpha=0.93, gloss=0.8),
    "porcelain_brown": Material("disc", (58, 70, 112), (120, 122, 124), gloss=0.45),
    "porcelain_mauve": Material("disc", (100, 96, 128), (118, 118, 120), gloss=0.3),
    "porcelain_white": Material("disc", (206, 210, 212), (130, 132, 132), gloss=0.25),
    "porcelain_grey": Material("disc", (168, 170, 172), (120, 122, 122), gloss=0.25),
    "composite_red": Material("composite", (52, 66, 150), (150, 152, 152), gloss=0.15),
    "composite_grey": Material("composite", (132, 136, 132), (150, 152, 152), gloss=0.15),
}

# Disc profile: (start, radius, end, radius) along the axis in pitches from the rim plane (+ = towards
# the line end), radii in disc radii, then the part name that picks the shade.
_DISC_PROFILE = (
    (-0.48, 0.36, -0.28, 0.38, "cap"),
    (-0.30, 0.42, -0.13, 0.76, "top_in"),
    (-0.13, 0.76, 0.00, 1.00, "top_out"),
    (0.00, 1.00, 0.07, 0.97, "rim"),
    (0.07, 0.92, 0.22, 0.80, "under"),
    (0.20, 0.78, 0.30, 0.62, "rib"),
    (0.28, 0.60, 0.34, 0.40, "under"),
    (0.34, 0.12, 0.52, 0.12, "pin"),
)
_SHED_PROFILE = (
    (-0.16, 0.30, 0.00, 1.00, "top_out"),
    (0.00, 1.00, 0.10, 0.30, "under"),
)
_PARTS = ("cap", "top_in", "top_out", "rim", "under", "rib", "pin", "metal")


@dataclass(frozen=True)
class StringSpec:
    """One insulator assembly: a single string or parallel strings sharing end hardware."""

    start: tuple[float, float, float]  # attachment point on the crossarm (world, m)
    axis: tuple[float, float, float]  # unit vector from the attachment towards the line end
    material: str
    n_discs: int
    pitch: float  # m between discs (sheds for composite)
    radius: float  # disc radius, m
    offsets: tuple[tuple[float, float, float], ...] = ((0.0, 0.0, 0.0),)  # parallel strings
    missing: tuple[tuple[int, int], ...] = ()  # (string, disc) without its shed
    broken: tuple[tuple[int, int], ...] = ()  # (string, disc) chipped
    lead: float = 0.25  # hardware before the first disc, m
    tail: float = 0.3  # hardware after the last disc, m
    ring: bool = False  # grading ring at the line end
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-string colour jitter

    @property
    def length(self) -> float:
        return self.lead + self.n_discs * self.pitch + self.tail


@dataclass
class Frustums:
    """Coaxial-circle pairs: the primitive for discs, rods and boxes."""

    c1: np.ndarray  # (F, 3)
    c2: np.ndarray
    r1: np.ndarray  # (F,)
    r2: np.ndarray
    axis: np.ndarray  # (F, 3) unit

    def __len__(self) -> int:
        return len(self.r1)


@dataclass
class InsulatorString:
    """A string ready to draw: frustums in painter's order keys, colours, and its truth geometry."""

    spec: StringSpec
    parts: Frustums
    colour: np.ndarray  # (F, 3) float BGR
    sub: np.ndarray  # (F,) which parallel string (-1: shared hardware)
    t: np.ndarray  # (F,) axial position, m
    broken: np.ndarray  # (F,) bool: draw with a notch
    coarse: np.ndarray  # (F,) bool: kept when the string is small on screen
    part: np.ndarray  # (F,) index into _PARTS
    envelope: Frustums  # one per parallel string: the insulator box
    defects: list[tuple[int, Frustums, int]] = field(default_factory=list)  # (class id, box frustum, string)
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))
    ring: tuple[np.ndarray, float] | None = None  # grading ring: centre, radius (m)


def _shade(material: Material, axis: np.ndarray, sun: np.ndarray, tint: np.ndarray) -> dict[str, np.ndarray]:
    body = np.array(material.body, float) * tint
    metal = np.array(material.metal, float)
    lit_top = float(np.clip(0.55 + 0.45 * np.dot(-axis, sun), 0.0, 1.0))
    lit_under = float(np.clip(0.35 + 0.3 * np.dot(axis, sun), 0.0, 1.0))
    glare = 255.0 * material.gloss * 0.22 * lit_top
    return {
        "cap": metal * (0.75 + 0.35 * lit_top),
        "top_in": body * (0.8 + 0.45 * lit_top) + glare,
        "top_out": body * (0.58 + 0.3 * lit_top) + glare * 0.3,
        "rim": body * 0.5,
        "under": body * (0.38 + 0.3 * lit_under),
        "rib": body * (0.55 + 0.3 * lit_under),
        "pin": metal * 0.65,
        "metal": metal * 0.85,
    }


def build_string(spec: StringSpec, sun: np.ndarray) -> InsulatorString:
    """Lay out every frustum of `spec` once; `sun` is the unit vector towards the sun."""
    mat = MATERIALS[spec.material]
    a = np.asarray(spec.axis, float)
    a = a / np.linalg.norm(a)
    start = np.asarray(spec.start, float)
    shades = _shade(mat, a, sun, np.asarray(spec.tint, float))
    p, rad = spec.pitch, spec.radius
    missing, broken = set(spec.missing), set(spec.broken)
    c1, c2, r1, r2, ax, col, sub, tt, brk, crs, prt = [], [], [], [], [], [], [], [], [], [], []

    def add(j: int, o: np.ndarray, ta: float, ra: float, tb: float, rb: float, part: str, b: bool = False) -> None:
        c1.append(start + o + a * ta)
        c2.append(start + o + a * tb)
        r1.append(ra)
        r2.append(rb)
        ax.append(a)
        col.append(shades[part])
        sub.append(j)
        tt.append(0.5 * (ta + tb))
        brk.append(b)
        crs.append(part in ("top_out", "under", "metal", "cap"))
        prt.append(_PARTS.index(part))

    profile = _DISC_PROFILE if mat.kind == "disc" else _SHED_PROFILE
    envelopes, defects = [], []
    first = spec.lead + 0.46 * p
    last = first + (spec.n_discs - 1) * p
    for j, off in enumerate(spec.offsets):
        o = np.asarray(off, float)
        if mat.kind == "composite":  # the rod, end fittings, then sheds
            add(j, o, 0.0, 0.018, spec.length, 0.018, "pin")
            add(j, o, 0.0, 0.04, spec.lead, 0.035, "metal")
            add(j, o, spec.length - spec.tail, 0.035, spec.length, 0.04, "metal")
        else:  # clevis before the first cap, socket after the last pin
            add(j, o, 0.0, 0.035, first - 0.4 * p, 0.035, "metal")
            add(j, o, last + 0.5 * p, 0.045, spec.length, 0.04, "metal")
        for k in range(spec.n_discs):
            tk = first + k * p
            scale = rad if (mat.kind == "disc" or k % 2 == 0) else rad * 0.72
            for d1, f1, d2, f2, part in profile:
                if (j, k) in missing and part not in ("cap", "pin"):
                    continue
                add(j, o, tk + d1 * p, f1 * scale, tk + d2 * p, f2 * scale, part, (j, k) in broken and part != "pin")
        envelopes.append((start + o + a * (first - 0.46 * p), start + o + a * (last + 0.2 * p)))
        for jj, k in sorted(missing):
            if jj == j:
                tk = first + k * p - 0.1 * p
                defects.append(
                    (
                        DEFECT_TYPES["missing_cap"],
                        (start + o + a * (tk - 1.2 * p), start + o + a * (tk + 1.2 * p), 0.8 * rad),
                        j,
                    )
                )
        for jj, k in sorted(broken):
            if jj == j:
                tk = first + k * p
                defects.append(
                    (
                        DEFECT_TYPES["broken_disc"],
                        (start + o + a * (tk - 0.3 * p), start + o + a * (tk + 0.2 * p), rad),
                        j,
                    )
                )
    if len(spec.offsets) > 1:  # yoke plates joining parallel strings at both ends
        o0, o1 = (np.asarray(spec.offsets[i], float) for i in (0, -1))
        w = o1 - o0
        wn = w / max(np.linalg.norm(w), 1e-9)
        for tpos in (0.08, spec.length - 0.08):
            c1.append(start + o0 + a * tpos - wn * 0.06)
            c2.append(start + o1 + a * tpos + wn * 0.06)
            r1.append(0.05)
            r2.append(0.05)
            ax.append(wn)
            col.append(shades["metal"])
            sub.append(-1)
            tt.append(tpos)
            brk.append(False)
            crs.append(True)
            prt.append(_PARTS.index("metal"))
    env = Frustums(
        np.array([e[0] for e in envelopes]),
        np.array([e[1] for e in envelopes]),
        np.full(len(envelopes), rad),
        np.full(len(envelopes), rad),
        np.tile(a, (len(envelopes), 1)),
    )
    defect_frustums = [
        (cid, Frustums(d[0][None], d[1][None], np.array([d[2]]), np.array([d[2]]), a[None]), j) for cid, d, j in defects
    ]
    mid = np.mean(np.asarray(spec.offsets, float), axis=0)
    centre = start + a * (spec.length / 2) + mid
    spread = float(np.max(np.linalg.norm(np.asarray(spec.offsets, float) - mid, axis=1)))
    ring = (start + mid + a * (spec.length - 0.12), spread + 1.6 * rad) if spec.ring else None
    return InsulatorString(
        spec=spec,
        parts=Frustums(np.array(c1), np.array(c2), np.array(r1, float), np.array(r2, float), np.array(ax)),
        colour=np.clip(np.array(col), 0, 255),
        sub=np.array(sub),
        t=np.array(tt),
        broken=np.array(brk),
        coarse=np.array(crs),
        part=np.array(prt),
        envelope=env,
        defects=defect_frustums,
        centre=centre,
        ring=ring,
    )


def _unit_maps(cam: Camera, fr: Frustums) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Projected end centres, unit-radius ellipse maps (at the frustum middle) and end depths."""
    uv1, z1 = cam.project(fr.c1)
    uv2, z2 = cam.project(fr.c2)
    _, m, _ = cam.circle_ellipses(0.5 * (fr.c1 + fr.c2), fr.axis, np.ones(len(fr)))
    return uv1, uv2, m, z1, z2


def frustum_boxes(cam: Camera, fr: Frustums) -> tuple[np.ndarray, np.ndarray]:
    """Pixel boxes (F, 4) xyxy of each frustum's silhouette, and whether it lies in front of the camera."""
    uv1, uv2, m, z1, z2 = _unit_maps(cam, fr)
    ext = ellipse_half_extents(m)
    lo = np.minimum(uv1 - ext * fr.r1[:, None], uv2 - ext * fr.r2[:, None])
    hi = np.maximum(uv1 + ext * fr.r1[:, None], uv2 + ext * fr.r2[:, None])
    return np.concatenate([lo, hi], axis=1), (z1 > NEAR) & (z2 > NEAR)


def frustum_polygons(cam: Camera, fr: Frustums, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Silhouette polygons (F, k, 2) px (convex hull of both end ellipses) and front-of-camera mask."""
    uv1, uv2, m, z1, z2 = _unit_maps(cam, fr)
    # regularise near-degenerate maps (circle seen edge-on) so the hull test stays finite
    scale = np.sqrt((m**2).sum(axis=(1, 2)))[:, None, None] + 1e-9
    m = m + np.eye(2)[None] * (0.02 * scale)
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    inv = (
        np.stack([np.stack([m[:, 1, 1], -m[:, 0, 1]], 1), np.stack([-m[:, 1, 0], m[:, 0, 0]], 1)], 1)
        / det[:, None, None]
    )
    g = np.einsum("fij,fj->fi", inv, uv1 - uv2)  # hull test: pick end 1 where e . g > r2 - r1
    th = np.linspace(0.0, 2 * np.pi, k, endpoint=False)
    e = np.stack([np.cos(th), np.sin(th)], axis=1)  # (k, 2)
    me = np.einsum("fij,kj->fki", m, e)  # (F, k, 2)
    use1 = (g @ e.T) > (fr.r2 - fr.r1)[:, None]
    p1 = uv1[:, None, :] + me * fr.r1[:, None, None]
    p2 = uv2[:, None, :] + me * fr.r2[:, None, None]
    return np.where(use1[..., None], p1, p2), (z1 > NEAR) & (z2 > NEAR)


def draw_string(img: np.ndarray, cam: Camera, s: InsulatorString, haze: np.ndarray, visibility: float) -> None:
    """Draw one string into `img` (BGR uint8, in place), back to front, hazed by distance."""
    h, w = img.shape[:2]
    fr = s.parts
    dist = float(np.linalg.norm(s.centre - cam.pos))
    px_radius = s.spec.radius * cam.f / max(dist, 1e-3)
    hz = 1.0 - np.exp(-dist / visibility)
    if px_radius < 0.35:  # too far to see
        return
    if px_radius < 1.6:  # far away: each string is a short thick line
        _draw_far(img, cam, s, haze, hz)
        return
    env_box, env_ok = frustum_boxes(cam, s.envelope)
    if not env_ok.any():
        return
    x1, y1 = env_box[:, :2].min(0)
    x2, y2 = env_box[:, 2:].max(0)
    if x2 < 0 or y2 < 0 or x1 >= w or y1 >= h:
        return
    keep = s.coarse.copy() if px_radius < 4.0 else np.ones(len(fr), bool)  # fewer parts when small
    # parts facing away from a camera well off the side of the string are hidden by the discs
    vdot = float(np.dot((s.centre - cam.pos) / max(dist, 1e-6), fr.axis[0]))
    if vdot > 0.4:
        keep &= (s.part != _PARTS.index("under")) & (s.part != _PARTS.index("rib"))
    elif vdot < -0.4:
        keep &= s.part != _PARTS.index("top_in")
    sel = np.nonzero(keep)[0]
    fr = Frustums(fr.c1[sel], fr.c2[sel], fr.r1[sel], fr.r2[sel], fr.axis[sel])
    k = int(np.clip(6 + px_radius * 0.6, 8, 40))
    poly, ok = frustum_polygons(cam, fr, k)
    lo, hi = poly.min(1), poly.max(1)
    ok &= (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < w) & (lo[:, 1] < h)
    # painter's order: parallel strings far to near, then along the axis away from the camera first
    toward = float(np.dot(s.centre - cam.pos, fr.axis[0]))
    sub_depth = np.array([np.dot(s.envelope.c1[j] - cam.pos, cam.forward) for j in range(len(s.envelope))])
    sub, t = s.sub[sel], s.t[sel]
    key_sub = np.where(sub >= 0, -sub_depth[np.maximum(sub, 0)], -1e9)
    order = np.lexsort((-t if toward > 0 else t, key_sub))
    colours = s.colour[sel] * (1 - hz) + haze * hz
    mat = MATERIALS[s.spec.material]
    roi = None
    if mat.alpha < 1.0:  # glass: blend the drawn string over what was behind it
        rx1, ry1 = int(max(0, np.floor(x1) - 2)), int(max(0, np.floor(y1) - 2))
        rx2, ry2 = int(min(w, np.ceil(x2) + 3)), int(min(h, np.ceil(y2) + 3))
        if rx2 > rx1 and ry2 > ry1:
            roi = (ry1, ry2, rx1, rx2, img[ry1:ry2, rx1:rx2].copy())
    # non-finite corners are masked out by `ok`; zero them so that the cast stays in range
    pts = np.round(np.nan_to_num(poly * ONE, nan=0.0, posinf=0.0, neginf=0.0)).astype(np.int32)
    col = colours.tolist()
    detail = px_radius >= 6.0
    part = s.part[sel]
    rim, top, under = _PARTS.index("rim"), _PARTS.index("top_out"), _PARTS.index("under")
    if detail:  # dark rim edges and a glaze highlight on the sunny side of each top
        edge = (colours * 0.55).tolist()
        shine = np.minimum(colours * 1.25 + 40 * mat.gloss, 255).tolist()
        arc = _light_arc(poly, k)
    ring_first = toward > 0  # the line end is the far end
    if s.ring is not None and ring_first:
        _draw_ring(img, cam, s, hz, haze)
    ok_l, brk_l, part_l = ok.tolist(), s.broken[sel].tolist(), part.tolist()
    fill, lines, l8, aa = cv2.fillConvexPoly, cv2.polylines, cv2.LINE_8, cv2.LINE_AA
    for i in order.tolist():
        if not ok_l[i]:
            continue
        if brk_l[i]:
            _draw_broken(img, pts[i], col[i], int(sel[i]))
            continue
        fill(img, pts[i], col[i], l8, SHIFT)
        if detail:
            pi = part_l[i]
            if pi in (rim, under):
                lines(img, [pts[i]], True, edge[i], 1, aa, SHIFT)
            elif pi == top:
                lines(img, [pts[i][arc[i]]], False, shine[i], 1, aa, SHIFT)
    if s.ring is not None and not ring_first:
        _draw_ring(img, cam, s, hz, haze)
    if roi is not None:
        ry1, ry2, rx1, rx2, before = roi
        cv2.addWeighted(img[ry1:ry2, rx1:rx2], mat.alpha, before, 1 - mat.alpha, 0.0, dst=img[ry1:ry2, rx1:rx2])


def _draw_ring(img: np.ndarray, cam: Camera, s: InsulatorString, hz: float, haze: np.ndarray) -> None:
    """The grading ring at the line end: a metal hoop around the string axis."""
    assert s.ring is not None
    centre, radius = s.ring
    uv, m, z = cam.circle_ellipses(centre[None], s.parts.axis[:1], np.array([radius]))
    if z[0] <= NEAR:
        return
    th = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    pts = uv[0] + np.stack([np.cos(th), np.sin(th)], 1) @ m[0].T
    metal = np.array(MATERIALS[s.spec.material].metal, float) * 1.1
    col = (metal * (1 - hz) + haze * hz).tolist()
    thick = max(1, round(0.06 * cam.f / z[0]))
    cv2.polylines(img, [np.round(pts * ONE).astype(np.int32)], True, col, thick, cv2.LINE_AA, SHIFT)


def _light_arc(poly: np.ndarray, k: int) -> np.ndarray:
    """Per polygon, indices of a run of points on its upper-left side (where the glaze catches light)."""
    rel = poly - poly.mean(1, keepdims=True)
    ang = np.arctan2(rel[..., 1], rel[..., 0])  # image angle of each point
    best = np.argmin(np.abs(np.angle(np.exp(1j * (ang + 2.2)))), axis=1)  # about 10 o'clock
    span = max(2, k // 6)
    return (best[:, None] + np.arange(-span, span + 1)[None, :]) % k


def _draw_far(img: np.ndarray, cam: Camera, s: InsulatorString, haze: np.ndarray, hz: float) -> None:
    env = s.envelope
    n = len(env)
    uv, z = cam.project(np.concatenate([env.c1, env.c2]))
    if (z <= NEAR).any():
        return
    body = np.array(MATERIALS[s.spec.material].body, float) * np.asarray(s.spec.tint) * 0.75
    col = (body * (1 - hz) + haze * hz).tolist()
    ends = np.round(np.clip(uv, -1e5, 1e5) * ONE).astype(np.int64).tolist()
    thick = np.maximum(1, np.round(4 * s.spec.radius * cam.f / (z[:n] + z[n:]))).astype(int).tolist()
    for j in range(n):
        cv2.line(img, ends[j], ends[n + j], col, thick[j], cv2.LINE_AA, SHIFT)


def _draw_broken(img: np.ndarray, pts: np.ndarray, colour: tuple[float, ...], salt: int) -> None:
    """A chipped disc band: a bite out of the silhouette and a dark crack."""
    k = len(pts)
    centre = pts.mean(0)
    start = (salt * 7) % k
    idx = (start + np.arange(k // 4 + 1)) % k
    bitten = pts.astype(float).copy()
    depth = 0.55 + 0.25 * np.sin(np.linspace(0, np.pi, len(idx)))
    bitten[idx] = centre + (bitten[idx] - centre) * (1 - depth[:, None] * 0.6)
    bitten = np.round(bitten).astype(np.int32)
    cv2.fillPoly(img, [bitten], colour, cv2.LINE_8, SHIFT)
    dark = tuple(c * 0.35 for c in colour)
    opposite = bitten[(start + k // 2) % k]
    cv2.line(
        img,
        tuple(int(v) for v in bitten[idx[len(idx) // 2]]),
        tuple(int(v) for v in opposite),
        dark,
        1,
        cv2.LINE_8,
        SHIFT,
    )


#: a missing disc shows only if the gap between its neighbours opens to this share of a pitch
GAP_OPEN = 0.45
#: a chipped rim is hidden when the string is seen this close to end-on (cosine of the angle)
END_ON_COS = 0.93


def string_boxes(cam: Camera, s: InsulatorString) -> tuple[np.ndarray | None, list[tuple[int, np.ndarray]]]:
    """Unclipped pixel boxes: the assembly's insulator box and its visible defects' boxes (class id, xyxy).

    A missing cap seen too close to the string axis is covered by its neighbours' sheds, and one on
    the far string of a parallel pair can be covered by the near string: neither gets a box.
    """
    env_box, ok = frustum_boxes(cam, s.envelope)
    if not ok.all():
        return None, []
    box = np.concatenate([env_box[:, :2].min(0), env_box[:, 2:].max(0)])
    out = []
    for cid, fr, j in s.defects:
        b, okd = frustum_boxes(cam, fr)
        if okd.all() and _defect_visible(cam, s, cid, fr, j):
            out.append((cid, b[0]))
    return box, out


def _defect_visible(cam: Camera, s: InsulatorString, cid: int, fr: Frustums, j: int) -> bool:
    centre = 0.5 * (fr.c1[0] + fr.c2[0])
    ray = centre - cam.pos
    cos = abs(float(np.dot(ray, fr.axis[0]))) / max(float(np.linalg.norm(ray)), 1e-9)
    sin = float(np.sqrt(max(0.0, 1 - cos * cos)))
    if cid == DEFECT_TYPES["missing_cap"]:
        p, r = s.spec.pitch, s.spec.radius
        if (2 * p * sin - 2 * r * cos) < GAP_OPEN * p:
            return False
    elif cos > END_ON_COS:
        return False
    # covered by a nearer parallel string? compare the defect centre with that string's projected core
    (uv,), (z,) = cam.project(centre[None])
    for other in range(len(s.envelope)):
        if other == j:
            continue
        a3, b3 = s.envelope.c1[other], s.envelope.c2[other]
        seg = b3 - a3
        t = float(np.clip(np.dot(centre - a3, seg) / max(float(np.dot(seg, seg)), 1e-9), 0, 1))
        near = a3 + seg * t  # the other string's axis point beside the defect
        (uv2,), (z2,) = cam.project(near[None])
        if z2 < z and np.linalg.norm(uv2 - uv) < 0.8 * s.spec.radius * cam.f / max(z2, 1e-6):
            return False
    return True
