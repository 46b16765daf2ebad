"""Where the embedded defaults live: the shipped model and the bundled demo footage."""

from __future__ import annotations

from pathlib import Path

import hardware
import models

DEFAULT_MODEL = Path(models.__file__).resolve().parent / "gridscout_cplid.toml"
DEMO_FOOTAGE = Path(hardware.__file__).resolve().parent / "sim" / "assets" / "demo.mp4"
