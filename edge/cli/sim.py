"""`gridscout sim`: simulators of the robot's devices: `sim crawler`, `sim drone` / `sim rover` over MAVLink,
`sim link`, a slow, lossy crawler link, and `sim photos`, a survey drone's geotagged photos."""

from __future__ import annotations

import argparse

from gridscout.hardware.sim import link_proxy, survey_photos
from gridscout.hardware.sim.crawler import server as crawler_sim
from gridscout.hardware.sim.mavlink.options import add_arguments


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
    link = devices.add_parser(
        "link",
        help="a slow, lossy crawler link: a ZeroMQ proxy that delays and drops frames",
        description=link_proxy.__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Example: gridscout sim link --listen tcp://127.0.0.1:5600 --to tcp://127.0.0.1:5601 "
        "--delay-ms 125 --loss 0.01  (then: gridscout run --vehicle crawler:tcp://127.0.0.1:5600)",
    )
    link_proxy.add_arguments(link)
    link.set_defaults(func=link_proxy.run)
    photos = devices.add_parser(
        "photos",
        help="a survey drone's camera: geotagged JPEGs (DJI XMP) of a rendered flight",
        description=survey_photos.__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Example: gridscout sim photos survey/ && gridscout batch survey/ --out season",
    )
    survey_photos.add_arguments(photos)
    photos.set_defaults(func=survey_photos.run)
    for vehicle in ("drone", "rover"):
        sim = devices.add_parser(
            vehicle,
            help=f"an ArduPilot-like MAVLink {vehicle} on loopback TCP or UDP",
            description=(
                f"Simulate an ArduPilot-like {vehicle} speaking MAVLink 2 (GUIDED, "
                f"{'BRAKE' if vehicle == 'drone' else 'HOLD'}, LOITER, RTL; a 3 s setpoint timeout; the GCS failsafe) "
                "on loopback. Prints the connection string alone on the first stdout line, then logs to stderr; "
                "drive it with `gridscout run --vehicle mavlink:<that string> --mission FILE`. Stops on SIGTERM."
            ),
            epilog=f"Example: gridscout sim {vehicle} --tcp 127.0.0.1:5760 --log {vehicle}.jsonl",
        )
        sim.set_defaults(func=_run_mavlink)
        add_arguments(sim, vehicle)


def _run_mavlink(args: argparse.Namespace) -> int:
    from gridscout.hardware.sim.mavlink.server import run  # pymavlink only when a simulator runs

    return run(args)
