"""Survey photos as an enterprise drone's camera takes them: frames of a rendered flight as JPEGs carrying DJI's XMP
packet (GPS fix, altitudes above sea level and home, gimbal angles, calibrated focal length), which
`hardware/camera/photo_pose.py` reads back. The sample photos for `gridscout detect` and `gridscout batch`.

    python -m gridscout.hardware.sim.survey_photos survey/                 # 26 photos of the demo flight
    python -m gridscout.hardware.sim.survey_photos survey/ --photos 8 --source 'synthetic://drone?seed=3'

(`gridscout sim photos` is the same.) Photos are a pure function of the source URI and their count.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gridscout.hardware.camera.photo_pose import XMP_APP1_HEADER

if TYPE_CHECKING:
    import numpy as np

    from gridscout.hardware.frame import CameraPose

#: the bundled demo flight, every 10th of its 260 frames
DEFAULT_SOURCE = "synthetic://demo"
DEFAULT_PHOTOS = 26
JPEG_QUALITY = 92


def dji_xmp(fields: Mapping[str, str], *, as_elements: bool = False, extra: str = "") -> bytes:
    """An XMP packet with `drone-dji:` fields as rdf:Description attributes (DJI's way) or child elements."""
    if as_elements:
        body = "".join(f"<drone-dji:{k}>{v}</drone-dji:{k}>" for k, v in fields.items())
        attrs = ""
    else:
        body = ""
        attrs = " ".join(f'drone-dji:{k}="{v}"' for k, v in fields.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f"{extra}"
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="DJI Meta Data" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
        f"{attrs}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def with_xmp(jpeg: bytes, packet: bytes) -> bytes:
    """`jpeg` with `packet` in its own APP1 segment right after the start of image."""
    segment = XMP_APP1_HEADER + packet
    app1 = b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment
    return jpeg[:2] + app1 + jpeg[2:]


def pose_xmp(pose: CameraPose) -> bytes:
    """The XMP a DJI enterprise drone writes for a photo taken from `pose` (its fix, altitudes, gimbal, lens)."""
    fields = {
        "GpsLatitude": f"{pose.lat_deg:.9f}",
        "GpsLongitude": f"{pose.lon_deg:.9f}",
        "AbsoluteAltitude": f"{pose.alt_m:+.3f}",
        "RelativeAltitude": f"{pose.alt_rel_m:+.3f}",
        "GimbalYawDegree": f"{pose.yaw_deg:+.4f}",
        "GimbalPitchDegree": f"{pose.pitch_deg:+.4f}",
        "GimbalRollDegree": f"{pose.roll_deg:+.4f}",
        "CalibratedFocalLength": f"{pose.focal_length_px:.3f}",
    }
    return dji_xmp(fields)


def survey_jpeg(image: np.ndarray, pose: CameraPose) -> bytes:
    import cv2  # loaded when photos are written, not when `gridscout --help` lists `sim photos`

    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("cannot encode the rendered frame as JPEG")
    return with_xmp(encoded.tobytes(), pose_xmp(pose))


def write_survey_photos(folder: Path, *, source: str = DEFAULT_SOURCE, photos: int = DEFAULT_PHOTOS) -> list[Path]:
    """`photos` frames spread evenly over the flight `source` renders, as geotagged JPEGs `DJI_0001.JPG`, ... in
    `folder` (made if missing); their paths."""
    import numpy as np

    from gridscout.hardware.sim.synthetic_source import SyntheticSource

    scene = SyntheticSource(source)
    count = scene.frame_count or 0
    if not 1 <= photos <= count:
        raise ValueError(f"--photos {photos}: expected 1 to {count}, the frames {source} renders")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for n, frame_id in enumerate(np.linspace(0, count - 1, photos).round().astype(int), 1):
        path = folder / f"DJI_{n:04d}.JPG"
        path.write_bytes(survey_jpeg(scene.render(int(frame_id))[0], scene.pose(int(frame_id))))
        written.append(path)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="where the photos go (made if missing)")
    parser.add_argument(
        "--source",
        default=DEFAULT_SOURCE,
        help=f"the rendered flight (synthetic://drone|demo...; default {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--photos",
        type=int,
        default=DEFAULT_PHOTOS,
        help=f"how many, spread over the flight (default {DEFAULT_PHOTOS})",
    )


def run(args: argparse.Namespace) -> int:
    written = write_survey_photos(args.folder, source=args.source, photos=args.photos)
    print(f"{len(written)} geotagged survey photos in {args.folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
