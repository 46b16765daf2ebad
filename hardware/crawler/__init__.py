"""Line crawler: wire protocol (docs/crawler_protocol.md), serial/ZeroMQ links and the host driver.

- `protocol`: message dataclasses, `encode`, streaming `FrameDecoder`.
- `link`: `open_link(url)` for pyserial URLs and `tcp://` (ZeroMQ).
- `driver`: `CrawlerDriver`, the host side as a vehicle driver (handshake, heartbeats, acked commands,
  telemetry in the vehicle-neutral `VehicleTelemetry`).

The simulated crawler lives apart, in `gridscout.hardware.sim.crawler`.
"""

from gridscout.hardware.crawler.driver import CrawlerDriver, CrawlerError, CrawlerSettings
from gridscout.hardware.crawler.link import Link, LinkError, open_link
from gridscout.hardware.crawler.protocol import CrawlerState

__all__ = ["CrawlerDriver", "CrawlerError", "CrawlerSettings", "CrawlerState", "Link", "LinkError", "open_link"]
