"""A batch worker: one model loaded once, then item after item through `gridscout detect`'s own per-frame path
(`edge/offline/inspect.py`, `DetectReports`), its reports kept as observations for the store's one writer.

The same `Inspector` runs in the batch's own process (`--workers 1`), in each process of the local pool and in
each Ray actor. An item that fails (unreadable, undecodable, gone) is tried `MAX_TRIES` times, then handed back
with its error: it never stops the batch.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gridscout.edge.batch.items import WorkItem
from gridscout.edge.batch.observation_log import ObservationLog
from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.edge.geotag.placement import ReportPlacer
from gridscout.edge.geotag.settings import GeotagSettings
from gridscout.edge.offline.detect_reports import DetectReports
from gridscout.edge.offline.inspect import inspect_frame
from gridscout.edge.reports.store import ReportObservation
from gridscout.hardware.camera import open_source
from gridscout.hardware.camera.base import SourceError
from gridscout.hardware.camera.folder import DEFAULT_FOLDER_FPS, read_photo
from gridscout.hardware.camera.image_size import DEFAULT_MAX_IMAGE_PIXELS
from gridscout.perception.errors import ModelError
from gridscout.perception.model_loader import load_model, model_sha256
from gridscout.perception.tracker import Tracker

if TYPE_CHECKING:
    from gridscout.control.mission import Mission

log = logging.getLogger(__name__)

#: tries of an item before it is listed as failed (a worker that dies under it counts one too)
MAX_TRIES = 2
#: a footage's nominal rate when it states none (as `gridscout detect` takes it)
DEFAULT_FOOTAGE_FPS = 10.0
#: errors that say what is wrong with the item in their own words (the others are named by their type too)
_SELF_EXPLAINING = (SourceError, OSError, ModelError)


@dataclass(frozen=True)
class BatchSettings:
    """Everything a worker needs, sent to it once (picklable: a Ray actor may be on another machine)."""

    #: the model file; None: the one shipped with the worker's own GridScout (the same on every node of a cluster)
    model: Path | None
    #: the batch's model, as `model_sha256` hashes it: a worker whose model differs refuses to start
    model_sha256: str
    #: the report store's device id, which report ids follow
    device_id: str
    #: onnxruntime intra-op threads of this worker's model
    threads: int
    geotag: GeotagSettings
    #: `[reporter]`'s values (evidence quality, footage's track rules)
    reporter: dict
    mission: Mission | None = None
    provider: str = "cpu"
    conf: float | None = None
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    log_level: int = logging.WARNING


@dataclass
class ItemOutcome:
    """What inspecting one item gave: its reports' observations in order, what it saw, or why it failed."""

    item: WorkItem
    tries: int = 1
    #: why it failed (empty: it did not); footage cut short keeps the reports of what it could read
    error: str = ""
    sha256: str = ""
    frames: int = 0
    corrupt_frames: int = 0
    detections: Counter = field(default_factory=Counter)
    placed: int = 0
    geo_misses: Counter = field(default_factory=Counter)
    #: a photo: whether its EXIF/XMP gave a position (None: footage)
    has_position: bool | None = None
    observations: list[ReportObservation] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error


class Inspector:
    """One worker's model and settings; `run(item)` inspects an item, trying it again when it fails."""

    def __init__(self, settings: BatchSettings) -> None:
        self.settings = settings
        path = settings.model or DEFAULT_MODEL
        self.model = load_model(path, threads=settings.threads, provider=settings.provider, conf=settings.conf)
        self.model_sha256 = model_sha256(self.model)
        if self.model_sha256 != settings.model_sha256:
            raise ModelError(
                f"{path}: this worker's model is not the batch's (sha256 {self.model_sha256[:12]}, the batch's "
                f"{settings.model_sha256[:12]}): install the same GridScout, and the same model, on every node"
            )

    def run(self, item: WorkItem) -> ItemOutcome:
        error = ""
        for attempt in range(1, MAX_TRIES + 1):
            started = time.perf_counter()
            try:
                outcome = self._photo(item) if item.kind == "photo" else self._footage(item)
            except Exception as exc:  # an item that cannot be inspected: said, tried again, then handed back
                error = str(exc) if isinstance(exc, _SELF_EXPLAINING) else f"{type(exc).__name__}: {exc}"
                error = error.removeprefix(f"{item.path}: ")  # the list names the item beside its error
                log.warning("%s: try %d of %d failed: %s", item.path, attempt, MAX_TRIES, error)
                continue
            outcome.tries, outcome.seconds = attempt, time.perf_counter() - started
            return outcome
        return ItemOutcome(item, tries=MAX_TRIES, error=error)

    def _placer(self) -> ReportPlacer:
        return ReportPlacer(self.settings.geotag, self.settings.mission)

    def _reports(self, item: WorkItem, *, photos: bool, fps: float) -> tuple[DetectReports, ObservationLog]:
        sink = ObservationLog(self.settings.device_id)
        reports = DetectReports(
            sink, source_key=item.source_key, model_name=self.model.name, model_sha256=self.model_sha256,
            reporter_cfg=self.settings.reporter, placer=self._placer(), photos=photos, fps=fps,
        )  # fmt: skip
        return reports, sink

    def _photo(self, item: WorkItem) -> ItemOutcome:
        photo = read_photo(Path(item.path), max_pixels=self.settings.max_image_pixels)
        placer = self._placer()
        reports, sink = self._reports(item, photos=True, fps=DEFAULT_FOLDER_FPS)
        seen = inspect_frame(photo.frame, self.model, placer, reports=reports)
        reports.close()
        return ItemOutcome(
            item, sha256=hashlib.sha256(photo.data).hexdigest(), frames=1,
            detections=Counter(seen.detections.class_names), placed=seen.placed, geo_misses=Counter(placer.misses),
            has_position=photo.frame.pose is not None, observations=sink.observations,
        )  # fmt: skip

    def _footage(self, item: WorkItem) -> ItemOutcome:
        with open(item.path, "rb") as file:
            sha256 = hashlib.file_digest(file, "sha256").hexdigest()
        outcome = ItemOutcome(item, sha256=sha256)
        placer = self._placer()
        with open_source(item.path, max_image_pixels=self.settings.max_image_pixels) as source:
            fps = source.fps or DEFAULT_FOOTAGE_FPS
            tracker = Tracker(frame_rate=fps)
            reports, sink = self._reports(item, photos=False, fps=fps)
            for frame in source:
                seen = inspect_frame(frame, self.model, placer, tracker=tracker, reports=reports)
                outcome.frames += 1
                outcome.detections.update(seen.detections.class_names)
                outcome.placed += seen.placed
            reports.close()
            outcome.corrupt_frames = source.corrupt_frames
            if source.shortfall:  # what could be read was; the rest is lost, and that is a failure
                outcome.error = source.shortfall.removeprefix(f"{item.path}: ")
        outcome.geo_misses = Counter(placer.misses)
        outcome.observations = sink.observations
        return outcome
