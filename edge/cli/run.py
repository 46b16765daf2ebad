"""`gridscout run`: the main job, the whole chain on a camera, a model and a vehicle."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from gridscout.edge.cli.argtypes import parse_host_port
from gridscout.edge.config import Config, ConfigError, load_config, override, with_mission_camera
from gridscout.edge.defaults import DEMO_FOOTAGE, DEMO_MISSION
from gridscout.hardware.vehicle.uri import SIM_VEHICLES, VEHICLE_FORMS, parse_vehicle_uri


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the inspection chain: camera → detection → control → vehicle, with reports and the fleet API",
        description=(
            "Run the on-device chain as separate processes under a supervisor: the camera, perception, control, "
            "the vehicle driver, the reporter and the fleet API. With no arguments it runs the bundled footage "
            "through the shipped model, driving a simulated crawler, with reports in ./gridscout-data and the "
            "API on 127.0.0.1:8470. A file source ends the run when the footage ends; Ctrl-C stops the vehicle "
            "first, then everything else."
        ),
        epilog=(
            f"VEHICLE forms: {VEHICLE_FORMS}.\n"
            "Every option can also be set in a config file; see `gridscout config --default`. Flags win.\n"
            "Exit status: 0 the run did its job; 1 it could not (the vehicle never connected, was lost, refused "
            "commands or left them unanswered: the summary's FAILED line says which); 2 bad input, found before "
            "anything started."
        ),
    )
    p.add_argument("--config", type=Path, help="a TOML config file (see `gridscout config --default`)")
    p.add_argument("--source", help="camera URI: video file, image folder, device, rtsp://, synthetic://")
    p.add_argument(
        "--vehicle",
        help="sim-crawler (default), crawler:<pyserial URL>[?baud=N], sim-drone, sim-rover or "
        "mavlink:<pymavlink connection string> (e.g. mavlink:tcp:127.0.0.1:5760)",
    )
    p.add_argument("--model", help="an .onnx model or a cascade .toml manifest (default: the shipped model)")
    p.add_argument("--mission", help="a GeoJSON mission (the line a drone or rover flies; see docs/flying.md)")
    p.add_argument("--data", help="data directory for reports, logs and the API token (default ./gridscout-data)")
    p.add_argument("--api", type=parse_host_port, help="fleet API address HOST:PORT (default 127.0.0.1:8470)")
    p.add_argument("--no-api", action="store_true", help="do not serve the fleet API")
    p.add_argument(
        "--mode", choices=["live", "replay"], help="live (newest frame wins) or replay (every frame, deterministic)"
    )
    p.add_argument("--summary-json", type=Path, help="also write the run summary as JSON here")
    p.set_defaults(func=run)


def resolve(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    explicit = set(config.geotag.model_fields_set)  # the [geotag] keys the file sets (overrides below set all)
    for flag, key in (
        ("source", "run.source"),
        ("vehicle", "vehicle.uri"),
        ("model", "perception.model"),
        ("mission", "mission.file"),
        ("data", "run.data_dir"),
        ("mode", "run.mode"),
    ):
        value = getattr(args, flag)
        if value is not None:
            config = override(config, key, value)
    if args.api is not None:
        config = override(override(config, "api.host", args.api[0]), "api.port", args.api[1])
    if args.no_api:
        config = override(config, "api.enabled", False)
    if config.mission.file is None and parse_vehicle_uri(config.vehicle.uri).kind in SIM_VEHICLES:
        config = override(config, "mission.file", str(DEMO_MISSION))  # a simulated flight flies the demo footage's line
    on_demo = not config.run.source or Path(config.run.source) == DEMO_FOOTAGE
    demo_crawler = config.vehicle.uri == "sim-crawler" and on_demo
    if demo_crawler and config.mission.file is None and not config.geotag.line:
        config = override(config, "geotag.line", str(DEMO_MISSION))  # the footage's line places its reports
    return with_mission_camera(config, explicit=explicit)  # the footage's camera, where [geotag] leaves it unset


def run(args: argparse.Namespace) -> int:
    from gridscout.edge.runtime.private import keep_private
    from gridscout.edge.runtime.run import ChainError, run_chain

    try:
        config = resolve(args)
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
    keep_private(Path(config.run.data_dir))
    try:
        summary = run_chain(config, out=lambda line: print(line, flush=True))
    except ChainError as exc:
        raise ValueError(str(exc)) from exc
    print(summary.format(), flush=True)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    if not summary.ok:
        print(f"gridscout run: error: {summary.failures[0]}", file=sys.stderr)
        return 1
    if summary.interrupted_by is not None:  # as a shell reports a command a signal ended: 130 for Ctrl-C
        name = signal.Signals(summary.interrupted_by).name
        print(f"gridscout run: interrupted by {name}; the vehicle was stopped", file=sys.stderr)
        return 128 + summary.interrupted_by
    return 0
