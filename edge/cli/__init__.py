"""The `gridscout` command: one subcommand per module in `edge.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Subcommand modules, in the order `--help` lists them. Each has `register(subparsers)`, which
# sets `func` on its parser; `func(args) -> int` runs the command.
COMMANDS = ("run", "detect", "batch", "replay", "reports", "serve", "fleet", "sim", "mission", "config")
#: exit statuses as a shell gives them: killed by SIGINT (Ctrl-C), by SIGPIPE (the reader of our output left)
INTERRUPTED_EXIT = 130
BROKEN_PIPE_EXIT = 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridscout",
        description="GridScout: open on-device software for power-grid inspection robots.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gridscout.edge.cli.{name}").register(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input, reported in one line. Looked up lazily: importing the camera HAL
    loads OpenCV, which `gridscout run`'s long-lived supervisor has no use for."""
    errors: list[type[BaseException]] = [OSError, ValueError]
    for module, name in (
        ("gridscout.hardware.camera.base", "SourceError"),
        ("gridscout.perception.errors", "ModelError"),
    ):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `gridscout ... | head`: the reader left; nothing to say, and nothing more to print
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT
    except KeyboardInterrupt:
        print(f"gridscout {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"gridscout {args.command}: error: {exc}", file=sys.stderr)
        return 2
