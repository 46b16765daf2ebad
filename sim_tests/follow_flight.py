"""Fly the demo line with footage rendered from the drone (`synthetic://demo?follow=vehicle`) and judge its
tracks and reports against the scene's truth: shared by `test_drone_follow_footage.py` and
`bench/bench_follow_tracking.py`.

Truth for a frame is the scene seen from the last telemetry made before the frame's capture (the camera
renders from the latest it has). A track is the defect's whose true box its boxes overlap (IoU >= SAME_BOX_IOU)
most often; a report is its track's defect's, or a false report when its track overlaps none.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.daemons.camerad import vehicle_pose
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.reports import ReportStore
from gridscout.edge.runtime.messages import ControlState, FrameDetections
from gridscout.hardware.camera import open_source
from gridscout.hardware.frame import VehiclePose
from gridscout.perception.detections import Detections
from gridscout.perception.tracker import Tracker
from sim_tests.chain import Chain

SOURCE = "synthetic://demo?follow=vehicle"
DEFECT = "missing_cap"
#: a track's box is a true defect's when they overlap at least this much
SAME_BOX_IOU = 0.3
#: truth is sampled at the camera's 10 Hz to count how long a defect was in view
SAMPLE_NS = 100_000_000


@dataclass
class Flight:
    modes: list[str] = field(default_factory=list)
    #: (message time ns, the vehicle's pose) of each telemetry message
    poses: list[tuple[int, VehiclePose]] = field(default_factory=list)
    #: every frame's detections, in order
    frames: list[FrameDetections] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    reports: list = field(default_factory=list)


def fly(tmp_path: Path, speed_mps: float | None, extra: dict[str, dict[str, Any]] | None = None) -> Flight:
    """Fly the demo line (at `speed_mps`, or at its mission's own cruise speed) to its end; what it did.
    `extra`: more config sections (merged over the vehicle and mission)."""
    mission_file = DEMO_MISSION
    if speed_mps is not None:
        mission = json.loads(DEMO_MISSION.read_text())
        mission["features"][0]["properties"]["cruise_speed_mps"] = speed_mps
        mission_file = tmp_path / "inspection.mission.geojson"
        mission_file.write_text(json.dumps(mission))
    sections: dict[str, dict[str, Any]] = {"vehicle": {"uri": "sim-drone"}, "mission": {"file": str(mission_file)}}
    for name, keys in (extra or {}).items():
        sections.setdefault(name, {}).update(keys)
    chain = Chain(tmp_path, source=SOURCE, extra=sections)
    bus = chain.subscribe(["control_state", "telemetry", "detections"])
    flight = Flight()
    try:
        chain.wait_for(lambda: "running" in chain.stdout(), 90, "the chain running")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (not flight.modes or flight.modes[-1] != "END_OF_LINE"):
            for r in bus.drain():
                if isinstance(r.msg, ControlState) and (not flight.modes or flight.modes[-1] != r.msg.mode):
                    flight.modes.append(r.msg.mode)
                elif isinstance(r.msg, VehicleTelemetry) and (pose := vehicle_pose(r.msg)) is not None:
                    flight.poses.append((r.msg.t_mono_ns, pose))
                elif isinstance(r.msg, FrameDetections):
                    flight.frames.append(r.msg)
            assert chain.proc.poll() is None, chain.stderr()[-3000:]
            time.sleep(0.05)
        assert flight.modes and flight.modes[-1] == "END_OF_LINE", flight.modes
        time.sleep(3.0)  # the last report closes (track lost after the view moves on)
        chain.proc.send_signal(signal.SIGINT)
        assert chain.wait() == 130, chain.stderr()[-3000:]  # a live run ended by Ctrl-C, the vehicle stopped
    finally:
        chain.close()
    flight.summary = chain.summary()
    with ReportStore(chain.data) as store:
        flight.reports = [r for r in store.list(limit=1000) if r.class_name == DEFECT]
    return flight


def iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


class Judge:
    """The scene's truth for a flight: how long each defect was in view, whose each track is, where each is."""

    def __init__(self, flight: Flight) -> None:
        self.flight = flight
        self.source = open_source(SOURCE)
        self._stamps = np.array([t for t, _ in flight.poses])
        self._truth: dict[int, list] = {}

    def sightings(self) -> dict[str, int]:
        """Each defect's count of 10 Hz truth samples it was in view in."""
        seen: Counter = Counter()
        last_ns = None
        for stamp, pose in self.flight.poses:
            if last_ns is not None and stamp - last_ns < SAMPLE_NS:
                continue
            last_ns = stamp
            truth = self.source.scene.truth_at(self.source.scene_pose(pose))
            seen.update(b.object_id for b in truth if b.class_name == DEFECT)
        return dict(seen)

    def truth(self, frame: FrameDetections) -> list:
        """The true defect boxes of a frame."""
        if frame.frame_id not in self._truth:
            # the camera renders from the latest telemetry it has: the last made before the capture
            k = max(0, int(np.searchsorted(self._stamps, frame.t_capture_mono_ns, side="right")) - 1)
            pose = self.flight.poses[k][1]
            truth = self.source.scene.truth_at(self.source.scene_pose(pose))
            self._truth[frame.frame_id] = [b for b in truth if b.class_name == DEFECT]
        return self._truth[frame.frame_id]

    def owners(self, track_ids: Callable[[FrameDetections], list[tuple[int, tuple]]]) -> dict[int, str | None]:
        """Each track's defect (None: it overlaps none); `track_ids(frame)` gives (track id, box) of its defect
        boxes."""
        votes: dict[int, Counter] = {}
        for frame in self.flight.frames:
            truth = self.truth(frame)
            for track, box in track_ids(frame):
                counter = votes.setdefault(track, Counter())
                best = max(((iou(box, t.box), t.object_id) for t in truth), default=(0.0, None))
                if best[0] >= SAME_BOX_IOU:
                    counter[best[1]] += 1
        return {track: (c.most_common(1)[0][0] if c else None) for track, c in votes.items()}

    def live_owners(self) -> dict[int, str | None]:
        """The owners of the tracks the run itself made."""

        def tracked(frame: FrameDetections) -> list[tuple[int, tuple]]:
            return [
                (b.track_id, (b.x1, b.y1, b.x2, b.y2))
                for b in frame.boxes
                if b.class_name == DEFECT and b.track_id >= 0
            ]

        return self.owners(tracked)

    def retracked_owners(self, tracker: Tracker) -> dict[int, str | None]:
        """The owners of the tracks `tracker` makes from the run's own detections (another tracker, same boxes)."""
        ids: dict[int, list[tuple[int, tuple]]] = {}
        names = tuple(dict.fromkeys(b.class_name for f in self.flight.frames for b in f.boxes)) or (DEFECT,)
        for frame in self.flight.frames:
            dets = Detections(
                np.array([(b.x1, b.y1, b.x2, b.y2) for b in frame.boxes], np.float32).reshape(-1, 4),
                np.array([b.score for b in frame.boxes], np.float32),
                np.array([names.index(b.class_name) for b in frame.boxes], np.int32),
                names,
            )
            tracked = tracker.update(dets)
            ids[frame.frame_id] = [
                (int(t), tuple(float(v) for v in box))
                for box, name, t in zip(tracked.boxes, tracked.class_names, tracked.track_ids, strict=True)
                if name == DEFECT and t >= 0
            ]
        return self.owners(lambda f: ids[f.frame_id])

    def report_owners(self) -> dict[str, str | None]:
        """Each report's defect (report id -> object id, None: a false report), by its track."""
        owners = self.live_owners()
        return {r.id: owners.get(int(r.track_key.rsplit(":", 1)[1])) for r in self.flight.reports}
