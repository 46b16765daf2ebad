"""Messages the control process reads and writes; plain frozen values, so a run can be logged and replayed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class TrackObservation:
    """One tracked detection in one frame."""

    track_id: int
    class_name: str
    confidence: float
    is_defect: bool  # the taxonomy's verdict: "broken_disc" is a defect, "insulator" is not
    box_height_frac: float  # box height / frame height: a proxy for how close the object is


@dataclass(frozen=True, slots=True)
class PerceptionInput:
    """The tracks of one processed frame, stamped with the frame's monotonic time."""

    t_s: float
    frame_id: int
    tracks: tuple[TrackObservation, ...]


@dataclass(frozen=True, slots=True)
class SpeedCommand:
    """What is sent to the vehicle: a speed, or an explicit STOP message (stop=True, speed 0)."""

    speed_mps: float
    stop: bool
    reason: str


class Mode(StrEnum):
    """Modes of the patrol behaviour."""

    PATROL = "PATROL"  # cruise along the line
    APPROACH = "APPROACH"  # slow down on a confirmed defect track
    HOLD = "HOLD"  # stand still for a close look
    RESUME = "RESUME"  # back to cruise after a hold
    WAIT = "WAIT"  # vehicle not ready (failsafe, fault, no telemetry): desire 0
    END_OF_LINE = "END_OF_LINE"  # terminal: stopped at the end of the line


@dataclass(frozen=True, slots=True)
class Intent:
    """The behaviour's wish for this tick; the safety gate decides what is actually sent."""

    mode: Mode
    speed_mps: float
    stop: bool  # ask for an explicit STOP message rather than a speed of 0
    reason: str
    target_track_id: int | None

    @property
    def command(self) -> SpeedCommand:
        return SpeedCommand(0.0 if self.stop else self.speed_mps, self.stop, self.reason)


@dataclass(frozen=True, slots=True)
class Transition:
    """A mode change, for the caller to publish."""

    t_s: float
    from_mode: Mode
    to_mode: Mode
    reason: str
