"""What recording every run costs: the `gridscout run` chain with the recorder and without it, in one run.

    python bench/bench_recorder.py                   # all 260 demo frames, 3 rounds (5-7 min on 2 cores)
    python bench/bench_recorder.py --frames 100 --rounds 2 --json recorder.json

Each chain run is bench_chain.py's: a `python -m gridscout.edge.cli run --config <tmp>.toml` subprocess on the
demo footage with `bus.transport = "tcp"` on free ports, a temporary data dir and the fleet API on, watched
from outside (detections over tcp; the process tree's CPU times and RSS sampled every 0.5 s). Two configurations:
  A  recorder   : the default config (the recorder process writes MCAP segments into the data dir);
  B  no recorder: the same plus `recorder.enabled = false`.
Each round runs A and B in each mode, the order flipped every round (A B, B A, A B, ...), so drift in a
shared machine's load weighs on both alike; the median over the rounds is reported for each.

What is timed:
- live   : the footage paced at its own rate (newest frame wins). fps = frames perception processed per
           second of footage time, so both should be the camera's rate; frames perception skipped
           (`dropped_perception` in the run summary) and the camera dropped are reported beside it.
- replay : every frame in order, as fast as the chain goes (the throughput figure). fps = processed frames
           per second of wall time, first capture to last detections published.
Start-up and shutdown are outside both. Also measured, in the A runs:
- the recorder process's CPU time (user + system) from the chain's first control tick (its start-up left out)
  to its last sample (up to 0.5 s of its final work is missed), as a share of one core over the footage
  (live) and in ms per frame (replay); the JSON also has the total with start-up;
- the recording's size: MB per minute of footage (live), and MB per frame;
- the load of the rest of the machine during each run (busy CPU, steal included, less the chain's and the
  bench's own), in cores: what makes a figure noisy;
- the CPU time of the whole chain (every process, start-up left out) per frame processed, A against B:
  the recorder's cost in CPU, another view of it (contention moves it too: waiting inference threads spin).

Targets: fps with the recorder and without it differ by at most 5% (|1 - A/B| <= 5%, live and replay);
every A run left a non-empty recording (.mcap segments, closed, with messages on /camera/image,
/camera/annotations and /bus/telemetry, and an image for at least 95% of the frames published); no B run
wrote a segment; every run exited 0. Any FAIL: exit status 1. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_chain import (  # noqa: E402
    analyse,
    chain_source,
    chain_timeout,
    load_frames,
    print_targets,
    run_chain_once,
)
from bench.common import finish_machine, machine, machine_line  # noqa: E402
from gridscout.edge.config import load_config  # noqa: E402
from gridscout.edge.defaults import DEMO_FOOTAGE  # noqa: E402
from gridscout.edge.recording.naming import segments_in  # noqa: E402
from gridscout.edge.recording.policy import recordings_dir  # noqa: E402
from gridscout.edge.recording.reader import SegmentReader  # noqa: E402

TARGET_PCT = 5.0
#: channels a recording must have messages on: the camera, the boxes drawn on it, the vehicle's telemetry
REQUIRED_CHANNELS = ("/camera/image", "/camera/annotations", "/bus/telemetry")
MIN_IMAGE_SHARE = 0.95
MODES = ("live", "replay")
WITH, WITHOUT = "recorder", "no-recorder"
#: the two configurations (A, B): config sections merged over the bench's own
CONFIGS: dict[str, dict[str, dict[str, object]]] = {WITH: {}, WITHOUT: {"recorder": {"enabled": False}}}


@dataclass
class RecordingCheck:
    """What a run's data dir holds under recordings/."""

    segments: int = 0
    bytes: int = 0
    #: MCAP channel -> messages on it
    messages: dict[str, int] = field(default_factory=dict)
    #: segments without a footer (the recorder did not close them)
    truncated: int = 0
    #: first to last log time over all segments
    span_s: float = 0.0


def scan_recording(data_dir: Path) -> RecordingCheck:
    """Count the messages per channel of every segment the run left (read back, not decoded)."""
    segments = segments_in(recordings_dir("", data_dir))
    counts: Counter[str] = Counter()
    times: list[int] = []
    truncated = 0
    for path in segments:
        reader = SegmentReader(path, decode=False)
        for message in reader:
            counts[message.channel] += 1
            times.append(message.log_time_ns)
        truncated += reader.truncated
    return RecordingCheck(
        segments=len(segments),
        bytes=sum(p.stat().st_size for p in segments),
        messages=dict(sorted(counts.items())),
        truncated=truncated,
        span_s=(max(times) - min(times)) / 1e9 if times else 0.0,
    )


def recording_problems(check: RecordingCheck, frames_published: int, *, enabled: bool = True) -> list[str]:
    """Why a run's recording is not what its config asked for; empty when it is."""
    if not enabled:
        return [f"recorder.enabled = false, yet {check.segments} segments were written"] if check.segments else []
    if not check.segments or not check.bytes:
        return ["no recording written (no .mcap segment, or only empty ones)"]
    problems = [f"no messages on {ch}" for ch in REQUIRED_CHANNELS if not check.messages.get(ch)]
    images = check.messages.get("/camera/image", 0)
    if images < MIN_IMAGE_SHARE * frames_published:
        problems.append(f"{images} images for {frames_published} frames published")
    if check.truncated:
        problems.append(f"{check.truncated} segments left without a footer")
    return problems


def overhead_pct(with_fps: float, without_fps: float) -> float:
    """How much slower the chain ran with the recorder, in percent of its rate without it (negative: faster)."""
    if not without_fps or math.isnan(with_fps) or math.isnan(without_fps):
        return float("nan")
    return (1.0 - with_fps / without_fps) * 100.0


def within_target(overhead: float, target_pct: float = TARGET_PCT) -> bool:
    """The two rates differ by at most `target_pct` percent, either way (not measured: fails)."""
    return not math.isnan(overhead) and abs(overhead) <= target_pct


def median(values: Sequence[float]) -> float:
    """The median, leaving out what was not measured; nan for nothing."""
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else float("nan")


def schedule(rounds: int, modes: Sequence[str] = MODES) -> list[tuple[int, str, str]]:
    """(round, mode, config) in run order: each round runs every mode with and without the recorder, the
    order of the two flipped every round (A B, B A, ...)."""
    order = []
    for r in range(rounds):
        pair = (WITH, WITHOUT) if r % 2 == 0 else (WITHOUT, WITH)
        order += [(r, mode, config) for mode in modes for config in pair]
    return order


# -- one run, and the figures of each mode ---------------------------------------------------------------


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (steal included: time another guest had the host's CPU)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def own_cpu_s() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def measure(rnd: int, mode: str, config: str, source: str, frames: int, source_fps: float, keep: bool) -> dict:
    name = f"{mode}/{config}"
    busy0, own0 = busy_cpu_s(), own_cpu_s()
    run = run_chain_once(
        name,
        mode,
        source,
        burn_cores=0,
        timeout_s=chain_timeout(mode, frames, source_fps),
        keep=keep,
        extra=CONFIGS[config],
        inspect=scan_recording,
        pss=False,  # reading PSS costs the chain CPU; this bench needs only CPU times
    )
    busy, own = busy_cpu_s() - busy0, own_cpu_s() - own0
    if run.returncode != 0 or not run.detections:
        print(f"chain run {name} failed (exit {run.returncode}); log tail:\n{run.log_tail}", file=sys.stderr)
    result = analyse(run, source_fps, 1e3 / load_config(None).control.rate_hz)
    check: RecordingCheck = run.inspected
    summary = result["summary"]
    published = int(summary.get("frames", 0))
    # every process of the chain, start-up left out, per frame processed
    running = result["cpu_s_running_by_process"]
    chain_cpu_ms = sum(running.values()) * 1e3 / result["detections"] if result["detections"] else float("nan")
    return {
        "round": rnd,
        "mode": mode,
        "config": config,
        "returncode": run.returncode,
        "wall_s": run.wall_s,
        "fps": result["fps"],
        "frames_published": published,
        "processed": int(summary.get("processed", 0)),
        "dropped_camera": int(summary.get("dropped_camera", 0)),
        "dropped_perception": int(summary.get("dropped_perception", 0)),
        # from the first control tick to its last sample: its start-up (imports) left out
        "recorder_cpu_s": running.get("recorder", float("nan")),
        "recorder_cpu_s_total": result["cpu_s_by_process"].get("recorder", float("nan")),
        "cpu_s_running_by_process": running,
        "chain_cpu_ms_per_frame": chain_cpu_ms,
        # what the rest of the machine kept busy meanwhile (not the chain, not this bench), in cores
        "other_cores": max(0.0, busy - own - sum(result["cpu_s_by_process"].values())) / run.wall_s,
        "recording": asdict(check),
        "recorder_summary": summary.get("recording", {}),
        "recording_problems": recording_problems(check, published, enabled=config == WITH),
    }


def mode_figures(runs: list[dict], mode: str, footage_s: float) -> dict:
    """Medians of one mode's runs, per configuration, and the overhead of the recorder."""

    def of(config: str, key: str) -> list[float]:
        return [float(r[key]) for r in runs if r["mode"] == mode and r["config"] == config]

    with_fps, without_fps = median(of(WITH, "fps")), median(of(WITHOUT, "fps"))
    overhead = overhead_pct(with_fps, without_fps)
    # each round's own A/B ratio, to show the noise (the target is on the medians)
    fps = {(r["round"], r["config"]): r["fps"] for r in runs if r["mode"] == mode}
    pairs = [(fps.get((rnd, WITH)), fps.get((rnd, WITHOUT))) for rnd in sorted({rnd for rnd, _ in fps})]
    per_round = [a / b for a, b in pairs if a is not None and b]
    mine = [r for r in runs if r["mode"] == mode and r["config"] == WITH]
    mb = median([r["recording"]["bytes"] / 1e6 for r in mine])
    frames = median([r["frames_published"] for r in mine])
    cpu = median(of(WITH, "recorder_cpu_s"))
    chain_cpu_with = median(of(WITH, "chain_cpu_ms_per_frame"))
    chain_cpu_without = median(of(WITHOUT, "chain_cpu_ms_per_frame"))
    return {
        "footage_s": footage_s,
        "fps_with": with_fps,
        "fps_without": without_fps,
        "fps_with_runs": of(WITH, "fps"),
        "fps_without_runs": of(WITHOUT, "fps"),
        "ratio": with_fps / without_fps if without_fps else float("nan"),
        "ratio_per_round": per_round,
        "overhead_pct": overhead,
        "ok": within_target(overhead),
        "dropped_perception_with": median(of(WITH, "dropped_perception")),
        "dropped_perception_without": median(of(WITHOUT, "dropped_perception")),
        "dropped_camera_with": median(of(WITH, "dropped_camera")),
        "dropped_camera_without": median(of(WITHOUT, "dropped_camera")),
        "other_cores_with": median(of(WITH, "other_cores")),
        "other_cores_without": median(of(WITHOUT, "other_cores")),
        "recorder_cpu_s": cpu,
        "chain_cpu_ms_per_frame_with": chain_cpu_with,
        "chain_cpu_ms_per_frame_without": chain_cpu_without,
        # what the recorder adds to the chain's CPU work; where the CPU is the limit (replay) fps follows it
        "chain_cpu_added_pct": (chain_cpu_with / chain_cpu_without - 1) * 100 if chain_cpu_without else float("nan"),
        "recorder_cpu_core_share": cpu / footage_s if mode == "live" else float("nan"),
        "recorder_cpu_ms_per_frame": cpu / frames * 1e3 if frames else float("nan"),
        "recording_mb": mb,
        "recording_mb_per_min": mb / (footage_s / 60) if mode == "live" else float("nan"),
        "recording_mb_per_frame": mb / frames if frames else float("nan"),
    }


# -- output -----------------------------------------------------------------------------------------------


def print_report(header: str, runs: list[dict], figures: dict[str, dict], targets: list[dict]) -> None:
    print(header)
    print()
    cols = (
        f"{'round':>5} {'mode':<7} {'config':<12} {'exit':>4} {'fps':>6} {'proc':>5} {'drop cam/perc':>13} "
        f"{'rec CPU s':>9} {'rec MB':>7} {'images':>6} {'wall s':>6} {'other load':>10}"
    )
    print(cols)
    print("-" * len(cols))
    for r in runs:
        rec = r["recording"]
        print(
            f"{r['round'] + 1:>5} {r['mode']:<7} {r['config']:<12} {r['returncode']:>4} {r['fps']:>6.2f} "
            f"{r['processed']:>5} {r['dropped_camera']:>6}/{r['dropped_perception']:<6} "
            f"{r['recorder_cpu_s']:>9.2f} {rec['bytes'] / 1e6:>7.1f} {rec['messages'].get('/camera/image', 0):>6} "
            f"{r['wall_s']:>6.1f} {r['other_cores']:>10.2f}"
        )
    print("  (fps: live per second of footage, replay per second of wall time; drop: frames the camera dropped /")
    print("   perception skipped; rec: the recorder process's CPU time and the recording's size; other load: cores")
    print("   the rest of the machine kept busy meanwhile, steal included)")
    print()
    for mode, f in figures.items():
        print(
            f"{mode:<7} median fps with the recorder {f['fps_with']:.2f}, without {f['fps_without']:.2f}: "
            f"ratio {f['ratio']:.3f}, overhead {f['overhead_pct']:+.1f}%; perception skipped "
            f"{f['dropped_perception_with']:g} / {f['dropped_perception_without']:g} frames (with / without); "
            f"ratio per round {', '.join(f'{v:.3f}' for v in f['ratio_per_round'])}"
        )
        print(
            f"{'':<7} chain CPU per frame (every process, start-up left out) {f['chain_cpu_ms_per_frame_with']:.1f} ms"
            f" with, {f['chain_cpu_ms_per_frame_without']:.1f} without: the recorder adds "
            f"{f['chain_cpu_added_pct']:+.1f}% CPU; the rest of the machine kept {f['other_cores_with']:.2f} / "
            f"{f['other_cores_without']:.2f} cores busy meanwhile"
        )
    if "live" in figures:
        f = figures["live"]
        print(
            f"recorder, live: {f['recorder_cpu_s']:.2f} s CPU over {f['footage_s']:.0f} s of footage "
            f"({f['recorder_cpu_core_share'] * 100:.1f}% of one core); recording "
            f"{f['recording_mb']:.1f} MB = {f['recording_mb_per_min']:.0f} MB per minute of footage "
            f"({f['recording_mb_per_frame'] * 1e3:.0f} kB per frame)"
        )
    if "replay" in figures:
        f = figures["replay"]
        print(f"recorder, replay: {f['recorder_cpu_s']:.2f} s CPU, {f['recorder_cpu_ms_per_frame']:.1f} ms per frame")
    for r in runs:
        for problem in r["recording_problems"]:
            print(f"  round {r['round'] + 1} {r['mode']}/{r['config']}: {problem}")
    print()
    print_targets(targets)


def build_targets(runs: list[dict], figures: dict[str, dict]) -> list[dict]:
    targets = [
        {
            "what": f"{mode} fps, recorder vs none: |1 - ratio|",
            "measured": f"{f['overhead_pct']:+.1f}%",
            "limit": f"<= {TARGET_PCT:g}%",
            "ok": f["ok"],
        }
        for mode, f in figures.items()
    ]
    for config, what in ((WITH, "recording written and complete (A runs)"), (WITHOUT, "nothing recorded (B runs)")):
        mine = [r for r in runs if r["config"] == config]
        bad = sum(1 for r in mine if r["recording_problems"])
        targets.append({"what": what, "measured": f"{len(mine) - bad}/{len(mine)}", "limit": "all", "ok": not bad})
    failed = sum(1 for r in runs if r["returncode"] != 0 or not r["processed"])
    targets.append(
        {"what": "runs exited 0", "measured": f"{len(runs) - failed}/{len(runs)}", "limit": "all", "ok": not failed}
    )
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--frames", type=int, default=0, help="use only the first N demo frames (written as a PNG folder); 0: all"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A and B per mode (default 3; the median)")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both", help="which modes to run (default both)")
    parser.add_argument("--json", type=Path, help="also write every number measured as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep each run's temp dir (config, logs, recording)")
    args = parser.parse_args(argv)
    info = machine()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    modes = MODES if args.mode == "both" else (args.mode,)

    frames, source_fps, truncated = load_frames(args.frames or None)
    n_frames, size = len(frames), frames[0].shape
    footage_s = n_frames / source_fps
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-src-"))
    runs = []
    try:
        source = chain_source(frames, truncated, tmp)
        del frames
        plan = schedule(args.rounds, modes)
        for i, (rnd, mode, config) in enumerate(plan, 1):
            print(f"run {i}/{len(plan)}: round {rnd + 1}, {mode}, {config} ...", file=sys.stderr)
            runs.append(measure(rnd, mode, config, source, n_frames, source_fps, args.keep))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    figures = {mode: mode_figures(runs, mode, footage_s) for mode in modes}
    targets = build_targets(runs, figures)
    order = " ".join("A" if c == WITH else "B" for _, m, c in plan if m == modes[0])
    header = (
        f"GridScout recorder bench: {n_frames} frames of {DEMO_FOOTAGE.name} ({size[1]}x{size[0]}) at "
        f"{source_fps:g} fps ({'as a PNG folder' if truncated else 'mp4'}), {os.cpu_count()} CPU(s), "
        f"recorder JPEG quality {load_config(None).recorder.jpeg_quality}; rounds per mode: {args.rounds}, "
        f"order {order} (A: recorder, B: recorder.enabled = false)"
    )
    print(machine_line(finish_machine(info)))
    print_report(header, runs, figures, targets)
    if args.json:
        record = {"machine": info, "runs": runs, "figures": figures, "targets": targets}
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return 0 if all(t["ok"] for t in targets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
