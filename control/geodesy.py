"""WGS84 geodesy for control and geotagging: a local east-north-up frame, distances, bearings, polygons.

`LocalFrame` is exact (geodetic -> ECEF -> ENU and back), so local metres stay true far beyond the
10 km an inspection flight spans; `distance_m` and `bearing_deg` solve the geodesic on the ellipsoid
(Vincenty's inverse formula). Pure standard library: control runs anywhere and replays exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

#: WGS84 semi-major axis (m) and flattening
WGS84_A = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
_B = WGS84_A * (1.0 - WGS84_F)  # semi-minor axis
#: the mean radius (2a + b) / 3, for the great circle of nearly antipodal points
MEAN_RADIUS_M = (2 * WGS84_A + _B) / 3
_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared


def _check_lat_lon(lat_deg: float, lon_deg: float) -> None:
    if not (math.isfinite(lat_deg) and -90.0 <= lat_deg <= 90.0):
        raise ValueError(f"latitude {lat_deg!r}: expected degrees in [-90, 90]")
    if not (math.isfinite(lon_deg) and -180.0 <= lon_deg <= 180.0):
        raise ValueError(f"longitude {lon_deg!r}: expected degrees in [-180, 180]")


def to_ecef(lat_deg: float, lon_deg: float, alt_m: float = 0.0) -> tuple[float, float, float]:
    """Geodetic (degrees, metres above the ellipsoid) to earth-centred, earth-fixed metres."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    sin_lat = math.sin(lat)
    n = WGS84_A / math.sqrt(1.0 - _E2 * sin_lat * sin_lat)  # prime vertical radius of curvature
    r = (n + alt_m) * math.cos(lat)
    return r * math.cos(lon), r * math.sin(lon), (n * (1.0 - _E2) + alt_m) * sin_lat


def from_ecef(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Earth-centred, earth-fixed metres to geodetic (degrees, metres above the ellipsoid).

    Fixed-point iteration on latitude; it converges to float precision in a few steps anywhere near the
    surface, poles included (the height formula has no 1/cos(lat))."""
    p = math.hypot(x, y)
    lat = math.atan2(z, p * (1.0 - _E2))
    for _ in range(20):
        sin_lat = math.sin(lat)
        n = WGS84_A / math.sqrt(1.0 - _E2 * sin_lat * sin_lat)
        new = math.atan2(z + _E2 * n * sin_lat, p)
        if abs(new - lat) < 1e-15:
            lat = new
            break
        lat = new
    sin_lat, cos_lat = math.sin(lat), math.cos(lat)
    alt = p * cos_lat + z * sin_lat - WGS84_A * math.sqrt(1.0 - _E2 * sin_lat * sin_lat)
    return math.degrees(lat), math.degrees(math.atan2(y, x)), alt


@dataclass(frozen=True)
class LocalFrame:
    """A local east-north-up tangent plane at (lat0, lon0, alt0): metres east, north and up of the origin.

    Altitudes are whatever the caller's datum is (AMSL, or above home with alt0 0): the frame only ever
    works with differences, and the geoid's slope over a few kilometres is far below a centimetre."""

    lat0_deg: float
    lon0_deg: float
    alt0_m: float = 0.0
    _origin: tuple[float, float, float] = field(init=False, repr=False, compare=False)
    _rot: tuple[tuple[float, float, float], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_lat_lon(self.lat0_deg, self.lon0_deg)
        if not math.isfinite(self.alt0_m):
            raise ValueError(f"origin altitude {self.alt0_m!r}: expected finite metres")
        lat, lon = math.radians(self.lat0_deg), math.radians(self.lon0_deg)
        sl, cl, so, co = math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)
        # rows: the east, north and up unit vectors in ECEF
        rot = ((-so, co, 0.0), (-sl * co, -sl * so, cl), (cl * co, cl * so, sl))
        object.__setattr__(self, "_origin", to_ecef(self.lat0_deg, self.lon0_deg, self.alt0_m))
        object.__setattr__(self, "_rot", rot)

    def to_local(self, lat_deg: float, lon_deg: float, alt_m: float = 0.0) -> tuple[float, float, float]:
        """(east_m, north_m, up_m) of a geodetic point."""
        x, y, z = to_ecef(lat_deg, lon_deg, alt_m)
        ox, oy, oz = self._origin
        d = (x - ox, y - oy, z - oz)
        e, n, u = (row[0] * d[0] + row[1] * d[1] + row[2] * d[2] for row in self._rot)
        return e, n, u

    def to_global(self, east_m: float, north_m: float, up_m: float = 0.0) -> tuple[float, float, float]:
        """(lat_deg, lon_deg, alt_m) of a local point."""
        (ex, ey, ez), (nx, ny, nz), (ux, uy, uz) = self._rot
        ox, oy, oz = self._origin
        x = ox + ex * east_m + nx * north_m + ux * up_m
        y = oy + ey * east_m + ny * north_m + uy * up_m
        z = oz + ez * east_m + nz * north_m + uz * up_m
        return from_ecef(x, y, z)


def _vincenty_inverse(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """(distance_m, initial bearing in degrees) of the geodesic between two points, or (nan, nan) when the
    iteration does not converge (nearly antipodal points, never an inspection flight)."""
    _check_lat_lon(lat1, lon1)
    _check_lat_lon(lat2, lon2)
    f = WGS84_F
    u1 = math.atan((1.0 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1.0 - f) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    su1, cu1, su2, cu2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    lam = big_l
    for _ in range(200):
        sl, cl = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cu2 * sl, cu1 * su2 - su1 * cu2 * cl)
        if sin_sigma == 0.0:
            return 0.0, 0.0  # the same point
        cos_sigma = su1 * su2 + cu1 * cu2 * cl
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cu1 * cu2 * sl / sin_sigma
        cos2_alpha = 1.0 - sin_alpha * sin_alpha
        cos_2sm = cos_sigma - 2.0 * su1 * su2 / cos2_alpha if cos2_alpha != 0.0 else 0.0  # equatorial line
        c = f / 16.0 * cos2_alpha * (4.0 + f * (4.0 - 3.0 * cos2_alpha))
        prev = lam
        lam = big_l + (1.0 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm))
        )
        if abs(lam - prev) < 1e-12:
            break
    else:
        return math.nan, math.nan
    u_sq = cos2_alpha * (WGS84_A**2 - _B**2) / _B**2
    a = 1.0 + u_sq / 16384.0 * (4096.0 + u_sq * (-768.0 + u_sq * (320.0 - 175.0 * u_sq)))
    b = u_sq / 1024.0 * (256.0 + u_sq * (-128.0 + u_sq * (74.0 - 47.0 * u_sq)))
    d_sigma = (
        b
        * sin_sigma
        * (
            cos_2sm
            + b
            / 4.0
            * (
                cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm)
                - b / 6.0 * cos_2sm * (-3.0 + 4.0 * sin_sigma * sin_sigma) * (-3.0 + 4.0 * cos_2sm * cos_2sm)
            )
        )
    )
    distance = _B * a * (sigma - d_sigma)
    bearing = math.degrees(math.atan2(cu2 * math.sin(lam), cu1 * su2 - su1 * cu2 * math.cos(lam)))
    return distance, bearing % 360.0


def _great_circle(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """(distance_m, initial bearing in degrees) on the sphere of WGS84's mean radius: within 0.5 % of the
    ellipsoid's, for the nearly antipodal points Vincenty's iteration cannot solve."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    distance = 2 * MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return distance, math.degrees(math.atan2(y, x)) % 360.0


def _inverse(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    d, b = _vincenty_inverse(lat1, lon1, lat2, lon2)
    return _great_circle(lat1, lon1, lat2, lon2) if math.isnan(d) else (d, b)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance in metres between two points on the WGS84 ellipsoid (degrees in); for nearly antipodal
    points, where the ellipsoid's iteration does not converge, the great circle's (a vehicle half the world
    from its mission is refused, not a crash)."""
    return _inverse(lat1, lon1, lat2, lon2)[0]


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing of the geodesic from point 1 to point 2, degrees clockwise from true north, in [0, 360)
    (the great circle's for nearly antipodal points)."""
    return _inverse(lat1, lon1, lat2, lon2)[1]


def _on_segment(x: float, y: float, a: tuple[float, float], b: tuple[float, float], tol: float) -> bool:
    (ax, ay), (bx, by) = a, b
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    length = math.hypot(bx - ax, by - ay)
    if abs(cross) > tol * max(length, tol):
        return False
    return min(ax, bx) - tol <= x <= max(ax, bx) + tol and min(ay, by) - tol <= y <= max(ay, by) + tol


def segment_crosses_polygon(
    a: tuple[float, float], b: tuple[float, float], polygon: Sequence[tuple[float, float]]
) -> bool:
    """True when segment a-b properly crosses an edge of the polygon (touching or running along one does not
    count): with both ends inside, the segment leaves and re-enters a concave polygon exactly when this is True."""

    def side(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    ring = list(polygon)
    if len(ring) > 1 and ring[0] != ring[-1]:
        ring.append(ring[0])
    for c, d in itertools.pairwise(ring):
        if side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0:
            return True
    return False


def distance_to_boundary(x: float, y: float, polygon: Sequence[tuple[float, float]]) -> float:
    """The distance from (x, y) to the nearest edge of the polygon, inside or out (in the polygon's units)."""
    ring = list(polygon)
    if len(ring) > 1 and ring[0] != ring[-1]:
        ring.append(ring[0])
    best = math.inf
    for (ax, ay), (bx, by) in itertools.pairwise(ring):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0.0 else min(max(((x - ax) * dx + (y - ay) * dy) / length2, 0.0), 1.0)
        best = min(best, math.hypot(x - ax - t * dx, y - ay - t * dy))
    return best


def point_in_polygon(x: float, y: float, polygon: Sequence[tuple[float, float]], *, tol: float = 1e-9) -> bool:
    """True when (x, y) lies inside the polygon or on its boundary (within `tol`, in the polygon's units).

    The ring may be closed (last vertex = first) or not. Even-odd rule with half-open edges, so a ray
    through a vertex counts once; a polygon of fewer than three distinct vertices contains nothing."""
    ring = list(polygon)
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(ring) < 3:
        return False
    inside = False
    for i, a in enumerate(ring):
        b = ring[(i + 1) % len(ring)]
        if _on_segment(x, y, a, b, tol):
            return True
        (ax, ay), (bx, by) = a, b
        if (ay > y) != (by > y):  # the edge straddles the horizontal line through the point
            x_cross = ax + (y - ay) * (bx - ax) / (by - ay)
            if x < x_cross:
                inside = not inside
    return inside
