"""A batch's work items, from what its command line names: one per photo, one per video or `.mcap` recording.

A SOURCE is a folder (walked with its subfolders, sorted; hidden files and folders left out), a photo, a video, an
`.mcap` recording, or a list file (`.txt`, `.list`): one path a line, relative to the list's own folder, `#`
starting a comment. A video's or a recording's frames are one track sequence, so each is one item (tracked as
`gridscout detect` tracks footage); each photo is an item of its own. An item named twice is inspected once.
Every SOURCE is checked before anything starts: a missing one, or a folder with nothing to inspect, is a ValueError
naming it and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gridscout.hardware.camera.folder import IMAGE_SUFFIXES, is_image

#: the containers a folder's videos are found by (a file named on its own is tried as a video whatever its name)
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".m4v", ".mts", ".ts", ".webm"})
RECORDING_SUFFIX = ".mcap"
LIST_SUFFIXES = frozenset({".txt", ".list"})
EXPECTED = (
    "a folder, a photo (" + " ".join(sorted(IMAGE_SUFFIXES)) + "), a video, an .mcap recording, "
    "or a list file (.txt, .list: one path a line)"
)

Kind = Literal["photo", "footage"]


@dataclass(frozen=True)
class WorkItem:
    """One file to inspect: `path` absolute (its folder resolved, the name as found), and the size and modification
    time it had when the batch listed it (how a re-run knows it is unchanged)."""

    path: str
    kind: Kind
    size: int
    mtime_ns: int

    @property
    def source_key(self) -> str:
        """What its reports' ids follow, as `gridscout detect` keys them: a photo's folder (the track key adds the
        photo's name), a video's or recording's own resolved path."""
        return str(Path(self.path).parent) if self.kind == "photo" else str(Path(self.path).resolve())


def collect_items(sources: Sequence[str]) -> list[WorkItem]:
    """Every item the SOURCEs name, in their order, each once (see the module docstring)."""
    if not sources:
        raise ValueError(f"no SOURCE given; expected {EXPECTED}")
    seen: set[str] = set()
    items = []
    for source in sources:
        for item in _expand(Path(source), source, in_list=False):
            if item.path not in seen:
                seen.add(item.path)
                items.append(item)
    return items


def _expand(path: Path, named: str, *, in_list: bool) -> Iterator[WorkItem]:
    if not path.exists():
        raise ValueError(f"{named}: not found; expected {EXPECTED}")
    if path.is_dir():
        found = list(_walk(path))
        if not found:
            raise ValueError(f"{named}: no photos, videos or .mcap recordings in this folder or below it")
        yield from found
    elif path.suffix.lower() in LIST_SUFFIXES:
        if in_list:
            raise ValueError(f"{named}: a list file inside a list file; list the paths themselves")
        yield from _listed(path)
    else:
        yield _item(path)


def _walk(folder: Path) -> Iterator[WorkItem]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            suffix = path.suffix.lower()
            if not name.startswith(".") and (is_image(path) or suffix in VIDEO_SUFFIXES or suffix == RECORDING_SUFFIX):
                yield _item(path)


def _listed(list_file: Path) -> Iterator[WorkItem]:
    try:
        lines = list_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{list_file}: cannot be read as a list of paths ({exc})") from exc
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            yield from _expand(
                list_file.parent / Path(text).expanduser(), f"{list_file}:{number}: {text}", in_list=True
            )


def _item(path: Path) -> WorkItem:
    absolute = path.parent.resolve() / path.name
    stat = absolute.stat()
    return WorkItem(str(absolute), "photo" if is_image(path) else "footage", stat.st_size, stat.st_mtime_ns)
