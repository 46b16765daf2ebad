"""A synthetic inspection scene: build once from a seed, then render any frame and its ground truth.

    scene = Scene(SceneParams(mode="drone", seed=3))
    image, truth = scene.render_with_truth(42)

Frames are a pure function of (params, frame index): the same seed gives byte-identical images and
identical boxes, and frame i can be rendered without frames 0..i-1. The scene stands somewhere on the
earth (`SceneParams.lat`, `lon`, `ground_alt_m`, `bearing_deg`; `georef`), so each frame has a camera
pose (`camera_pose(i)`) and each object a WGS84 position (`object_geo(object_id)`): geotags can be
checked against the truth. `render_at`, `truth_at` and `camera_pose_at` do the same from any camera
`Pose` (scene metres and the renderer's angles), such as one following a vehicle's telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import cv2
import numpy as np

from gridscout.hardware.frame import CameraPose
from gridscout.hardware.sim.scene.backgrounds import TERRAINS, Backdrop, make_backdrop, render_backdrop
from gridscout.hardware.sim.scene.camera import NEAR, Camera, look_rotation, spheres_in_view
from gridscout.hardware.sim.scene.classes import CLASS_NAMES, DEFAULT_DEFECT_TYPES, DEFECT_TYPES, INSULATOR
from gridscout.hardware.sim.scene.draw_insulator import (
    MATERIALS,
    InsulatorString,
    build_string,
    draw_string,
    frustum_boxes,
    string_boxes,
)
from gridscout.hardware.sim.scene.flight import (
    CrawlerFlight,
    DroneFlight,
    Pose,
    crawler_flight,
    drone_flight,
    still_pose,
)
from gridscout.hardware.sim.scene.georef import (
    DEFAULT_BEARING_DEG,
    DEFAULT_GROUND_ALT_M,
    DEFAULT_LAT,
    DEFAULT_LON,
    GeoRef,
)
from gridscout.hardware.sim.scene.layout import Layout, build_layout
from gridscout.hardware.sim.scene.postfx import PAD, CameraLook, apply_look, make_look
from gridscout.hardware.sim.scene.structures import Segments, draw_nest, draw_segments, nest_box

__all__ = ["MODES", "Pose", "Scene", "SceneParams", "TruthBox", "render_frame", "render_still"]

MODES = ("drone", "crawler", "still")

# ground-truth rules
MIN_VISIBLE = 0.5  # share of a box that must lie inside the frame
MIN_INSULATOR_PX = 40.0  # long side of a visible insulator box
MIN_DEFECT_PX = 8.0  # short side of a visible defect box


@dataclass(frozen=True, slots=True)
class TruthBox:
    """One ground-truth object in a frame: class and pixel box (x1, y1, x2, y2), clipped to the frame.

    `object_id` names the physical object, the same in every frame of a scene: "s<i>" for insulator
    string i of the layout, "s<i>d<k>" for the k-th defect of that string, "n<i>" for nest i.
    """

    class_id: int
    class_name: str
    box: tuple[float, float, float, float]
    object_id: str = ""


@dataclass(frozen=True)
class SceneParams:
    """What to render. `speed` (m/s along the line) defaults by mode; `defect_rate` is the share of
    cap-and-pin strings that get a missing cap (and, if asked for, of other defects). `lat`, `lon`,
    `ground_alt_m` and `bearing_deg` place the scene on the earth (they change no pixel)."""

    mode: str = "drone"
    seed: int = 0
    width: int = 640
    height: int = 480
    frames: int = 300
    fps: float = 10.0
    defect_types: tuple[str, ...] = DEFAULT_DEFECT_TYPES
    defect_rate: float = 0.35
    speed: float | None = None
    lat: float = DEFAULT_LAT
    lon: float = DEFAULT_LON
    ground_alt_m: float = DEFAULT_GROUND_ALT_M
    bearing_deg: float = DEFAULT_BEARING_DEG

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if not (16 <= self.width <= 4096 and 16 <= self.height <= 4096):
            raise ValueError(f"size {self.width}x{self.height}: expected 16..4096 pixels a side")
        if self.frames < 1 or not (0 < self.fps <= 240):
            raise ValueError(f"frames {self.frames} / fps {self.fps}: expected frames >= 1 and 0 < fps <= 240")
        if not 0.0 <= self.defect_rate <= 1.0:
            raise ValueError(f"defect_rate {self.defect_rate}: expected 0..1")
        if not (-85.0 <= self.lat <= 85.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"position ({self.lat}, {self.lon}): expected latitude -85..85 and longitude -180..180")
        if not 0.0 <= self.bearing_deg < 360.0:
            raise ValueError(f"bearing {self.bearing_deg}: expected degrees 0 <= bearing < 360")
        unknown = [t for t in self.defect_types if t not in DEFECT_TYPES]
        if unknown:
            raise ValueError(f"defect type {unknown[0]!r}: expected some of {', '.join(DEFECT_TYPES)}")


@dataclass
class Scene:
    """The built scene. Construction does the slow work (terrain, towers, strings); frames are cheap."""

    params: SceneParams
    layout: Layout = field(init=False)
    backdrop: Backdrop = field(init=False)
    look: CameraLook = field(init=False)
    f: float = field(init=False)  # focal length, px
    flight: DroneFlight | CrawlerFlight | None = field(init=False, default=None, repr=False)
    _still: Pose | None = field(init=False, default=None, repr=False)
    _bound_cache: tuple[np.ndarray, ...] | None = field(init=False, default=None, repr=False)
    _depth_ref: np.ndarray | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        p = self.params
        rng = np.random.default_rng([p.seed, MODES.index(p.mode)])
        # horizontal field of view: inspection drones zoom in; the crawler camera is wide
        hfov = {"drone": rng.uniform(0.6, 0.9), "still": rng.uniform(0.85, 1.25), "crawler": rng.uniform(1.0, 1.4)}[
            p.mode
        ]
        self.f = float(p.width / 2 / np.tan(hfov / 2))
        duration = p.frames / p.fps
        terrain = TERRAINS[int(rng.integers(len(TERRAINS)))]
        if p.mode == "still":
            # like the real photos: the defect, if any, is mostly on the string the photo is of
            self.layout = build_layout(rng, (0.0, 1.0), p.defect_types, 0.3 * p.defect_rate, tension_share=0.6)
            self._still, si = self._pick_still(rng)
            if "missing_cap" in p.defect_types and rng.random() < p.defect_rate:
                self._add_missing_cap(rng, si)
            c = self._still.pos
            corridor = (c[0] - 30, c[0] + 30, c[1] - 30, c[1] + 30)
            yaw_range = (self._still.yaw, self._still.yaw)
        else:
            speed = (
                p.speed
                if p.speed is not None
                else (rng.uniform(8.0, 11.0) if p.mode == "drone" else rng.uniform(1.5, 2.5))
            )
            travel = speed * duration
            self.layout = build_layout(rng, (-30.0, travel + 160.0), p.defect_types, p.defect_rate)
            # start so that the first tower's strings come into view early
            first = min((tw.x for tw in self.layout.towers if tw.x > 12.0), default=12.0)
            if p.mode == "drone":
                self.flight = drone_flight(rng, self.layout, first - 25.0, speed, duration)
            else:
                self.flight = crawler_flight(rng, self.layout, first - 0.45 * self.layout.span, speed)
            a, b = self.flight.pose(0.0), self.flight.pose(duration)
            corridor = (
                min(a.pos[0], b.pos[0]) - 20,
                max(a.pos[0], b.pos[0]) + 20,
                min(a.pos[1], b.pos[1], -10) - 5,
                max(a.pos[1], b.pos[1], 10) + 5,
            )
            yaw_range = (min(a.yaw, b.yaw) - 0.15, max(a.yaw, b.yaw) + 0.15)
        self.backdrop = make_backdrop(rng, terrain, corridor, self.f, yaw_range, p.width, p.height)
        self.look = make_look(rng, p.width, p.height)

    # --- poses ----------------------------------------------------------------------------------

    def _pick_still(self, rng: np.random.Generator) -> tuple[Pose, int]:
        """A close-up pose whose target string is fully usable as ground truth (a few tries)."""
        p = self.params
        best = None
        for _ in range(12):
            pose, si = still_pose(rng, self.layout, self.f, p.width, p.height)
            cam = self._camera_for(pose)
            box, _ = string_boxes(cam, self.layout.strings[si])
            if box is None:
                continue
            vis = _visible_share(box, p.width, p.height)
            best = best or (pose, si)
            if vis > 0.9:
                return pose, si
        return best if best is not None else still_pose(rng, self.layout, self.f, p.width, p.height)

    def _add_missing_cap(self, rng: np.random.Generator, si: int) -> None:
        """Give string `si` a missing cap on its parallel string nearest the camera (stills only)."""
        s = self.layout.strings[si]
        spec = s.spec
        if MATERIALS[spec.material].kind != "disc" or spec.missing or spec.n_discs < 5:
            return
        assert self._still is not None
        near = int(np.argmin([np.linalg.norm(c - self._still.pos) for c in 0.5 * (s.envelope.c1 + s.envelope.c2)]))
        k = int(rng.integers(1, spec.n_discs - 2))
        if any(b[0] == near and abs(b[1] - k) < 2 for b in spec.broken):
            return
        self.layout.strings[si] = build_string(replace(spec, missing=((near, k),)), self.layout.sun)
        self._bound_cache = None

    def pose(self, i: int) -> Pose:
        """Camera pose of frame i (a still has one pose for every frame)."""
        if self._still is not None:
            return self._still
        assert self.flight is not None
        return self.flight.pose(i / self.params.fps)

    def _camera_for(self, pose: Pose) -> Camera:
        return Camera(
            np.asarray(pose.pos, float),
            look_rotation(pose.yaw, pose.pitch, pose.roll),
            self.f,
            self.params.width,
            self.params.height,
        )

    def camera(self, i: int) -> Camera:
        return self._camera_for(self.pose(i))

    # --- on the earth ---------------------------------------------------------------------------

    @property
    def georef(self) -> GeoRef:
        p = self.params
        return GeoRef(p.lat, p.lon, p.ground_alt_m, p.bearing_deg)

    def camera_pose(self, i: int) -> CameraPose:
        """Frame i's camera as a `CameraPose` (source "synthetic", exact focal length in pixels)."""
        return self.camera_pose_at(self.pose(i))

    def camera_pose_at(self, pose: Pose) -> CameraPose:
        """A scene camera at `pose` as a `CameraPose` (source "synthetic", exact focal length in pixels)."""
        x, y, z = (float(v) for v in pose.pos)
        return self.georef.camera_pose((x, y, z), pose.yaw, pose.pitch, pose.roll, self.f)

    def object_position(self, object_id: str) -> np.ndarray:
        """Scene metres of an object of the truth: a string's centre ("s3"), a defect's ("s3d0"), a nest's ("n1")."""
        kind, index, defect = _parse_object_id(object_id)
        if kind == "n":
            return np.asarray(self.layout.nests[index].centre, float)
        string = self.layout.strings[index]
        if defect is None:
            return np.asarray(string.centre, float)
        frustum = string.defects[defect][1]
        return 0.5 * (frustum.c1[0] + frustum.c2[0])

    def object_geo(self, object_id: str) -> tuple[float, float, float]:
        """(lat, lon, altitude above sea level) of an object of the truth."""
        x, y, z = (float(v) for v in self.object_position(object_id))
        return self.georef.to_global(x, y, z)

    # --- frames ---------------------------------------------------------------------------------

    def render(self, i: int) -> np.ndarray:
        """Frame i as a BGR uint8 image."""
        return self.render_at(self.pose(i), i)

    def render_at(self, pose: Pose, i: int) -> np.ndarray:
        """The view from any camera pose as a BGR uint8 image; `i` numbers the frame (its sensor noise and
        the time its camera look is at, i / fps), so `render_at(pose(i), i)` is frame i."""
        p = self.params
        cam = self._camera_for(pose)
        img = np.empty((p.height, p.width, 3), np.uint8)
        bd = self.backdrop
        render_backdrop(bd, cam, pose.yaw, pose.pitch, img, pose.roll)
        pending: list[Segments] = []  # consecutive towers and wires are drawn in one batch
        for kind, idx in self._draw_order(cam):
            if kind == 0:
                pending.append(self.layout.towers[idx].seg)
                continue
            if kind == 1:
                pending.append(self.layout.wires[idx][0])
                continue
            if pending:
                draw_segments(img, cam, Segments.join(pending), bd.haze, bd.visibility)
                pending = []
            if kind == 2:
                draw_string(img, cam, self.layout.strings[idx], bd.haze, bd.visibility)
            else:
                draw_nest(img, cam, self.layout.nests[idx])
        if pending:
            draw_segments(img, cam, Segments.join(pending), bd.haze, bd.visibility)
        off = np.random.default_rng([p.seed, MODES.index(p.mode), i]).integers(0, PAD, 2)
        return apply_look(img, self.look, i / p.fps, (int(off[0]), int(off[1])))

    def _bounds(self) -> tuple[np.ndarray, ...]:
        """Bounding spheres of everything drawable: kind, index, centre, radius (built once)."""
        if self._bound_cache is None:
            lay = self.layout
            rows: list[tuple[int, int, np.ndarray, float, np.ndarray]] = []  # kind, index, centre, radius, depth ref

            def sphere(pts: np.ndarray) -> tuple[np.ndarray, float]:
                c = 0.5 * (pts.min(0) + pts.max(0))
                return c, float(np.linalg.norm(pts - c, axis=1).max())

            for ti, tw in enumerate(lay.towers):  # towers sort by their axis at the lowest arm
                c, r = sphere(np.concatenate([tw.seg.a, tw.seg.b]))
                rows.append((0, ti, c, r, tw.centre))
            for wi, (seg, _) in enumerate(lay.wires):
                c, r = sphere(np.concatenate([seg.a, seg.b]))
                rows.append((1, wi, c, r + 0.5, c))
            for si, st in enumerate(lay.strings):
                rows.append((2, si, st.centre, st.spec.length / 2 + 0.8, st.centre))
            for ni, n in enumerate(lay.nests):
                rows.append((3, ni, n.centre, n.size, n.centre))
            self._bound_cache = tuple(np.array([row[k] for row in rows]) for k in range(4))
            self._depth_ref = np.array([row[4] for row in rows])
        return self._bound_cache

    def _draw_order(self, cam: Camera) -> list[tuple[int, int]]:
        """(kind, index) of everything in view, far to near. Kinds: 0 tower, 1 wire, 2 string, 3 nest."""
        kinds, idx, centres, radii = self._bounds()
        vis = spheres_in_view(cam, centres, radii)
        assert self._depth_ref is not None
        depth = np.linalg.norm(self._depth_ref - cam.pos, axis=1)
        order = np.nonzero(vis)[0]
        order = order[np.argsort(-depth[order], kind="stable")]
        return [(int(kinds[j]), int(idx[j])) for j in order]

    def truth(self, i: int) -> list[TruthBox]:
        """Ground truth of frame i: insulators (class 0), then their defects, then nests."""
        return self.truth_at(self.pose(i))

    def truth_at(self, pose: Pose) -> list[TruthBox]:
        """Ground truth of the view from any camera pose (as `truth`, which is `truth_at(pose(i))`)."""
        p = self.params
        cam = self._camera_for(pose)
        w, h = p.width, p.height
        out: list[TruthBox] = []
        kinds, idx, centres, radii = self._bounds()
        vis = spheres_in_view(cam, centres, radii)
        hulls = self._tower_hulls(cam, vis, kinds, idx)
        for j in np.nonzero(vis & (kinds == 2))[0]:
            s = self.layout.strings[idx[j]]
            box, defects = string_boxes(cam, s)
            if box is None:
                continue
            clipped = _clip(box, w, h)
            if (
                _visible_share(box, w, h) < MIN_VISIBLE
                or max(clipped[2] - clipped[0], clipped[3] - clipped[1]) < MIN_INSULATOR_PX
            ):
                continue
            si = int(idx[j])
            out.append(TruthBox(INSULATOR, CLASS_NAMES[INSULATOR], clipped, f"s{si}"))
            for k, (cid, dbox) in zip(_defect_indices(cam, s, defects), defects, strict=True):
                dbox = np.concatenate([np.maximum(dbox[:2], box[:2]), np.minimum(dbox[2:], box[2:])])
                dc = _clip(dbox, w, h)
                if _visible_share(dbox, w, h) < MIN_VISIBLE or min(dc[2] - dc[0], dc[3] - dc[1]) < MIN_DEFECT_PX:
                    continue
                if _hidden(hulls, dbox, float(np.linalg.norm(s.centre - cam.pos))):
                    continue
                out.append(TruthBox(cid, CLASS_NAMES[cid], dc, f"s{si}d{k}"))
        nest_id = DEFECT_TYPES["bird_nest"]
        if "bird_nest" in p.defect_types:
            for ni, n in enumerate(self.layout.nests):
                nb = nest_box(cam, n)
                if nb is None:
                    continue
                nc = _clip(nb, w, h)
                if _visible_share(nb, w, h) >= MIN_VISIBLE and min(nc[2] - nc[0], nc[3] - nc[1]) >= MIN_DEFECT_PX:
                    out.append(TruthBox(nest_id, CLASS_NAMES[nest_id], nc, f"n{ni}"))
        return out

    def _tower_hulls(
        self, cam: Camera, vis: np.ndarray, kinds: np.ndarray, idx: np.ndarray
    ) -> list[tuple[float, np.ndarray]]:
        """(distance, projected outline) of each tower body in view, for hiding defects behind it."""
        out = []
        for j in np.nonzero(vis & (kinds == 0))[0]:
            tw = self.layout.towers[idx[j]]
            uv, z = cam.project(tw.body)
            if (z > NEAR).all():
                hull = cv2.convexHull(uv.astype(np.float32))
                out.append((float(np.linalg.norm(tw.centre - cam.pos)), hull))
        return out

    def render_with_truth(self, i: int) -> tuple[np.ndarray, list[TruthBox]]:
        return self.render(i), self.truth(i)


def _parse_object_id(object_id: str) -> tuple[str, int, int | None]:
    """("s", 3, 0) for "s3d0", ("s", 3, None) for "s3", ("n", 1, None) for "n1"."""
    head, _, defect = object_id.partition("d")
    try:
        if head[:1] not in ("s", "n") or (head[0] == "n" and defect):
            raise ValueError
        return head[0], int(head[1:]), int(defect) if defect else None
    except ValueError:
        raise KeyError(f"object id {object_id!r}: expected s<i>, s<i>d<k> or n<i>") from None


def _defect_indices(cam: Camera, s: InsulatorString, defects: list[tuple[int, np.ndarray]]) -> list[int]:
    """Index in `s.defects` of each box `string_boxes` returned (it keeps the visible ones, in order)."""
    if len(defects) == len(s.defects):
        return list(range(len(defects)))
    out, k = [], 0
    for cid, box in defects:
        while not (s.defects[k][0] == cid and np.array_equal(frustum_boxes(cam, s.defects[k][1])[0][0], box)):
            k += 1
        out.append(k)
        k += 1
    return out


def _hidden(hulls: list[tuple[float, np.ndarray]], box: np.ndarray, dist: float) -> bool:
    """True when the box centre lies behind the body of a nearer tower."""
    c = (float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2)
    return any(d < dist and cv2.pointPolygonTest(hull, c, False) >= 0 for d, hull in hulls)


def _clip(box: np.ndarray, w: int, h: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))


def _visible_share(box: np.ndarray, w: int, h: int) -> float:
    area = max(float(box[2] - box[0]), 1e-9) * max(float(box[3] - box[1]), 1e-9)
    c = _clip(box, w, h)
    return max(c[2] - c[0], 0.0) * max(c[3] - c[1], 0.0) / area


@lru_cache(maxsize=4)
def _scene(params: SceneParams) -> Scene:
    return Scene(params)


def render_frame(params: SceneParams, i: int) -> tuple[np.ndarray, list[TruthBox]]:
    """Frame i of the scene `params` describes, and its ground truth (the scene is cached)."""
    if not 0 <= i < params.frames:
        raise IndexError(f"frame {i} outside 0..{params.frames - 1}")
    return _scene(params).render_with_truth(i)


def render_still(
    seed: int,
    width: int = 640,
    height: int = 480,
    defect_types: tuple[str, ...] = DEFAULT_DEFECT_TYPES,
    defect_rate: float = 0.5,
) -> tuple[np.ndarray, list[TruthBox]]:
    """One close-up photo of a fresh random scene (for training sets), with its ground truth."""
    scene = Scene(
        SceneParams(
            mode="still",
            seed=seed,
            width=width,
            height=height,
            frames=1,
            defect_types=defect_types,
            defect_rate=defect_rate,
        )
    )
    return scene.render_with_truth(0)
