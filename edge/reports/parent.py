"""The asset a disc-level defect is on, in its evidence frame: the box of its `part_of` class (an insulator
string) that holds the defect's centre, the smallest such if several do. A review export labels that string
and the finding together, so a confirmed or rejected finding becomes a string crop for stage two."""

from __future__ import annotations

from collections.abc import Iterable

from gridscout.perception.taxonomy import TAXONOMY

Box = tuple[float, float, float, float]


def parent_box(defect: Box, class_name: str, boxes: Iterable[tuple[Box, str]]) -> Box | None:
    """The parent's box among `boxes` (box, class) for a `class_name` defect at `defect`; None: none holds it."""
    known = TAXONOMY.get(class_name)
    if known is None or not known.part_of:
        return None
    cx, cy = (defect[0] + defect[2]) / 2, (defect[1] + defect[3]) / 2
    holding = [b for b, name in boxes if name == known.part_of and b[0] <= cx <= b[2] and b[1] <= cy <= b[3]]
    return min(holding, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), default=None)
