"""What a replay is judged by: the outputs of the three stages, and how two sets of them differ.

`Outputs` holds what perception, control and the reporter produced, as plain values: detections per
frame, the commands the gate let through, and the report writes. It comes from a recording (what the
run produced) or from a replay, and goes to and from JSON (the process-replay tests keep their expected
outputs that way). `diff` compares two, stage by stage, within `Tolerances`:

- detections, per frame: boxes of the same class are paired by overlap (IoU >= 0.5); a pair is the same
  when its IoU is at least `iou`, its scores are within `score` and its track ids agree, otherwise
  changed; a box with no partner was added or removed.
- commands, in order: the same when frame, speed, stop, mode and reason agree (times are not compared:
  a replay's commands carry the recorded tick times, a run's the moment they were published).
- reports, by id (the last write of each: what the store holds): the same when both have it with the
  same class and a best confidence within `confidence`.
- report writes, in order: the same when report id, created, class and frame agree and the confidence is
  within `confidence`. A report can be the same while its writes are not (written a frame earlier, or
  once more as its confidence rose).

Report ids are uuid5 of device, run and track, so a replay of a recording (which keeps its run and
device ids) names the same defect with the same id.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gridscout.edge.runtime.messages import FrameDetections, ReportEvent, VehicleCommand

#: boxes of one class overlapping at least this much are the same object, to be compared
PAIR_IOU = 0.5
#: examples kept per stage in a diff
EXAMPLES = 5


@dataclass(frozen=True)
class Box:
    class_name: str
    score: float
    track_id: int
    xyxy: tuple[float, float, float, float]

    def describe(self) -> str:
        track = f" #{self.track_id}" if self.track_id >= 0 else ""
        x1, y1, x2, y2 = self.xyxy
        return f"{self.class_name} {self.score:.2f}{track} [{x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}]"


@dataclass(frozen=True)
class Command:
    #: milliseconds since the recording's first message (shown, not compared)
    t_ms: float
    frame_id: int
    speed_mps: float
    stop: bool
    mode: str
    reason: str

    @property
    def key(self) -> tuple:
        return (self.frame_id, round(self.speed_mps, 6), self.stop, self.mode, self.reason)

    def describe(self) -> str:
        what = "STOP" if self.stop else f"{self.speed_mps:.3f} m/s"
        return f"frame {self.frame_id} {what} {self.mode} ({self.reason})"


@dataclass(frozen=True)
class ReportWrite:
    frame_id: int
    report_id: str
    created: bool
    class_name: str
    confidence: float

    @property
    def key(self) -> tuple:
        return (self.report_id, self.created, self.class_name, self.frame_id)

    def describe(self) -> str:
        verb = "created" if self.created else "updated"
        return f"frame {self.frame_id} report {self.report_id[:8]} {verb}: {self.class_name} {self.confidence:.3f}"


@dataclass(frozen=True)
class Report:
    """A report as its last write leaves it."""

    report_id: str
    class_name: str
    confidence: float
    writes: int
    first_frame: int
    last_frame: int

    def summary(self) -> str:
        frames = f"frames {self.first_frame}-{self.last_frame}"
        return f"{self.class_name} {self.confidence:.3f} ({frames}, {self.writes} writes)"

    def describe(self) -> str:
        return f"report {self.report_id[:8]}: {self.summary()}"


@dataclass
class Outputs:
    """The three stages' outputs. `detections` maps frame id to boxes (a frame with none has an empty list)."""

    detections: dict[int, list[Box]] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)
    reports: list[ReportWrite] = field(default_factory=list)

    def take(self, msg: Any, t0_ns: int = 0) -> None:
        """Add one bus message if it is a stage's output (detections, vehicle_command, report_event)."""
        if isinstance(msg, FrameDetections):
            if msg.frame_id not in self.detections:  # a resent frame is not a new output
                self.detections[msg.frame_id] = [
                    Box(b.class_name, b.score, b.track_id, (b.x1, b.y1, b.x2, b.y2)) for b in msg.boxes
                ]
        elif isinstance(msg, VehicleCommand):
            t_ms = round((msg.t_mono_ns - t0_ns) / 1e6, 1) if t0_ns else 0.0
            self.commands.append(Command(t_ms, msg.frame_id, msg.speed_mps, msg.stop, msg.mode, msg.reason))
        elif isinstance(msg, ReportEvent):
            self.reports.append(ReportWrite(msg.frame_id, msg.report_id, msg.created, msg.class_name, msg.confidence))

    def final_reports(self) -> dict[str, Report]:
        """Each report as its writes leave it (the class and best confidence the store ends with)."""
        out: dict[str, Report] = {}
        for w in self.reports:
            was = out.get(w.report_id)
            out[w.report_id] = Report(
                w.report_id,
                w.class_name,
                w.confidence,
                (was.writes if was else 0) + 1,
                was.first_frame if was else w.frame_id,
                w.frame_id,
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "detections": {
                str(fid): [[b.class_name, round(b.score, 5), b.track_id, [round(v, 2) for v in b.xyxy]] for b in boxes]
                for fid, boxes in sorted(self.detections.items())
            },
            "commands": [asdict(c) for c in self.commands],
            "reports": [asdict(r) for r in self.reports],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outputs:
        return cls(
            detections={
                int(fid): [Box(name, score, track, tuple(xyxy)) for name, score, track, xyxy in boxes]
                for fid, boxes in data.get("detections", {}).items()
            },
            commands=[Command(**c) for c in data.get("commands", [])],
            reports=[ReportWrite(**r) for r in data.get("reports", [])],
        )


@dataclass(frozen=True)
class Tolerances:
    #: a paired box is the same when its IoU with the other is at least this
    iou: float = 0.85
    #: ... and its score differs by at most this
    score: float = 0.05
    #: a report write's confidence may differ by this much
    confidence: float = 0.05


@dataclass
class StageDiff:
    stage: str
    #: how many outputs each side had (boxes for detections)
    before: int = 0
    after: int = 0
    same: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.changed or self.added or self.removed)

    def note(self, text: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(text)

    def line(self, before: str = "recorded") -> str:
        counts = f"{self.before} {before}, {self.after} replayed"
        if self.identical:
            return f"{counts}: all the same"
        return f"{counts}: {self.same} same, {self.changed} changed, {self.added} added, {self.removed} removed"


@dataclass
class Diff:
    detections: StageDiff
    commands: StageDiff
    reports: StageDiff
    writes: StageDiff
    tolerances: Tolerances

    @property
    def stages(self) -> tuple[StageDiff, ...]:
        return (self.detections, self.commands, self.reports, self.writes)

    @property
    def identical(self) -> bool:
        return all(s.identical for s in self.stages)

    def changed_stages(self) -> list[str]:
        return [s.stage for s in self.stages if not s.identical]

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "changed": self.changed_stages(),
            "tolerances": asdict(self.tolerances),
            **{s.stage: {**asdict(s), "identical": s.identical} for s in self.stages},
        }

    def format(self, *, examples: bool = True, only: Iterable[str] | None = None, before: str = "recorded") -> str:
        """For people: one line per stage (or those in `only`), then the first few differences under it.
        `before` names the side compared against (the recording's outputs, or a test's expected ones)."""
        tol = self.tolerances
        labels = {
            "detections": f"boxes; IoU >= {tol.iou:g}, score ± {tol.score:g}, same track",
            "commands": "frame, speed, stop, mode, reason",
            "reports": f"by id: class, best confidence ± {tol.confidence:g}",
            "writes": f"report writes in order; confidence ± {tol.confidence:g}",
        }
        lines = []
        wanted = set(only) if only is not None else None
        for s in self.stages:
            if wanted is not None and s.stage not in wanted:
                continue
            lines.append(f"{s.stage:<10} {s.line(before)}    [{labels[s.stage]}]")
            if examples:
                lines += [f"             {e}" for e in s.examples]
        return "\n".join(lines)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _pair(before: list[Box], after: list[Box]) -> tuple[list[tuple[Box, Box, float]], list[Box], list[Box]]:
    """Greedy pairing by IoU within each class (best overlaps first); the leftovers of each side."""
    candidates = sorted(
        ((iou(a.xyxy, b.xyxy), i, j) for i, a in enumerate(before) for j, b in enumerate(after)
         if a.class_name == b.class_name),
        key=lambda c: (-c[0], c[1], c[2]),
    )  # fmt: skip
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for overlap, i, j in candidates:
        if overlap < PAIR_IOU or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((before[i], after[j], overlap))
    rest_a = [a for i, a in enumerate(before) if i not in used_a]
    rest_b = [b for j, b in enumerate(after) if j not in used_b]
    return pairs, rest_a, rest_b


def diff_detections(before: dict[int, list[Box]], after: dict[int, list[Box]], tol: Tolerances) -> StageDiff:
    d = StageDiff("detections", sum(map(len, before.values())), sum(map(len, after.values())))
    for fid in sorted(set(before) | set(after)):
        pairs, removed, added = _pair(before.get(fid, []), after.get(fid, []))
        for a, b, overlap in pairs:
            why = []
            if overlap < tol.iou:
                why.append(f"IoU {overlap:.2f}")
            if abs(a.score - b.score) > tol.score:
                why.append(f"score {a.score:.2f} -> {b.score:.2f}")
            if a.track_id != b.track_id:
                why.append(f"track {a.track_id} -> {b.track_id}")
            if why:
                d.changed += 1
                d.note(f"frame {fid}: {a.describe()} changed ({', '.join(why)})")
            else:
                d.same += 1
        for b in added:
            d.added += 1
            d.note(f"frame {fid}: added {b.describe()}" + ("" if fid in before else " (frame not in the run's output)"))
        for a in removed:
            d.removed += 1
            d.note(f"frame {fid}: removed {a.describe()}" + ("" if fid in after else " (frame not replayed)"))
    return d


def _diff_sequence(
    stage: str,
    before: Sequence[Any],
    after: Sequence[Any],
    key: Callable[[Any], Hashable],
    close: Callable[[Any, Any], str | None] = lambda _a, _b: None,
) -> StageDiff:
    """Aligned in order (difflib); an aligned pair may still differ by `close` (a reason, or None)."""
    d = StageDiff(stage, len(before), len(after))
    matcher = difflib.SequenceMatcher(None, [key(x) for x in before], [key(x) for x in after], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for a, b in zip(before[i1:i2], after[j1:j2], strict=True):
                why = close(a, b)
                if why:
                    d.changed += 1
                    d.note(f"{a.describe()} changed ({why})")
                else:
                    d.same += 1
            continue
        olds, news = list(before[i1:i2]), list(after[j1:j2])
        for a, b in zip(olds, news, strict=False):
            d.changed += 1
            d.note(f"{a.describe()} -> {b.describe()}")
        for b in news[len(olds) :]:
            d.added += 1
            d.note(f"added {b.describe()}")
        for a in olds[len(news) :]:
            d.removed += 1
            d.note(f"removed {a.describe()}")
    return d


def diff(before: Outputs, after: Outputs, tolerances: Tolerances | None = None) -> Diff:
    """How `after` (a replay) differs from `before` (the run, or the expected outputs)."""
    tol = tolerances or Tolerances()

    def confidence(a: ReportWrite, b: ReportWrite) -> str | None:
        gap = abs(a.confidence - b.confidence)
        return f"confidence {a.confidence:.3f} -> {b.confidence:.3f}" if gap > tol.confidence else None

    return Diff(
        detections=diff_detections(before.detections, after.detections, tol),
        commands=_diff_sequence("commands", before.commands, after.commands, lambda c: c.key),
        reports=diff_reports(before.final_reports(), after.final_reports(), tol),
        writes=_diff_sequence("writes", before.reports, after.reports, lambda r: r.key, confidence),
        tolerances=tol,
    )


def diff_reports(before: dict[str, Report], after: dict[str, Report], tol: Tolerances) -> StageDiff:
    d = StageDiff("reports", len(before), len(after))
    for rid in sorted(set(before) | set(after)):
        a, b = before.get(rid), after.get(rid)
        if a is None:
            d.added += 1
            d.note(f"added {b.describe()}")  # type: ignore[union-attr]
        elif b is None:
            d.removed += 1
            d.note(f"removed {a.describe()}")
        elif a.class_name != b.class_name or abs(a.confidence - b.confidence) > tol.confidence:
            d.changed += 1
            d.note(f"{a.describe()} -> {b.summary()}")
        else:
            d.same += 1
    return d


def outputs_of(messages: Iterable[Any], t0_ns: int = 0) -> Outputs:
    out = Outputs()
    for msg in messages:
        out.take(msg, t0_ns)
    return out


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"
