"""A survey photo's pose from its EXIF and XMP, on JPEGs written here the way DJI drones write them."""

import logging

import numpy as np
import pytest

from gridscout.hardware.camera.folder import POSE_WARNINGS_LOGGED, ImageFolder
from gridscout.hardware.camera.photo_pose import read_photo_pose, xmp_packet
from tests.geotagged_photos import dji_xmp, exif_bytes, geotagged_jpeg, write_photo

IMAGE = np.full((48, 64, 3), 120, np.uint8)
ANGLES = {"GimbalYawDegree": "-45.30", "GimbalPitchDegree": "-90.00", "GimbalRollDegree": "+0.00"}
ALTITUDES = {"RelativeAltitude": "+50.10", "AbsoluteAltitude": "+160.25"}


def test_a_dji_photo_gives_position_angles_altitudes_and_lens():
    data = geotagged_jpeg(
        IMAGE,
        exif=exif_bytes(lat=59.6212345, lon=10.9554321, alt=158.0, focal_mm=12.29, focal_35mm=24, model="M3E"),
        xmp=dji_xmp({**ANGLES, **ALTITUDES, "FlightYawDegree": "-44.9"}),
    )
    pose, warning = read_photo_pose(data)
    assert warning is None and pose is not None
    assert pose.lat_deg == pytest.approx(59.6212345, abs=1e-7) and pose.lon_deg == pytest.approx(10.9554321, abs=1e-7)
    assert (pose.yaw_deg, pose.pitch_deg, pose.roll_deg) == (-45.3, -90.0, 0.0)  # the gimbal's, not the aircraft's
    assert pose.alt_rel_m == 50.1 and pose.alt_m == 160.25  # XMP's absolute altitude before EXIF's
    assert (pose.focal_length_mm, pose.focal_length_35mm) == (12.29, 24.0)
    assert (pose.camera_make, pose.camera_model, pose.source) == ("DJI", "M3E", "exif")
    assert pose.position_std_m is None and pose.focal_length_px is None


def test_southern_and_western_fixes_are_negative_and_exif_altitude_is_the_fallback():
    data = geotagged_jpeg(IMAGE, exif=exif_bytes(lat=-33.5, lon=-70.25, alt=-12.5), xmp=dji_xmp(ANGLES))
    pose, _ = read_photo_pose(data)
    assert pose is not None
    assert (pose.lat_deg, pose.lon_deg) == pytest.approx((-33.5, -70.25), abs=1e-7)
    assert pose.alt_m == pytest.approx(-12.5) and pose.alt_rel_m is None  # GPSAltitudeRef 1: below sea level


@pytest.mark.parametrize("namespace_variant", ["elements", "no trailing slash"])
def test_xmp_fields_as_elements_or_in_the_older_namespace_are_read(namespace_variant):
    if namespace_variant == "elements":
        packet = dji_xmp({**ANGLES, **ALTITUDES}, as_elements=True)
    else:
        packet = dji_xmp({**ANGLES, **ALTITUDES}).replace(b"drone-dji/1.0/", b"drone-dji/1.0")
    pose, warning = read_photo_pose(geotagged_jpeg(IMAGE, exif=exif_bytes(lat=1.0, lon=2.0), xmp=packet))
    assert warning is None and pose is not None and pose.pitch_deg == -90.0 and pose.alt_rel_m == 50.1


def test_the_fix_may_come_from_xmp_alone_in_djis_own_spelling():
    xmp = dji_xmp({**ANGLES, "GpsLatitude": "47.25", "GpsLongtitude": "8.5"})
    pose, warning = read_photo_pose(geotagged_jpeg(IMAGE, exif=exif_bytes(), xmp=xmp))
    assert warning is None and pose is not None and (pose.lat_deg, pose.lon_deg) == (47.25, 8.5)


def test_a_photo_without_xmp_keeps_its_position_but_warns_it_has_no_angles():
    pose, warning = read_photo_pose(geotagged_jpeg(IMAGE, exif=exif_bytes(lat=1.0, lon=2.0)))
    assert pose is not None and pose.yaw_deg is None and pose.pitch_deg is None
    assert warning == "camera angles unknown (no XMP packet)"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (geotagged_jpeg(IMAGE), "no GPS position in EXIF or XMP"),
        (geotagged_jpeg(IMAGE, exif=exif_bytes(lat=0.0, lon=0.0)), "is not a fix"),
        (b"\xff\xd8\xff\xe1\x00\x20Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\xff\xff", "no GPS"),
        (b"", "no GPS"),
        (b"not a jpeg at all", "no GPS"),
    ],
    ids=["no metadata", "null island", "truncated EXIF", "empty", "not an image"],
)
def test_bad_or_missing_metadata_is_a_warning_never_an_exception(data, expected):
    pose, warning = read_photo_pose(data)
    assert pose is None and warning is not None and expected in warning


def test_an_xmp_packet_with_a_dtd_is_refused_so_no_entity_expands():
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    packet = dji_xmp(ANGLES, extra=bomb)
    pose, warning = read_photo_pose(geotagged_jpeg(IMAGE, exif=exif_bytes(lat=1.0, lon=2.0), xmp=packet))
    assert pose is not None and pose.pitch_deg is None
    assert warning is not None and "DTD" in warning


def test_malformed_xmp_is_a_warning():
    packet = dji_xmp(ANGLES)[:-40]  # cut inside the XML
    pose, warning = read_photo_pose(geotagged_jpeg(IMAGE, exif=exif_bytes(lat=1.0, lon=2.0), xmp=packet))
    assert pose is not None and pose.yaw_deg is None and "not well-formed" in warning


def test_rtk_deviations_and_the_calibrated_focal_length_are_taken_from_a_fixed_solution_only():
    rtk = {**ANGLES, "RtkStdLat": "0.03", "RtkStdLon": "0.04", "RtkStdHgt": "0.05", "CalibratedFocalLength": "3666.67"}
    fixed, _ = read_photo_pose(
        geotagged_jpeg(IMAGE, exif=exif_bytes(lat=1, lon=2), xmp=dji_xmp({**rtk, "RtkFlag": "50"}))
    )
    floating, _ = read_photo_pose(
        geotagged_jpeg(IMAGE, exif=exif_bytes(lat=1, lon=2), xmp=dji_xmp({**rtk, "RtkFlag": "34"}))
    )
    assert fixed is not None and floating is not None
    assert fixed.position_std_m == pytest.approx(np.sqrt((0.03**2 + 0.04**2) / 2)) and fixed.alt_std_m == 0.05
    assert floating.position_std_m is None and floating.alt_std_m is None  # a float solution's figures are not kept
    assert fixed.focal_length_px == floating.focal_length_px == 3666.67


def test_xmp_is_looked_for_in_the_header_only_not_in_the_image_data():
    data = geotagged_jpeg(IMAGE)
    decoy = b"\xff\xe1\x00\x30" + b"http://ns.adobe.com/xap/1.0/\x00" + b"x" * 17
    assert xmp_packet(data + decoy) is None  # after the start of scan: image data, not a segment
    assert xmp_packet(geotagged_jpeg(IMAGE, xmp=dji_xmp(ANGLES))) == dji_xmp(ANGLES)


def test_the_folder_source_attaches_each_photos_pose_and_counts_the_rest(tmp_path, caplog):
    write_photo(tmp_path / "DJI_0001.JPG", IMAGE, exif=exif_bytes(lat=1.0, lon=2.0), xmp=dji_xmp(ANGLES))
    for i in range(2, 7):
        write_photo(tmp_path / f"DJI_000{i}.JPG", IMAGE)  # no metadata at all
    source = ImageFolder(tmp_path)
    with caplog.at_level(logging.WARNING, logger="gridscout.hardware.camera.folder"):
        frames = list(source)
    assert len(frames) == 6 and frames[0].pose is not None and frames[0].pose.pitch_deg == -90.0
    assert all(f.pose is None for f in frames[1:])
    assert source.pose_warnings == 5 and source.corrupt_frames == 0
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == POSE_WARNINGS_LOGGED and "DJI_0002.JPG: no GPS position" in logged[0]
    assert "further ones are counted only" in logged[-1]
