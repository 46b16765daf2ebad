"""The architecture doc keeps up with the code: every topic, process and room is described."""

import tomllib
from pathlib import Path

from gridscout.edge.runtime.messages import TOPICS
from gridscout.edge.runtime.process_table import PROCESSES

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_topic_is_in_the_topic_table():
    """Scenario: a topic added to edge/runtime/messages.py without a row in docs/architecture.md fails."""
    for name, topic in TOPICS.items():
        assert f"| `{name}` | `{topic.type.__name__}`" in DOC, name


def test_every_process_is_in_the_process_table():
    """Scenario: a process added to the table without a row in the doc fails."""
    for spec in PROCESSES:
        assert f"| {spec.name} | `{spec.module}`" in DOC, spec.name


def test_every_top_level_package_has_a_room():
    """Each package pyproject maps into the namespace has its row in the doc's table of rooms."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package in mapping:
        assert f"| `{package}` |" in DOC, package


def test_the_perception_section_names_every_key_of_the_shipped_manifest():
    """The doc describes the manifest by its keys (values live only in the manifest)."""
    from gridscout.edge.defaults import DEFAULT_MODEL

    manifest = tomllib.loads(DEFAULT_MODEL.read_text())
    for stage in ("stage1", "stage2"):
        for key in manifest[stage]:
            if key not in ("model", "iou", "parent"):
                assert f"`{stage}.{key}`" in DOC, f"{stage}.{key}"
