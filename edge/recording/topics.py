"""Each bus topic as an MCAP channel: `/bus/<topic>`, JSON-encoded, with the JSON schema of its message type.

The schemas come from the message types themselves (`msgspec.json.schema`), inlined so each one
stands alone in the file, so a new topic in the table is recorded with no code here. The channel's
metadata names the bus topic, which is how the reader maps a channel back to its message type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec

from gridscout.edge.runtime.messages import TOPICS

#: channel metadata key holding the bus topic a channel records
TOPIC_KEY = "gridscout.topic"
SCHEMA_ENCODING = "jsonschema"
MESSAGE_ENCODING = "json"

#: every topic the recorder can hear: all but those carried over PUSH/PULL, which only their one
#: consumer can read (the heartbeats: their counters reach the recording through the run summary)
RECORDED_TOPICS: tuple[str, ...] = tuple(name for name, topic in TOPICS.items() if topic.pubsub)

_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True)
class BusChannel:
    topic: str
    channel: str
    schema_name: str
    schema: bytes
    metadata: dict[str, str]


def channel_name(topic: str) -> str:
    return f"/bus/{topic}"


@cache
def bus_channel(topic: str) -> BusChannel:
    """The channel, schema name and JSON schema of one bus topic."""
    row = TOPICS[topic]
    name = f"gridscout.{row.type.__name__}"
    schema = _inline(msgspec.json.schema(row.type))
    schema["title"] = name
    if row.carries_pixels:
        schema["description"] = (
            f"{schema.get('description', '')} The pixels are on the camera image channel, not here."
        ).strip()
    return BusChannel(
        topic=topic,
        channel=channel_name(topic),
        schema_name=name,
        schema=json.dumps(schema, separators=(",", ":")).encode(),
        metadata={TOPIC_KEY: topic},
    )


def encode(msg: Any) -> bytes:
    """A bus message as its JSON-encoded channel payload."""
    return _ENCODER.encode(msg)


@cache
def _decoder(topic: str) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(TOPICS[topic].type)


def decode(topic: str, data: bytes) -> Any:
    """A recorded payload back as the bus message type of `topic`."""
    return _decoder(topic).decode(data)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """msgspec's `{"$ref": ..., "$defs": {...}}` with every reference replaced by its definition."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)
