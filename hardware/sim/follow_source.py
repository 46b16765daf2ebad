"""`synthetic://...?follow=vehicle`: a live source rendering the scene from where the vehicle is.

    source = open_source("synthetic://demo?follow=vehicle")
    source.follow_vehicle(lambda: VehiclePose(lat, lon, alt_rel_m=16.4, yaw_deg=62.0))
    for frame in source: ...

Each frame slot (paced at the URI's `fps`) asks the callable for the vehicle's latest pose, lays it into
the scene through its GeoRef (`scene.georef.from_global`; height: above home, which is the scene's ground),
and renders the camera there with the scene's own gimbal angles relative to the vehicle's nose: yaw off it
and pitch in the world as the scene's DroneFlight has them, no roll (`gimbal_angles`, which is also what
`flight_mission.camera_setup` writes into the mission's `camera` property for `[geotag]`). So a geotag
cast from the same telemetry with that mount agrees with the frame. Without a vehicle yaw the nose is
taken along the line. Until the callable gives a pose the source waits (logging so once) rather than
invent one. Frame ids run on from `iter_from(start)`; the poses of the latest `KEEP_POSES` frames are
kept, so `pose`, `truth`, `render` and `object_geo` answer for them.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import numpy as np

from gridscout.hardware.camera.base import FrameSource, SourceError
from gridscout.hardware.frame import CameraPose, Frame, VehiclePose
from gridscout.hardware.sim.scene.flight import CrawlerFlight, DroneFlight, Pose
from gridscout.hardware.sim.scene.scene import Scene, TruthBox
from gridscout.hardware.sim.synthetic_source import parse_synthetic

__all__ = ["KEEP_POSES", "FollowSource", "gimbal_angles", "scene_pose"]

log = logging.getLogger(__name__)

#: frames whose poses are kept for truth look-ups (two minutes at 10 fps)
KEEP_POSES = 1200


def gimbal_angles(scene: Scene) -> tuple[float, float]:
    """The scene's camera relative to the vehicle flying its line nose first: (yaw off the nose, pitch in the
    world), radians in the renderer's sense (yaw from +X towards +Y, pitch up)."""
    flight = scene.flight
    if not isinstance(flight, DroneFlight | CrawlerFlight):
        raise ValueError(f"synthetic://{scene.params.mode} is a set of stills, not a flight along a line")
    return float(flight.yaw), float(flight.pitch)


def scene_pose(scene: Scene, vehicle: VehiclePose) -> Pose:
    """The scene camera on `vehicle`: its position in scene metres, the gimbal's angles about its nose."""
    if vehicle.alt_rel_m is None and vehicle.alt_m is None:
        raise ValueError("a vehicle pose without an altitude cannot place the camera")
    x, y, z = scene.georef.from_global(vehicle.lat_deg, vehicle.lon_deg, vehicle.alt_m)
    if vehicle.alt_rel_m is not None:
        z = vehicle.alt_rel_m  # home is on the scene's ground, whatever the vehicle's idea of sea level
    nose = 0.0 if vehicle.yaw_deg is None else math.radians(scene.georef.bearing_deg - vehicle.yaw_deg)
    yaw_off, pitch = gimbal_angles(scene)
    yaw = math.remainder(nose + yaw_off, math.tau)
    return Pose(np.array([x, y, z], float), yaw, pitch, 0.0)


class FollowSource(FrameSource):
    """A live source: the scene of a `synthetic://` drone URI, rendered at its `fps` from the vehicle's pose."""

    is_live = True
    follows_vehicle = True

    def __init__(self, uri: str, vehicle_pose: Callable[[], VehiclePose | None] | None = None) -> None:
        super().__init__()
        self.uri = uri
        self.params, options = parse_synthetic(uri)
        if options.get("follow") != "vehicle":
            raise SourceError(f"{uri}: a FollowSource needs follow=vehicle")
        self.fps = self.params.fps
        self.frame_count = None
        demo = (urlsplit(uri).netloc or urlsplit(uri).path.strip("/")).lower() == "demo"
        self.name = "synthetic-demo-follow" if demo else f"synthetic-drone-s{self.params.seed}-follow"
        self.dropped_frames = 0
        #: True while no vehicle pose is known (nothing is rendered)
        self.waiting = False
        self._vehicle_pose = vehicle_pose
        self._scene: Scene | None = None
        self._poses: OrderedDict[int, Pose] = OrderedDict()

    def follow_vehicle(self, vehicle_pose: Callable[[], VehiclePose | None]) -> None:
        self._vehicle_pose = vehicle_pose

    @property
    def scene(self) -> Scene:
        """The built scene (built on first use)."""
        if self._scene is None:
            self._scene = Scene(self.params)
        return self._scene

    def scene_pose(self, vehicle: VehiclePose) -> Pose:
        """Where the camera is in the scene when the vehicle is at `vehicle`."""
        return scene_pose(self.scene, vehicle)

    def render_at(self, vehicle: VehiclePose, frame_id: int = 0) -> tuple[np.ndarray, list[TruthBox]]:
        """Image and ground truth of the view from `vehicle` (`frame_id` numbers the sensor noise)."""
        pose = self.scene_pose(vehicle)
        return self.scene.render_at(pose, frame_id), self.scene.truth_at(pose)

    def _pose(self, frame_id: int) -> Pose:
        if frame_id not in self._poses:
            raise IndexError(f"{self.name}: frame {frame_id} was not rendered here or is no longer kept")
        return self._poses[frame_id]

    def pose(self, frame_id: int) -> CameraPose:
        """The camera pose of a rendered frame."""
        return self.scene.camera_pose_at(self._pose(frame_id))

    def render(self, frame_id: int) -> tuple[np.ndarray, list[TruthBox]]:
        """Image and ground truth of a rendered frame, again."""
        pose = self._pose(frame_id)
        return self.scene.render_at(pose, frame_id), self.scene.truth_at(pose)

    def truth(self, frame_id: int) -> list[TruthBox]:
        """Ground-truth boxes of a rendered frame (pixel xyxy, clipped to the frame)."""
        return self.scene.truth_at(self._pose(frame_id))

    def object_geo(self, frame_id: int, object_id: str) -> tuple[float, float, float]:
        """(lat, lon, altitude above sea level) of an object in a rendered frame's truth."""
        self._pose(frame_id)
        return self.scene.object_geo(object_id)

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Frame]:
        """Frames numbered from `start` on, one per 1/fps slot once the vehicle's pose is known. A slot missed
        (rendering or the consumer ran late) is skipped and counted in `dropped_frames`, as a camera would."""
        if self._vehicle_pose is None:
            raise SourceError(f"{self.uri}: follow=vehicle needs the vehicle's pose (follow_vehicle); none was given")
        scene, period_ns, i = self.scene, round(1e9 / self.fps), max(0, start)
        due_ns = time.monotonic_ns()
        while True:
            delay_ns = due_ns - time.monotonic_ns()
            if delay_ns > 0:
                time.sleep(delay_ns / 1e9)
            due_ns += period_ns
            vehicle = self._vehicle_pose()
            if vehicle is None:
                if not self.waiting:
                    log.info("%s: waiting for the vehicle's pose; rendering nothing until it is known", self.name)
                self.waiting = True
                continue
            if self.waiting:
                log.info("%s: following the vehicle from frame %d", self.name, i)
                self.waiting = False
            t_mono, t_wall = time.monotonic_ns(), time.time_ns()
            pose = scene_pose(scene, vehicle)
            image = scene.render_at(pose, i)
            self._poses[i] = pose
            while len(self._poses) > KEEP_POSES:
                self._poses.popitem(last=False)
            yield Frame(
                image=image,
                frame_id=i,
                t_capture_mono_ns=t_mono,
                t_capture_wall_ns=t_wall,
                source_name=self.name,
                name=f"{self.name}#{i:06d}",
                pose=scene.camera_pose_at(pose),
            )
            i += 1
            late = (time.monotonic_ns() - due_ns) // period_ns
            if late > 0:  # whole slots already gone: skip them rather than burst
                self.dropped_frames += int(late)
                due_ns += int(late) * period_ns


def _own_vehicle(scene: Scene, i: int) -> VehiclePose:
    """The vehicle under the scene's own camera at frame i, nose along the line."""
    cam = scene.camera_pose(i)
    yaw_off, _ = gimbal_angles(scene)
    return VehiclePose(cam.lat_deg, cam.lon_deg, None, cam.alt_rel_m, (cam.yaw_deg + math.degrees(yaw_off)) % 360.0)


def main(argv: list[str] | None = None) -> int:
    """Time follow frames (pose mapping and rendering) from vehicles along the scene's own flight."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m gridscout.hardware.sim.follow_source", description=main.__doc__)
    parser.add_argument("uri", nargs="?", default="synthetic://demo?follow=vehicle")
    args = parser.parse_args(argv)
    source = FollowSource(args.uri)
    scene = source.scene
    times = []
    for i in range(scene.params.frames):
        t0 = time.perf_counter()
        scene.render_at(source.scene_pose(_own_vehicle(scene, i)), i)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    p = scene.params
    print(
        f"{args.uri}: {len(ms)} frames at {p.width}x{p.height}: median {np.median(ms):.1f} ms, "
        f"p90 {np.percentile(ms, 90):.1f} ms, max {ms.max():.1f} ms a frame "
        f"({1e3 / np.median(ms):.0f} frames/s at the median; the URI asks {p.fps:g})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
