"""The classes GridScout knows: assets it inspects and the defects it reports.

`part_of` names the asset a defect sits on. The cascade finds that asset on the whole frame and searches
a crop of it for the defect (stage two), so a class with `part_of` set is a stage-two class and the
others are stage one's. Training data from any source is mapped onto these names (`models/sources.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

INSULATOR = "insulator"
MISSING_CAP = "missing_cap"


@dataclass(frozen=True, slots=True)
class GridClass:
    name: str
    is_defect: bool
    description: str
    part_of: str | None = None


TAXONOMY: dict[str, GridClass] = {
    c.name: c
    for c in (
        GridClass(INSULATOR, False, "an insulator string (glass, porcelain or composite), a whole string"),
        GridClass(
            MISSING_CAP,
            True,
            "a missing cap: a disc gone from an insulator string (self-blast, dropped disc)",
            INSULATOR,
        ),
        GridClass("broken_disc", True, "a chipped or broken shed of an insulator disc, boxed on the break", INSULATOR),
        GridClass("flashover", True, "burn or flashover marks on an insulator shed", INSULATOR),
        GridClass("bird_nest", True, "a bird's nest on a tower or crossarm"),
    )
}


def is_defect(name: str) -> bool:
    """True for defect classes; unknown names (a custom model's) count as assets."""
    known = TAXONOMY.get(name)
    return bool(known and known.is_defect)


def stage_of(name: str) -> int:
    """1 for a class found on the whole frame, 2 for one searched in a crop of the asset it is part of."""
    return 2 if TAXONOMY[name].part_of else 1
