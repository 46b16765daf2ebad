"""What a batch did, counted as its items come back, and the summary printed at its end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gridscout.edge.batch.worker import ItemOutcome
from gridscout.edge.reports.store import Written

#: failed items named one by one in the printed summary; the rest are in the failed list only
FAILED_SHOWN = 10


@dataclass
class BatchSummary:
    out: str
    #: how it ran: "1 process", "local pool", "Ray (local)", "Ray at ADDRESS"
    engine: str
    items: int = 0
    skipped: int = 0
    workers: int = 0
    threads: int = 0
    photos: int = 0
    photos_without_position: int = 0
    footage: int = 0
    #: frames read from videos and recordings
    footage_frames: int = 0
    corrupt_frames: int = 0
    detections: Counter = field(default_factory=Counter)
    placed: int = 0
    geo_misses: Counter = field(default_factory=Counter)
    #: distinct reports this run wrote, and how many of them are new in the store
    reports: set[str] = field(default_factory=set)
    new_reports: int = 0
    store_reports: int = 0
    #: (path, error) of each item that failed
    failed: list[tuple[str, str]] = field(default_factory=list)
    failed_list: str | None = None
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def done(self) -> int:
        return self.photos + self.footage

    @property
    def rate(self) -> float:
        """Items done per second of this run."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def add(self, outcome: ItemOutcome, written: list[Written]) -> None:
        """Count one item's outcome and what the store did with its reports (footage cut short: both)."""
        self.reports.update(w.id for w in written)
        self.new_reports += sum(w.created for w in written)
        if not outcome.ok:
            self.failed.append((outcome.item.path, outcome.error))
        elif outcome.item.kind == "photo":
            self.photos += 1
            self.photos_without_position += not outcome.has_position
        else:
            self.footage += 1
        if outcome.item.kind == "footage":
            self.footage_frames += outcome.frames
        self.corrupt_frames += outcome.corrupt_frames
        self.detections.update(outcome.detections)
        self.placed += outcome.placed
        self.geo_misses.update(outcome.geo_misses)

    def as_dict(self) -> dict:
        return {
            "out": self.out, "engine": self.engine, "workers": self.workers, "threads": self.threads,
            "items": self.items, "done": self.done, "skipped": self.skipped, "failed": len(self.failed),
            "photos": self.photos, "photos_without_position": self.photos_without_position,
            "footage": self.footage, "footage_frames": self.footage_frames, "corrupt_frames": self.corrupt_frames,
            "detections": dict(sorted(self.detections.items())), "placed": self.placed,
            "not_placed": dict(sorted(self.geo_misses.items())), "reports": len(self.reports),
            "new_reports": self.new_reports, "store_reports": self.store_reports,
            "seconds": round(self.seconds, 3), "items_per_s": round(self.rate, 3),
            "failed_list": self.failed_list, "interrupted": self.interrupted,
        }  # fmt: skip

    def format(self) -> str:
        per_worker = f", {self.threads} thread(s) each" if self.threads else ""
        lines = [
            f"batch    {self.items} items into {self.out}: {self.engine}, {self.workers} worker(s){per_worker}",
            f"items    {self.done} done, {self.skipped} skipped (done before), {len(self.failed)} failed"
            + (", interrupted" if self.interrupted else ""),
            f"photos   {self.photos}, {self.photos_without_position} without a position (no GPS fix in EXIF/XMP)",
        ]
        if self.footage or self.footage_frames:
            corrupt = f", {self.corrupt_frames} corrupt skipped" if self.corrupt_frames else ""
            lines.append(f"footage  {self.footage} videos and recordings, {self.footage_frames} frames{corrupt}")
        found = ", ".join(f"{name} {n}" for name, n in sorted(self.detections.items())) or "nothing"
        lines.append(f"found    {found}")
        total = sum(self.detections.values())
        if total:
            why = ", ".join(f"{n} {reason}" for reason, n in self.geo_misses.most_common())
            lines.append(
                f"geo      {self.placed} of {total} detections placed on the map" + (f"; {why}" if why else "")
            )
        lines.append(
            f"reports  {len(self.reports)} written ({self.new_reports} new), {self.store_reports} in the store "
            f"(gridscout reports --data {self.out} list)"
        )
        if self.done:
            hourly = self.rate * 3600
            lines.append(f"rate     {self.rate:.2f} items/s ({hourly:,.0f} an hour) over {self.seconds:.1f} s")
        for path, error in self.failed[:FAILED_SHOWN]:
            lines.append(f"FAILED   {path}: {error}")
        if len(self.failed) > FAILED_SHOWN:
            lines.append(f"FAILED   ... {len(self.failed) - FAILED_SHOWN} more in {self.failed_list}")
        return "\n".join(lines)
