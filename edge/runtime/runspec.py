"""What the supervisor hands every process: the validated config plus what was resolved at start.

Written once as `run.json` in the run directory; each process reads it from its one argument.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

RUNSPEC_FILE = "run.json"


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    run_dir: str
    #: the config, as `Config.model_dump()`
    config: dict
    source: str
    model: str
    data_dir: str
    device_id: str
    api_token: str = ""

    @property
    def mode(self) -> str:
        return self.config["run"]["mode"]


def write_runspec(spec: RunSpec) -> Path:
    path = Path(spec.run_dir) / RUNSPEC_FILE
    path.write_bytes(msgspec.json.encode(spec))
    path.chmod(0o600)  # it holds the API token
    return path


def read_runspec(run_dir: str | Path) -> RunSpec:
    path = Path(run_dir) / RUNSPEC_FILE
    try:
        return msgspec.json.decode(path.read_bytes(), type=RunSpec)
    except (OSError, msgspec.DecodeError) as exc:
        raise SystemExit(f"{path}: cannot read the run spec ({exc}); processes are started by `gridscout run`") from exc
