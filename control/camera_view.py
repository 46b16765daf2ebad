"""How fast a vehicle may inspect: a defect must stay in the camera's view for enough processed frames.

A drone flies a mission's flight path `standoff_m` beside the line, its camera turned `mount_yaw_deg` from the
nose. The stretch of line across the camera's horizontal field of view is what one frame sees; at speed v and
f processed frames a second, a point of the line stays in view for `view_m * f / v` frames. The tracker needs
several sightings to start a track and the behaviour `defect_min_hits` to act: at the demo mission's 8.3 m/s a
missing cap crossed the view in about 8 frames and was tracked; on a busy box fewer frames are processed, so
the cap falls with the frame rate. Pure and deterministic (the frame rate is measured on the data's clock).
"""

from __future__ import annotations

import math


def line_in_view_m(standoff_m: float, mount_yaw_deg: float, hfov_deg: float) -> float | None:
    """The length of a straight line beside the path that a camera sees across its horizontal field of view.

    `standoff_m`: the path runs this far to the RIGHT of the line (negative: left, so the line is on the
    vehicle's right); `mount_yaw_deg`: the camera's yaw from the nose, clockwise (90 looks right).
    None when the camera does not look at the line's side, and inf when its view reaches along the line to
    the horizon (ahead or behind): the geometry then sets no limit."""
    if standoff_m == 0.0 or hfov_deg <= 0.0:
        return None
    toward_line = -math.copysign(1.0, standoff_m)  # +1: the line is on the right
    off_travel = mount_yaw_deg * toward_line  # the camera axis, degrees from the direction of travel
    if not 0.0 < off_travel < 180.0:
        return None
    near, far = off_travel - hfov_deg / 2.0, off_travel + hfov_deg / 2.0
    if near <= 0.0 or far >= 180.0:
        return math.inf
    d = abs(standoff_m)
    return d * (1.0 / math.tan(math.radians(near)) - 1.0 / math.tan(math.radians(far)))


def inspection_speed_cap_mps(view_m: float, frame_rate_hz: float, frames_in_view: int) -> float:
    """The fastest speed at which a point of the line stays in view for `frames_in_view` processed frames."""
    return view_m * frame_rate_hz / frames_in_view


def stopping_distance_m(speed_mps: float, decel_mps2: float) -> float:
    """How far a vehicle at `speed_mps` travels while braking at `decel_mps2` to a stand."""
    return speed_mps**2 / (2.0 * decel_mps2)


class FrameRate:
    """The processed frame rate, from the times of successive frames (an exponential average of the gaps)."""

    def __init__(self, smoothing: float = 0.1, min_frames: int = 5) -> None:
        self.smoothing = smoothing
        self.min_frames = min_frames
        self._last_t: float | None = None
        self._gap_s: float | None = None
        self._frames = 0

    def add(self, t_s: float) -> None:
        if self._last_t is not None:
            gap = t_s - self._last_t
            if 0.0 < gap < 5.0:  # a pause (a stall, a reconnect) is not the rate
                self._gap_s = gap if self._gap_s is None else self._gap_s + self.smoothing * (gap - self._gap_s)
                self._frames += 1
        self._last_t = t_s

    @property
    def hz(self) -> float | None:
        """None until `min_frames` gaps were seen."""
        return 1.0 / self._gap_s if self._gap_s and self._frames >= self.min_frames else None
