"""WGS84 geodesy: the local ENU frame round-trips, geodesics match published values, polygons hold their edges."""

import math
import random

import pytest

from gridscout.control.geodesy import (
    LocalFrame,
    bearing_deg,
    distance_m,
    distance_to_boundary,
    from_ecef,
    point_in_polygon,
    segment_crosses_polygon,
    to_ecef,
)

# Vincenty's (1975) test line, Flinders Peak to Buninyong, as Geoscience Australia publishes it
FLINDERS = (-(37 + 57 / 60 + 3.72030 / 3600), 144 + 25 / 60 + 29.52440 / 3600)
BUNINYONG = (-(37 + 39 / 60 + 10.15610 / 3600), 143 + 55 / 60 + 35.38390 / 3600)
FLINDERS_BUNINYONG_M = 54_972.271
FLINDERS_BUNINYONG_BEARING = 306 + 52 / 60 + 5.37 / 3600

ORIGINS = [(59.91, 10.75, 120.0), (-33.9, 151.2, 0.0), (0.0, 0.0, 0.0), (0.0, 179.99, 5.0), (89.9, -45.0, 2000.0)]


@pytest.mark.parametrize("origin", ORIGINS)
def test_local_frame_round_trips_within_a_millimetre_across_10_km(origin):
    """Scenario: a path point goes to lat/lon for the autopilot and back; it must land where it started."""
    frame = LocalFrame(*origin)
    rng = random.Random(7)
    for _ in range(200):
        local = (rng.uniform(-10e3, 10e3), rng.uniform(-10e3, 10e3), rng.uniform(-100, 500))
        back = frame.to_local(*frame.to_global(*local))
        assert all(abs(a - b) < 1e-3 for a, b in zip(local, back, strict=True)), (local, back)


def test_the_origin_is_zero_and_axes_point_east_north_up():
    frame = LocalFrame(45.0, 7.0, 300.0)
    assert frame.to_local(45.0, 7.0, 300.0) == pytest.approx((0.0, 0.0, 0.0), abs=1e-6)
    e, n, _ = frame.to_local(45.0, 7.001, 300.0)
    assert e > 78 and abs(n) < 0.01  # 0.001° of longitude at 45° N is about 78.8 m
    e, n, _ = frame.to_local(45.001, 7.0, 300.0)
    assert n > 111 and abs(e) < 1e-6
    assert frame.to_local(45.0, 7.0, 310.0)[2] == pytest.approx(10.0, abs=1e-6)


@pytest.mark.parametrize("origin", ORIGINS[:3])
def test_local_distances_agree_with_the_geodesic_within_a_decimetre(origin):
    """Scenario: metres in the local frame are metres on the ground (no flat-earth scale error), to 10 km."""
    lat0, lon0, _ = origin
    frame = LocalFrame(lat0, lon0)
    for bearing in range(0, 360, 30):
        b = math.radians(bearing)
        lat, lon, _ = frame.to_global(10e3 * math.sin(b), 10e3 * math.cos(b), 0.0)
        assert distance_m(lat0, lon0, lat, lon) == pytest.approx(10e3, abs=0.1)
        assert bearing_deg(lat0, lon0, lat, lon) == pytest.approx(bearing, abs=1e-3)


def test_distance_and_bearing_match_vincentys_published_line():
    assert distance_m(*FLINDERS, *BUNINYONG) == pytest.approx(FLINDERS_BUNINYONG_M, abs=1e-3)
    assert bearing_deg(*FLINDERS, *BUNINYONG) == pytest.approx(FLINDERS_BUNINYONG_BEARING, abs=1 / 3600)


@pytest.mark.parametrize(
    ("a", "b", "metres"),
    [
        ((0.0, 0.0), (0.0, 1.0), 111_319.491),  # one degree along the equator: a·π/180
        ((0.0, 0.0), (1.0, 0.0), 110_574.389),  # one degree of meridian at the equator
        ((10.0, 20.0), (10.0, 20.0), 0.0),
    ],
)
def test_known_distances(a, b, metres):
    assert distance_m(*a, *b) == pytest.approx(metres, abs=1e-2)


@pytest.mark.parametrize(
    ("to", "bearing"), [((1.0, 0.0), 0.0), ((0.0, 1.0), 90.0), ((-1.0, 0.0), 180.0), ((0.0, -1.0), 270.0)]
)
def test_bearings_are_clockwise_from_north(to, bearing):
    assert bearing_deg(0.0, 0.0, *to) == pytest.approx(bearing, abs=1e-9)


def test_ecef_round_trip_near_the_poles_and_high_up():
    for lat, lon, alt in [(90.0, 0.0, 0.0), (-89.9999, 12.0, 10.0), (45.0, -120.0, 35_786e3), (0.0, 0.0, -50.0)]:
        back = from_ecef(*to_ecef(lat, lon, alt))
        assert back[0] == pytest.approx(lat, abs=1e-9) and back[2] == pytest.approx(alt, abs=1e-4)


@pytest.mark.parametrize(("lat", "lon"), [(91.0, 0.0), (0.0, 181.0), (math.nan, 0.0), (0.0, math.inf)])
def test_bad_coordinates_are_refused_by_name(lat, lon):
    with pytest.raises(ValueError, match=r"^(latitude|longitude) "):
        LocalFrame(lat, lon)
    with pytest.raises(ValueError, match=r"^(latitude|longitude) "):
        distance_m(lat, lon, 0.0, 0.0)


SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
CONCAVE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (5.0, 5.0), (0.0, 10.0)]  # a notch from the top


@pytest.mark.parametrize(
    ("x", "y", "inside"),
    [
        (5.0, 5.0, True),
        (0.0, 0.0, True),  # a vertex is on the boundary: inside
        (10.0, 5.0, True),  # on an edge
        (5.0, 10.0, True),
        (10.000001, 5.0, False),
        (-1e-6, 5.0, False),
        (5.0, -0.5, False),
        (20.0, 0.0, False),  # level with the bottom edge, outside: the ray runs along that edge
        (-5.0, 10.0, False),  # level with the top edge, on the other side
        (math.nan, 5.0, False),
    ],
)
def test_point_in_square(x, y, inside):
    assert point_in_polygon(x, y, SQUARE) is inside
    assert point_in_polygon(x, y, [*SQUARE, SQUARE[0]]) is inside  # a closed ring is the same polygon


@pytest.mark.parametrize(
    ("x", "y", "inside"),
    [(5.0, 2.0, True), (5.0, 7.0, False), (2.0, 7.0, True), (8.0, 7.0, True), (5.0, 5.0, True), (-1.0, 5.0, False)],
)
def test_point_in_concave_polygon(x, y, inside):
    """A ray through the notch's vertex (y = 5) and the notch itself."""
    assert point_in_polygon(x, y, CONCAVE) is inside


def test_ray_through_a_vertex_counts_once():
    diamond = [(0.0, -1.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0)]
    assert point_in_polygon(0.0, 0.0, diamond)
    assert not point_in_polygon(-2.0, 0.0, diamond)  # the ray meets vertices (-1, 0) and (1, 0)
    assert not point_in_polygon(2.0, 1.0, diamond)


def test_degenerate_polygons_hold_nothing():
    assert not point_in_polygon(0.0, 0.0, [])
    assert not point_in_polygon(0.5, 0.0, [(0.0, 0.0), (1.0, 0.0)])
    assert not point_in_polygon(0.5, 0.0, [(0.0, 0.0), (1.0, 0.0), (0.0, 0.0)])


def test_random_points_agree_with_a_grid_count():
    """Scenario: a seeded cloud against an L-shaped fence, checked against the obvious rule for an L."""
    ell = [(0.0, 0.0), (4.0, 0.0), (4.0, 1.0), (1.0, 1.0), (1.0, 3.0), (0.0, 3.0)]
    rng = random.Random(3)
    for _ in range(2000):
        x, y = rng.uniform(-1, 5), rng.uniform(-1, 4)
        expected = (0 <= x <= 4 and 0 <= y <= 1) or (0 <= x <= 1 and 0 <= y <= 3)
        assert point_in_polygon(x, y, ell) is expected, (x, y)


@pytest.mark.parametrize(
    ("a", "b", "crosses"),
    [
        ((3.0, 6.0), (7.0, 6.0), True),  # across the notch of the concave polygon: out and back in
        ((2.0, 2.0), (8.0, 2.0), False),  # below the notch
        ((5.0, 5.0), (5.0, 1.0), False),  # from the notch's vertex: touching is no crossing
        ((-1.0, 5.0), (1.0, 5.0), True),  # from outside in
        ((0.0, 2.0), (0.0, 8.0), False),  # along an edge
    ],
)
def test_segment_crosses_polygon(a, b, crosses):
    assert segment_crosses_polygon(a, b, CONCAVE) is crosses
    assert segment_crosses_polygon(a, b, [*CONCAVE, CONCAVE[0]]) is crosses


@pytest.mark.parametrize(
    ("x", "y", "distance"),
    [
        (5.0, 1.0, 1.0),
        (5.0, 5.0, 0.0),
        (5.0, 6.0, math.sqrt(0.5)),
        (12.0, 5.0, 2.0),
        (13.0, 14.0, 5.0),
        (0.0, 0.0, 0.0),
    ],
)
def test_distance_to_boundary(x, y, distance):
    """Inside or out, the distance to the nearest edge (the notch's vertex included)."""
    assert distance_to_boundary(x, y, CONCAVE) == pytest.approx(distance)


def test_nearly_antipodal_points_get_the_great_circle_not_an_error():
    """Issue 16: an antipodal mission crashed the vehicle process ('no geodesic found') four times. Vincenty's
    iteration does not converge there; the great circle is within 0.5 % and the driver then refuses the vehicle."""
    from gridscout.control.geodesy import _vincenty_inverse

    a, b = (0.0, 0.0), (0.5, 179.7)
    assert math.isnan(_vincenty_inverse(*a, *b)[0])  # the case that crashed
    d = distance_m(*a, *b)
    assert d == pytest.approx(20_000_000, rel=0.01)
    assert 0.0 <= bearing_deg(*a, *b) < 360.0
