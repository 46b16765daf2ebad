"""`gridscout run` refuses bad input before it starts anything, with one line naming the input."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", "run", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "nope.onnx"], "nope.onnx: model not found"),
        (["--vehicle", "mavlink:/dev/x"], "vehicle 'mavlink:/dev/x': expected sim-crawler"),
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
