"""`gridscout detect --data DIR`: the defects `detect` finds, stored as reports in DIR's report store.

- Footage (video, synthetic, a recording): one report per tracked defect, written by the live reporter's
  own logic (`ReporterStage` on the footage's clock), with the same evidence and updates.
- Photos (a folder of images): one report per defect per photo, each with its photo as evidence. Ids
  follow the photo's path, class and rank among that photo's defects (best first), so running `detect`
  again on the same folder updates those reports rather than adding more.
Both are placed on the map from each frame's own pose (`ReportPlacer`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from gridscout.edge.daemons.perceptiond import to_message
from gridscout.edge.daemons.reporterd import ReporterStage, evidence_jpeg
from gridscout.edge.geotag.placement import ReportPlacer
from gridscout.edge.reports.parent import parent_box
from gridscout.edge.reports.store import ReportObservation, Written
from gridscout.edge.runtime.messages import FrameMeta
from gridscout.hardware.frame import Frame
from gridscout.perception.detections import Detections
from gridscout.perception.taxonomy import is_defect


class ReportWriter(Protocol):
    """Where reports go: the report store itself, or (in a `gridscout batch` worker) a log of the observations
    that the store's one writer applies later."""

    def write(self, obs: ReportObservation) -> Written: ...

    def close(self) -> None: ...


class DetectReports:
    """Writes `detect`'s defects into a report `store` (closed with it); `reports` counts the reports written."""

    def __init__(
        self,
        store: ReportWriter,
        *,
        source_key: str,
        model_name: str,
        model_sha256: str,
        reporter_cfg: Mapping[str, Any],
        placer: ReportPlacer,
        photos: bool,
        fps: float,
    ) -> None:
        self.store = store
        self.source_key = source_key
        self.model_name, self.model_sha256 = model_name, model_sha256
        self.cfg = reporter_cfg
        self.placer = placer
        self.photos = photos
        self.fps = fps
        self.written: set[str] = set()
        # the same footage and model give the same run id, so the same report ids (as a replay-mode run)
        run_id = uuid.uuid5(uuid.NAMESPACE_URL, f"detect|{source_key}|{model_sha256}").hex
        self.stage = ReporterStage(
            reporter_cfg, self.store, run_id=run_id, replay=True, emit=self._count, placer=placer
        )

    @property
    def reports(self) -> int:
        return len(self.written)

    def _count(self, event: Any) -> None:
        self.written.add(event.report_id)

    def take(self, frame: Frame, dets: Detections) -> None:
        if self.photos:
            self._photo(frame, dets)
            return
        meta = FrameMeta.of(frame, frame_id=frame.frame_id, t_source_s=frame.frame_id / self.fps)
        self.stage.take_frame(meta, frame.image, frame.pose)
        message = to_message(meta, dets, 0.0, self.model_name, self.model_sha256, 0)
        self.stage.on_detections(message, meta.t_mono_ns)

    def _photo(self, frame: Frame, dets: Detections) -> None:
        observations = photo_observations(
            frame, dets, source_key=self.source_key, placer=self.placer, model_name=self.model_name,
            model_sha256=self.model_sha256, jpeg_quality=self.cfg["jpeg_quality"],
        )  # fmt: skip
        for observation in observations:
            self.written.add(self.store.write(observation).id)

    def close(self) -> None:
        try:
            if not self.photos:
                self.stage.close_all(time.monotonic_ns())
        finally:
            self.store.close()


def photo_observations(
    frame: Frame,
    dets: Detections,
    *,
    source_key: str,
    placer: ReportPlacer,
    model_name: str,
    model_sha256: str,
    jpeg_quality: int,
) -> list[ReportObservation]:
    """One report observation per defect in the photo, best first, each with the photo as evidence. The track key
    names the photo (`source_key`, its folder, and the frame's name), the class and its rank in the photo."""
    jpeg: bytes | None = None
    order = sorted(range(len(dets)), key=lambda i: -float(dets.scores[i]))
    found = [(tuple(map(float, b)), dets.names[int(c)]) for b, c in zip(dets.boxes, dets.class_ids, strict=True)]
    rank: dict[str, int] = {}
    observations = []
    for i in order:
        name = dets.names[int(dets.class_ids[i])]
        if not is_defect(name):
            continue
        k = rank[name] = rank.get(name, -1) + 1
        box = tuple(float(v) for v in dets.boxes[i])
        fix = placer.place(box, frame.width, frame.height, frame_pose=frame.pose)  # type: ignore[arg-type]
        jpeg = jpeg or evidence_jpeg(frame.image, jpeg_quality)
        observations.append(
            ReportObservation(
                track_key=f"photo:{source_key}/{frame.name}:{name}:{k}",
                class_name=name,
                confidence=float(dets.scores[i]),
                t_wall_ns=frame.t_capture_wall_ns,
                frame_id=frame.frame_id,
                model_name=model_name,
                model_sha256=model_sha256,
                lat=fix.lat if fix else None,
                lon=fix.lon if fix else None,
                alt=fix.alt_m if fix else None,
                error_m=fix.error_m if fix else None,
                evidence_jpeg=jpeg,
                evidence_box_xyxy=box,  # type: ignore[arg-type]
                evidence_parent_xyxy=parent_box(box, name, found),  # type: ignore[arg-type]
            )
        )
    return observations
