"""Mission files, the offset flight path, projection onto it, and the velocity guidance that flies it."""

import json
import math
import random

import pytest

from gridscout.control.geodesy import LocalFrame
from gridscout.control.mission import Mission, MissionError, Path2D, load_mission, parse_mission, velocity_setpoint

ORIGIN = LocalFrame(59.9, 10.7)


def lonlat(east: float, north: float) -> list[float]:
    lat, lon, _ = ORIGIN.to_global(east, north)
    return [lon, lat]


DROP = object()  # a property left out of the file


def feature(coords, **props) -> dict:
    props = {k: v for k, v in ({"altitude_m": 20.0, "cruise_speed_mps": 3.0} | props).items() if v is not DROP}
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords}, "properties": props}


def fence(ring) -> dict:
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {}}


EAST_THEN_NORTH = [lonlat(0, 0), lonlat(100, 0), lonlat(100, 100)]


def local(mission: Mission) -> list[float]:
    """The flight path's vertices, flattened (pytest.approx compares flat sequences)."""
    return [c for point in mission.path.points for c in point]


def test_a_feature_file_loads(tmp_path):
    path = tmp_path / "span 12.geojson"
    path.write_text(json.dumps(feature(EAST_THEN_NORTH, standoff_m=5, line_height_m=15.5)))
    mission = load_mission(path)
    assert mission.name == "span 12"  # the file's stem, when the file names none
    assert mission.standoff_m == 5.0 and mission.altitude_m == 20.0 and mission.cruise_speed_mps == 3.0
    assert mission.line_height_m == 15.5 and mission.geofence is None
    assert mission.line[0] == tuple(EAST_THEN_NORTH[0])
    assert mission.frame.to_local(mission.line[0][1], mission.line[0][0]) == pytest.approx((0, 0, 0), abs=1e-6)


def test_a_feature_collection_with_a_geofence_loads():
    ring = [lonlat(-50, -50), lonlat(150, -50), lonlat(150, 150), lonlat(-50, 150), lonlat(-50, -50)]
    obj = {"type": "FeatureCollection", "features": [fence(ring), feature(EAST_THEN_NORTH, name="Line 7")]}
    mission = parse_mission(obj, "m.geojson")
    assert mission.name == "Line 7" and mission.standoff_m == 0.0
    assert mission.geofence == tuple(tuple(p) for p in ring)
    assert mission.geofence_local[1] == pytest.approx((150, -50), abs=1e-3)


def test_the_path_is_offset_to_the_right_of_travel_with_a_mitred_corner():
    """East then north: right of travel is south, then east; the corner's mitre sits at (105, -5)."""
    right = parse_mission(feature(EAST_THEN_NORTH, standoff_m=5), "m")
    assert local(right) == pytest.approx([0, -5, 105, -5, 105, 100], abs=1e-2)
    left = parse_mission(feature(EAST_THEN_NORTH, standoff_m=-5), "m")
    assert local(left) == pytest.approx([0, 5, 95, 5, 95, 100], abs=1e-2)
    assert right.path.length_m == pytest.approx(210, abs=0.02) and left.path.length_m == pytest.approx(190, abs=0.02)
    assert right.line_path.length_m == pytest.approx(200, abs=0.02)


def test_every_point_of_an_offset_path_keeps_the_standoff_from_the_line():
    coords = [lonlat(0, 0), lonlat(80, 30), lonlat(160, 10), lonlat(240, 60)]
    mission = parse_mission(feature(coords, standoff_m=8), "m")
    line = mission.line_path
    for k in range(101):
        e, n = mission.path.point_at(mission.path.length_m * k / 100)
        s, cross = line.project(e, n)
        # never closer than the standoff; further only at an outer corner's mitre (these turns are under 90°)
        assert 8.0 - 0.05 <= cross <= 8.0 / math.cos(math.radians(45))
        if not 0.0 < s < line.length_m:  # alongside the ends: exactly the standoff
            assert cross == pytest.approx(8.0, abs=0.05)


def test_duplicate_positions_are_one_point():
    mission = parse_mission(feature([lonlat(0, 0), lonlat(0, 0.001), lonlat(50, 0), lonlat(50, 0)]), "m")
    assert len(mission.line) == 2


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ([], "expected a GeoJSON Feature or FeatureCollection object, got list"),
        ({"type": "Point"}, "expected a GeoJSON Feature or FeatureCollection, got type 'Point'"),
        ({"type": "FeatureCollection", "features": 3}, "'features' to be a list"),
        ({"type": "FeatureCollection", "features": []}, "exactly one LineString feature .* got 0"),
        ({"type": "Feature", "geometry": None}, "feature 0: expected a Feature with a geometry"),
        ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}}, "got Point"),
        (feature([[10.7, 59.9]]), "LineString: expected two or more distinct positions, got 1"),
        (feature([[10.7, 59.9], [10.7, 59.9]]), "two or more distinct positions, got 1"),
        (feature("nope"), "LineString: expected 'coordinates' to be a list"),
        (feature([[10.7, 59.9], [10.7]]), r"LineString position 1: expected a \[lon, lat\] position"),
        (feature([[10.7, 59.9], [10.7, "x"]]), "LineString position 1"),
        (feature([[10.7, 59.9], [200.0, 59.9]]), r"position 1: expected lon in \[-180, 180\]"),
        (feature([[10.7, 59.9], [10.7, 95.0]]), "lat in"),
        (feature(EAST_THEN_NORTH, altitude_m=DROP), r"property 'altitude_m' is required \(a number\)"),
        (feature(EAST_THEN_NORTH, cruise_speed_mps=DROP), "property 'cruise_speed_mps' is required"),
        (feature(EAST_THEN_NORTH, cruise_speed_mps=0), "property 'cruise_speed_mps': expected a number > 0"),
        (feature(EAST_THEN_NORTH, cruise_speed_mps="3"), "property 'cruise_speed_mps': expected a finite number"),
        (feature(EAST_THEN_NORTH, altitude_m=math.nan), "property 'altitude_m': expected a finite number"),
        (feature(EAST_THEN_NORTH, standoff_m=True), "property 'standoff_m': expected a finite number"),
        (feature(EAST_THEN_NORTH, line_height_m="high"), "property 'line_height_m': expected a finite number"),
        (feature(EAST_THEN_NORTH, name=""), "property 'name': expected a non-empty string"),
        (feature(EAST_THEN_NORTH, altitude_m=None), "property 'altitude_m': expected a finite number, got None"),
        # the corner turns left: a standoff to the left, on its inside, longer than a leg folds the path
        (feature(EAST_THEN_NORTH, standoff_m=-150), "'standoff_m': a standoff of -150 m folds the path back"),
        (feature([lonlat(0, 0), lonlat(100, 0), lonlat(0, 0)], standoff_m=5), "doubles back on itself at point 1"),
    ],
)
def test_every_mission_error_names_the_file_and_what_was_expected(obj, expected):
    with pytest.raises(MissionError, match=f"^span-3.geojson: .*{expected}"):
        parse_mission(obj, "span-3.geojson")


def _collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ((feature(EAST_THEN_NORTH), feature(EAST_THEN_NORTH)), "exactly one LineString feature .* got 2"),
        (
            (feature(EAST_THEN_NORTH), fence([lonlat(-9, -9), lonlat(200, -9), lonlat(200, 200)]), fence([])),
            "at most one Polygon feature",
        ),
        ((feature(EAST_THEN_NORTH), fence([lonlat(0, 0), lonlat(1, 1)])), "three or more distinct positions"),
        (
            (feature(EAST_THEN_NORTH), fence([lonlat(-9, -9), lonlat(50, -9), lonlat(50, 200), lonlat(-9, 200)])),
            r"geofence: expected it to hold the flight path, but path point 1 \(10\.70",
        ),
        (
            # a U-shaped fence holding every vertex, but the path's first leg cuts across the notch
            (
                feature([lonlat(0, 0), lonlat(100, 0)]),
                fence(
                    [
                        lonlat(-5, -5),
                        lonlat(105, -5),
                        lonlat(105, 5),
                        lonlat(60, 5),
                        lonlat(60, -1),
                        lonlat(40, -1),
                        lonlat(40, 5),
                        lonlat(-5, 5),
                    ]
                ),
            ),
            "path segment 0 leaves it",
        ),
    ],
)
def test_feature_collection_errors(features, expected):
    with pytest.raises(MissionError, match=f"^m.geojson: .*{expected}"):
        parse_mission(_collection(*features), "m.geojson")


def test_a_polygon_with_holes_is_refused():
    ring = [lonlat(-9, -9), lonlat(200, -9), lonlat(200, 200), lonlat(-9, -9)]
    holed = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring, ring]}}
    with pytest.raises(MissionError, match="holes are not supported"):
        parse_mission(_collection(feature(EAST_THEN_NORTH), holed), "m.geojson")


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(MissionError, match=f"^{tmp_path}/absent.geojson: cannot read the mission file"):
        load_mission(tmp_path / "absent.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Feature",\n "geometry": }')
    with pytest.raises(MissionError, match=r"bad.geojson: expected GeoJSON, got invalid JSON at line 2 column 14"):
        load_mission(bad)
    binary = tmp_path / "photo.geojson"
    binary.write_bytes(b"\xff\xd8\xff\xe0")
    with pytest.raises(MissionError, match=r"photo\.geojson: expected a GeoJSON text file"):
        load_mission(binary)


L_PATH = Path2D(((0.0, 0.0), (100.0, 0.0), (100.0, 50.0)))


@pytest.mark.parametrize(
    ("s", "point", "tangent"),
    [
        (-5.0, (0, 0), (1, 0)),
        (0.0, (0, 0), (1, 0)),
        (40.0, (40, 0), (1, 0)),
        (100.0, (100, 0), (0, 1)),  # at a corner: the segment after it
        (120.0, (100, 20), (0, 1)),
        (150.0, (100, 50), (0, 1)),
        (999.0, (100, 50), (0, 1)),
    ],
)
def test_point_and_tangent_along_the_path(s, point, tangent):
    assert L_PATH.length_m == 150.0
    assert L_PATH.point_at(s) == pytest.approx(point)
    assert L_PATH.tangent_at(s) == pytest.approx(tangent)


@pytest.mark.parametrize(
    ("east", "north", "s", "cross"),
    [
        (40.0, -3.0, 40.0, 3.0),  # south of an eastward leg: right of travel
        (40.0, 3.0, 40.0, -3.0),
        (97.0, 20.0, 120.0, -3.0),  # west of the northward leg: left
        (103.0, -4.0, 100.0, 5.0),  # beyond the outside of the corner: radial distance, right
        (-10.0, 2.0, 0.0, -2.0),  # before the start: the offset from the first leg's line
        (101.0, 70.0, 150.0, 1.0),  # past the end
    ],
)
def test_projection(east, north, s, cross):
    assert L_PATH.project(east, north) == pytest.approx((s, cross))


def test_projection_round_trips_random_offsets():
    rng = random.Random(11)
    path = Path2D(((0.0, 0.0), (60.0, 20.0), (130.0, -10.0), (200.0, 40.0)))
    for _ in range(500):
        s = rng.uniform(0, path.length_m)
        e, n = path.point_at(s)
        de, dn = path.tangent_at(s)
        off = rng.uniform(-1.0, 1.0)
        s2, cross = path.project(e + off * dn, n - off * de)
        assert cross == pytest.approx(off, abs=1e-6) and s2 == pytest.approx(s, abs=1e-6)


@pytest.mark.parametrize("points", [((0.0, 0.0),), ((0.0, 0.0), (0.0, 0.0)), ((0.0, 0.0), (math.nan, 1.0))])
def test_a_path_needs_two_distinct_finite_points(points):
    with pytest.raises(ValueError, match="path"):
        Path2D(points)


def test_guidance_on_the_path_flies_the_tangent_at_the_speed():
    v_n, v_e, v_d = velocity_setpoint(L_PATH, 40.0, 0.0, 20.0, 3.0, 20.0)
    assert (v_n, v_e, v_d) == pytest.approx((0.0, 3.0, 0.0))
    v_n, v_e, v_d = velocity_setpoint(L_PATH, 100.0, 30.0, 20.0, -2.0, 20.0)
    assert (v_n, v_e, v_d) == pytest.approx((-2.0, 0.0, 0.0))  # backwards along the northward leg


def test_guidance_corrects_cross_track_and_altitude_within_the_cap():
    v_n, v_e, v_d = velocity_setpoint(L_PATH, 40.0, -2.0, 19.0, 3.0, 20.0, gain_cross=0.5, gain_alt=0.8)
    assert (v_n, v_e, v_d) == pytest.approx((1.0, 3.0, -0.8))  # north back onto the leg, climb (down negative)
    v_n, v_e, v_d = velocity_setpoint(L_PATH, 40.0, 50.0, 100.0, 3.0, 20.0, max_correction_mps=1.5)
    assert (v_n, v_e, v_d) == pytest.approx((-1.5, 3.0, 1.5))


@pytest.mark.parametrize("speed", [3.0, 0.5])
def test_guidance_stops_at_the_end_and_brings_an_overshoot_back(speed):
    v_n, v_e, _ = velocity_setpoint(L_PATH, 100.0, 50.0, 20.0, speed, 20.0)
    assert (v_n, v_e) == pytest.approx((0.0, 0.0))
    v_n, v_e, _ = velocity_setpoint(L_PATH, 100.0, 54.0, 20.0, speed, 20.0)
    assert v_n == pytest.approx(-2.0) and v_e == pytest.approx(0.0)  # back towards the end, capped
    v_n, _, _ = velocity_setpoint(L_PATH, 100.0, 51.0, 20.0, speed, 20.0)
    assert v_n == pytest.approx(-0.5)


def test_guidance_stops_at_the_start_when_going_backwards():
    v_n, v_e, _ = velocity_setpoint(L_PATH, 0.0, 0.0, 20.0, -3.0, 20.0)
    assert (v_n, v_e) == pytest.approx((0.0, 0.0))
    v_n, v_e, _ = velocity_setpoint(L_PATH, -3.0, 0.0, 20.0, -3.0, 20.0)
    assert (v_n, v_e) == pytest.approx((0.0, 1.5))
    v_n, v_e, _ = velocity_setpoint(L_PATH, -3.0, 0.0, 20.0, 3.0, 20.0)  # before the start going forward: in
    assert (v_n, v_e) == pytest.approx((0.0, 3.0))


def test_flying_the_guidance_follows_the_path_and_stops_at_its_end():
    """Scenario: integrate the setpoints from a point off the path; it converges, never passes the end."""
    mission = parse_mission(feature([lonlat(0, 0), lonlat(80, 30), lonlat(160, 10)], standoff_m=6), "m")
    path, dt = mission.path, 0.05
    e, n, u = -4.0, 8.0, 12.0
    furthest = 0.0
    for _ in range(int(120 / dt)):
        v_n, v_e, v_d = velocity_setpoint(path, e, n, u, mission.cruise_speed_mps, mission.altitude_m)
        e, n, u = e + v_e * dt, n + v_n * dt, u - v_d * dt
        _, _, beyond = path.locate(e, n)
        furthest = max(furthest, beyond)
    s, cross = path.project(e, n)
    assert s == pytest.approx(path.length_m, abs=0.01) and abs(cross) < 0.05
    assert u == pytest.approx(mission.altitude_m, abs=0.01)
    assert furthest < 0.2  # one step's overshoot at most
