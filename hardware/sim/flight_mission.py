"""The mission file of a synthetic flight, so a vehicle simulator flies the line the footage was rendered on.

    python -m gridscout.hardware.sim.flight_mission synthetic://demo demo.mission.geojson

The file is `control.mission`'s format: a FeatureCollection of the line's route (the towers' centre line,
or a crawler's conductor) as a LineString, and a geofence Polygon around the flight. Its properties:
`standoff_m` (the drone's side offset; right of the direction of travel is positive), `altitude_m` (the
camera's height above home, the ground), `cruise_speed_mps` (the transit speed between towers; the
footage slows at towers) and `line_height_m`, the height of the inspected insulators: the level the drone
flies beside, or the crawler's conductor. `camera` (which control.mission does not read) holds
`camera_setup`'s values, so the file alone says how to geotag the footage from a vehicle flying it.

`camera_setup` gives the `[geotag]` values of the footage's camera relative to the direction of flight
(a gimbal: yaw off the nose, pitch in the world; its horizontal field of view), for a run that geotags the
footage from a simulated vehicle's telemetry.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gridscout.hardware.sim.follow_source import gimbal_angles
from gridscout.hardware.sim.scene.flight import CrawlerFlight, DroneFlight
from gridscout.hardware.sim.scene.scene import Scene, SceneParams
from gridscout.hardware.sim.synthetic_source import params_from_uri

#: the geofence's margin around the flight, metres (beyond the line's ends and beyond the drone's side)
GEOFENCE_MARGIN_M = 25.0


def _scene(scene: Scene | SceneParams | str) -> Scene:
    if isinstance(scene, Scene):
        return scene
    return Scene(params_from_uri(scene) if isinstance(scene, str) else scene)


def flight_mission(scene: Scene | SceneParams | str) -> dict[str, Any]:
    """The mission GeoJSON (a dict) of a drone or crawler scene's flight; ValueError for stills."""
    sc = _scene(scene)
    flight = sc.flight
    p = sc.params
    duration = p.frames / p.fps
    geo = sc.georef
    if isinstance(flight, DroneFlight):
        x0, x1 = (
            float(flight.table[0]),
            float(np.interp(duration * flight.rate, np.arange(len(flight.table)), flight.table)),
        )
        route = [(x0, 0.0), (x1, 0.0)]
        standoff = -float(flight.start[1])  # the flight path is at Y = start[1]; right of +X is -Y
        altitude = float(flight.start[2])
        speed = flight.speed
        line_height = _level_height(sc, flight.level)
        half_width = abs(standoff) + GEOFENCE_MARGIN_M
    elif isinstance(flight, CrawlerFlight):
        x0, x1 = flight.x0, flight.x0 + flight.speed * duration
        xs = flight.path[:, 0]
        inside = (xs > x0) & (xs < x1)
        ends = [(x, float(np.interp(x, xs, flight.path[:, 1]))) for x in (x0, x1)]
        route = [ends[0], *((float(x), float(y)) for x, y in flight.path[inside, :2]), ends[1]]
        standoff, speed = 0.0, flight.speed
        altitude = line_height = float(np.mean(np.interp([x for x, _ in route], xs, flight.path[:, 2])))
        half_width = max(abs(y) for _, y in route) + GEOFENCE_MARGIN_M
    else:
        raise ValueError(f"synthetic://{p.mode} is a set of stills, not a flight along a line: no mission")
    line = [_lon_lat(geo.to_global(x, y)) for x, y in route]
    m = GEOFENCE_MARGIN_M
    ring = [(x0 - m, -half_width), (x1 + m, -half_width), (x1 + m, half_width), (x0 - m, half_width)]
    fence = [_lon_lat(geo.to_global(x, y)) for x, y in [*ring, ring[0]]]
    name = f"synthetic-{p.mode}-s{p.seed}"
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {
                    "name": name,
                    "standoff_m": round(standoff, 3),
                    "altitude_m": round(altitude, 3),
                    "cruise_speed_mps": round(speed, 3),
                    "line_height_m": round(line_height, 3),
                    "camera": camera_setup(sc),
                },
            },
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [fence]},
                "properties": {"name": "geofence"},
            },
        ],
    }


def _lon_lat(lat_lon_alt: tuple[float, float, float]) -> list[float]:
    lat, lon, _ = lat_lon_alt
    return [round(lon, 8), round(lat, 8)]


def _level_height(sc: Scene, level: int) -> float:
    """Mean height of the string centres hanging from crossarm `level` (where the drone looks for defects)."""
    arm_z = sc.layout.design.arm_z[level]
    heights = [float(s.centre[2]) for s in sc.layout.strings if abs(s.spec.start[2] - arm_z) < 0.5]
    return float(np.mean(heights)) if heights else float(arm_z)


def camera_setup(scene: Scene | SceneParams | str) -> dict[str, Any]:
    """`[geotag]` values for the footage's camera on a vehicle flying the mission nose first: a gimbal whose
    yaw is the view's mean angle off the direction of travel, its pitch, and the horizontal field of view."""
    sc = _scene(scene)
    yaw, pitch = gimbal_angles(sc)  # what a synthetic://...?follow=vehicle camera renders with
    return {
        "mount": "gimbal",
        "mount_yaw_deg": round(-math.degrees(yaw), 3),
        "mount_pitch_deg": round(math.degrees(pitch), 3),
        "mount_roll_deg": 0.0,
        "hfov_deg": round(math.degrees(2 * math.atan(sc.params.width / 2 / sc.f)), 4),
    }


def write_flight_mission(scene: Scene | SceneParams | str, path: Path) -> Path:
    """Write `flight_mission(scene)` to `path` as GeoJSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(flight_mission(scene), indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gridscout.hardware.sim.flight_mission",
        description="Write the mission file (GeoJSON) of a synthetic flight, and print its camera's [geotag] values.",
    )
    parser.add_argument("uri", help="a synthetic:// drone or crawler URI, e.g. synthetic://demo")
    parser.add_argument("out", type=Path, help="the mission file to write")
    args = parser.parse_args(argv)
    try:
        write_flight_mission(args.uri, args.out)
        setup = camera_setup(args.uri)
    except (ValueError, RuntimeError) as exc:  # a still scene; a bad URI (SourceError)
        print(f"flight_mission: error: {exc}", file=sys.stderr)
        return 2
    print(f"mission  {args.out}")
    print("[geotag]  " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in setup.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
