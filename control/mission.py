"""The inspection mission: a conductor route to fly beside, read from GeoJSON, and path guidance along it.

A mission file is a GeoJSON Feature whose geometry is the LineString of the conductor route (lon, lat
as GeoJSON has them), or a FeatureCollection of that one LineString feature and at most one Polygon
feature, the geofence. The LineString feature's properties set the flight:

    standoff_m        offset of the flight path, to the RIGHT of the direction of travel (negative: left); default 0
    altitude_m        flight altitude above home (required)
    cruise_speed_mps  cruise speed along the path (required)
    line_height_m     the conductor's height above home, when known (optional)
    name              what to call the mission (default: the file's stem)

Everything is worked in `Mission.frame`, a local east-north-up frame at the route's first point. The
flight path is the route offset sideways (mitred corners); `velocity_setpoint` steers along it.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from gridscout.control.geodesy import LocalFrame, point_in_polygon, segment_crosses_polygon

_MIN_SEGMENT_M = 0.01  # consecutive route points closer than this are one point
#: the fastest correction `velocity_setpoint` adds back onto the path or the altitude, by default (m/s)
MAX_CORRECTION_MPS = 2.0


class MissionError(ValueError):
    """A mission file that cannot be flown; the message names the file and what was expected."""


@dataclass(frozen=True)
class Path2D:
    """A polyline in a local frame (east, north metres), walked by arc length s from its first point."""

    points: tuple[tuple[float, float], ...]
    _cum: tuple[float, ...] = field(init=False, repr=False, compare=False)
    #: per segment: start east, start north, unit direction (de, dn), length, bounding box (e, n min and max)
    _segments: tuple[tuple[float, ...], ...] = field(init=False, repr=False, compare=False)
    #: the last `locate` query and its answer: the gate asks about one position several times a tick
    _last: list = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pts = tuple((float(e), float(n)) for e, n in self.points)
        if len(pts) < 2 or not all(math.isfinite(c) for p in pts for c in p):
            raise ValueError(f"a path needs two or more finite points, got {pts!r}")
        cum, segments = [0.0], []
        for (e0, n0), (e1, n1) in itertools.pairwise(pts):
            length = math.hypot(e1 - e0, n1 - n0)
            if length <= 0.0:
                raise ValueError(f"a path's consecutive points must differ, got {(e0, n0)!r} twice")
            cum.append(cum[-1] + length)
            de, dn = (e1 - e0) / length, (n1 - n0) / length
            segments.append((e0, n0, de, dn, length, min(e0, e1), max(e0, e1), min(n0, n1), max(n0, n1)))
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "_cum", tuple(cum))
        object.__setattr__(self, "_segments", tuple(segments))
        object.__setattr__(self, "_last", [None, None])

    @property
    def length_m(self) -> float:
        return self._cum[-1]

    def _segment(self, s_m: float) -> int:
        """Index of the segment holding arc length s (clamped to the path; a vertex belongs to the segment
        after it)."""
        return min(max(bisect.bisect_right(self._cum, s_m) - 1, 0), len(self._segments) - 1)

    def point_at(self, s_m: float) -> tuple[float, float]:
        """(east, north) at arc length s, clamped to the path's ends."""
        s = min(max(s_m, 0.0), self.length_m)
        i = self._segment(s)
        e0, n0, de, dn = self._segments[i][:4]
        along = s - self._cum[i]
        return e0 + de * along, n0 + dn * along

    def tangent_at(self, s_m: float) -> tuple[float, float]:
        """Unit direction of travel (de, dn) at arc length s (at a corner: the segment after it)."""
        return self._segments[self._segment(min(max(s_m, 0.0), self.length_m))][2:4]

    def locate(self, east: float, north: float) -> tuple[float, float, float]:
        """(s, cross, beyond): the nearest point's arc length (clamped to the path), the signed offset to
        the right of the direction of travel, and how far along the path's extension the point lies past
        an end (negative before the start, positive after the end, 0 alongside the path)."""
        if self._last[0] == (east, north):
            return self._last[1]
        best_d2, best = math.inf, (0.0, 0.0, 0.0)
        last = len(self._segments) - 1
        for i, (e0, n0, de, dn, seg, e_lo, e_hi, n_lo, n_hi) in enumerate(self._segments):
            gap_e = max(e_lo - east, 0.0, east - e_hi)
            gap_n = max(n_lo - north, 0.0, north - n_hi)
            if gap_e * gap_e + gap_n * gap_n >= best_d2:
                continue  # its bounding box is further away than the nearest point so far
            along = (east - e0) * de + (north - n0) * dn
            perp = (east - e0) * dn - (north - n0) * de  # right normal is (dn, -de)
            clamped = min(max(along, 0.0), seg)
            d2 = (along - clamped) ** 2 + perp * perp
            if d2 >= best_d2 - 1e-12:
                continue
            beyond = along if i == 0 and along < 0.0 else along - seg if i == last and along > seg else 0.0
            cross = perp
            if beyond == 0.0 and clamped != along:  # nearest to an interior vertex: the distance is radial
                cross = math.copysign(math.sqrt(d2), perp if perp != 0.0 else 1.0)
            best_d2, best = d2, (self._cum[i] + clamped, cross, beyond)
        self._last[:] = [(east, north), best]
        return best

    def project(self, east: float, north: float) -> tuple[float, float]:
        """(s_m, cross_m): arc length of the nearest point on the path (in [0, length]) and the signed
        offset to the right of the direction of travel there."""
        s, cross, _ = self.locate(east, north)
        return s, cross


def _clamp(x: float, limit: float) -> float:
    return min(max(x, -limit), limit)


def velocity_setpoint(
    path: Path2D,
    east: float,
    north: float,
    up: float,
    speed_mps: float,
    altitude_m: float,
    *,
    gain_cross: float = 0.5,
    gain_alt: float = 0.8,
    max_correction_mps: float = MAX_CORRECTION_MPS,
) -> tuple[float, float, float]:
    """(v_north, v_east, v_down) in m/s, NED as MAVLink wants, to fly `path` at `speed_mps`.

    `east`, `north` are the vehicle's position in the path's frame; `up` is its height in the datum
    `altitude_m` is given in (above home: pass telemetry's alt_rel_m, not the frame's up, which the
    earth's curvature bends). The velocity is `speed_mps` along the tangent at the nearest point
    (negative: backwards), plus a correction back onto the path (gain_cross per metre of cross-track
    error) and to the altitude (gain_alt per metre), each at most max_correction_mps. At an end of the
    path, in the direction of travel, the along-track speed stops, and a vehicle past the end is
    brought back to it: never any velocity beyond s=0 or s=length."""
    s, cross, beyond = path.locate(east, north)
    de, dn = path.tangent_at(s)
    along = speed_mps
    at_end = s >= path.length_m and speed_mps >= 0.0
    at_start = s <= 0.0 and speed_mps <= 0.0
    if at_end or at_start:
        along = _clamp(-gain_cross * beyond, max_correction_mps)
        if (at_end and along > 0.0) or (at_start and along < 0.0):
            along = 0.0
    v_cross = _clamp(-gain_cross * cross, max_correction_mps)
    v_up = _clamp(gain_alt * (altitude_m - up), max_correction_mps)
    v_east = along * de + v_cross * dn
    v_north = along * dn - v_cross * de
    return v_north, v_east, -v_up


@dataclass(frozen=True)
class Mission:
    """One inspection flight: the conductor route and how to fly it (see the module docstring)."""

    #: (lon, lat) pairs as in GeoJSON: the conductor route
    line: tuple[tuple[float, float], ...]
    #: the flight path is the line offset this far to the right of the direction of travel (negative: left)
    standoff_m: float
    #: flight altitude above home
    altitude_m: float
    cruise_speed_mps: float
    #: (lon, lat) ring, or None
    geofence: tuple[tuple[float, float], ...] | None
    #: the conductor's height above home, when known
    line_height_m: float | None
    name: str

    @cached_property
    def frame(self) -> LocalFrame:
        """The local east-north-up frame at the line's first point (alt0 0)."""
        lon, lat = self.line[0]
        return LocalFrame(lat, lon, 0.0)

    @cached_property
    def line_path(self) -> Path2D:
        """The conductor route itself in the local frame."""
        return Path2D(tuple(self.frame.to_local(lat, lon)[:2] for lon, lat in self.line))

    @cached_property
    def path(self) -> Path2D:
        """The flight path: the route offset standoff_m to the right, in the local frame."""
        return Path2D(_offset(self.line_path.points, self.standoff_m))

    @cached_property
    def geofence_local(self) -> tuple[tuple[float, float], ...] | None:
        """The geofence ring in the local frame (east, north), or None."""
        if self.geofence is None:
            return None
        return tuple(self.frame.to_local(lat, lon)[:2] for lon, lat in self.geofence)


def _offset(points: Sequence[tuple[float, float]], d: float) -> tuple[tuple[float, float], ...]:
    """The polyline moved d to the right of its direction, corners mitred. Raises ValueError (naming the
    corner) where the offset would fold back on itself or the line doubles back."""
    if d == 0.0:
        return tuple(points)
    normals = []
    for (e0, n0), (e1, n1) in itertools.pairwise(points):
        length = math.hypot(e1 - e0, n1 - n0)
        normals.append(((n1 - n0) / length, -(e1 - e0) / length))
    out = [(points[0][0] + d * normals[0][0], points[0][1] + d * normals[0][1])]
    for i in range(1, len(points) - 1):
        (ae, an), (be, bn) = normals[i - 1], normals[i]
        me, mn = ae + be, an + bn
        norm = math.hypot(me, mn)
        if norm < 1e-6:
            raise ValueError(f"the line doubles back on itself at point {i}")
        me, mn = me / norm, mn / norm
        scale = d / (me * be + mn * bn)  # the mitre: d / cos(half the turn)
        out.append((points[i][0] + me * scale, points[i][1] + mn * scale))
    out.append((points[-1][0] + d * normals[-1][0], points[-1][1] + d * normals[-1][1]))
    for i in range(len(points) - 1):
        oe, on = out[i + 1][0] - out[i][0], out[i + 1][1] - out[i][1]
        pe, pn = points[i + 1][0] - points[i][0], points[i + 1][1] - points[i][1]
        if oe * pe + on * pn <= 0.0:
            raise ValueError(f"a standoff of {d:g} m folds the path back between points {i} and {i + 1}")
    return tuple(out)


def load_mission(path: str | Path) -> Mission:
    """Read a mission file (see the module docstring). Raises MissionError naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise MissionError(f"{p}: cannot read the mission file ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise MissionError(f"{p}: expected a GeoJSON text file, got bytes that are not UTF-8") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise MissionError(f"{p}: expected GeoJSON, got invalid JSON at line {e.lineno} column {e.colno}") from None
    return parse_mission(obj, str(p))


def parse_mission(obj: dict, source: str) -> Mission:
    """Build a Mission from a parsed GeoJSON object; `source` names it in errors (a file path, usually)."""

    def fail(what: str) -> MissionError:
        return MissionError(f"{source}: {what}")

    if not isinstance(obj, dict):
        raise fail(f"expected a GeoJSON Feature or FeatureCollection object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "Feature":
        features = [obj]
    elif kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
            raise fail("expected 'features' to be a list of Feature objects")
    else:
        raise fail(f"expected a GeoJSON Feature or FeatureCollection, got type {kind!r}")
    by_kind: dict[str, list[dict]] = {}
    for i, feature in enumerate(features):
        geometry = feature.get("geometry")
        if feature.get("type") != "Feature" or not isinstance(geometry, dict):
            raise fail(f"feature {i}: expected a Feature with a geometry object")
        by_kind.setdefault(str(geometry.get("type")), []).append(feature)
    others = sorted(set(by_kind) - {"LineString", "Polygon"})
    if others:
        raise fail(f"expected only a LineString (the route) and a Polygon (the geofence), got {', '.join(others)}")
    lines, fences = by_kind.get("LineString", []), by_kind.get("Polygon", [])
    if len(lines) != 1:
        raise fail(f"expected exactly one LineString feature (the conductor route), got {len(lines)}")
    if len(fences) > 1:
        raise fail(f"expected at most one Polygon feature (the geofence), got {len(fences)}")
    line = _route(lines[0]["geometry"].get("coordinates"), fail)
    geofence = _fence(fences[0]["geometry"].get("coordinates"), fail) if fences else None
    props = lines[0].get("properties") or {}
    if not isinstance(props, dict):
        raise fail("expected the LineString feature's 'properties' to be an object")
    name = props.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.strip():
        raise fail(f"property 'name': expected a non-empty string, got {name!r}")
    mission = Mission(
        line=line,
        standoff_m=_number(props, "standoff_m", fail, default=0.0),
        altitude_m=_number(props, "altitude_m", fail),
        cruise_speed_mps=_number(props, "cruise_speed_mps", fail, positive=True),
        geofence=geofence,
        line_height_m=_number(props, "line_height_m", fail, default=None),
        name=name.strip(),
    )
    try:
        path = mission.path
    except ValueError as e:
        raise fail(f"property 'standoff_m': {e}") from None
    if mission.geofence_local is not None:
        for i, (e, n) in enumerate(path.points):
            if not point_in_polygon(e, n, mission.geofence_local):
                lat, lon, _ = mission.frame.to_global(e, n)
                where = f"path point {i} ({lon:.6f}, {lat:.6f})"
                raise fail(f"geofence: expected it to hold the flight path, but {where} is outside")
        for i, (a, b) in enumerate(itertools.pairwise(path.points)):
            if segment_crosses_polygon(a, b, mission.geofence_local):
                raise fail(f"geofence: expected it to hold the flight path, but path segment {i} leaves it")
    return mission


def _number(props: dict, key: str, fail, *, default: object = ..., positive: bool = False) -> float | None:
    if key not in props or (props[key] is None and default is not ...):
        if default is ...:
            raise fail(f"property '{key}' is required (a number)")
        return default  # type: ignore[return-value]
    value = props[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(f"property '{key}': expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise fail(f"property '{key}': expected a number > 0, got {value!r}")
    return float(value)


def _position(coord: object, where: str, fail) -> tuple[float, float]:
    ok = isinstance(coord, list | tuple) and len(coord) in (2, 3)
    ok = ok and all(isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in coord)
    if not ok:
        raise fail(f"{where}: expected a [lon, lat] position, got {coord!r}")
    lon, lat = float(coord[0]), float(coord[1])
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise fail(f"{where}: expected lon in [-180, 180] and lat in [-90, 90], got {coord!r}")
    return lon, lat


def _route(coords: object, fail) -> tuple[tuple[float, float], ...]:
    if not isinstance(coords, list):
        raise fail("LineString: expected 'coordinates' to be a list of [lon, lat] positions")
    points = [_position(c, f"LineString position {i}", fail) for i, c in enumerate(coords)]
    frame = LocalFrame(points[0][1], points[0][0]) if points else None
    route: list[tuple[float, float]] = []
    last: tuple[float, float] | None = None
    for lon, lat in points:
        e, n, _ = frame.to_local(lat, lon)
        if last is None or math.hypot(e - last[0], n - last[1]) >= _MIN_SEGMENT_M:
            route.append((lon, lat))
            last = (e, n)
    if len(route) < 2:
        raise fail(f"LineString: expected two or more distinct positions, got {len(route)}")
    return tuple(route)


def _fence(coords: object, fail) -> tuple[tuple[float, float], ...]:
    if not isinstance(coords, list) or not coords:
        raise fail("Polygon: expected 'coordinates' to be a list of rings")
    if len(coords) > 1:
        raise fail(f"Polygon: expected one ring (the geofence; holes are not supported), got {len(coords)}")
    ring = coords[0]
    if not isinstance(ring, list):
        raise fail("Polygon: expected its ring to be a list of [lon, lat] positions")
    points = tuple(_position(c, f"Polygon position {i}", fail) for i, c in enumerate(ring))
    if len(set(points)) < 3:
        raise fail(f"Polygon: expected a ring of three or more distinct positions, got {len(set(points))}")
    return points
