"""The shipped Foxglove layout (edge/recording/foxglove_layout.json) shows what recordings hold: every topic a
panel names is a channel the recorder writes, and every message path names a field of that channel's schema."""

from __future__ import annotations

import json

from gridscout.edge.recording import foxglove
from gridscout.edge.recording.topics import RECORDED_TOPICS, bus_channel

LAYOUT = json.loads(foxglove.LAYOUT_FILE.read_text())
SCHEMAS = {bus_channel(t).channel: json.loads(bus_channel(t).schema) for t in RECORDED_TOPICS}
VIEWS = {v.channel for v in foxglove.VIEWS}


def panels(node):
    if isinstance(node, str):
        yield node
    else:
        yield from panels(node["first"])
        yield from panels(node["second"])


def test_every_panel_in_the_layout_tree_is_configured():
    laid_out = set(panels(LAYOUT["layout"]))
    assert laid_out == set(LAYOUT["configById"])
    assert {p.split("!")[0] for p in laid_out} == {"Image", "Plot", "StateTransitions", "map"}


def test_the_camera_panel_draws_the_annotations_on_the_recorded_image():
    (image,) = [c for k, c in LAYOUT["configById"].items() if k.startswith("Image!")]
    assert image["imageMode"]["imageTopic"] == foxglove.IMAGE_TOPIC
    assert list(image["imageMode"]["annotations"]) == [foxglove.ANNOTATIONS_TOPIC]
    (location,) = [c for k, c in LAYOUT["configById"].items() if k.startswith("map!")]
    assert location["followTopic"] == foxglove.LOCATION_TOPIC


def test_every_message_path_is_a_field_the_recording_has():
    """Scenario: a field renamed in edge/runtime/messages.py leaves a plot empty; this fails instead."""
    paths = [p["value"] for c in LAYOUT["configById"].values() for p in c.get("paths", [])]
    assert any(p.startswith("/bus/telemetry.speed_mps") for p in paths)
    assert any(p.startswith("/bus/vehicle_command.speed_mps") for p in paths)
    for path in paths:
        topic, _, field = path.partition(".")
        assert topic in SCHEMAS or topic in VIEWS, path
        assert field in SCHEMAS[topic]["properties"], path
