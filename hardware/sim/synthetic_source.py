"""`synthetic://` camera source: rendered inspection footage with known ground truth.

    synthetic://drone?seed=3&frames=300&width=640&height=480&fps=10   a drone pass along the line
    synthetic://crawler?seed=3                                        a ride on a conductor
    synthetic://still?seed=3&frames=50                                unrelated close-up photos
    synthetic://demo                                                  the fixed demo flight
    synthetic://demo?follow=vehicle                                   the demo scene, seen from the vehicle

Query keys: seed, frames, width, height, fps, speed (m/s), defect_rate (0..1) and defect_types
(comma list of missing_cap, broken_disc, bird_nest); lat, lon, ground_alt (m above sea level) and
bearing (the line's direction, degrees clockwise from north) place the scene on the earth. Frames are
rendered on demand and are a pure function of the URI; `truth(frame_id)` gives each frame's boxes,
`Frame.pose` its camera pose, and `object_geo(frame_id, object_id)` where a box's object truly is.

`follow=vehicle` (drone and demo scenes only) makes it a live source (`follow_source.FollowSource`) whose
frames are rendered, at `fps`, from where the vehicle is: the camera process hands it the vehicle's pose
from telemetry, and the camera sits there with the scene's gimbal angles relative to the line (those the
flight's mission file gives `[geotag]`). `frames` then only sizes the scene (how much line it builds).
Open it with `open_synthetic` (what `open_source` does); `SyntheticSource` refuses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from gridscout.hardware.camera.base import FrameSource, SourceError
from gridscout.hardware.frame import CameraPose, Frame
from gridscout.hardware.sim.scene.classes import parse_defect_types
from gridscout.hardware.sim.scene.scene import Scene, SceneParams, TruthBox

__all__ = [
    "DEMO",
    "FOLLOW_TARGETS",
    "SyntheticSource",
    "TruthBox",
    "open_synthetic",
    "params_from_uri",
    "parse_synthetic",
    "render_synthetic",
]

#: the bundled demo: a drone pass with several missing caps going by (make_demo writes it to mp4)
DEMO = SceneParams(mode="drone", seed=42, frames=260, fps=10.0, defect_rate=0.5)

KINDS = ("drone", "crawler", "still", "demo")


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def conv(v: str) -> int:
        try:
            n = int(v)
        except ValueError:
            raise ValueError from None
        if not lo <= n <= hi:
            raise ValueError
        return n

    conv.__doc__ = f"an integer {lo}..{hi}"
    return conv


def _float(lo: float, hi: float, lo_open: bool = False) -> Callable[[str], float]:
    def conv(v: str) -> float:
        try:
            x = float(v)
        except ValueError:
            raise ValueError from None
        if not (np.isfinite(x) and (x > lo if lo_open else x >= lo) and x <= hi):
            raise ValueError
        return x

    conv.__doc__ = f"a number {'>' if lo_open else '>='} {lo:g} and <= {hi:g}"
    return conv


def _defects(v: str) -> tuple[str, ...]:
    return parse_defect_types(v)


_defects.__doc__ = "a comma list of missing_cap, broken_disc, bird_nest"

# query key -> (SceneParams field, converter whose docstring says what it expects)
KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "seed": ("seed", _int(0, 2**63 - 1)),
    "frames": ("frames", _int(1, 10_000_000)),
    "width": ("width", _int(16, 4096)),
    "height": ("height", _int(16, 4096)),
    "fps": ("fps", _float(0.0, 240.0, lo_open=True)),
    "speed": ("speed", _float(0.0, 50.0, lo_open=True)),
    "defect_rate": ("defect_rate", _float(0.0, 1.0)),
    "defect_types": ("defect_types", _defects),
    "lat": ("lat", _float(-85.0, 85.0)),
    "lon": ("lon", _float(-180.0, 180.0)),
    "ground_alt": ("ground_alt_m", _float(-500.0, 9000.0)),
    "bearing": ("bearing_deg", _float(0.0, 359.999)),
}


#: what `follow=` may name: the vehicle whose telemetry the frames are rendered from
FOLLOW_TARGETS = ("vehicle",)


def _follow(v: str) -> str:
    if v not in FOLLOW_TARGETS:
        raise ValueError
    return v


_follow.__doc__ = f"one of {', '.join(FOLLOW_TARGETS)}"

# query key -> converter: options of the source, not of the scene
SOURCE_KEYS: dict[str, Callable[[str], Any]] = {"follow": _follow}


def params_from_uri(uri: str) -> SceneParams:
    """Parse a `synthetic://` URI into scene parameters; SourceError names any bad part."""
    return parse_synthetic(uri)[0]


def parse_synthetic(uri: str) -> tuple[SceneParams, dict[str, Any]]:
    """Scene parameters and source options (`follow`) of a `synthetic://` URI; SourceError names any bad part."""
    parts = urlsplit(uri)
    if parts.scheme != "synthetic":
        raise SourceError(f"{uri}: not a synthetic:// URI")
    kind = (parts.netloc or parts.path.strip("/")).lower()
    if kind not in KINDS:
        raise SourceError(f"{uri}: unknown synthetic scene {kind!r}; expected one of {', '.join(KINDS)}")
    params = DEMO if kind == "demo" else SceneParams(mode=kind, frames=100 if kind == "still" else 300)
    seen: set[str] = set()
    changes: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in KEYS and key not in SOURCE_KEYS:
            raise SourceError(f"{uri}: unknown query key {key!r}; expected one of {', '.join([*KEYS, *SOURCE_KEYS])}")
        if key in seen:
            raise SourceError(f"{uri}: query key {key!r} given twice")
        seen.add(key)
        field, conv = KEYS[key] if key in KEYS else (key, SOURCE_KEYS[key])
        try:
            (changes if key in KEYS else options)[field] = conv(value)
        except ValueError as exc:
            detail = f" ({exc})" if str(exc) else ""
            raise SourceError(f"{uri}: bad value {value!r} for {key!r}: expected {conv.__doc__}{detail}") from None
    if "follow" in options and params.mode != "drone":
        raise SourceError(f"{uri}: bad value for 'follow': only a drone flight (drone, demo) can follow a vehicle")
    try:
        return replace(params, **changes), options
    except ValueError as exc:
        raise SourceError(f"{uri}: {exc}") from None


def _still_seed(seed: int, i: int) -> int:
    return int(np.random.SeedSequence([seed, i]).generate_state(1, np.uint64)[0] >> 1)


class SyntheticSource(FrameSource):
    """Rendered footage as a file-like source (not live): every frame, in order, then the end."""

    is_live = False

    def __init__(self, uri: str) -> None:
        super().__init__()
        self.uri = uri
        self.params, options = parse_synthetic(uri)
        if "follow" in options:
            raise SourceError(f"{uri}: follow= makes a live source; open it with open_synthetic or open_source")
        kind = (urlsplit(uri).netloc or urlsplit(uri).path.strip("/")).lower()
        self._stills = kind == "still"
        self.frame_count = self.params.frames
        self.fps = self.params.fps
        self.name = "synthetic-demo" if kind == "demo" else f"synthetic-{kind}-s{self.params.seed}"
        self._scene: Scene | None = None
        self._last: tuple[int, Scene, tuple[np.ndarray, list[TruthBox]]] | None = None  # stills are slow: keep one

    @property
    def scene(self) -> Scene:
        """The built scene (built on first use; stills have one scene per frame instead)."""
        if self._scene is None:
            self._scene = Scene(self.params)
        return self._scene

    def scene_of(self, frame_id: int) -> Scene:
        """The scene frame `frame_id` is rendered from (each still is a scene of its own)."""
        self._check(frame_id)
        if not self._stills:
            return self.scene
        return self._still(frame_id)[0]

    def _still(self, frame_id: int) -> tuple[Scene, tuple[np.ndarray, list[TruthBox]]]:
        if self._last is None or self._last[0] != frame_id:
            # the same scene as render_still(seed, ...) with this URI's place on the earth
            params = replace(self.params, seed=_still_seed(self.params.seed, frame_id), frames=1, fps=10.0)
            scene = Scene(params)
            self._last = (frame_id, scene, scene.render_with_truth(0))
        return self._last[1], self._last[2]

    def render(self, frame_id: int) -> tuple[np.ndarray, list[TruthBox]]:
        """Image and ground truth of one frame, in any order."""
        self._check(frame_id)
        if self._stills:
            image, truth = self._still(frame_id)[1]
            return image.copy(), list(truth)
        return self.scene.render_with_truth(frame_id)

    def pose(self, frame_id: int) -> CameraPose:
        """The camera pose of one frame."""
        return self.scene_of(frame_id).camera_pose(0 if self._stills else frame_id)

    def object_geo(self, frame_id: int, object_id: str) -> tuple[float, float, float]:
        """(lat, lon, altitude above sea level) of an object in frame `frame_id`'s truth (`TruthBox.object_id`)."""
        return self.scene_of(frame_id).object_geo(object_id)

    def truth(self, frame_id: int) -> list[TruthBox]:
        """Ground-truth boxes of a frame (pixel xyxy, clipped to the frame)."""
        self._check(frame_id)
        if self._stills:
            return self.render(frame_id)[1]
        return self.scene.truth(frame_id)

    def _check(self, frame_id: int) -> None:
        if not 0 <= frame_id < (self.frame_count or 0):
            raise IndexError(f"{self.name}: frame {frame_id} outside 0..{(self.frame_count or 0) - 1}")

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Frame]:
        """Frames from `start` on, rendering none before it."""
        for i in range(max(0, start), self.frame_count or 0):
            image = self.render(i)[0] if self._stills else self.scene.render(i)
            yield Frame(
                image=image,
                frame_id=i,
                t_capture_mono_ns=time.monotonic_ns(),
                t_capture_wall_ns=time.time_ns(),
                source_name=self.name,
                name=f"{self.name}#{i:06d}",
                pose=self.pose(i),
            )


def open_synthetic(uri: str) -> FrameSource:
    """The source of a `synthetic://` URI: `SyntheticSource`, or with `follow=` a `FollowSource`."""
    if "follow" not in parse_synthetic(uri)[1]:
        return SyntheticSource(uri)
    from gridscout.hardware.sim.follow_source import FollowSource  # it builds on this module

    return FollowSource(uri)


def render_synthetic(uri: str, frame_id: int) -> tuple[np.ndarray, list[TruthBox]]:
    """Frame `frame_id` of a synthetic URI and its truth, without the source wrapper."""
    return SyntheticSource(uri).render(frame_id)
