"""The architecture doc keeps up with the code: every topic and every process is described."""

from pathlib import Path

from gridscout.edge.runtime.messages import TOPICS
from gridscout.edge.runtime.process_table import PROCESSES

DOC = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text()


def test_every_topic_is_in_the_topic_table():
    """Scenario: a topic added to edge/messages.py without a row in docs/architecture.md fails."""
    for name, topic in TOPICS.items():
        assert f"| `{name}` | `{topic.type.__name__}`" in DOC, name


def test_every_process_is_in_the_process_table():
    """Scenario: a process added to the table without a row in the doc fails."""
    for spec in PROCESSES:
        assert f"| {spec.name} | `{spec.module}`" in DOC, spec.name
