"""`gridscout sim`: simulators of the robot's devices (for now, `sim crawler`)."""

from __future__ import annotations

import argparse

from gridscout.hardware.sim.crawler import server as crawler_sim


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="run a device simulator",
        description="Run a simulated device that speaks the real device's protocol.",
    )
    devices = p.add_subparsers(dest="device", metavar="DEVICE", required=True)
    crawler = devices.add_parser(
        "crawler",
        help="a line crawler on a pseudo-terminal or ZeroMQ socket",
        description=crawler_sim.build_parser().description,
        epilog="Example: gridscout sim crawler --log crawler.jsonl --line-length 120",
    )
    crawler_sim.add_arguments(crawler)
    crawler.set_defaults(func=crawler_sim.run)
