"""Keep ultralytics offline and inside the repo: no downloads, no writes to ~/.config."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "build" / "ultralytics"


def configure() -> None:
    """Set the environment ultralytics reads; call before importing it."""
    CONFIG_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(CONFIG_DIR))
    font = CONFIG_DIR / "Arial.ttf"
    if not font.exists():
        # Plots need a font; matplotlib (an ultralytics dependency) ships DejaVuSans.
        import matplotlib

        dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        shutil.copyfile(dejavu, font)
