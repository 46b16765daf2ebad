"""A person's review of a defect report: the words and rules the device and the fleet share.

A review confirms or rejects a finding, and may set its severity (high, medium, low, as utilities grade
defects for repair), give the class the detector should have said, and add a note. Plain Python, no
pydantic: the device's report store imports it, and the reporter process that writes the store stays light.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

ReviewState = Literal["new", "confirmed", "rejected"]
REVIEW_STATES: tuple[str, ...] = get_args(ReviewState)
#: what a review may set a report to (`new` is only ever the detector's)
Verdict = Literal["confirmed", "rejected"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
NOTE_MAX_CHARS = 4000


class ReviewError(ValueError):
    """A review that cannot be recorded: the message names the field and what it expects."""


@dataclass(frozen=True)
class Review:
    state: str
    severity: str | None = None
    #: the class the finding really is, when the detector's was wrong (None: the detector's stands)
    class_name: str | None = None
    note: str | None = None

    def checked(self, classes: Iterable[str]) -> Review:
        """This review, or ReviewError naming what is wrong; `classes` are the names a class may take."""
        if self.state not in VERDICTS:
            raise ReviewError(f"review state {self.state!r}: expected one of {', '.join(VERDICTS)}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ReviewError(f"severity {self.severity!r}: expected one of {', '.join(SEVERITIES)}")
        known = sorted(classes)
        if self.class_name is not None and self.class_name not in known:
            raise ReviewError(f"class {self.class_name!r}: expected one of {', '.join(known)}")
        if self.note is not None and len(self.note) > NOTE_MAX_CHARS:
            raise ReviewError(f"note of {len(self.note)} characters: expected at most {NOTE_MAX_CHARS}")
        return self
