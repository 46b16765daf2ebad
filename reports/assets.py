"""The utility's asset registry, and which asset a report belongs to.

A registry is what an asset-management system exports: one row per asset with its identifier, name, line,
latitude, longitude, asset type, source system and height, as CSV or as GeoJSON points (the columns of
eSmart Connected Drone's import). It is read whole and checked before anything is stored: a bad row, a
missing column, a duplicate identifier or a file too large is a `RegistryError` naming it.

A report is linked to the nearest asset of a fitting type within `LINK_RADIUS_M`. Every class GridScout
reports today sits on a structure (an insulator string hangs from a tower or a pole), so the fitting types
are the structures' (`STRUCTURE_TYPES`); a registry's spans, substations and the like are never linked.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Why 50 m: a report's own position is good to its `error_m`, up to 30 m on the drone chain's default bound
#: (a 95 % radius), and a lattice tower's cross-arms reach 10-15 m from its centre, which the registry gives;
#: spans between transmission towers are 200-400 m (80-150 m on distribution poles), so 50 m reaches the tower
#: the defect is on and not its neighbour. A report farther from any structure is left unlinked, and says so.
LINK_RADIUS_M = 50.0
#: asset types a defect on an insulator string (or a nest) belongs to, compared without case
STRUCTURE_TYPES = frozenset({"tower", "pole", "structure", "support", "insulator", "insulator_string"})
#: a registry larger than this is refused before it is read (a whole country's registry is tens of MB)
MAX_REGISTRY_BYTES = 200 * 2**20
EARTH_RADIUS_M = 6_371_008.8

#: each field, and the column names that give it (compared without case, spaces or underscores)
COLUMNS: dict[str, tuple[str, ...]] = {
    "asset_id": ("identifier", "id", "asset_id", "assetid"),
    "name": ("name", "asset_name"),
    "line_id": ("line_id", "lineid", "line"),
    "lat": ("latitude", "lat"),
    "lon": ("longitude", "lon", "lng"),
    "asset_type": ("asset_type", "assettype", "type"),
    "source_system": ("source_system", "sourcesystem", "source"),
    "height_m": ("height", "height_m", "heightm"),
}
REQUIRED = ("asset_id", "name", "lat", "lon", "asset_type")


class RegistryError(ValueError):
    """A registry that cannot be imported; the message names the file, the row or column, and what is expected."""


@dataclass(frozen=True)
class Asset:
    asset_id: str
    name: str
    lat: float
    lon: float
    asset_type: str
    line_id: str | None = None
    source_system: str | None = None
    height_m: float | None = None

    @property
    def is_structure(self) -> bool:
        return self.asset_type.strip().lower() in STRUCTURE_TYPES


def _key(column: str) -> str:
    return "".join(c for c in column.lower() if c.isalnum())


def _fields(columns: Iterable[str], where: str) -> dict[str, str]:
    """field -> the column that gives it; RegistryError naming what is missing."""
    present = {_key(c): c for c in columns}
    found = {f: next((present[_key(a)] for a in aliases if _key(a) in present), None) for f, aliases in COLUMNS.items()}
    missing = [f for f in REQUIRED if found[f] is None]
    if missing:
        expected = "; ".join(f"{f} (as {' or '.join(COLUMNS[f][:2])})" for f in missing)
        raise RegistryError(f"{where}: missing {expected}; found columns: {', '.join(columns) or 'none'}")
    return {f: c for f, c in found.items() if c is not None}


def _number(value: Any, field: str, where: str, low: float, high: float, optional: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise RegistryError(f"{where}: {field} is empty; expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RegistryError(f"{where}: {field} {value!r} is not a number") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise RegistryError(f"{where}: {field} {number:g} is out of range; expected {low:g} to {high:g}")
    return number


def _text(value: Any, field: str, where: str, optional: bool = False) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        if optional:
            return None
        raise RegistryError(f"{where}: {field} is empty")
    return text


def _asset(record: Mapping[str, Any], fields: dict[str, str], where: str) -> Asset:
    def get(field: str) -> Any:
        return record.get(fields[field]) if field in fields else None

    return Asset(
        asset_id=_text(get("asset_id"), "identifier", where),
        name=_text(get("name"), "name", where),
        lat=_number(get("lat"), "latitude", where, -90, 90),
        lon=_number(get("lon"), "longitude", where, -180, 180),
        asset_type=_text(get("asset_type"), "asset type", where),
        line_id=_text(get("line_id"), "line id", where, optional=True),
        source_system=_text(get("source_system"), "source system", where, optional=True),
        height_m=_number(get("height_m"), "height", where, -500, 2000, optional=True),
    )


def _from_csv(text: str, path: Path) -> list[Asset]:
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    fields = _fields(reader.fieldnames or [], str(path))
    return [_asset(row, fields, f"{path} row {n}") for n, row in enumerate(reader, 2)]


def _from_geojson(text: str, path: Path) -> list[Asset]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    features = document.get("features") if isinstance(document, dict) else None
    if document.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise RegistryError(f"{path}: expected a GeoJSON FeatureCollection of Point features")
    assets = []
    for n, feature in enumerate(features, 1):
        where = f"{path} feature {n}"
        geometry = (feature or {}).get("geometry") or {}
        coordinates = geometry.get("coordinates")
        if geometry.get("type") != "Point" or not isinstance(coordinates, list) or len(coordinates) < 2:
            raise RegistryError(f"{where}: expected a Point geometry with [longitude, latitude]")
        properties = dict(feature.get("properties") or {})
        properties |= {"longitude": coordinates[0], "latitude": coordinates[1]}
        assets.append(_asset(properties, _fields(properties, where), where))
    return assets


def read_registry(path: Path) -> list[Asset]:
    """Every asset of a CSV or GeoJSON registry, checked; RegistryError for the first thing wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RegistryError(f"{path}: {exc.strerror or exc}") from None
    if size > MAX_REGISTRY_BYTES:
        raise RegistryError(f"{path}: {size / 2**20:.0f} MB; a registry may be at most {MAX_REGISTRY_BYTES >> 20} MB")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: not UTF-8 text (byte {exc.start}); expected CSV or GeoJSON") from None
    kind = "geojson" if path.suffix.lower() in (".geojson", ".json") or text.lstrip().startswith("{") else "csv"
    assets = _from_geojson(text, path) if kind == "geojson" else _from_csv(text, path)
    if not assets:
        raise RegistryError(f"{path}: no assets in it")
    seen: dict[str, int] = {}
    for n, asset in enumerate(assets, 1):
        if asset.asset_id in seen:
            raise RegistryError(f"{path}: identifier {asset.asset_id!r} is given twice (entries {seen[asset.asset_id]}"
                                f" and {n}); expected each asset once")  # fmt: skip
        seen[asset.asset_id] = n
    return assets


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres: within 0.5 % of the ellipsoid's at these ranges."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class AssetIndex:
    """The registry's structures in cells of about a kilometre, for the nearest one to a point."""

    CELL_DEG = 0.01

    def __init__(self, assets: Iterable[Asset]) -> None:
        self._cells: dict[tuple[int, int], list[Asset]] = defaultdict(list)
        for asset in assets:
            if asset.is_structure:
                self._cells[self._cell(asset.lat, asset.lon)].append(asset)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self.CELL_DEG), math.floor(lon / self.CELL_DEG)

    def nearest(self, lat: float, lon: float, radius_m: float = LINK_RADIUS_M) -> tuple[Asset, float] | None:
        """The nearest structure within `radius_m` of (lat, lon) and its distance; None when there is none.
        Ties go to the smaller identifier, so the same registry always gives the same link."""
        reach = math.ceil(radius_m / (self.CELL_DEG * 111_000 * max(0.05, math.cos(math.radians(lat))))) + 1
        row, col = self._cell(lat, lon)
        best: tuple[float, str, Asset] | None = None
        for i in range(row - reach, row + reach + 1):
            for j in range(col - reach, col + reach + 1):
                for asset in self._cells.get((i, j), ()):
                    d = distance_m(lat, lon, asset.lat, asset.lon)
                    if d <= radius_m and (best is None or (d, asset.asset_id) < best[:2]):
                        best = (d, asset.asset_id, asset)
        return (best[2], best[0]) if best else None
