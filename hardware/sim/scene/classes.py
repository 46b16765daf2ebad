"""The renderer's class ids and names, in one place.

Ids 0 and 1 match the real dataset (CPLID, which calls id 1 `defect`): 0 insulator, 1 missing_cap. Extra defect types
keep fixed ids after those and are drawn and labelled only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable

#: class id -> name, as written into a YOLO data.yaml
CLASS_NAMES: tuple[str, ...] = ("insulator", "missing_cap", "broken_disc", "bird_nest")
INSULATOR = 0
#: defect type (as asked for) -> class id
DEFECT_TYPES: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES) if i != INSULATOR}
DEFAULT_DEFECT_TYPES: tuple[str, ...] = ("missing_cap",)


def parse_defect_types(value: str | Iterable[str]) -> tuple[str, ...]:
    """'missing_cap,bird_nest' or an iterable -> a sorted tuple of known types; ValueError on others."""
    items = [s.strip() for s in value.split(",")] if isinstance(value, str) else [str(s).strip() for s in value]
    items = [s for s in items if s]
    unknown = [s for s in items if s not in DEFECT_TYPES]
    if unknown:
        raise ValueError(f"unknown defect type {unknown[0]!r}; expected some of {', '.join(DEFECT_TYPES)}")
    return tuple(sorted(set(items), key=lambda s: DEFECT_TYPES[s]))


def names_for(defect_types: Iterable[str]) -> list[str]:
    """Class names 0..max id needed for these defect types (always at least insulator and missing_cap)."""
    top = max([DEFECT_TYPES[t] for t in defect_types] + [1])
    return list(CLASS_NAMES[: top + 1])
