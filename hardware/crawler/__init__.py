"""Line crawler: wire protocol (docs/crawler_protocol.md), serial/ZeroMQ links, host driver and simulator.

- `protocol`: message dataclasses, `encode`, streaming `FrameDecoder`.
- `link`: `open_link(url)` for pyserial URLs and `tcp://` (ZeroMQ).
- `driver`: `CrawlerDriver`, the host side (handshake, heartbeats, acked commands, telemetry).
- `sim_core` / `sim`: a simulated crawler, `python -m hardware.crawler.sim`.
"""

from hardware.crawler.driver import CrawlerDriver, CrawlerError, CrawlerTelemetry
from hardware.crawler.link import Link, LinkError, open_link
from hardware.crawler.protocol import CrawlerState

__all__ = ["CrawlerDriver", "CrawlerError", "CrawlerState", "CrawlerTelemetry", "Link", "LinkError", "open_link"]
