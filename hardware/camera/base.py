"""What every camera source provides, and the errors it raises."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from types import TracebackType

from gridscout.hardware.frame import Frame, VehiclePose

log = logging.getLogger(__name__)


class SourceError(RuntimeError):
    """A source that cannot be opened or read at all. The message names the source."""


class CameraStalled(SourceError):  # noqa: N818 - reads as an event, like StopIteration
    """A live camera stopped delivering frames. Raised from iteration; reopen to reconnect."""


class FrameSource(ABC):
    """An iterable of `Frame`s from one URI.

    File sources (`is_live` False) yield every frame in order and end; live sources yield
    until closed or stalled. Corrupt frames are skipped and counted in `corrupt_frames`.
    """

    #: the URI or path it was opened from
    uri: str
    #: short human name, used in `Frame.source_name`
    name: str
    #: nominal frames per second, if known (file pacing uses it)
    fps: float | None = None
    #: frames in the source, if known in advance
    frame_count: int | None = None
    #: True for cameras and streams: frames arrive on their own clock
    is_live: bool = False
    #: True for a source that renders each frame from where the vehicle is (`synthetic://...?follow=vehicle`):
    #: its owner hands it the vehicle's pose with `follow_vehicle` before iterating
    follows_vehicle: bool = False

    def __init__(self) -> None:
        self.corrupt_frames = 0
        #: frames the source promised (a recording's index) but cannot give, and why; None: none missing
        self.shortfall: str | None = None
        self.missing_frames = 0

    @abstractmethod
    def __iter__(self) -> Iterator[Frame]: ...

    def iter_from(self, start: int) -> Iterator[Frame]:
        """Frames whose `frame_id` is `start` or later: how a restarted camera resumes a file where it left
        off. A live source's frames are all new, so it ignores `start`."""
        for frame in self:
            if self.is_live or frame.frame_id >= start:
                yield frame

    def follow_vehicle(self, vehicle_pose: Callable[[], VehiclePose | None]) -> None:
        """Give a `follows_vehicle` source the vehicle's latest pose, called once per frame (None: not known yet)."""
        raise SourceError(f"{self.uri}: this source does not follow a vehicle")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device or file. Safe to call twice."""

    def _count_corrupt(self, what: str) -> None:
        self.corrupt_frames += 1
        log.warning("%s: skipped corrupt frame (%s); %d so far", self.name, what, self.corrupt_frames)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
