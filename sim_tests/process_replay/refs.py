"""Process replay (after openpilot's selfdrive/test/process_replay): small reference recordings and the outputs
each stage is expected to give on them.

The recordings in `refs/` are real `gridscout run` recordings, made by this script from rendered scenes
(the frames are written to a folder first, so a short clip can start where the defect comes into view);
the expected outputs beside them (`<name>.expected.json`) are what each stage gave on them when they were
last updated. A test re-runs each stage on the recorded inputs, with `gridscout.edge.offline.replay`:

- perception: on the recorded camera images (as the .mcap camera source decodes them); its detections;
- control: on the recorded detections and telemetry, at the recorded ticks; the commands it sends;
- reporter: on the recorded frames, detections and telemetry; its report writes.

    python -m sim_tests.process_replay.refs                 # compare, and print what differs (exit 1 if any)
    python -m sim_tests.process_replay.refs --update-refs   # a change was intended: rewrite the expected outputs
    python -m sim_tests.process_replay.refs --rerecord      # make the recordings again too (then update)

`--update-refs` also works on the tests: `GRIDSCOUT_UPDATE_REFS=1 pytest sim_tests/process_replay`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridscout.edge.config import Config
from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.edge.offline.replay import ReplayOptions, ReplayResult, load_recording, run_replay
from gridscout.edge.offline.replay_diff import Diff, Outputs, Tolerances, diff, dump
from gridscout.edge.recording.naming import segments_in

REFS = Path(__file__).resolve().parent / "refs"
UPDATE_ENV = "GRIDSCOUT_UPDATE_REFS"
STAGES = ("perception", "control", "reporter")

#: what each stage is held to. Perception: onnxruntime may round differently on another CPU or version, so
#: boxes must overlap 0.95 and scores agree to 0.02 (track ids exactly: no renumbering). Control and the
#: reporter are deterministic on the same inputs: exact (their confidences are the recorded detections' own,
#: and a report id that changes is a change).
TOLERANCES = {
    "perception": Tolerances(iou=0.95, score=0.02, confidence=0.0, renumbering=False),
    "control": Tolerances(iou=1.0, score=0.0, confidence=0.0, renumbering=False),
    "reporter": Tolerances(iou=1.0, score=0.0, confidence=0.0, renumbering=False),
}


@dataclass(frozen=True)
class Scene:
    """One reference recording: rendered frames `first..last-1` of `uri`, recorded by `gridscout run`."""

    name: str
    uri: str
    first: int
    last: int
    mode: str
    #: frames are resized to this before the run (smaller files)
    size: tuple[int, int]
    #: the run's config (TOML); the recording keeps it, and the replay uses it
    config: str
    about: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


SCENES = (
    Scene(
        "defect",
        "synthetic://demo?frames=60",
        22,
        38,
        "replay",
        (480, 360),
        # a short approach timeout, so the clip reaches HOLD; low JPEG quality keeps the file small
        "[control.behaviour]\napproach_timeout_s = 0.6\n[recorder]\njpeg_quality = 20\n",
        about="a missing cap comes into view: a report, APPROACH and HOLD (replay mode: the footage's clock)",
    ),
    Scene(
        "live",
        "synthetic://demo?frames=60",
        0,
        14,
        "live",
        (320, 240),
        "[recorder]\njpeg_quality = 30\n",
        about="live mode, paced at 10 frames/s: triggered control steps and the monotonic clock",
    ),
)


def ref_path(scene: Scene) -> Path:
    return REFS / f"{scene.name}.mcap"


def expected_path(scene: Scene) -> Path:
    return REFS / f"{scene.name}.expected.json"


def record(scene: Scene, *, out=print) -> Path:
    """Render the scene's frames into a folder, run the chain on it, keep its recording as the reference."""
    import cv2

    from gridscout.hardware.camera import open_source

    with tempfile.TemporaryDirectory(prefix="gs-ref-") as tmp:
        frames = Path(tmp) / "frames"
        frames.mkdir()
        for frame in open_source(scene.uri):
            if frame.frame_id >= scene.last:
                break
            if frame.frame_id >= scene.first:
                image = cv2.resize(frame.image, scene.size, interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(frames / f"{frame.frame_id:04d}.png"), image)
        config = Path(tmp) / "gridscout.toml"
        config.write_text(scene.config)
        data = Path(tmp) / "data"
        command = [sys.executable, "-m", "gridscout.edge.cli", "run", "--config", str(config), "--source",
                   str(frames), "--mode", scene.mode, "--no-api", "--data", str(data)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp)
        if result.returncode != 0:
            raise SystemExit(f"gridscout run failed for {scene.name}:\n{result.stdout}\n{result.stderr[-3000:]}")
        (segment,) = segments_in(data / "recordings")
        REFS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(segment, ref_path(scene))
    out(f"recorded {ref_path(scene)} ({ref_path(scene).stat().st_size // 1024} KB)")
    return ref_path(scene)


def replay_config(scene: Scene, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The recorded run's config, with dotted-key overrides ({"control.behaviour.cruise_speed_mps": 0.3})."""
    rec = load_recording(ref_path(scene))
    config = Config.model_validate(rec.config or {}).model_dump()
    for key, value in (overrides or {}).items():
        *path, last = key.split(".")
        node = config
        for part in path:
            node = node[part]
        if last not in node:
            raise KeyError(key)
        node[last] = value
    return config


def replay(scene: Scene, stage: str, out_dir: Path, overrides: dict[str, Any] | None = None) -> ReplayResult:
    """One stage on the reference's recorded inputs (perception on the images; control and the reporter on the
    recorded detections)."""
    return run_replay(
        load_recording(ref_path(scene)),
        ReplayOptions(
            config=replay_config(scene, overrides),
            model=DEFAULT_MODEL,
            out_dir=out_dir,
            rerun_perception=stage == "perception",
        ),
    )


def stage_outputs(outputs: Outputs, stage: str) -> Outputs:
    """Only what `stage` produces."""
    if stage == "perception":
        return Outputs(detections=outputs.detections)
    if stage == "control":
        return Outputs(commands=outputs.commands)
    return Outputs(reports=outputs.reports)


#: the diff sections that hold each stage's outputs
SECTIONS = {"perception": ("detections",), "control": ("commands",), "reporter": ("reports", "writes")}


def describe(d: Diff, stage: str) -> str:
    """The diff of one stage's outputs against the expected ones, for people."""
    return d.format(only=SECTIONS[stage], before="expected")


def expected(scene: Scene, stage: str) -> Outputs:
    data = json.loads(expected_path(scene).read_text())
    return Outputs.from_json(data["stages"][stage])


def compare(scene: Scene, stage: str, out_dir: Path, overrides: dict[str, Any] | None = None) -> Diff:
    """How `stage` on the reference's inputs now differs from what it is expected to give."""
    result = replay(scene, stage, out_dir, overrides)
    return diff(expected(scene, stage), stage_outputs(result.outputs, stage), TOLERANCES[stage])


def update(scene: Scene, *, out=print) -> None:
    """Rewrite the expected outputs of every stage from what the stages give now."""
    stages: dict[str, Any] = {}
    model = ""
    with tempfile.TemporaryDirectory(prefix="gs-ref-") as tmp:
        for stage in STAGES:
            result = replay(scene, stage, Path(tmp) / stage)
            model = result.model_sha256 or model
            stages[stage] = stage_outputs(result.outputs, stage).to_json()
    data = {
        "recording": ref_path(scene).name,
        "about": scene.about,
        "made_from": {"uri": scene.uri, "frames": [scene.first, scene.last], "size": list(scene.size),
                      "mode": scene.mode, "config": scene.config},
        "model_sha256": model,
        "stages": {stage: {k: v for k, v in stages[stage].items() if v} for stage in STAGES},
    }  # fmt: skip
    expected_path(scene).write_text(dump(data))
    counts = ", ".join(f"{len(v)} {k}" for stage in STAGES for k, v in stages[stage].items() if v and k != "detections")
    out(f"updated {expected_path(scene)} ({len(stages['perception']['detections'])} frames of detections, {counts})")


def updating() -> bool:
    return os.environ.get(UPDATE_ENV, "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim_tests.process_replay.refs", description=__doc__.split("\n")[0])
    parser.add_argument("--update-refs", action="store_true", help="rewrite the expected outputs (a change was meant)")
    parser.add_argument("--rerecord", action="store_true", help="make the reference recordings again, then update")
    parser.add_argument("scenes", nargs="*", help=f"only these ({', '.join(s.name for s in SCENES)})")
    args = parser.parse_args(argv)
    chosen = [s for s in SCENES if not args.scenes or s.name in args.scenes]
    if args.rerecord or args.update_refs:
        for scene in chosen:
            if args.rerecord or not ref_path(scene).exists():
                record(scene)
            update(scene)
        return 0
    changed = False
    with tempfile.TemporaryDirectory(prefix="gs-ref-") as tmp:
        for scene in chosen:
            for stage in STAGES:
                d = compare(scene, stage, Path(tmp) / scene.name / stage)
                print(f"== {scene.name} / {stage}: {'same' if d.identical else 'CHANGED'}")
                if not d.identical:
                    changed = True
                    print(describe(d, stage))
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
