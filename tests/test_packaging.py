"""What `pip install` puts into site-packages: one `gridscout` namespace and nothing else, and a fleet
side that installs on its own without the robot's stack. Wheels are built offline from this checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from gridscout.edge.defaults import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: imports that would mean the fleet side drags the robot's stack along
ROBOT_STACK = ("numpy", "cv2", "onnxruntime", "zmq", "msgspec", "fastapi", "uvicorn", "serial", "cobs")


def build_wheel(project: Path, out: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(project)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def main_wheel(tmp_path_factory) -> zipfile.ZipFile:
    # Built from a copy: an in-place build leaves build/ and *.egg-info in the checkout.
    source = tmp_path_factory.mktemp("source") / "gridscout"
    junk = ("__pycache__", ".*", "build", "*.egg-info", "gridscout-data", "checkpoints", "runs", "tests", "sim_tests")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*junk))
    return zipfile.ZipFile(build_wheel(source, tmp_path_factory.mktemp("wheel")))


def test_every_package_folder_is_listed_in_pyproject():
    """Scenario: a new subpackage (a folder with __init__.py) that pyproject does not list would be
    missing from the wheel while every test in the checkout still passes."""
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == found


def test_the_wheel_holds_only_the_gridscout_namespace(main_wheel):
    """Scenario: `pip install gridscout` must not add generic top-level packages (edge, models, ...)."""
    tops = {name.split("/")[0] for name in main_wheel.namelist()}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"gridscout"}
    assert "gridscout/__init__.py" not in main_wheel.namelist()  # a namespace package


def test_the_wheel_carries_the_shipped_model_and_demo_footage_but_no_tests(main_wheel):
    names = set(main_wheel.namelist())
    manifest = tomllib.loads(DEFAULT_MODEL.read_text())
    stages = {f"gridscout/models/{manifest[stage]['model']}" for stage in ("stage1", "stage2")}
    assert {"gridscout/models/gridscout_field.toml", *stages} <= names
    assert "gridscout/hardware/sim/assets/demo.mp4" in names
    assert "gridscout/edge/recording/foxglove_layout.json" in names  # README points people at it
    assert not any("/tests/" in n or n.endswith(".pt") for n in names)


def test_the_fleet_side_installs_and_runs_without_the_robot_stack(tmp_path):
    """Scenario: a fleet server installs ./fleet alone. Its wheel needs only pydantic, and its command
    runs without importing numpy, OpenCV, onnxruntime, ZeroMQ or the device's API stack."""
    source = tmp_path / "fleet"  # a copy: building in place would leave build/ inside the package folder
    ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    shutil.copytree(ROOT / "fleet", source, ignore=ignore)
    shutil.copytree(ROOT / "reports", tmp_path / "reports", ignore=ignore)  # shared with the device, beside it
    wheel = build_wheel(source, tmp_path / "wheel")
    with zipfile.ZipFile(wheel) as zf:
        tops = {n.split("/")[0] for n in zf.namelist()}
        metadata = next(zf.read(n).decode() for n in zf.namelist() if n.endswith("METADATA"))
    assert {t for t in tops if not t.endswith(".dist-info")} == {"gridscout"}
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert [r for r in requires if "extra ==" not in r] == ["pydantic>=2.6"]  # pyogrio only with the [gis] extra
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    probe = (
        "import sys; from gridscout.fleet.cli import main; from gridscout.fleet import pull\n"
        "from gridscout.reports.review import Review\n"
        "import gridscout.fleet; assert gridscout.fleet.__file__.startswith(sys.argv[1]), gridscout.fleet.__file__\n"
        f"print(sorted(m for m in {ROBOT_STACK!r} if m in sys.modules))"
    )
    # -S: no site-packages processing, so the checkout's editable install cannot supply gridscout.fleet;
    # pydantic comes from this environment's site-packages, put on the path explicitly after the target.
    env = {"PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(target)], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
    help_text = subprocess.run(
        [sys.executable, "-S", "-c", "from gridscout.fleet.cli import main; main(['pull', '--help'])"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert help_text.returncode == 0 and "--into" in help_text.stdout
