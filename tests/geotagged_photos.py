"""Writes JPEGs the way a survey drone does: the GPS fix and focal length in EXIF (piexif), DJI's gimbal
angles and altitudes in an XMP packet in its own APP1 segment (the simulator's `survey_photos`)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import piexif

from gridscout.hardware.sim.survey_photos import dji_xmp, with_xmp

__all__ = ["dji_xmp", "exif_bytes", "geotagged_jpeg", "pose_metadata", "write_photo"]


def _rational(x: float, denominator: int = 10_000) -> tuple[int, int]:
    return round(x * denominator), denominator


def _dms(value: float) -> tuple[tuple[int, int], ...]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return (degrees, 1), (minutes, 1), _rational(seconds, 100_000)


def exif_bytes(
    *,
    lat: float | None = None,
    lon: float | None = None,
    alt: float | None = None,
    focal_mm: float | None = None,
    focal_35mm: int | None = None,
    make: str = "DJI",
    model: str = "M3E",
) -> bytes:
    zeroth = {piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Model: model.encode()}
    exif: dict = {}
    if focal_mm is not None:
        exif[piexif.ExifIFD.FocalLength] = _rational(focal_mm, 100)
    if focal_35mm is not None:
        exif[piexif.ExifIFD.FocalLengthIn35mmFilm] = focal_35mm
    gps: dict = {}
    if lat is not None and lon is not None:
        gps[piexif.GPSIFD.GPSLatitudeRef] = b"N" if lat >= 0 else b"S"
        gps[piexif.GPSIFD.GPSLatitude] = _dms(lat)
        gps[piexif.GPSIFD.GPSLongitudeRef] = b"E" if lon >= 0 else b"W"
        gps[piexif.GPSIFD.GPSLongitude] = _dms(lon)
    if alt is not None:
        gps[piexif.GPSIFD.GPSAltitudeRef] = 0 if alt >= 0 else 1
        gps[piexif.GPSIFD.GPSAltitude] = _rational(abs(alt), 1000)
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps})


def geotagged_jpeg(image: np.ndarray, *, exif: bytes | None = None, xmp: bytes | None = None) -> bytes:
    """`image` as a JPEG with the EXIF block and the XMP packet given (each optional)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    data = encoded.tobytes()
    if exif is not None:
        out = io.BytesIO()
        piexif.insert(exif, data, out)
        data = out.getvalue()
    if xmp is not None:
        data = with_xmp(data, xmp)  # right after SOI, before EXIF's APP1: order must not matter
    return data


def write_photo(path: Path, image: np.ndarray, **kwargs: bytes | None) -> Path:
    path.write_bytes(geotagged_jpeg(image, **kwargs))
    return path


def pose_metadata(pose) -> tuple[bytes, bytes]:
    """EXIF and XMP that say what `pose` says, as a DJI enterprise drone writes them (calibrated focal length in
    pixels, gimbal angles, altitudes above sea level and above home)."""
    exif = exif_bytes(lat=pose.lat_deg, lon=pose.lon_deg, alt=pose.alt_m, model="M3E")
    fields = {
        "GimbalYawDegree": f"{pose.yaw_deg:+.4f}",
        "GimbalPitchDegree": f"{pose.pitch_deg:+.4f}",
        "GimbalRollDegree": f"{pose.roll_deg:+.4f}",
        "AbsoluteAltitude": f"{pose.alt_m:+.3f}",
        "RelativeAltitude": f"{pose.alt_rel_m:+.3f}",
        "CalibratedFocalLength": f"{pose.focal_length_px:.3f}",
    }
    return exif, dji_xmp(fields)
