"""A survey photo's camera pose, from its EXIF GPS fix and the XMP packet drones write beside it.

EXIF (read with exifread) gives the GPS fix, the lens's focal length and its 35 mm equivalent, and the
camera's make and model. DJI and most survey cameras also write an XMP packet whose `drone-dji:` fields
hold what EXIF has no tag for: the gimbal's yaw, pitch and roll in the world (NED, yaw-pitch-roll order,
as DJI's manuals define them), the aircraft's, the altitude above the take-off point, the RTK fix's
standard deviations and the calibrated focal length in pixels. XMP is parsed with the standard library's
ElementTree, after refusing any packet with a DTD (so no entity can expand).

`read_photo_pose(data)` never raises on bad metadata: it returns the pose it could read (None without a
GPS fix) and what was missing or wrong, which the caller logs and counts.
"""

from __future__ import annotations

import io
import logging
import math
import re
import struct
import xml.etree.ElementTree as ET
from typing import Any

import exifread

from gridscout.hardware.frame import CameraPose

log = logging.getLogger(__name__)
# exifread logs a warning for every photo without EXIF ("File format not recognized"); we say it once, better
logging.getLogger("exifread").setLevel(logging.ERROR)

#: the identifier an XMP packet's APP1 segment starts with (Adobe XMP specification, part 3)
XMP_APP1_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
#: DJI's XMP namespace (older firmware writes it with and without the trailing slash)
DJI_NAMESPACE = re.compile(r"^https?://www\.dji\.com/drone-dji/1\.0/?$")
#: the RTK status DJI writes for a fixed (centimetre) solution; only then are its deviations trusted
DJI_RTK_FIXED = 50

_SOI, _SOS, _EOI, _APP1 = 0xD8, 0xDA, 0xD9, 0xE1
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length


def xmp_packet(data: bytes) -> bytes | None:
    """The XMP packet of a JPEG (its first APP1 segment with the XMP header), or None.

    Walks the marker segments up to the start of scan, so image data is never searched."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != _SOI:
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None  # not at a marker: a corrupt header
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker in (_SOS, _EOI):
            return None
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        body = data[at + 4 : at + 2 + length]
        if length < 2 or len(body) != length - 2:
            return None
        if marker == _APP1 and body.startswith(XMP_APP1_HEADER):
            return body[len(XMP_APP1_HEADER) :]
        at += 2 + length
    return None


def dji_fields(packet: bytes) -> dict[str, str]:
    """Every `drone-dji:` field of an XMP packet, as attributes or as elements, by local name.

    Raises ValueError for a packet that is not well-formed XML or that carries a DTD."""
    head = packet[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in packet.lower():
        raise ValueError("XMP packet has a DTD (refused: entities could expand)")
    try:
        root = ET.fromstring(packet.strip(b"\x00 \t\r\n"))
    except ET.ParseError as exc:
        raise ValueError(f"XMP packet is not well-formed XML ({exc})") from None
    fields: dict[str, str] = {}
    for element in root.iter():
        for key, value in element.attrib.items():
            name = _dji_name(key)
            if name:
                fields.setdefault(name, value)
        name = _dji_name(element.tag) if isinstance(element.tag, str) else None
        if name and element.text and element.text.strip():
            fields.setdefault(name, element.text.strip())
    return fields


def _dji_name(qualified: str) -> str | None:
    """'GimbalYawDegree' for '{http://www.dji.com/drone-dji/1.0/}GimbalYawDegree', else None."""
    if not qualified.startswith("{"):
        return None
    namespace, _, local = qualified[1:].partition("}")
    return local if DJI_NAMESPACE.match(namespace) else None


def _number(value: Any) -> float | None:
    """A finite float from an EXIF value or an XMP string ('+12.30', '-90.0'), else None."""
    if isinstance(value, list | tuple):
        value = value[0] if len(value) == 1 else None
    try:
        x = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) else None


def _degrees(dms: Any, ref: Any) -> float | None:
    """Signed decimal degrees from EXIF (degrees, minutes, seconds) and its N/S or E/W reference."""
    if not isinstance(dms, list | tuple) or not 1 <= len(dms) <= 3:
        return None
    parts = [_number(v) for v in dms]
    if any(p is None for p in parts):
        return None
    value = sum(p / 60**i for i, p in enumerate(parts))  # type: ignore[operator]
    return -value if str(ref).strip().upper() in ("S", "W") else value


def exif_tags(data: bytes) -> dict[str, Any]:
    """The photo's EXIF tags as plain Python values (exifread's names, e.g. 'GPS GPSLatitude')."""
    return exifread.process_file(io.BytesIO(data), details=False, builtin_types=True, extract_thumbnail=False)


def read_photo_pose(data: bytes) -> tuple[CameraPose | None, str | None]:
    """A photo's camera pose (None without a GPS fix) and a warning (None when all was there and sound).

    A pose without camera angles (no XMP) still comes back, with a warning: its position is right, but
    it cannot place what the photo shows."""
    try:
        tags = exif_tags(data)
    except Exception as exc:  # exifread raises many kinds on corrupt files
        return None, f"EXIF unreadable ({type(exc).__name__}: {exc})"
    try:
        packet = xmp_packet(data)
        xmp = dji_fields(packet) if packet is not None else {}
        xmp_problem = None
    except ValueError as exc:
        xmp, xmp_problem = {}, str(exc)
    lat = _degrees(tags.get("GPS GPSLatitude"), tags.get("GPS GPSLatitudeRef", "N"))
    lon = _degrees(tags.get("GPS GPSLongitude"), tags.get("GPS GPSLongitudeRef", "E"))
    if lat is None or lon is None:  # DJI also writes the fix in XMP (and spells it GpsLongtitude on some models)
        lat = _number(xmp.get("GpsLatitude"))
        lon = _number(xmp.get("GpsLongitude", xmp.get("GpsLongtitude")))
    if lat is None or lon is None:
        return None, "no GPS position in EXIF or XMP" + (f"; {xmp_problem}" if xmp_problem else "")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, f"GPS position ({lat}, {lon}) is not a fix"
    alt = _number(xmp.get("AbsoluteAltitude"))
    if alt is None:
        alt = _number(tags.get("GPS GPSAltitude"))
        if alt is not None and _number(tags.get("GPS GPSAltitudeRef")) == 1:
            alt = -alt  # below sea level
    h_std, v_std = _rtk_deviations(xmp)
    pose = CameraPose(
        lat_deg=lat,
        lon_deg=lon,
        alt_m=alt,
        alt_rel_m=_number(xmp.get("RelativeAltitude")),
        yaw_deg=_number(xmp.get("GimbalYawDegree")),
        pitch_deg=_number(xmp.get("GimbalPitchDegree")),
        roll_deg=_number(xmp.get("GimbalRollDegree")),
        source="exif",
        focal_length_mm=_positive(tags.get("EXIF FocalLength")),
        focal_length_35mm=_positive(tags.get("EXIF FocalLengthIn35mmFilm")),
        focal_length_px=_positive(xmp.get("CalibratedFocalLength")),
        position_std_m=h_std,
        alt_std_m=v_std,
        camera_make=_text(tags.get("Image Make")),
        camera_model=_text(tags.get("Image Model")),
    )
    if pose.pitch_deg is None or pose.yaw_deg is None:
        why = xmp_problem or ("no drone-dji gimbal angles in XMP" if packet is not None else "no XMP packet")
        return pose, f"camera angles unknown ({why})"
    return pose, xmp_problem


def _positive(value: Any) -> float | None:
    x = _number(value)
    return x if x is not None and x > 0 else None


def _text(value: Any) -> str | None:
    text = str(value).strip().strip("\x00").strip() if value is not None else ""
    return text or None


def _rtk_deviations(xmp: dict[str, str]) -> tuple[float | None, float | None]:
    """(horizontal, vertical) 1-sigma metres of a fixed RTK solution, when DJI wrote them; else None."""
    if _number(xmp.get("RtkFlag")) != DJI_RTK_FIXED:
        return None, None
    lat_std, lon_std = _number(xmp.get("RtkStdLat")), _number(xmp.get("RtkStdLon"))
    h = math.hypot(lat_std, lon_std) / math.sqrt(2) if lat_std is not None and lon_std is not None else None
    return h, _number(xmp.get("RtkStdHgt"))
