"""SubMaster: one receive loop for a daemon's topics, with per-topic freshness from the topic table.

In the spirit of openpilot's messaging.SubMaster. `update(timeout_s)` takes in everything that arrived
(waiting up to `timeout_s` for the first message) and returns it in order, for daemons that need every
message; `sm[topic]` is the latest of a topic. Freshness is judged by the time the data was true (the
topic's `time_field`: a frame's capture time for detections, the vehicle's report time for telemetry),
against `STALE_PERIODS` nominal periods, or a limit the caller passes.
"""

from __future__ import annotations

import time
from typing import Any

import zmq

from gridscout.edge.runtime.bus import Endpoints, Received, Subscriber
from gridscout.edge.runtime.messages import TOPICS


def data_time_s(topic: str, msg: Any) -> float | None:
    """When a message of `topic` says its data was true (its `time_field`), in monotonic seconds (None: no
    message, or never true). The one rule for freshness, shared by SubMaster and the stages `gridscout replay` runs."""
    stamp = getattr(msg, TOPICS[topic].time_field, 0) if msg is not None else 0
    return stamp / 1e9 if stamp else None


class SubMaster:
    def __init__(self, ctx: zmq.Context, endpoints: Endpoints, topics: list[str], *, hwm: int = 100) -> None:
        self.topics = list(topics)
        self._sub = Subscriber(ctx, endpoints, self.topics, hwm=hwm)
        self.latest: dict[str, Any] = dict.fromkeys(self.topics)
        #: monotonic seconds when each topic's latest message arrived here (None: never)
        self.received_s: dict[str, float | None] = dict.fromkeys(self.topics)
        #: topics that got a message in the last `update`
        self.updated: set[str] = set()

    def __getitem__(self, topic: str) -> Any:
        return self.latest[topic]

    @property
    def bad_messages(self) -> int:
        return self._sub.bad_messages

    def update(self, timeout_s: float = 0.0) -> list[Received]:
        """Everything received within `timeout_s` (oldest first); `latest` and `updated` follow it."""
        first = self._sub.recv(timeout_s)
        batch = ([first] if first else []) + self._sub.drain()
        now = time.monotonic()
        self.updated = set()
        for received in batch:
            self.latest[received.topic] = received.msg
            self.received_s[received.topic] = now
            self.updated.add(received.topic)
        return batch

    def data_time_s(self, topic: str) -> float | None:
        """When the latest message's data was true, in monotonic seconds (None: no message, or never true)."""
        return data_time_s(topic, self.latest[topic])

    def age_s(self, topic: str, now_s: float | None = None) -> float | None:
        """Age of the latest data of `topic` (None: never had any)."""
        stamp = self.data_time_s(topic)
        return None if stamp is None else (time.monotonic() if now_s is None else now_s) - stamp

    def fresh(self, topic: str, max_age_s: float | None = None, now_s: float | None = None) -> bool:
        """The latest data is younger than `max_age_s` (default: the table's `stale_after_s` for the topic)."""
        age = self.age_s(topic, now_s)
        limit = TOPICS[topic].stale_after_s if max_age_s is None else max_age_s
        return age is not None and age <= limit

    def close(self) -> None:
        self._sub.close()
