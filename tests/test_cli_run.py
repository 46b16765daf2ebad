"""`gridscout run` refuses bad input before it starts anything, with one line naming the input."""

from __future__ import annotations

import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_MISSION


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", "run", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "nope.onnx"], "nope.onnx: model not found"),
        (["--vehicle", "px4:/dev/x"], "vehicle.uri = 'px4:/dev/x': expected sim-crawler"),
        (
            ["--vehicle", "mavlink:tcp:127.0.0.1:5760"],
            "needs a mission to fly (--mission FILE; `gridscout mission here --vehicle mavlink:tcp:127.0.0.1:5760 -o",
        ),
        (
            ["--vehicle", "mavlink:/dev/ttyACM9", "--mission", str(DEMO_MISSION)],
            "/dev/ttyACM9 does not exist (is the autopilot plugged in",
        ),
        (["--vehicle", "crawler:/dev/ttyUSB9"], "vehicle 'crawler:/dev/ttyUSB9': /dev/ttyUSB9 does not exist"),
        (["--source", "/nope/flight.mp4"], "cannot run: /nope/flight.mp4"),
        (["--mode", "fast"], "invalid choice: 'fast'"),
        (["--api", "localhost"], "expected HOST:PORT"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, args, expected):
    """Scenario: a typo in a flag: exit 2, the input named, no traceback, nothing left running."""
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_api_port_is_refused_up_front(tmp_path):
    """Scenario: another program holds the API port: say so, rather than restart the API forever."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("--api", f"127.0.0.1:{port}", cwd=tmp_path)
    assert result.returncode == 2
    assert f"fleet API address 127.0.0.1:{port} is not available" in result.stderr


def test_bad_config_file_names_the_key(tmp_path):
    """Scenario: a config with a misspelt key: the error names it and suggests the right one."""
    config = tmp_path / "bad.toml"
    config.write_text("[control.safety]\nmax_sped_mps = 2\n")
    result = _run("--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown key 'control.safety.max_sped_mps'; did you mean 'max_speed_mps'?" in result.stderr


def _nothing_started(cwd: Path) -> bool:
    return not (cwd / "gridscout-data" / "logs").exists()


def test_a_truncated_model_is_refused_before_anything_starts(tmp_path):
    """Scenario: `gridscout run --model bad.onnx` with a truncated file: one line naming the file, exit 2,
    and no process was started (no process logs), rather than a perception crash loop."""
    good = DEFAULT_MODEL.parent / "insulator.onnx"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(good.read_bytes()[:4000])
    result = _run("--model", str(bad), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("gridscout run: error: cannot run: ") and str(bad) in line and "not a loadable ONNX" in line
    assert _nothing_started(tmp_path)


def test_a_manifest_whose_stage_file_is_missing_names_that_file(tmp_path):
    """A cascade manifest pointing at a stage that is not there names the stage file."""
    manifest = tmp_path / "cascade.toml"
    stage_two = tomllib.loads(DEFAULT_MODEL.read_text())["stage2"]["model"]
    text = DEFAULT_MODEL.read_text().replace(f'model = "{stage_two}"', 'model = "nope.onnx"')
    manifest.write_text(
        text.replace('model = "insulator.onnx"', f'model = "{DEFAULT_MODEL.parent / "insulator.onnx"}"')
    )
    result = _run("--model", str(manifest), cwd=tmp_path)
    assert result.returncode == 2
    assert str(tmp_path / "nope.onnx") in result.stderr and "not found" in result.stderr
    assert _nothing_started(tmp_path)
