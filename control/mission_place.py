"""A mission moved to where a vehicle is: the same line, offset, altitude, speed and geofence, turned and shifted so
its flight path starts at the vehicle and sets off along its heading (`gridscout mission here`).

Every coordinate of the mission file (the line, the geofence) is moved rigidly: taken into the local frame, turned
about the flight path's start so the path's first direction is `heading_deg`, and placed with that start at
(`lat_deg`, `lon_deg`). Properties (altitude above home, standoff, speed, camera) are kept as they are.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from gridscout.control.geodesy import LocalFrame
from gridscout.control.mission import Mission, parse_mission


def start_and_bearing(mission: Mission) -> tuple[tuple[float, float], float]:
    """The flight path's start (lat, lon) and its first direction (degrees from north)."""
    lat, lon, _ = mission.frame.to_global(*mission.path.point_at(0.0))
    de, dn = mission.path.tangent_at(0.0)
    return (lat, lon), math.degrees(math.atan2(de, dn)) % 360.0


def place_mission(obj: dict[str, Any], lat_deg: float, lon_deg: float, heading_deg: float, *, source: str,
                  name: str | None = None) -> dict[str, Any]:  # fmt: skip
    """`obj` (a mission GeoJSON object) moved so its flight path starts at (lat, lon) heading `heading_deg`;
    MissionError (naming `source`) when `obj` is not a mission. `name`: the line's new name (default: kept)."""
    mission = parse_mission(obj, source)
    sx, sy = mission.path.point_at(0.0)
    _, bearing = start_and_bearing(mission)
    turn = math.radians(heading_deg - bearing)  # clockwise, as bearings go
    cos, sin = math.cos(turn), math.sin(turn)
    there = LocalFrame(lat_deg, lon_deg, 0.0)

    def move(position: list[float]) -> list[float]:
        east, north, _ = mission.frame.to_local(position[1], position[0])
        de, dn = east - sx, north - sy
        lat, lon, _ = there.to_global(de * cos + dn * sin, -de * sin + dn * cos)
        return [round(lon, 8), round(lat, 8), *position[2:]]

    moved = copy.deepcopy(obj)
    for feature in _features(moved):
        geometry = feature.get("geometry") or {}
        if geometry.get("type") == "LineString":
            geometry["coordinates"] = [move(p) for p in geometry["coordinates"]]
            if name is not None:
                feature.setdefault("properties", {})["name"] = name
        elif geometry.get("type") == "Polygon":
            geometry["coordinates"] = [[move(p) for p in ring] for ring in geometry["coordinates"]]
    parse_mission(moved, source)  # still a mission (it always is: a rigid move keeps every check)
    return moved


def _features(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj.get("features", []) if obj.get("type") == "FeatureCollection" else [obj]
