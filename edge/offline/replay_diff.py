"""What a replay is judged by: the outputs of the three stages, and how two sets of them differ.

`Outputs` holds what perception, control and the reporter produced, as plain values: detections per
frame, the commands the gate let through, and the report writes. It comes from a recording (what the
run produced) or from a replay, and goes to and from JSON (the process-replay tests keep their expected
outputs that way). `diff` compares two, stage by stage, within `Tolerances`:

- detections, per frame: boxes of the same class are paired by overlap (IoU >= `pair_iou`); a pair is the
  same when its IoU is at least `iou`, its scores are within `score` and its track ids agree, otherwise
  changed; a box with no partner was added or removed. Track ids are labels: with `renumbering`, the
  paired boxes of both sides that have a track give a one-to-one mapping of the run's track ids to the
  replay's (each run track to the replay track it shares most paired boxes with, most shared first, each
  replay track taken once), and a paired box's track ids agree when they follow that mapping; a box
  tracked on one side only, or one that does not follow the mapping (a track split or merged), is changed.
- commands, in order: the same when frame, speed, stop, mode and reason agree (times are not compared:
  a replay's commands carry the recorded tick times, a run's the moment they were published).
- reports (the last write of each: what the store holds), paired by what they are, not by id
  (`pair_reports`): the same class, overlapping frame spans whose first and last frames are within
  `report_frames`, and evidence boxes overlapping at least `report_iou`. A paired report is the same when
  its best confidence is within `confidence`, otherwise changed; an unpaired one was added or removed.
  With `renumbering`, a paired report whose id differs is the same report under a renumbered track (said,
  and counted as the same); without, it is changed.
- report writes, in order: the same when report (through the pairing, with `renumbering`), created, class
  and frame agree and the confidence is within `confidence`. A report can be the same while its writes are
  not (written a frame earlier, or once more as its confidence rose).

Report ids are uuid5 of device, run and track, so a replay of a recording (which keeps its run and device
ids) names a defect with the same id when its tracker numbers the track the same. Re-run perception on the
recorded JPEG frames can differ from the run's near a threshold, and the tracker then numbers the tracks
differently: the same defect under another id, which the pairing sees through.

A report's evidence box is its track's box (in `detections`) at its best-evidence frame: the frame of the
first write with its best confidence. The track is the one of the report's class that has a box on every
frame the report was written on (of several, the one whose box scores the best confidence there). Two
reports' boxes are compared at either side's best-evidence frame where both tracks have a box (the higher
IoU of the two), else best-evidence box against best-evidence box. Without detections (a reporter-only
comparison) a report has no box, and only the same id pairs.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from gridscout.edge.runtime.messages import FrameDetections, ReportEvent, VehicleCommand

#: examples kept per stage in a diff
EXAMPLES = 5

_L = TypeVar("_L", bound=Hashable)
_R = TypeVar("_R", bound=Hashable)


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
    #: the frame of the first write with the best confidence (its evidence frame)
    best_frame: int = -1
    #: the track the report follows in the same outputs' detections (None: not found, or no detections)
    track_id: int | None = None

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
        """Each report as its writes leave it (the class and best confidence the store ends with), with its
        best-evidence frame and the track it follows."""
        writes: dict[str, list[ReportWrite]] = {}
        for w in self.reports:
            writes.setdefault(w.report_id, []).append(w)
        out: dict[str, Report] = {}
        for rid, ws in writes.items():
            last = ws[-1]
            top = max(w.confidence for w in ws)
            best = next(w for w in ws if w.confidence == top)
            track = self._track_of(ws, best)
            out[rid] = Report(rid, last.class_name, last.confidence, len(ws), ws[0].frame_id, last.frame_id,
                              best.frame_id, track)  # fmt: skip
        return out

    def track_box(self, frame_id: int, class_name: str, track_id: int | None) -> Box | None:
        """The box of that track and class on that frame, if the detections have one."""
        if track_id is None or track_id < 0:
            return None
        return next(
            (b for b in self.detections.get(frame_id, []) if b.class_name == class_name and b.track_id == track_id),
            None,
        )

    def _track_of(self, writes: list[ReportWrite], best: ReportWrite) -> int | None:
        """The track of the report's class with a box on every frame it was written on (of several, the one
        scoring the best confidence on the best-evidence frame)."""
        common: set[int] | None = None
        for w in writes:
            here = {b.track_id for b in self.detections.get(w.frame_id, []) if b.class_name == w.class_name}
            common = here if common is None else common & here
        common = {t for t in common or () if t >= 0}

        def gap(track: int) -> tuple[float, int]:
            box = self.track_box(best.frame_id, best.class_name, track)
            return (abs(box.score - best.confidence) if box else float("inf"), track)

        return min(common, key=gap) if common else None

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
    """Every tolerance of the comparison, in one place (diff.json and the diff's header lines state them)."""

    #: boxes of one class overlapping at least this much are the same object, to be compared
    pair_iou: float = 0.5
    #: a paired box is the same when its IoU with the other is at least this
    iou: float = 0.85
    #: ... and its score differs by at most this
    score: float = 0.05
    #: a report's best confidence, and a report write's confidence, may differ by this much
    confidence: float = 0.05
    #: two reports are the same defect only if their first frames, and their last frames, are this close (a
    #: report can be created a few frames later, by a missed detection or a higher `reporter.min_hits`)
    report_frames: int = 5
    #: ... and their evidence boxes overlap at least this much
    report_iou: float = 0.5
    #: a consistent (one-to-one) renumbering of tracks, and the report ids that follow from it, is the same
    renumbering: bool = True


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
    #: tracks (detections) or reports whose number or id differs but which are the same (with `renumbering`)
    renumbered: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.changed or self.added or self.removed)

    def note(self, text: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(text)

    def line(self, before: str = "recorded") -> str:
        counts = f"{self.before} {before}, {self.after} replayed"
        renumbered = f" ({len(self.renumbered)} renumbered)" if self.renumbered else ""
        if self.identical:
            return f"{counts}: all the same{renumbered}"
        return (
            f"{counts}: {self.same} same{renumbered}, {self.changed} changed, {self.added} added, "
            f"{self.removed} removed"
        )


@dataclass
class Diff:
    detections: StageDiff
    commands: StageDiff
    reports: StageDiff
    writes: StageDiff
    tolerances: Tolerances
    #: recorded report id -> the replayed report paired with it
    report_pairs: dict[str, str] = field(default_factory=dict)

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
            "report_pairs": self.report_pairs,
        }

    def format(self, *, examples: bool = True, only: Iterable[str] | None = None, before: str = "recorded") -> str:
        """For people: one line per stage (or those in `only`), then the first few differences under it.
        `before` names the side compared against (the recording's outputs, or a test's expected ones)."""
        tol = self.tolerances
        tracks = "same track, or renumbered one-to-one" if tol.renumbering else "same track id"
        ids = "an id may differ (track renumbered)" if tol.renumbering else "same id"
        labels = {
            "detections": f"boxes paired at IoU >= {tol.pair_iou:g}; IoU >= {tol.iou:g}, score ± {tol.score:g}, "
            f"{tracks}",
            "commands": "frame, speed, stop, mode, reason",
            "reports": f"paired: class, first/last frame ± {tol.report_frames}, evidence IoU >= {tol.report_iou:g}; "
            f"best confidence ± {tol.confidence:g}; {ids}",
            "writes": f"report writes in order, reports as paired; confidence ± {tol.confidence:g}",
        }
        lines = []
        wanted = set(only) if only is not None else None
        for s in self.stages:
            if wanted is not None and s.stage not in wanted:
                continue
            lines.append(f"{s.stage:<10} {s.line(before)}    [{labels[s.stage]}]")
            if examples:
                lines += [f"             {e}" for e in s.examples + s.renumbered[:EXAMPLES]]
        return "\n".join(lines)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _greedy(candidates: Iterable[tuple[Any, _L, _R]]) -> list[tuple[_L, _R]]:
    """One-to-one pairs from (rank, left, right) candidates, lowest rank first, each side taken once."""
    used_a: set[_L] = set()
    used_b: set[_R] = set()
    pairs = []
    for _, i, j in sorted(candidates, key=lambda c: c[0]):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


def _pair(
    before: list[Box], after: list[Box], pair_iou: float
) -> tuple[list[tuple[Box, Box, float]], list[Box], list[Box]]:
    """Greedy pairing by IoU within each class (best overlaps first); the leftovers of each side."""
    overlaps = {
        (i, j): iou(a.xyxy, b.xyxy) for i, a in enumerate(before) for j, b in enumerate(after)
        if a.class_name == b.class_name
    }  # fmt: skip
    chosen = _greedy(((-o, i, j), i, j) for (i, j), o in overlaps.items() if o >= pair_iou)
    used_a, used_b = {i for i, _ in chosen}, {j for _, j in chosen}
    pairs = [(before[i], after[j], overlaps[i, j]) for i, j in chosen]
    rest_a = [a for i, a in enumerate(before) if i not in used_a]
    rest_b = [b for j, b in enumerate(after) if j not in used_b]
    return pairs, rest_a, rest_b


def track_mapping(pairs: Iterable[tuple[Box, Box]]) -> dict[int, int]:
    """The one-to-one renumbering of tracks paired boxes imply: each track of the first side to the track of
    the second it shares most paired boxes with (most shared first, each track taken once)."""
    shared = Counter((a.track_id, b.track_id) for a, b in pairs if a.track_id >= 0 and b.track_id >= 0)
    return dict(_greedy(((-n, ta, tb), ta, tb) for (ta, tb), n in shared.items()))


def diff_detections(before: dict[int, list[Box]], after: dict[int, list[Box]], tol: Tolerances) -> StageDiff:
    d = StageDiff("detections", sum(map(len, before.values())), sum(map(len, after.values())))
    frames = {fid: _pair(before.get(fid, []), after.get(fid, []), tol.pair_iou) for fid in set(before) | set(after)}
    mapping = track_mapping((a, b) for pairs, _, _ in frames.values() for a, b, _ in pairs) if tol.renumbering else {}
    for ta, tb in sorted(mapping.items()):
        if ta != tb:
            d.renumbered.append(f"track {ta} is track {tb} in the replay (renumbered)")
    for fid in sorted(frames):
        pairs, removed, added = frames[fid]
        for a, b, overlap in pairs:
            why = []
            if overlap < tol.iou:
                why.append(f"IoU {overlap:.2f}")
            if abs(a.score - b.score) > tol.score:
                why.append(f"score {a.score:.2f} -> {b.score:.2f}")
            wanted = mapping.get(a.track_id, a.track_id) if a.track_id >= 0 and b.track_id >= 0 else a.track_id
            if b.track_id != wanted:
                elsewhere = f" (elsewhere {wanted})" if wanted != a.track_id else ""
                why.append(f"track {a.track_id} -> {b.track_id}{elsewhere}")
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
    key_after: Callable[[Any], Hashable] | None = None,
) -> StageDiff:
    """Aligned in order (difflib) by `key` (`key_after` for the second side); an aligned pair may still differ
    by `close` (a reason, or None)."""
    d = StageDiff(stage, len(before), len(after))
    keys_after = [(key_after or key)(x) for x in after]
    matcher = difflib.SequenceMatcher(None, [key(x) for x in before], keys_after, autojunk=False)
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

    reports, pairs = diff_reports(before, after, tol)
    # with renumbering, a replayed report's writes count under the recorded report it is paired with, and an
    # unpaired one's under a name no recorded report has; without, under their own ids
    as_recorded = {b: a for a, b in pairs.items()}

    def key_after(w: ReportWrite) -> Hashable:
        if not tol.renumbering:
            return w.key
        return (as_recorded.get(w.report_id, f"+{w.report_id}"), *w.key[1:])

    return Diff(
        detections=diff_detections(before.detections, after.detections, tol),
        commands=_diff_sequence("commands", before.commands, after.commands, lambda c: c.key),
        reports=reports,
        writes=_diff_sequence("writes", before.reports, after.reports, lambda r: r.key, confidence, key_after),
        tolerances=tol,
        report_pairs=pairs,
    )


def _evidence_iou(a: Report, before: Outputs, b: Report, after: Outputs) -> float | None:
    """How much two reports' evidence boxes overlap: at either side's best-evidence frame where both tracks have
    a box (the higher), else best-evidence box against best-evidence box; None when a side has no box."""
    overlaps = []
    for fid in {a.best_frame, b.best_frame}:
        box_a, box_b = before.track_box(fid, a.class_name, a.track_id), after.track_box(fid, b.class_name, b.track_id)
        if box_a and box_b:
            overlaps.append(iou(box_a.xyxy, box_b.xyxy))
    if overlaps:
        return max(overlaps)
    box_a = before.track_box(a.best_frame, a.class_name, a.track_id)
    box_b = after.track_box(b.best_frame, b.class_name, b.track_id)
    return iou(box_a.xyxy, box_b.xyxy) if box_a and box_b else None


def report_match(a: Report, before: Outputs, b: Report, after: Outputs, tol: Tolerances) -> tuple[float | None, str]:
    """How well `b` (in `after`) is the same defect as `a` (in `before`): (its evidence IoU, ""), 1.0 for the
    same id where a side has no box; or (None, why not): another class, frame spans that do not overlap or
    whose first or last frames are more than `report_frames` apart, or evidence boxes under `report_iou`."""
    if a.class_name != b.class_name:
        return None, f"class {a.class_name} -> {b.class_name}"
    if max(a.first_frame, b.first_frame) > min(a.last_frame, b.last_frame):
        return None, "frame spans do not overlap"
    for what, x, y in (("first", a.first_frame, b.first_frame), ("last", a.last_frame, b.last_frame)):
        if abs(x - y) > tol.report_frames:
            return None, f"{what} frame {x} -> {y}, beyond ± {tol.report_frames}"
    overlap = _evidence_iou(a, before, b, after)
    if overlap is None:
        return (1.0, "") if a.report_id == b.report_id else (None, "no evidence boxes to compare")
    return (overlap, "") if overlap >= tol.report_iou else (None, f"evidence IoU {overlap:.2f}")


def pair_reports(before: Outputs, after: Outputs, tol: Tolerances) -> dict[str, str]:
    """Recorded report id -> replayed report id, paired by what they are (`report_match`), one to one: best
    evidence overlap first, then the same id, then the closer confidence."""
    ours, theirs = before.final_reports(), after.final_reports()
    candidates = []
    for a in ours.values():
        for b in theirs.values():
            match, _ = report_match(a, before, b, after, tol)
            if match is not None:
                rank = (-match, a.report_id != b.report_id, abs(a.confidence - b.confidence), a.report_id, b.report_id)
                candidates.append((rank, a.report_id, b.report_id))
    return dict(_greedy(candidates))


def diff_reports(before: Outputs, after: Outputs, tol: Tolerances) -> tuple[StageDiff, dict[str, str]]:
    """The reports stage, and the pairing it judged by (recorded id -> replayed id)."""
    ours, theirs = before.final_reports(), after.final_reports()
    pairs = pair_reports(before, after, tol)
    paired = set(pairs.values())
    d = StageDiff("reports", len(ours), len(theirs))
    for rid in sorted(ours):
        a = ours[rid]
        if rid not in pairs:
            d.removed += 1
            namesake = theirs.get(rid) if rid not in paired else None  # the same id, left unpaired: say why
            _, reason = report_match(a, before, namesake, after, tol) if namesake else (None, "")
            d.note(f"removed {a.describe()}" + (f" (not the replay's {rid[:8]}: {reason})" if reason else ""))
            continue
        b = theirs[pairs[rid]]
        renamed = f"id {a.report_id[:8]} -> {b.report_id[:8]} (track renumbered)"
        why = []
        if abs(a.confidence - b.confidence) > tol.confidence:
            why.append(f"confidence {a.confidence:.3f} -> {b.confidence:.3f}")
        if a.report_id != b.report_id and not tol.renumbering:
            why.append(renamed)
        if why:
            d.changed += 1
            d.note(f"{a.describe()} -> {b.summary()}: {', '.join(why)}")
            continue
        d.same += 1
        if a.report_id != b.report_id:
            d.renumbered.append(f"same report, {renamed}: {a.summary()} -> {b.summary()}")
    for rid in sorted(set(theirs) - paired):
        d.added += 1
        d.note(f"added {theirs[rid].describe()}")
    return d, pairs


def outputs_of(messages: Iterable[Any], t0_ns: int = 0) -> Outputs:
    out = Outputs()
    for msg in messages:
        out.take(msg, t0_ns)
    return out


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"
