"""The embedded defaults: the shipped model, the bundled demo footage, the data directory and the API address."""

from __future__ import annotations

from pathlib import Path

from gridscout import hardware, models

DEFAULT_MODEL = Path(models.__file__).resolve().parent / "gridscout_field.toml"
DEMO_FOOTAGE = Path(hardware.__file__).resolve().parent / "sim" / "assets" / "demo.mp4"
#: the line the demo footage was flown along, as a mission file (control.mission's format)
DEMO_MISSION = DEMO_FOOTAGE.with_name("demo.mission.geojson")
#: where reports, logs and the API token live, relative to the working directory
DATA_DIR = Path("gridscout-data")
#: the fleet API binds loopback unless told otherwise
API_HOST = "127.0.0.1"
API_PORT = 8470
#: where `gridscout run` records, inside the data directory, unless `recorder.dir` says otherwise
RECORDINGS_DIR = "recordings"
