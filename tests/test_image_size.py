"""Image sizes from headers, and a folder that skips a decompression bomb instead of decoding it."""

import logging
import struct
import zlib

import cv2
import numpy as np
import pytest

from gridscout.hardware.camera import open_source
from gridscout.hardware.camera.image_size import DEFAULT_MAX_IMAGE_PIXELS, image_size


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tif"])
def test_the_size_of_each_folder_format_comes_from_its_header(suffix):
    image = np.random.default_rng(1).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    ok, data = cv2.imencode(suffix, image)
    assert ok
    assert image_size(data.tobytes()) == (53, 37)


def test_a_progressive_jpeg_and_cut_or_foreign_bytes():
    image = np.zeros((20, 30, 3), np.uint8)
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert image_size(data) == (30, 20)
    assert image_size(data[:10]) is None
    assert image_size(b"GIF89a....") is None
    assert image_size(b"") is None


def test_a_folder_reads_a_tiff_whose_ifd_follows_its_pixels_and_a_jpeg_behind_long_app_segments(tmp_path):
    """libtiff (OpenCV's writer among them) puts a TIFF's IFD after the pixels, and a DJI thermal R-JPEG carries
    hundreds of kB of APP3 segments before its frame header: both sizes sit far past the first 64 kB, where the
    folder once stopped looking and skipped such photos as corrupt."""
    image = np.random.default_rng(2).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    tiff = cv2.imencode(".tif", image)[1].tobytes()
    (ifd,) = struct.unpack("<I", tiff[4:8])
    assert ifd > 65536  # the case itself: the IFD lies past the first 64 kB
    (tmp_path / "a.tif").write_bytes(tiff)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    app3 = b"\xff\xe3" + struct.pack(">H", 60002) + bytes(60000)
    (tmp_path / "b.jpg").write_bytes(jpeg[:2] + app3 * 12 + jpeg[2:])
    assert image_size(memoryview(np.frombuffer(jpeg[:2] + app3 * 12 + jpeg[2:], np.uint8))) == (400, 300)
    source = open_source(tmp_path)
    frames = list(source)
    assert [(f.name, f.image.shape) for f in frames] == [("a.tif", (300, 400, 3)), ("b.jpg", (300, 400, 3))]
    assert source.corrupt_frames == 0


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit grey PNG of zeros: a few hundred kB on disk, width x height x 3 bytes once decoded to colour."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_folder_skips_a_30000_px_png_without_decoding_it_and_goes_on(tmp_path, caplog, record_property):
    """A 30000x30000 PNG (2.7 GB as colour) once took 3.7 GB and stopped a run for good; the photos after it
    were never processed. Its header says 900 MP: skipped, counted and named; the others are read."""
    good = np.full((48, 64, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "a.jpg"), good)
    (tmp_path / "b_bomb.png").write_bytes(bomb_png(30000, 30000))
    cv2.imwrite(str(tmp_path / "c.jpg"), good)
    source = open_source(tmp_path)
    with caplog.at_level(logging.WARNING):
        names = [frame.name for frame in source]
    assert names == ["a.jpg", "c.jpg"]
    assert source.corrupt_frames == 1
    assert "b_bomb.png is 30000x30000 (900 MP), above camera.max_image_pixels" in caplog.text
    assert DEFAULT_MAX_IMAGE_PIXELS < 30000 * 30000
    size_kb = (tmp_path / "b_bomb.png").stat().st_size // 1024
    record_property(
        "figure", f"a {size_kb} kB PNG of 30000x30000 px skipped from its header; the 2 photos after it read"
    )
