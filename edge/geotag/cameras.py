"""Sensor widths of common inspection-drone cameras, for photos whose EXIF gives a focal length in mm alone.

A photo's pixel focal length is `focal_mm / sensor_width_mm * image_width_px`. Survey cameras mostly also
write the 35 mm equivalent, which needs no table; this one covers those that do not. Keyed by the EXIF
`Model` string; a payload with several cameras under one model (wide and zoom) is told apart by the focal
length, which each camera's lens range holds.

Where the figures come from: the lens focal lengths and optical formats are DJI's published
specifications of each product (the "Specs" page and user manual of each); the widths are the nominal
sizes of those formats (1-inch: 13.2 mm, 4/3: 17.3 mm, 1/1.3-inch: 9.6 mm, 1/1.7-inch: 7.6 mm, 1/1.8-inch:
7.2 mm, 1/2-inch: 6.4 mm, 1/2.3-inch: 6.17 mm, full frame: 35.9 mm as DJI gives the P1's). Nominal
format sizes are good to a few percent; a calibrated focal length (`CalibratedFocalLength` in DJI's XMP),
the 35 mm equivalent, or `[geotag]` in the config is used before this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SensorSpec:
    model: str  # EXIF Model
    camera: str  # which of the product's cameras
    sensor_width_mm: float
    focal_min_mm: float
    focal_max_mm: float


CAMERAS: tuple[SensorSpec, ...] = (
    # Phantom 4 RTK: 1-inch CMOS, 8.8 mm (24 mm equivalent)
    SensorSpec("FC6310R", "Phantom 4 RTK", 13.2, 8.8, 8.8),
    # Mavic 3 Enterprise: wide 4/3 CMOS, 12.29 mm (24 mm equivalent)
    SensorSpec("M3E", "Mavic 3 Enterprise wide", 17.3, 12.29, 12.29),
    # Zenmuse P1: full-frame 35.9 x 24 mm; DL 24, 35 and 50 mm lenses
    SensorSpec("ZenmuseP1", "Zenmuse P1", 35.9, 24.0, 50.0),
    # Zenmuse H20 / H20T: wide 1/2.3-inch, 4.5 mm (24 mm eq.); zoom 1/1.7-inch, 6.83-119.94 mm
    SensorSpec("ZH20", "Zenmuse H20 wide", 6.17, 4.5, 4.5),
    SensorSpec("ZH20", "Zenmuse H20 zoom", 7.6, 6.83, 119.94),
    SensorSpec("ZH20T", "Zenmuse H20T wide", 6.17, 4.5, 4.5),
    SensorSpec("ZH20T", "Zenmuse H20T zoom", 7.6, 6.83, 119.94),
    # Zenmuse H30 / H30T: wide 1/1.3-inch, 6.72 mm (24 mm eq.); zoom 1/1.8-inch, 7.1-172 mm
    SensorSpec("ZH30", "Zenmuse H30 wide", 9.6, 6.72, 6.72),
    SensorSpec("ZH30", "Zenmuse H30 zoom", 7.2, 7.1, 172.0),
    SensorSpec("ZH30T", "Zenmuse H30T wide", 9.6, 6.72, 6.72),
    SensorSpec("ZH30T", "Zenmuse H30T zoom", 7.2, 7.1, 172.0),
    # Matrice 30 / 30T: wide 1/2-inch, 4.5 mm (24 mm eq.); zoom 1/2-inch, 21-75 mm (113-405 mm eq.)
    SensorSpec("M30", "Matrice 30 wide", 6.4, 4.5, 4.5),
    SensorSpec("M30", "Matrice 30 zoom", 6.4, 21.0, 75.0),
    SensorSpec("M30T", "Matrice 30T wide", 6.4, 4.5, 4.5),
    SensorSpec("M30T", "Matrice 30T zoom", 6.4, 21.0, 75.0),
)

#: how far a photo's focal length may sit outside a lens's stated range and still be that lens (EXIF rounds)
FOCAL_SLACK = 0.03


def sensor_for(model: str | None, focal_mm: float) -> SensorSpec | None:
    """The camera of an EXIF model whose lens range holds `focal_mm`; None when unknown or ambiguous."""
    if not model:
        return None
    key = model.strip().upper()
    found = [
        spec
        for spec in CAMERAS
        if spec.model.upper() == key
        and spec.focal_min_mm * (1 - FOCAL_SLACK) <= focal_mm <= spec.focal_max_mm * (1 + FOCAL_SLACK)
    ]
    widths = {spec.sensor_width_mm for spec in found}
    return found[0] if len(widths) == 1 else None
