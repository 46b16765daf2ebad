"""The classes GridScout knows: assets it inspects and the defects it reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GridClass:
    name: str
    is_defect: bool
    description: str


TAXONOMY: dict[str, GridClass] = {
    c.name: c
    for c in (
        GridClass("insulator", False, "an insulator string (glass, porcelain or composite)"),
        GridClass(
            "missing_cap", True, "a missing cap: a disc gone from an insulator string (self-blast, dropped disc)"
        ),
        GridClass("broken_disc", True, "a chipped or cracked insulator disc"),
        GridClass("bird_nest", True, "a bird's nest on a tower or crossarm"),
    )
}


def is_defect(name: str) -> bool:
    """True for defect classes; unknown names (a custom model's) count as assets."""
    known = TAXONOMY.get(name)
    return bool(known and known.is_defect)
