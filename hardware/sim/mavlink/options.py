"""The MAVLink simulator's command-line options (`gridscout sim drone|rover`), apart from the simulator so that
building the CLI never loads pymavlink."""

from __future__ import annotations

import argparse
from pathlib import Path

from gridscout.hardware.sim.mavlink.config import SIM_MODES, MavSimConfig

LOOPBACK = "127.0.0.1"


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or LOOPBACK, int(port)


def _param(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        return name.strip().upper(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser, vehicle: str) -> None:
    """The simulator's options, shared by `gridscout sim drone|rover` and `python -m gridscout.hardware.sim.mavlink`."""
    d = MavSimConfig()
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--tcp",
        type=_host_port,
        metavar="HOST:PORT",
        help="listen for TCP clients here (default 127.0.0.1:5760, as SITL; port 0: any free port)",
    )
    where.add_argument(
        "--udp-in",
        type=_host_port,
        metavar="HOST:PORT",
        help="listen for UDP and answer whoever sends (drive it with mavlink:udpout:HOST:PORT)",
    )
    where.add_argument(
        "--udp-out",
        type=_host_port,
        metavar="HOST:PORT",
        help="send UDP to a driver listening here (drive it with mavlink:udpin:HOST:PORT)",
    )
    p.add_argument("--log", type=Path, metavar="FILE", help="append JSON lines (commands, events, true state) here")
    p.add_argument(
        "--home",
        type=float,
        nargs=3,
        metavar=("LAT", "LON", "ALT"),
        default=(d.home_lat_deg, d.home_lon_deg, d.home_alt_m),
        help=f"home: latitude, longitude (degrees), altitude AMSL (m) (default {d.home_lat_deg} "
        f"{d.home_lon_deg} {d.home_alt_m:g})",
    )
    p.add_argument(
        "--altitude",
        type=float,
        default=d.start_alt_m if vehicle == "drone" else 0.0,
        metavar="M",
        help="start this high above home, hovering (drone; default %(default)g)",
    )
    p.add_argument("--heading", type=float, default=d.start_heading_deg, metavar="DEG", help="start heading")
    p.add_argument("--mode", default=d.start_mode, choices=SIM_MODES[vehicle], help="start mode (default GUIDED)")
    p.add_argument("--disarmed", action="store_true", help="start disarmed (default: armed)")
    p.add_argument(
        "--max-speed",
        type=float,
        default=d.max_speed_mps,
        metavar="M/S",
        help=f"fastest horizontal speed (default {d.max_speed_mps:g})",
    )
    p.add_argument(
        "--gcs-timeout",
        type=float,
        default=d.gcs_timeout_s,
        metavar="S",
        help=f"GCS failsafe after this long without our heartbeat (FS_GCS_TIMEOUT; default {d.gcs_timeout_s:g})",
    )
    p.add_argument(
        "--setpoint-timeout",
        type=float,
        default=d.setpoint_timeout_s,
        metavar="S",
        help=f"stop after this long without a velocity target (default {d.setpoint_timeout_s:g})",
    )
    p.add_argument("--gps-noise", type=float, default=d.gps_noise_m, metavar="M", help="GPS noise, 1 sigma (default 0)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the GPS noise")
    p.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="start with a parameter set, e.g. FS_GCS_ENABLE=0 (repeatable)",
    )
    faults = p.add_argument_group("faults to rehearse (a vehicle that misbehaves)")
    faults.add_argument(
        "--refuse-mode",
        action="append",
        default=[],
        metavar="MODE",
        help="DENY DO_SET_MODE to this mode (repeatable), e.g. BRAKE",
    )
    faults.add_argument(
        "--drop-commands",
        type=int,
        default=0,
        metavar="N",
        help="miss the first N sends of each command (an answer needs a retry)",
    )
    faults.add_argument("--no-ack", action="store_true", help="apply commands but never answer them")
    faults.add_argument("--no-home", action="store_true", help="no home position (RTL is refused)")
    faults.add_argument(
        "--relayed",
        action="store_true",
        help="as SITL behind MAVProxy: also send MAVProxy's GCS heartbeat (system 255, which holds the GCS failsafe "
        "off), a gimbal's and an ADS-B receiver's, and COMMAND_ACKs meant for MAVProxy",
    )


def config_from_args(args: argparse.Namespace, vehicle: str) -> MavSimConfig:
    lat, lon, alt = args.home
    return MavSimConfig(
        vehicle=vehicle,
        home_lat_deg=lat,
        home_lon_deg=lon,
        home_alt_m=alt,
        start_alt_m=0.0 if vehicle == "rover" else args.altitude,
        start_heading_deg=args.heading,
        start_mode=args.mode,
        start_armed=not args.disarmed,
        max_speed_mps=args.max_speed,
        gcs_timeout_s=args.gcs_timeout,
        setpoint_timeout_s=args.setpoint_timeout,
        gps_noise_m=args.gps_noise,
        seed=args.seed,
        params=tuple(args.param),
        refuse_modes=tuple(m.upper() for m in args.refuse_mode),
        drop_commands=args.drop_commands,
        ack=not args.no_ack,
        home_set=not args.no_home,
        relayed=args.relayed,
    )
