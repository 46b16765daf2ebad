"""The page's base map: none unless given, an MBTiles file read the way the spec counts rows, or a URL template."""

from __future__ import annotations

import sqlite3

import pytest

from gridscout.reports.web.tiles import TILE_PATH, TileError, open_tiles


def write_mbtiles(path, tiles: dict[tuple[int, int, int], bytes], fmt: str = "png") -> None:
    """An MBTiles file with `tiles` keyed (z, x, y) in the XYZ scheme the page asks in."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "line 7"), ("format", fmt),
                                                               ("attribution", "utility GIS")])  # fmt: skip
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                       [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()])  # fmt: skip


def test_none_unless_given():
    assert open_tiles("") is None and open_tiles("  ") is None


def test_an_mbtiles_file_serves_its_tiles_with_rows_counted_from_the_south(tmp_path):
    path = tmp_path / "line.mbtiles"
    write_mbtiles(path, {(2, 1, 0): b"north", (2, 1, 3): b"south"})
    tiles = open_tiles(str(path))
    assert (tiles.url, tiles.attribution, tiles.max_zoom, tiles.media_type) == (
        TILE_PATH,
        "utility GIS",
        2,
        "image/png",
    )
    assert tiles.tile(2, 1, 0) == b"north" and tiles.tile(2, 1, 3) == b"south" and tiles.tile(2, 0, 0) is None


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("http://tiles.example/{z}/{x}.png", "with {z}, {x} and {y}"),
        ("tiles.png", "expected an .mbtiles file or an http(s) URL template"),
        ("/nowhere/line.mbtiles", "no such file"),
    ],
)
def test_a_bad_setting_says_what_is_expected(setting, said):
    with pytest.raises(
        TileError, match=said.replace("{", r"\{").replace("}", r"\}").replace("(", r"\(").replace(")", r"\)")
    ):
        open_tiles(setting)


def test_vector_tiles_and_files_that_are_not_mbtiles_are_refused(tmp_path):
    vector = tmp_path / "vector.mbtiles"
    write_mbtiles(vector, {(0, 0, 0): b"pbf"}, fmt="pbf")
    with pytest.raises(TileError, match="format 'pbf'; expected raster tiles"):
        open_tiles(str(vector))
    junk = tmp_path / "junk.mbtiles"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(TileError, match="not an MBTiles file"):
        open_tiles(str(junk))


def test_a_url_template_on_the_utilitys_network_is_passed_to_the_page():
    tiles = open_tiles("http://gis.local/tiles/{z}/{x}/{y}.png")
    assert tiles.url == "http://gis.local/tiles/{z}/{x}/{y}.png" and tiles.tile(0, 0, 0) is None
