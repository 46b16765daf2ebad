"""Package boundaries, checked on every import statement of the source tree.

- Our own code is imported only as `gridscout.<package>`: the top-level folders are never importable
  by their bare names once installed, so a bare `import edge` works in a checkout and breaks in a wheel.
- control is pure: it imports the standard library and nothing else.
- hardware (the HAL) imports nothing above it. The only pieces of control it may use are pure
  vocabulary: `gridscout.control.vehicle` (telemetry, states, limits every vehicle driver speaks),
  `gridscout.control.geodesy` (the local frame) and `gridscout.control.mission` (the mission a
  MAVLink driver flies and its guidance).
- The HAL's device code (camera, crawler link and driver, vehicle registry) never imports the
  simulators in `gridscout.hardware.sim`: a simulator is plugged in by URI, named in a table.
- perception never imports control (or anything above it).
- the fleet side imports nothing of the robot's: it runs on the fleet server. What both sides share about
  reports (`gridscout.reports`: the review's rules) imports nothing of either, so the fleet installs it too.
- nothing at run time imports torch or ultralytics; only `gridscout.models` (training and export) may.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge", "perception", "control", "hardware", "models", "fleet", "reports")
TRAINING_ONLY = {"torch", "ultralytics"}
#: the pure pieces of control the HAL may import
CONTROL_FOR_THE_HAL = ("vehicle", "geodesy", "mission")
HAL_DEVICE_CODE = ("camera", "crawler", "vehicle")


def imports_of(path: Path) -> set[str]:
    """Every module named by an import statement in `path` (absolute imports; we use no relative ones)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            assert node.module
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def offenders(folder: str, forbidden) -> dict[str, list[str]]:
    found = {}
    for path in sources(folder):
        bad = sorted(name for name in imports_of(path) if forbidden(path, name))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def _ours(name: str) -> str | None:
    """`gridscout.edge.runtime.bus` -> 'edge'; None for anything that is not ours."""
    parts = name.split(".")
    return parts[1] if parts[0] == "gridscout" and len(parts) > 1 else None


def test_own_code_is_imported_through_the_gridscout_namespace():
    """Scenario: `from edge.bus import ...` passes in a checkout (the repo root is on sys.path) and
    fails from a wheel. Every folder that imports our code, tests and benchmarks included, uses gridscout.*."""
    found = {}
    for path in sources(*PACKAGES, "tests", "sim_tests", "bench"):
        bare = sorted(n for n in imports_of(path) if n.split(".")[0] in PACKAGES)
        if bare:
            found[str(path.relative_to(ROOT))] = bare
    assert not found


def test_control_imports_only_the_standard_library():
    """Scenario: control grows a numpy or msgspec import; it must stay pure (and so replayable anywhere)."""

    def forbidden(_path: Path, name: str) -> bool:
        top = name.split(".")[0]
        if top == "gridscout":
            return _ours(name) != "control"
        return top not in sys.stdlib_module_names and top != "__future__"

    assert not offenders("control", forbidden)


def test_hardware_imports_nothing_above_it():
    """Scenario: a driver reaching into the edge runtime, perception or control's behaviour; only control's
    vocabulary (vehicle, geodesy, mission) is shared."""

    def forbidden(_path: Path, name: str) -> bool:
        ours = _ours(name)
        if ours == "control":
            parts = name.split(".")
            return len(parts) < 3 or parts[2] not in CONTROL_FOR_THE_HAL
        return ours in ("edge", "perception", "models", "fleet") or name.split(".")[0] in TRAINING_ONLY

    assert not offenders("hardware", forbidden)


@pytest.mark.parametrize("device_code", HAL_DEVICE_CODE)
def test_hal_device_code_never_imports_the_simulators(device_code):
    """Scenario: the camera HAL importing the scene renderer; simulators are reached only through a URI table."""
    found = offenders(f"hardware/{device_code}", lambda _p, name: name.startswith("gridscout.hardware.sim"))
    assert not found


def test_perception_never_imports_control_or_anything_above_it():
    def forbidden(_path: Path, name: str) -> bool:
        return _ours(name) in ("control", "edge", "models", "fleet") or name.split(".")[0] in TRAINING_ONLY

    assert not offenders("perception", forbidden)


def test_the_fleet_side_imports_nothing_of_the_robot():
    """Scenario: the fleet puller importing the edge store drags the robot's stack onto the fleet server."""

    def forbidden(path: Path, name: str) -> bool:
        top = name.split(".")[0]
        if top == "gridscout":
            return _ours(name) not in ("fleet", "reports")
        page = ("fastapi", "uvicorn") if path == ROOT / "fleet" / "serve.py" else ()  # the [serve] extra
        return top not in sys.stdlib_module_names and top not in ("__future__", "pydantic", *page)

    assert not offenders("fleet", forbidden)


def test_what_both_sides_share_about_reports_imports_neither():
    """`gridscout.reports` is installed on the fleet server with the fleet side and loaded by the device's
    reporter: only the standard library and pydantic (and, for GeoPackage exports, the `[gis]` extra's pyogrio
    and the numpy it brings; for the review page in `reports/web`, FastAPI), and nothing of the robot's or the
    fleet's."""

    def forbidden(path: Path, name: str) -> bool:
        top = name.split(".")[0]
        if top == "gridscout":
            return _ours(name) != "reports"
        web = ("fastapi", "starlette") if (ROOT / "reports" / "web") in path.parents else ()
        return top not in sys.stdlib_module_names and top not in ("__future__", "pydantic", "pyogrio", "numpy", *web)

    assert not offenders("reports", forbidden)


def test_only_model_training_imports_torch_or_ultralytics():
    for folder in ("edge", "perception", "control", "hardware", "fleet"):
        assert not offenders(folder, lambda _p, name: name.split(".")[0] in TRAINING_ONLY), folder


def test_the_robot_never_imports_the_fleet_side_except_to_offer_its_command():
    """The `gridscout fleet` subcommand is the one door; the chain itself never loads the fleet code."""
    found = offenders("edge", lambda path, name: _ours(name) == "fleet" and path != ROOT / "edge" / "cli" / "fleet.py")
    assert not found
