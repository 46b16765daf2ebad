"""The review page's live view, from inside the chain's API process: the camera's frames with the tracked
detections drawn on them, and the state of the vehicle, the controller and each process.

A thread follows the bus (`STATE_TOPICS` always; `frames` only while someone watches, since each raw
frame is a megabyte over the socket) and keeps the latest of each. The page reads `snapshot()` as server-sent
events and `frames()` as an MJPEG stream, at most `fps` pictures a second.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
import simplejpeg
import zmq

from gridscout.edge.runtime.bus import Endpoints, Subscriber
from gridscout.edge.runtime.messages import FrameDetections
from gridscout.edge.runtime.submaster import SubMaster

#: pictures a second to the page, and their largest width (a 12 MP photo is scaled down)
LIVE_FPS = 5.0
LIVE_MAX_WIDTH = 960
#: how long after the last viewer left the frames are still followed (a page reload is not a new subscription)
FRAMES_LINGER_S = 5.0
#: the vehicle's track on the map: a point at most every second, the last few hours of them
TRACK_EVERY_S = 1.0
TRACK_POINTS = 10_000


#: the topics the live view always follows (frames only while watched)
STATE_TOPICS = (
    "detections", "telemetry", "vehicle_status", "control_state", "camera_status", "chain_status", "storage_status",
)  # fmt: skip


class LiveFeed:
    def __init__(self, ctx: zmq.Context, endpoints: Endpoints, fps: float = LIVE_FPS) -> None:
        self._ctx, self._endpoints, self._period = ctx, endpoints, 1.0 / fps
        self._lock = threading.Condition()
        self._jpeg: bytes | None = None
        self._jpeg_id = 0  # counts pictures made
        self._frame_id = -1
        self._viewers = 0
        self._last_viewer_s = 0.0
        self._snapshot: dict[str, Any] = {}
        self._track: deque[tuple[float, float]] = deque(maxlen=TRACK_POINTS)
        self.closed = False
        self._thread = threading.Thread(target=self._follow, name="live-feed", daemon=True)
        self._thread.start()

    # -- what the page reads ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._snapshot, frame_id=self._frame_id, pictures=self._jpeg_id)

    def frames(self) -> Iterator[bytes]:
        """Each new picture as JPEG while the feed is open; the caller's loop ends when the page goes."""
        with self._lock:
            self._viewers += 1
        try:
            seen = -1
            while not self.closed:
                with self._lock:
                    self._lock.wait_for(lambda last=seen: self._jpeg_id != last or self.closed, timeout=1.0)
                    jpeg, seen = self._jpeg, self._jpeg_id
                if jpeg is not None and not self.closed:
                    yield jpeg
        finally:
            with self._lock:
                self._viewers -= 1
                self._last_viewer_s = time.monotonic()

    def track(self) -> dict[str, Any] | None:
        with self._lock:
            points = [[lon, lat] for lat, lon in self._track]
        return {"type": "LineString", "coordinates": points} if len(points) >= 2 else None

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._lock.notify_all()
        self._thread.join(5)

    # -- the bus ------------------------------------------------------------------------------------------
    def _watching(self) -> bool:
        with self._lock:
            return self._viewers > 0 or time.monotonic() - self._last_viewer_s < FRAMES_LINGER_S

    def _follow(self) -> None:
        state = SubMaster(self._ctx, self._endpoints, list(STATE_TOPICS), hwm=50)
        frames: Subscriber | None = None
        last_picture = last_point = 0.0
        try:
            while not self.closed:
                state.update(0.05)
                watching = self._watching()
                if watching and frames is None:
                    frames = Subscriber(self._ctx, self._endpoints, ["frames"], hwm=2)
                elif not watching and frames is not None:
                    frames.close()
                    frames = None
                latest = None
                if frames is not None:
                    got = frames.drain()
                    latest = got[-1] if got else None
                now = time.monotonic()
                if latest is not None and latest.image is not None and now - last_picture >= self._period:
                    jpeg = _picture(latest.image, state["detections"], latest.msg.frame_id)
                    with self._lock:
                        self._jpeg, self._jpeg_id, self._frame_id = jpeg, self._jpeg_id + 1, latest.msg.frame_id
                        self._lock.notify_all()
                    last_picture = now
                telemetry = state["telemetry"]
                placed = telemetry is not None and telemetry.lat_deg is not None and telemetry.lon_deg is not None
                with self._lock:
                    self._snapshot = _state(state)
                    if placed and now - last_point >= TRACK_EVERY_S:
                        self._track.append((telemetry.lat_deg, telemetry.lon_deg))
                        last_point = now
        finally:
            state.close()
            if frames is not None:
                frames.close()


def _picture(image: np.ndarray, detections: FrameDetections | None, frame_id: int) -> bytes:
    """The frame with the tracked boxes of its own detections (or the latest before it), scaled to the page."""
    # OpenCV (~30 MB) loads only once someone watches: an API nobody looks at stays lean
    import cv2

    from gridscout.edge.offline.annotate import draw_boxes

    boxes = []
    if detections is not None and abs(detections.frame_id - frame_id) <= 3:
        boxes = [((b.x1, b.y1, b.x2, b.y2), b.score, b.class_name, b.track_id) for b in detections.boxes]
    drawn = draw_boxes(image, boxes)
    if drawn.shape[1] > LIVE_MAX_WIDTH:
        scale = LIVE_MAX_WIDTH / drawn.shape[1]
        drawn = cv2.resize(drawn, (LIVE_MAX_WIDTH, round(drawn.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return simplejpeg.encode_jpeg(np.ascontiguousarray(drawn), quality=75, colorspace="BGR")


def _state(sm: SubMaster) -> dict[str, Any]:
    """The latest of each state topic, as plain JSON for the page (None where nothing came yet)."""
    telemetry, vehicle, control = sm["telemetry"], sm["vehicle_status"], sm["control_state"]
    camera, chain, storage, detections = sm["camera_status"], sm["chain_status"], sm["storage_status"], sm["detections"]
    return {
        "vehicle": None if vehicle is None and telemetry is None else {
            "uri": getattr(vehicle, "uri", None), "link": getattr(vehicle, "link", None),
            "detail": getattr(vehicle, "detail", ""), "fresh": sm.fresh("telemetry"),
            "state": str(telemetry.state) if telemetry is not None else None,
            "speed_mps": getattr(telemetry, "speed_mps", None), "position_m": getattr(telemetry, "position_m", None),
            "lat": getattr(telemetry, "lat_deg", None), "lon": getattr(telemetry, "lon_deg", None),
            "battery_pct": getattr(telemetry, "battery_pct", None),
        },
        "control": None if control is None else {
            "mode": control.mode, "desired_speed_mps": control.desired_speed_mps, "reason": control.reason,
            "gate": list(control.gate_reasons),
        },
        "camera": None if camera is None else {"state": camera.state, "frames": camera.frames, "detail": camera.detail},
        "run_state": None if chain is None else chain.state,
        "processes": [] if chain is None else [
            {"name": p.name, "alive": p.alive, "ready": p.ready, "restarts": p.restarts, "detail": p.detail}
            for p in chain.processes
        ],
        "storage": None if storage is None else {"state": storage.state, "detail": storage.detail},
        "detections": None if detections is None else {
            "frame_id": detections.frame_id, "boxes": len(detections.boxes),
            "defects": sum(b.is_defect for b in detections.boxes), "infer_ms": round(detections.infer_ms, 1),
        },
    }  # fmt: skip
