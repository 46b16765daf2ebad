"""`gridscout config`: print the default config, or check a config file."""

from __future__ import annotations

import argparse
from pathlib import Path

from gridscout.edge.config import ConfigError, default_toml, load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="print the default config, or check a config file",
        description="Print a complete commented config file with every default (--default), or validate one (--check).",
        epilog="Example: gridscout config --default > gridscout.toml && gridscout run --config gridscout.toml",
    )
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--default", action="store_true", help="print every key with its default and description")
    group.add_argument("--check", type=Path, metavar="FILE", help="validate FILE and print it resolved")
    p.add_argument(
        "--vehicle", metavar="URI", help="with --default: the [vehicle] keys of this kind (sim-drone, mavlink:..., ...)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.default:
        try:
            print(default_toml(args.vehicle), end="")
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return 0
    try:
        config = load_config(args.check)
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
    print(f"{args.check}: ok")
    print(config.model_dump_json(indent=2))
    return 0
