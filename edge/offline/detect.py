"""`gridscout detect`: run the detector and tracker over a source, write video, JSONL, reports and a summary.

Each detection is placed on the map from its frame's own camera pose (a geotagged photo's EXIF/XMP, a
rendered flight's camera): `"geo": {"lat", "lon", "alt_m", "error_m"}` in the JSON lines, null without a
pose. `--data DIR` also stores the defects as reports (`detect_reports`).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import cv2
import numpy as np
from tqdm import tqdm

from gridscout.edge.geotag.placement import ReportPlacer
from gridscout.edge.geotag.settings import GeotagSettings
from gridscout.edge.offline.annotate import draw_detections
from gridscout.edge.offline.inspect import inspect_frame
from gridscout.hardware.camera import ImageFolder, open_source
from gridscout.hardware.camera.base import FrameSource
from gridscout.hardware.camera.image_size import DEFAULT_MAX_IMAGE_PIXELS
from gridscout.perception.model_loader import load_model
from gridscout.perception.tracker import Tracker

if TYPE_CHECKING:
    from gridscout.control.mission import Mission
    from gridscout.edge.offline.detect_reports import DetectReports

log = logging.getLogger(__name__)


@dataclass
class DetectOptions:
    source: str
    model: Path
    out: Path | None = None
    jsonl: Path | None = None
    conf: float | None = None
    threads: int | None = None
    provider: str = "cpu"
    realtime: bool = False
    progress: bool = True
    max_frames: int | None = None
    #: store reports in this data directory's report store
    data: Path | None = None
    #: `[geotag]` (camera, error budget) and `[reporter]` values; None: the config's defaults
    geotag: GeotagSettings | None = None
    reporter: dict | None = None
    #: the mission whose line height the rays are cast onto
    mission: Mission | None = None
    #: a folder's image with more pixels is skipped, never decoded (`[camera] max_image_pixels`)
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


@dataclass
class DetectSummary:
    source: str
    model: str
    frames: int = 0
    seconds: float = 0.0
    corrupt_frames: int = 0
    #: frames the source's index lists but it could not give (a damaged recording), and why
    missing_frames: int = 0
    shortfall: str = ""
    #: Ctrl-C ended it before the source did
    interrupted: bool = False
    detections: Counter = field(default_factory=Counter)
    tracks: dict[str, set[int]] = field(default_factory=dict)
    #: a folder of photos: unrelated views, so no tracks; each class counts the photos showing it
    photos: Counter | None = None
    geotagged: int = 0
    geo_misses: Counter = field(default_factory=Counter)
    reports: int | None = None
    data: str | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "model": self.model,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "corrupt_frames": self.corrupt_frames,
            "missing_frames": self.missing_frames,
            "detections": dict(sorted(self.detections.items())),
            "tracks": None if self.photos is not None else {n: len(ids) for n, ids in sorted(self.tracks.items())},
            "photos_showing": None if self.photos is None else dict(sorted(self.photos.items())),
            "geotagged": self.geotagged,
            "not_geotagged": dict(sorted(self.geo_misses.items())),
            "reports": self.reports,
        }

    def format(self) -> str:
        lines = [
            f"source   {self.source}",
            f"model    {self.model}",
            f"frames   {self.frames} in {self.seconds:.1f} s ({self.fps:.1f} frames/s)"
            + (f", {self.corrupt_frames} corrupt skipped" if self.corrupt_frames else ""),
            f"{'class':<12} {'detections':>10} {'tracks' if self.photos is None else 'photos':>7}",
        ]
        names = sorted(set(self.detections) | set(self.tracks))
        for name in names:
            objects = len(self.tracks.get(name, ())) if self.photos is None else self.photos[name]
            lines.append(f"{name:<12} {self.detections.get(name, 0):>10} {objects:>7}")
        if not names:
            lines.append("(nothing detected)")
        total = sum(self.detections.values())
        if total:
            why = ", ".join(f"{n} {reason}" for reason, n in self.geo_misses.most_common())
            lines.append(
                f"geo      {self.geotagged} of {total} detections placed on the map" + (f"; {why}" if why else "")
            )
        if self.reports is not None:
            lines.append(f"reports  {self.reports} in {self.data} (gridscout reports list --data {self.data})")
        return "\n".join(lines)


#: the annotated video's containers, and the codec each is written with
VIDEO_CODECS = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class VideoOut:
    """Opens the writer on the first frame, when the size is known; a frame of another size (photos of several
    cameras) is fitted into it, letterboxed, instead of being dropped by the writer without a word."""

    def __init__(self, path: Path, fps: float) -> None:
        if path.suffix.lower() not in VIDEO_CODECS:  # before OpenCV sees it: it would print noise, then fail
            raise OSError(f"{path}: expected a video file ending {', '.join(VIDEO_CODECS)}")
        self.path, self.fps, self.writer = path, fps, None
        self.size: tuple[int, int] | None = None  # (width, height)

    def write(self, image: np.ndarray, name: str = "") -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self.size = (image.shape[1], image.shape[0])
            self.writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self.size)
            if not self.writer.isOpened():
                raise OSError(f"{self.path}: cannot open for writing a video")
        self.writer.write(_fit(image, self.size))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


class ImagesOut:
    """A folder of annotated JPEGs, each named after its photo (a video's frames: `<stem>_<index>.jpg`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, image: np.ndarray, name: str = "") -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        stem = Path(name.replace("#", "_")).stem or "frame"
        if not cv2.imwrite(str(self.path / f"{stem}.jpg"), image):
            raise OSError(f"{self.path / f'{stem}.jpg'}: cannot write the annotated image")

    def close(self) -> None:
        pass


def annotated_out(path: Path, fps: float) -> VideoOut | ImagesOut:
    """`--out`: a video file by its suffix, or a folder (no suffix, or one that exists) of annotated images.
    Checked before OpenCV sees it: it would print its own noise and then fail."""
    if path.suffix.lower() in VIDEO_CODECS:
        return VideoOut(path, fps)
    if path.is_dir() or not path.suffix:
        return ImagesOut(path)
    raise OSError(
        f"{path}: --out is an annotated video (a file ending {', '.join(VIDEO_CODECS)}) or a folder of annotated "
        "images (a name without a suffix)"
    )


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to fit `size` (width, height), keeping its aspect, on grey bars."""
    width, height = size
    if (image.shape[1], image.shape[0]) == size:
        return image
    scale = min(width / image.shape[1], height / image.shape[0])
    w, h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    canvas = np.full((height, width, 3), 114, np.uint8)
    x, y = (width - w) // 2, (height - h) // 2
    canvas[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return canvas


def run_detect(options: DetectOptions) -> DetectSummary:
    """Run detection over the whole source (or until Ctrl-C) and return the summary."""
    source: FrameSource = open_source(
        options.source, realtime=options.realtime, max_image_pixels=options.max_image_pixels
    )
    try:
        model = load_model(options.model, threads=options.threads, provider=options.provider, conf=options.conf)
    except BaseException:
        source.close()
        raise
    # photos of a folder are unrelated views: a track across them would join strings of different towers
    photos = isinstance(getattr(source, "inner", source), ImageFolder)
    tracker = None if photos else Tracker(frame_rate=source.fps or 10.0)
    summary = DetectSummary(source=source.name, model=model.name, photos=Counter() if photos else None)
    placer = ReportPlacer(options.geotag or _default_geotag(), options.mission)
    reports = _reports(options, source, model, placer, photos) if options.data else None
    video = annotated_out(options.out, source.fps or 10.0) if options.out else None
    jsonl: IO[str] | None = None
    total = source.frame_count
    if options.max_frames is not None:
        total = min(total, options.max_frames) if total else options.max_frames
    bar = tqdm(total=total, unit="frame", disable=not options.progress, leave=False, dynamic_ncols=True)
    started = time.perf_counter()
    try:
        if options.jsonl:
            options.jsonl.parent.mkdir(parents=True, exist_ok=True)
            jsonl = options.jsonl.open("w")
        for frame in source:
            seen = inspect_frame(frame, model, placer, tracker=tracker, reports=reports)
            detections = seen.detections
            if summary.photos is not None:
                summary.photos.update(set(detections.class_names))
            summary.frames += 1
            for name, track in zip(detections.class_names, detections.track_ids, strict=True):
                summary.detections[name] += 1
                if track >= 0:
                    summary.tracks.setdefault(name, set()).add(int(track))
            summary.geotagged += seen.placed
            if jsonl:
                record = {"frame": frame.frame_id, "name": frame.name, "detections": seen.records}
                jsonl.write(json.dumps(record) + "\n")
            if video:
                video.write(draw_detections(frame.image, detections), frame.name)
            bar.update(1)
            if options.max_frames is not None and summary.frames >= options.max_frames:
                break
    except KeyboardInterrupt:
        log.warning("interrupted after %d frames", summary.frames)
        summary.interrupted = True
    finally:
        summary.seconds = time.perf_counter() - started
        summary.corrupt_frames = source.corrupt_frames
        summary.missing_frames, summary.shortfall = source.missing_frames, source.shortfall or ""
        summary.geo_misses = placer.misses
        bar.close()
        source.close()
        if reports is not None:
            reports.close()
            summary.reports, summary.data = reports.reports, str(options.data)
        if jsonl:
            jsonl.close()
        if video:
            video.close()
    return summary


def _default_geotag() -> GeotagSettings:
    from gridscout.edge.config.geotag import GeotagConfig

    return GeotagConfig().settings()


def _reports(
    options: DetectOptions, source: FrameSource, model: Any, placer: ReportPlacer, photos: bool
) -> DetectReports:
    from gridscout.edge.config.sections import ReporterConfig
    from gridscout.edge.offline.detect_reports import DetectReports
    from gridscout.edge.reports.store import ReportStore
    from gridscout.perception.model_loader import model_sha256

    key = str(Path(options.source).resolve()) if Path(options.source).exists() else options.source
    assert options.data is not None
    return DetectReports(
        ReportStore(options.data),
        source_key=key,
        model_name=model.name,
        model_sha256=model_sha256(model),
        reporter_cfg=options.reporter or ReporterConfig().model_dump(),
        placer=ReportPlacer(placer.settings, placer.mission),  # its own misses: the summary counts detections
        photos=photos,
        fps=source.fps or 10.0,
    )
