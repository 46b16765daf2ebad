"""The real labelled sources training and evaluation read, each mapped onto one taxonomy.

A source is a folder in the ultralytics YOLO layout (`data.yaml`, `images/{train,val}`,
`labels/{train,val}`). Every folder under `../shared/datasets` with a `data.yaml` is one, and so is any
folder passed with `--source` (a review export is one: its class names are already the taxonomy's, so it
needs no code change). A source's class names map onto `perception.taxonomy`: a name the taxonomy knows
maps to itself; the shared sources' own names are in `CLASS_MAPS`; any other name is an error naming the
source and the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from gridscout.models.yolo_labels import read_yolo_labels, to_xyxy
from gridscout.perception.taxonomy import TAXONOMY, stage_of

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
NEGATIVES = "negatives"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: a shared source's own class name -> the taxonomy's (where they differ)
CLASS_MAPS: dict[str, dict[str, str]] = {
    # CPLID's "defect" is a missing cap (a self-blasted or dropped disc)
    "cplid": {"defect": "missing_cap"},
    # judged on the whole insulator (mostly contamination): an insulator for stage one, no disc-level box
    "stefenon_furb": {"insulator_defective": "insulator"},
}
#: sources whose strings may hold disc-level defects that are not boxed: their crops would teach stage two
#: that a defect is background, so they train stage one only
NO_DISC_LABELS = frozenset({"stefenon_furb"})


class SourceError(ValueError):
    """A source folder that is not what training expects; the message names it."""


@dataclass(frozen=True)
class Source:
    name: str
    root: Path
    #: the taxonomy name of each of the source's class ids
    classes: tuple[str, ...]
    disc_labels: bool
    #: whether stage one may learn from its frames: not where only some of a frame's strings are boxed (a review
    #: export labels the one string its finding is on), since the others would be taught as background
    whole_frames: bool = True

    def images(self, split: str) -> list[Path]:
        folder = self.root / "images" / split
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []

    def truth(self, image: Path, split: str, width: int, height: int) -> list[tuple[str, np.ndarray]]:
        """(taxonomy name, xyxy pixel box) of each labelled box of `image`."""
        rows = read_yolo_labels(self.root / "labels" / split / f"{image.stem}.txt")
        if not len(rows):
            return []
        boxes = to_xyxy(rows, width, height)
        return [(self.classes[int(c)], b) for c, b in zip(rows[:, 0], boxes, strict=True)]


def load_source(root: Path) -> Source:
    """The source in `root`, its class names mapped onto the taxonomy."""
    data = root / "data.yaml"
    if not data.is_file():
        raise SourceError(f"{root}: no data.yaml (expected an ultralytics YOLO layout)")
    try:
        meta = yaml.safe_load(data.read_text())
        names = meta.get("names")
    except (yaml.YAMLError, AttributeError) as exc:
        raise SourceError(f"{data}: not a YOLO data.yaml with a names key ({exc})") from None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise SourceError(f"{data}: expected `names` as a list or an id -> name mapping")
    mapping = CLASS_MAPS.get(root.name, {})
    classes = []
    for i in range(max(int(k) for k in names) + 1):
        own = str(names.get(i, ""))
        mapped = mapping.get(own, own)
        if mapped not in TAXONOMY:
            raise SourceError(
                f"{data}: class {i} {own!r} is not a GridScout class ({', '.join(TAXONOMY)}); "
                "rename it in data.yaml or map it in gridscout.models.sources.CLASS_MAPS"
            )
        classes.append(mapped)
    stages = meta.get("gridscout_stages", [1, 2])  # a review export says [2]
    return Source(root.name, root, tuple(classes), root.name not in NO_DISC_LABELS and 2 in stages, 1 in stages)


def shared_sources(shared: Path = SHARED) -> list[Source]:
    """Every labelled source under `shared` (the negatives, which have no labels, are not one)."""
    return [load_source(p) for p in sorted(shared.iterdir()) if (p / "data.yaml").is_file()]


def classes_of(sources: list[Source], stage: int) -> tuple[str, ...]:
    """The taxonomy classes of `stage` that these sources label, in taxonomy order."""
    present = {c for s in sources for c in s.classes}
    if stage == 2:
        present = {c for s in sources if s.disc_labels for c in s.classes}
    return tuple(name for name in TAXONOMY if name in present and stage_of(name) == stage)
