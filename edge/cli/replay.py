"""`gridscout replay`: re-run perception, control and the reporter on a recording, and say what changed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gridscout.edge.defaults import DATA_DIR, DEFAULT_MODEL, RECORDINGS_DIR

#: where under the data dir a replay's output goes: DATA/replays/<recording>/
REPLAYS_DIR = "replays"


DESCRIPTION = """\
Re-run perception, control and the reporter on the frames and telemetry of a
`gridscout run` recording, in lock-step: every frame in order, on the
recording's own clock, as fast as the CPU allows. The vehicle is simulated
from the recorded telemetry: a replay never moves a vehicle.

Writes DATA/replays/<recording>/: replay.mcap (a new recording), diff.json
and a report store, and prints how the detections, commands and reports
differ from the recorded ones."""

EPILOG = """\
RECORDING is a segment (DATA/recordings/<time>_<run>_<n>.mcap) or a folder of
one run's segments. The config and the model are the ones the run recorded
(the shipped model when its model is not on this machine); --config and
--model replace them.

exit status:
  0  replayed; the outputs are the same as recorded (within the tolerances shown)
  1  replayed; the outputs changed (the summary and diff.json say how)
  2  bad input, one line naming it: a missing, corrupt or non-GridScout
     recording, a bad config or model, a busy bus port with --realtime

examples:
  gridscout replay gridscout-data/recordings/20250314T101502.123456Z_3f2a9c1e_0000.mcap
  gridscout replay RUN.mcap --config stricter.toml        # what would this config have done?
  gridscout replay RUN.mcap --recorded-detections         # control and reporter alone, exact
  gridscout replay RUN.mcap --video replay.mp4            # for people without Foxglove"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="re-run perception, control and reporting on a recording and diff the outputs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument("recording", help="the recording: an .mcap segment or a folder of one run's segments")
    p.add_argument("--model", help="the model to re-run perception with (default: the recorded run's)")
    p.add_argument("--config", type=Path, help="a TOML config to replay with (default: the recorded run's config)")
    p.add_argument(
        "--data",
        help=f"data directory; the output goes to DATA/{REPLAYS_DIR}/<recording> (default: the data directory the "
        f"recording is in, else ./{DATA_DIR})",
    )
    p.add_argument("--video", type=Path, help="also write the annotated camera here (.mp4 or .avi): boxes, track "
                   "ids, the vehicle's state and speed, control's mode and command")  # fmt: skip
    p.add_argument(
        "--realtime",
        action="store_true",
        help="replay at the recorded pace, publishing on the bus over tcp (bus.tcp_host, bus.tcp_base_port) as a "
        "running chain would, for live tools",
    )
    p.add_argument(
        "--recorded-detections",
        action="store_true",
        help="do not re-run perception: control and the reporter take the recorded detections (exact, fast)",
    )
    p.add_argument("--summary-json", type=Path, help="also write the summary and the diff as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def resolve_config(args: argparse.Namespace, recorded: dict | None) -> tuple[dict, str]:
    """The config to replay with, and where it came from."""
    from gridscout.edge.config import Config, ConfigError, load_config

    if args.config is not None:
        try:
            return load_config(args.config).model_dump(), str(args.config)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
    if recorded is None:
        return Config().model_dump(), "defaults (the recording holds no config)"
    try:
        return Config.model_validate(_as_run(recorded)).model_dump(), "the recorded run's"
    except Exception as exc:
        first = str(exc).splitlines()
        raise ValueError(
            f"the recording's config does not validate here ({first[0] if first else exc}); pass --config"
        ) from exc


def _as_run(recorded: dict) -> dict:
    """The recorded config, with the values a key added since stands for: a run recorded before
    `perception.live_crops_per_frame` searched every string on each frame (0), not the default's bound."""
    perception = {"live_crops_per_frame": 0, **(recorded.get("perception") or {})}
    return {**recorded, "perception": perception}


def resolve_model(args: argparse.Namespace, config: dict, recorded: str) -> Path:
    if args.model:
        return Path(args.model)
    if config["perception"]["model"]:
        return Path(config["perception"]["model"])
    if recorded and Path(recorded).exists():
        return Path(recorded)
    return DEFAULT_MODEL


def data_dir(args: argparse.Namespace, config: dict, segment: Path) -> Path:
    """--data; else the --config's data dir; else the data dir the recording is in (DATA/recordings/...);
    else ./gridscout-data."""
    if args.data:
        return Path(args.data)
    if args.config:
        return Path(config["run"]["data_dir"])
    if segment.resolve().parent.name == RECORDINGS_DIR:
        return segment.resolve().parent.parent
    return Path(f"./{DATA_DIR}")


def run(args: argparse.Namespace) -> int:
    from gridscout.edge.offline.replay import ReplayOptions, load_recording, run_replay

    recording = load_recording(args.recording)
    config, config_source = resolve_config(args, recording.config)
    if args.model:
        config["perception"]["model"] = args.model
    model = resolve_model(args, config, recording.metadata.get("model", ""))
    data = data_dir(args, config, recording.paths[0])
    result = run_replay(
        recording,
        ReplayOptions(
            config=config,
            model=model,
            out_dir=data / REPLAYS_DIR / recording.name,
            rerun_perception=not args.recorded_detections,
            realtime=args.realtime,
            publish=args.realtime,
            video=args.video,
            progress=not args.no_progress and sys.stderr.isatty(),
            config_source=config_source,
        ),
    )
    print(result.format(), flush=True)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return 0 if result.diff.identical else 1
