"""The Foxglove views of bus messages: camera frames as `foxglove.CompressedImage`, detections as
`foxglove.ImageAnnotations` (a LINE_LOOP box and a label per detection, drawn over the image),
and the vehicle's position as `foxglove.LocationFix` when it knows its latitude and longitude.

The schemas are Foxglove's own JSON schemas (https://github.com/foxglove/schemas, field names
exact), written out here for the `jsonschema` schema encoding; messages are JSON, so bytes are
base64 strings (msgspec encodes `bytes` that way). Annotations carry the frame's capture time as
their timestamp, the same as the image's, which is how Foxglove pairs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import simplejpeg

from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.runtime.messages import FrameDetections, FrameMeta

#: a Foxglove layout for recordings (installed with the package): the annotated camera, plots of the vehicle's
#: speed and the commands, the behaviour's modes and the stops, and a map of /vehicle/location
LAYOUT_FILE = Path(__file__).with_name("foxglove_layout.json")

IMAGE_TOPIC = "/camera/image"
ANNOTATIONS_TOPIC = "/camera/annotations"
LOCATION_TOPIC = "/vehicle/location"
#: Foxglove coordinate-frame names (not GridScout frame ids, which travel as the MCAP message sequence)
CAMERA_FRAME = "camera"
VEHICLE_FRAME = "vehicle"

# -- schemas ----------------------------------------------------------------------------------------------


def _time(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": "time",
        "properties": {
            "sec": {"type": "integer", "minimum": 0},
            "nsec": {"type": "integer", "minimum": 0, "maximum": 999999999},
        },
        "description": description,
    }


def _point2(description: str) -> dict[str, Any]:
    return {
        "title": "foxglove.Point2",
        "description": description,
        "type": "object",
        "properties": {
            "x": {"type": "number", "description": "x coordinate position"},
            "y": {"type": "number", "description": "y coordinate position"},
        },
    }


def _color(description: str) -> dict[str, Any]:
    channel = "{} value between 0 and 1"
    return {
        "title": "foxglove.Color",
        "description": description,
        "type": "object",
        "properties": {c: {"type": "number", "description": channel.format(n)} for c, n in
                       (("r", "Red"), ("g", "Green"), ("b", "Blue"), ("a", "Alpha"))},
    }  # fmt: skip


def _enum(title: str, description: str, values: list[str]) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "oneOf": [{"title": v, "const": i} for i, v in enumerate(values)],
    }


COMPRESSED_IMAGE_SCHEMA = {
    "title": "foxglove.CompressedImage",
    "description": "A compressed image",
    "type": "object",
    "properties": {
        "timestamp": _time("Timestamp of image"),
        "frame_id": {"type": "string", "description": "Frame of reference for the image."},
        "data": {"type": "string", "contentEncoding": "base64", "description": "Compressed image data"},
        "format": {"type": "string", "description": "Image format"},
    },
}

_CIRCLE = {
    "title": "foxglove.CircleAnnotation",
    "description": "A circle annotation on a 2D image",
    "type": "object",
    "properties": {
        "timestamp": _time("Timestamp of circle"),
        "position": _point2("Center of the circle in 2D image coordinates (pixels)"),
        "diameter": {"type": "number", "description": "Circle diameter in pixels"},
        "thickness": {"type": "number", "description": "Line thickness in pixels"},
        "fill_color": _color("Fill color"),
        "outline_color": _color("Outline color"),
    },
}
_POINTS = {
    "title": "foxglove.PointsAnnotation",
    "description": "An array of points on a 2D image",
    "type": "object",
    "properties": {
        "timestamp": _time("Timestamp of annotation"),
        "type": _enum(
            "foxglove.PointsAnnotationType",
            "Type of points annotation to draw",
            ["UNKNOWN", "POINTS", "LINE_LOOP", "LINE_STRIP", "LINE_LIST"],
        ),
        "points": {
            "type": "array",
            "items": _point2("A point representing a position in 2D space"),
            "description": "Points in 2D image coordinates (pixels)",
        },
        "outline_color": _color("Outline color"),
        "outline_colors": {
            "type": "array",
            "items": _color("A color in RGBA format"),
            "description": "Per-point colors",
        },
        "fill_color": _color("Fill color"),
        "thickness": {"type": "number", "description": "Stroke thickness in pixels"},
    },
}
_TEXT = {
    "title": "foxglove.TextAnnotation",
    "description": "A text label on a 2D image",
    "type": "object",
    "properties": {
        "timestamp": _time("Timestamp of annotation"),
        "position": _point2("Bottom-left origin of the text label in 2D image coordinates (pixels)"),
        "text": {"type": "string", "description": "Text to display"},
        "font_size": {"type": "number", "description": "Font size in pixels"},
        "text_color": _color("Text color"),
        "background_color": _color("Background fill color"),
    },
}
IMAGE_ANNOTATIONS_SCHEMA = {
    "title": "foxglove.ImageAnnotations",
    "description": "Array of annotations for a 2D image",
    "type": "object",
    "properties": {
        "circles": {"type": "array", "items": _CIRCLE, "description": "Circle annotations"},
        "points": {"type": "array", "items": _POINTS, "description": "Points annotations"},
        "texts": {"type": "array", "items": _TEXT, "description": "Text annotations"},
    },
}

LOCATION_FIX_SCHEMA = {
    "title": "foxglove.LocationFix",
    "description": "A navigation satellite fix for any Global Navigation Satellite System",
    "type": "object",
    "properties": {
        "timestamp": _time("Timestamp of the message"),
        "frame_id": {"type": "string", "description": "Frame for the sensor."},
        "latitude": {"type": "number", "description": "Latitude in degrees"},
        "longitude": {"type": "number", "description": "Longitude in degrees"},
        "altitude": {"type": "number", "description": "Altitude in meters"},
        "position_covariance": {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 9,
            "maxItems": 9,
            "description": "Position covariance (m^2), East, North, Up (ENU), in row-major order.",
        },
        "position_covariance_type": _enum(
            "foxglove.PositionCovarianceType",
            "If `position_covariance` is available, `position_covariance_type` must be set to indicate its type.",
            ["UNKNOWN", "APPROXIMATED", "DIAGONAL_KNOWN", "KNOWN"],
        ),
    },
}


@dataclass(frozen=True)
class ViewChannel:
    channel: str
    schema_name: str
    schema: bytes


def _view(channel: str, schema: dict[str, Any]) -> ViewChannel:
    return ViewChannel(channel, schema["title"], json.dumps(schema, separators=(",", ":")).encode())


IMAGE = _view(IMAGE_TOPIC, COMPRESSED_IMAGE_SCHEMA)
ANNOTATIONS = _view(ANNOTATIONS_TOPIC, IMAGE_ANNOTATIONS_SCHEMA)
LOCATION = _view(LOCATION_TOPIC, LOCATION_FIX_SCHEMA)
VIEWS: tuple[ViewChannel, ...] = (IMAGE, ANNOTATIONS, LOCATION)

# -- messages ---------------------------------------------------------------------------------------------


class Time(msgspec.Struct, frozen=True):
    sec: int
    nsec: int

    @classmethod
    def of_ns(cls, t_ns: int) -> Time:
        sec, nsec = divmod(max(t_ns, 0), 1_000_000_000)
        return cls(sec, nsec)


class Point2(msgspec.Struct, frozen=True):
    x: float
    y: float


class Color(msgspec.Struct, frozen=True):
    r: float
    g: float
    b: float
    a: float


class CompressedImage(msgspec.Struct, frozen=True):
    timestamp: Time
    frame_id: str
    data: bytes
    format: str


class PointsAnnotation(msgspec.Struct, frozen=True):
    timestamp: Time
    type: int
    points: list[Point2]
    outline_color: Color
    outline_colors: list[Color]
    fill_color: Color
    thickness: float


class TextAnnotation(msgspec.Struct, frozen=True):
    timestamp: Time
    position: Point2
    text: str
    font_size: float
    text_color: Color
    background_color: Color


class ImageAnnotations(msgspec.Struct, frozen=True):
    circles: list[dict[str, Any]]
    points: list[PointsAnnotation]
    texts: list[TextAnnotation]


class LocationFix(msgspec.Struct, frozen=True):
    timestamp: Time
    frame_id: str
    latitude: float
    longitude: float
    altitude: float
    position_covariance: list[float]
    position_covariance_type: int


LINE_LOOP = 2
DEFECT = Color(1.0, 0.15, 0.1, 1.0)
COMPONENT = Color(0.2, 0.85, 0.3, 1.0)
CLEAR = Color(0.0, 0.0, 0.0, 0.0)
LABEL_BACKGROUND = Color(0.0, 0.0, 0.0, 0.6)
WHITE = Color(1.0, 1.0, 1.0, 1.0)
FONT_SIZE = 14.0

_ENCODER = msgspec.json.Encoder()


def encode(view: msgspec.Struct) -> bytes:
    return _ENCODER.encode(view)


def image(meta: FrameMeta, pixels: np.ndarray, quality: int) -> CompressedImage:
    """A camera frame (BGR pixels) as a JPEG CompressedImage stamped with its capture time."""
    jpeg = simplejpeg.encode_jpeg(np.ascontiguousarray(pixels), quality=quality, colorspace="BGR")
    return CompressedImage(Time.of_ns(meta.t_capture_wall_ns), CAMERA_FRAME, jpeg, "jpeg")


def jpeg_image(meta: FrameMeta, jpeg: bytes) -> CompressedImage:
    """An already-encoded JPEG (a recorded frame, replayed) as a CompressedImage stamped with its capture time."""
    return CompressedImage(Time.of_ns(meta.t_capture_wall_ns), CAMERA_FRAME, bytes(jpeg), "jpeg")


def annotations(det: FrameDetections) -> ImageAnnotations:
    """A box (closed polygon) and a `class score #track` label per detection, in source pixels."""
    stamp = Time.of_ns(det.t_capture_wall_ns)
    points, texts = [], []
    for box in det.boxes:
        color = DEFECT if box.is_defect else COMPONENT
        corners = [Point2(box.x1, box.y1), Point2(box.x2, box.y1), Point2(box.x2, box.y2), Point2(box.x1, box.y2)]
        points.append(PointsAnnotation(stamp, LINE_LOOP, corners, color, [], CLEAR, 2.0))
        track = f" #{box.track_id}" if box.track_id >= 0 else ""
        texts.append(
            TextAnnotation(
                stamp,
                Point2(box.x1, max(box.y1 - 4.0, FONT_SIZE)),
                f"{box.class_name} {box.score:.2f}{track}",
                FONT_SIZE,
                WHITE,
                LABEL_BACKGROUND,
            )
        )
    return ImageAnnotations([], points, texts)


def location(telemetry: VehicleTelemetry, t_wall_ns: int) -> LocationFix | None:
    """The vehicle's fix, when it knows its latitude and longitude (None otherwise)."""
    if telemetry.lat_deg is None or telemetry.lon_deg is None:
        return None
    return LocationFix(
        Time.of_ns(t_wall_ns),
        VEHICLE_FRAME,
        float(telemetry.lat_deg),
        float(telemetry.lon_deg),
        float(telemetry.alt_m) if telemetry.alt_m is not None else 0.0,
        [0.0] * 9,
        0,
    )
