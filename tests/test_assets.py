"""The asset registry: what a utility's export looks like, what is refused and why, and the nearest structure."""

from __future__ import annotations

import json

import pytest

from gridscout.reports.assets import (
    LINK_RADIUS_M,
    MAX_REGISTRY_BYTES,
    Asset,
    AssetIndex,
    RegistryError,
    distance_m,
    read_registry,
)

HEADER = "identifier,name,line id,latitude,longitude,asset type,source system,height\n"


def test_a_csv_registry_in_the_connected_drone_columns_reads_whole(tmp_path):
    path = tmp_path / "towers.csv"
    path.write_text(HEADER + "T-101,Tower 101,L7,59.6201,10.9512,tower,SAP,32.5\nS-1,Span 101-102,L7,59.6210,10.9520,"
                    "span,SAP,\n")  # fmt: skip
    tower, span = read_registry(path)
    assert tower == Asset("T-101", "Tower 101", 59.6201, 10.9512, "tower", "L7", "SAP", 32.5)
    assert tower.is_structure and not span.is_structure and span.height_m is None


def test_semicolons_other_column_names_and_a_byte_order_mark_are_read_too(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffAsset_ID;Name;Lat;Lon;Type\nP-9;Pole 9;47.5;8.25;Pole\n".encode())
    (pole,) = read_registry(path)
    assert (pole.asset_id, pole.lat, pole.lon, pole.asset_type, pole.line_id) == ("P-9", 47.5, 8.25, "Pole", None)
    assert pole.is_structure


def test_a_geojson_registry_takes_its_position_from_the_point(tmp_path):
    path = tmp_path / "towers.geojson"
    properties = {"identifier": "T-1", "name": "Tower 1", "asset_type": "tower", "line_id": "L1"}
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [10.95, 59.62]},
        "properties": properties,
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    (tower,) = read_registry(path)
    assert (tower.asset_id, tower.lat, tower.lon, tower.line_id) == ("T-1", 59.62, 10.95, "L1")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("identifier,name,latitude,longitude\nT-1,a,1,2\n", "missing asset_type (as asset_type or assettype)"),
        (HEADER + "T-1,a,L,91.5,10,tower,S,\n", "row 2: latitude 91.5 is out of range; expected -90 to 90"),
        (HEADER + "T-1,a,L,59,-181,tower,S,\n", "row 2: longitude -181 is out of range"),
        (HEADER + "T-1,a,L,north,10,tower,S,\n", "row 2: latitude 'north' is not a number"),
        (HEADER + "T-1,a,L,59,10,tower,S,\nT-2,b,L,59,10,,S,\n", "row 3: asset type is empty"),
        (
            HEADER + "T-1,a,L,59,10,tower,S,\nT-1,b,L,59,10,tower,S,\n",
            "identifier 'T-1' is given twice (entries 1 and 2)",
        ),
        (HEADER, "no assets in it"),
        ('{"type": "FeatureCollection", "features": [{"geometry": {"type": "LineString"}}]}', "expected a Point"),
        ("{not json", "not JSON"),
    ],
)
def test_a_bad_registry_names_the_row_and_what_was_expected(tmp_path, text, said):
    path = tmp_path / ("r.geojson" if text.startswith("{") else "r.csv")
    path.write_text(text)
    with pytest.raises(RegistryError, match=said.replace("(", r"\(").replace(")", r"\)")):
        read_registry(path)


def test_a_1_gb_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.truncate(2**30)  # sparse: a gigabyte on paper, nothing on disk
    with pytest.raises(RegistryError, match=f"1024 MB; a registry may be at most {MAX_REGISTRY_BYTES >> 20} MB"):
        read_registry(path)


def test_the_nearest_structure_within_the_radius_and_nothing_else():
    lat, lon = 59.62, 10.95
    north_m = 1 / 111_195  # degrees of latitude per metre
    index = AssetIndex([
        Asset("T-far", "far", lat + 80 * north_m, lon, "tower"),
        Asset("T-near", "near", lat + 30 * north_m, lon, "tower"),
        Asset("SPAN", "span", lat, lon, "span"),  # nearer, but no structure
        Asset("T-south", "south", lat - 30 * north_m, lon, "Tower"),  # as near: the smaller id wins
    ])  # fmt: skip
    asset, distance = index.nearest(lat, lon)
    assert asset.asset_id == "T-near" and distance == pytest.approx(30, abs=0.2)
    assert index.nearest(lat + 200 * north_m, lon) is None
    assert index.nearest(lat + 80 * north_m, lon, radius_m=LINK_RADIUS_M)[0].asset_id == "T-far"
    assert distance_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-3)
