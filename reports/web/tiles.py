"""A base map for the page, only where the operator gives one: an MBTiles file served by the page itself, or a
tile URL on the utility's own network. Without one the map has none, and nothing is fetched from anywhere.

MBTiles (https://github.com/mapbox/mbtiles-spec) is one SQLite file of raster tiles, rows counted from the south
(TMS): row = 2**z - 1 - y. Vector tiles (pbf) would need a renderer in the page, and are refused.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

TILE_PATH = "/ui/tiles/{z}/{x}/{y}"
_TEMPLATE = re.compile(r"^https?://[^\s]+$")
_MEDIA = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


class TileError(ValueError):
    """A tile source that cannot be used; the message names it and what is expected."""


@dataclass
class Tiles:
    """What the page's map draws under the reports: `url` is a Leaflet URL template."""

    url: str
    attribution: str = ""
    max_zoom: int = 19
    mbtiles: Path | None = None
    media_type: str = "image/png"
    _db: sqlite3.Connection | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """One tile of the MBTiles file (None: not in it)."""
        if self._db is None:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
        return bytes(row[0]) if row else None

    def for_page(self) -> dict:
        return {"url": self.url, "attribution": self.attribution, "max_zoom": self.max_zoom}


def open_tiles(setting: str) -> Tiles | None:
    """The tiles a setting names: '' for none, an http(s) URL template with {z}, {x} and {y}, or an .mbtiles
    file. TileError for anything else."""
    setting = setting.strip()
    if not setting:
        return None
    if setting.startswith(("http://", "https://")):
        if not _TEMPLATE.match(setting) or not all(k in setting for k in ("{z}", "{x}", "{y}")):
            raise TileError(f"map tiles {setting!r}: expected a URL template with {{z}}, {{x}} and {{y}}")
        return Tiles(url=setting, attribution="base map: your tile server")
    path = Path(setting).expanduser()
    if path.suffix.lower() != ".mbtiles":
        raise TileError(f"map tiles {setting!r}: expected an .mbtiles file or an http(s) URL template")
    if not path.is_file():
        raise TileError(f"map tiles {path}: no such file")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
        db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise TileError(f"map tiles {path}: not an MBTiles file ({exc})") from None
    kind = str(meta.get("format", "png")).lower()
    if kind not in _MEDIA:
        raise TileError(f"map tiles {path}: format {kind!r}; expected raster tiles (png, jpg or webp)")
    zooms = db.execute("SELECT MAX(zoom_level) FROM tiles").fetchone()[0]
    return Tiles(
        url=TILE_PATH, attribution=str(meta.get("attribution") or meta.get("name") or path.name),
        max_zoom=int(zooms if zooms is not None else 19), mbtiles=path, media_type=_MEDIA[kind], _db=db,
    )  # fmt: skip
