"""What the live crop budget costs and buys: perception's time per frame against how soon control can act.

    python bench/bench_crop_budget.py                    # budgets 0 (every string), the default, and 1
    python bench/bench_crop_budget.py --budgets 0 2 1 --rounds 5 --json build/bench/crop_budget.json

A cascade's stage two runs once per string stage one finds, so a frame's inference grows with the strings in
view, and the frames with the most strings set the latency's tail (`bench_chain`'s capture->command p99). In
live mode `perception.live_crops_per_frame` bounds the strings searched per frame; the others wait for the
next frames (`perception/crop_budget.py`). A smaller bound cuts the tail and makes defects wait.

For each budget, on the bundled demo footage with its renderer's ground truth, in this process:
- perception's step as the perception process runs it (`PerceptionStage`: cascade, crop budget, tracker), at
  the perception process's thread count; each frame timed `--rounds` times, the budgets taking turns within a
  round (order reversed every other round, after an uncounted warm-up round), and each frame's median over the
  rounds kept: p50, p99 and max over the frames;
- frames by strings searched, and the strings left for later frames (`deferred`);
- when control could first act on each true defect: the frames are fed to control's behaviour (`Patrol`, the
  config's defaults), and a defect counts as confirmed on the first frame one of its tracks is among
  `Patrol.confirmed_track_ids` (`defect_min_hits` confident sightings). A track is the defect's when one of its
  sightings overlaps the truth's box (IoU >= 0.5) in that frame; a defect is the truth's run of frames showing
  one. Confirmed tracks that never overlap a true defect are counted as false. The detections are
  deterministic: timing changes between runs, the confirmation frames do not.

Target (the default budget's, `perception.live_crops_per_frame`): every defect the unbounded search confirms is
confirmed, at most `--max-delay` frames later (default 2: 0.2 s at the footage's 10 fps), with no false
confirmation the unbounded search does not make. The other budgets are printed, not judged.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/bench_crop_budget.py` from the repo root
    sys.path.insert(0, str(REPO))

from bench.bench_chain import load_frames, pct  # noqa: E402
from bench.common import (  # noqa: E402
    TARGET_MISSED,
    finish_machine,
    machine,
    machine_line,
    premise_broken,
)
from gridscout.control.behaviour import Patrol  # noqa: E402
from gridscout.edge.config import Config  # noqa: E402
from gridscout.edge.daemons.controld import perception_input  # noqa: E402
from gridscout.edge.daemons.perceptiond import PerceptionStage, _threads  # noqa: E402
from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE  # noqa: E402
from gridscout.edge.offline.replay_diff import iou  # noqa: E402
from gridscout.edge.runtime.messages import FrameDetections, FrameMeta  # noqa: E402
from gridscout.perception.cascade import Cascade  # noqa: E402
from gridscout.perception.model_loader import load_model  # noqa: E402

MATCH_IOU = 0.5
TRUTH = DEMO_FOOTAGE.with_suffix(".truth.jsonl")


def truth_boxes() -> dict[int, list[list[float]]]:
    """The renderer's defect boxes, by frame."""
    rows = [json.loads(line) for line in TRUTH.read_text().splitlines()]
    return {r["frame"]: [b["box"] for b in r["boxes"] if b["class"] != "insulator"] for r in rows}


def defect_spans(truth: dict[int, list[list[float]]], n_frames: int) -> list[tuple[int, int]]:
    """The truth's runs of frames showing a defect, as (first, last) frame, within the first `n_frames`."""
    spans: list[list[int]] = []
    for frame in sorted(f for f, boxes in truth.items() if boxes and f < n_frames):
        if spans and frame == spans[-1][1] + 1:
            spans[-1][1] = frame
        else:
            spans.append([frame, frame])
    return [(a, b) for a, b in spans]


def meta_of(frame_id: int, image: np.ndarray, fps: float) -> FrameMeta:
    height, width = image.shape[:2]
    return FrameMeta(
        t_mono_ns=0,
        frame_id=frame_id,
        t_capture_mono_ns=0,
        t_capture_wall_ns=0,
        width=width,
        height=height,
        source_name=DEMO_FOOTAGE.name,
        name=DEMO_FOOTAGE.name,
        t_source_s=frame_id / fps,
    )


def run_pass(
    model: Cascade, budget: int, frames: list[np.ndarray], fps: float
) -> tuple[list[float], list[FrameDetections], int]:
    """One pass of perception's step over the frames with this budget: seconds per frame, messages, deferred."""
    stage = PerceptionStage(model, frame_rate=fps, crops_per_frame=budget)
    times, messages = [], []
    for frame_id, image in enumerate(frames):
        meta = meta_of(frame_id, image, fps)
        t0 = time.perf_counter()
        messages.append(stage.step(meta, image, t_mono_ns=0))
        times.append(time.perf_counter() - t0)
    return times, messages, stage.budget.deferred if stage.budget else 0


def confirmations(
    messages: list[FrameDetections], fps: float, truth: dict[int, list[list[float]]], spans: list[tuple[int, int]]
) -> dict:
    """When control's behaviour could first act on each true defect, and the tracks it would act on falsely."""
    patrol = Patrol(Config().control.behaviour.params())
    true_tracks: set[int] = set()
    first_confirmed: dict[int, int] = {}
    for msg in messages:
        t_s = msg.frame_id / fps
        for b in msg.boxes:
            if b.is_defect and b.track_id >= 0:
                box = [b.x1, b.y1, b.x2, b.y2]
                if any(iou(box, t) >= MATCH_IOU for t in truth.get(msg.frame_id, [])):
                    true_tracks.add(b.track_id)
        patrol.update(t_s, perception_input(msg, t_s), None)
        for track_id in patrol.confirmed_track_ids:
            first_confirmed.setdefault(track_id, msg.frame_id)
    confirmed_true = {t: f for t, f in first_confirmed.items() if t in true_tracks}
    per_span = []
    for a, b in spans:
        # a defect's track is confirmed while it is in view (or a frame or two after: the last sightings)
        frames = [f for f in confirmed_true.values() if a <= f <= b + 2]
        per_span.append({"span": [a, b], "confirmed_at": min(frames) if frames else None})
    false = sorted(f for t, f in first_confirmed.items() if t not in true_tracks)
    return {"defects": per_span, "false_confirmations": false}


def strings_per_frame(model, frames: list[np.ndarray]) -> list[int]:
    out = []
    for image in frames:
        first = model.stage1.detect(image)
        out.append(len(model.crops(first, image.shape[1], image.shape[0])))
    return out


def measure(
    model: Cascade,
    budgets: list[int],
    frames: list[np.ndarray],
    fps: float,
    rounds: int,
    truth: dict[int, list[list[float]]],
    spans: list[tuple[int, int]],
) -> dict[int, dict]:
    times: dict[int, list[list[float]]] = {b: [] for b in budgets}
    messages: dict[int, list[FrameDetections]] = {}
    deferred: dict[int, int] = {}
    for budget in budgets:  # the warm-up round, uncounted; its detections are the same in every round
        _, messages[budget], deferred[budget] = run_pass(model, budget, frames, fps)
    for k in range(rounds):
        for budget in budgets if k % 2 == 0 else budgets[::-1]:
            pass_times, again, _ = run_pass(model, budget, frames, fps)
            if [m.boxes for m in again] != [m.boxes for m in messages[budget]]:
                raise RuntimeError(f"budget {budget}: a second pass over the same frames gave other detections")
            times[budget].append(pass_times)
    out = {}
    for budget in budgets:
        per_frame = [statistics.median(t) * 1e3 for t in zip(*times[budget], strict=True)]
        out[budget] = {
            "step_ms_p50": pct(per_frame, 50),
            "step_ms_p99": pct(per_frame, 99),
            "step_ms_max": max(per_frame),
            "deferred": deferred[budget],
            "defect_boxes": sum(b.class_name in model.stage2.names for m in messages[budget] for b in m.boxes),
            **confirmations(messages[budget], fps, truth, spans),
        }
    return out


def judge(results: dict[int, dict], default: int, max_delay: int) -> list[dict]:
    """The default budget against the unbounded search (budget 0): the same defects, at most `max_delay` later."""
    base, ours = results[0], results[default]
    targets = []
    for b, o in zip(base["defects"], ours["defects"], strict=True):
        if b["confirmed_at"] is None:
            continue
        delay = None if o["confirmed_at"] is None else o["confirmed_at"] - b["confirmed_at"]
        targets.append(
            {
                "what": f"defect in frames {b['span'][0]}-{b['span'][1]}: confirmed frames after the unbounded search",
                "measured": delay,
                "limit": f"<= {max_delay}",
                "ok": delay is not None and delay <= max_delay,
            }
        )
    extra = len(ours["false_confirmations"]) - len(base["false_confirmations"])
    what = "false confirmations beyond the unbounded search's"
    targets.append({"what": what, "measured": extra, "limit": "<= 0", "ok": extra <= 0})
    return targets


def main(argv: list[str] | None = None) -> int:
    default_budget = Config().perception.live_crops_per_frame
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument(
        "--budgets",
        type=int,
        nargs="+",
        default=sorted({0, default_budget, 1}),
        help=f"strings searched per frame; 0: every string (default: 0, the config's {default_budget}, and 1)",
    )
    parser.add_argument("--frames", type=int, default=0, help="the first N demo frames; 0: all")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per budget (each frame's median kept)")
    parser.add_argument("--max-delay", type=int, default=2, help="frames the default budget may confirm a defect late")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    if 0 not in args.budgets or default_budget not in args.budgets:
        parser.error(f"--budgets must include 0 (the baseline) and the default, {default_budget}")
    if any(b < 0 for b in args.budgets) or args.rounds < 1:
        parser.error("budgets must be >= 0 and --rounds >= 1")
    threads = _threads(Config().perception.threads)
    info = machine(threads)
    model = load_model(DEFAULT_MODEL, threads=threads)
    if not isinstance(model, Cascade):
        return premise_broken("bench_crop_budget", f"{DEFAULT_MODEL} is not a cascade: it has no crop budget")
    frames, fps, _ = load_frames(args.frames)
    truth = truth_boxes()
    spans = defect_spans(truth, len(frames))
    if not spans:
        return premise_broken("bench_crop_budget", f"the first {len(frames)} demo frames show no defect to confirm")
    try:
        results = measure(model, args.budgets, frames, fps, args.rounds, truth, spans)
    except RuntimeError as exc:
        return premise_broken("bench_crop_budget", str(exc))
    if all(d["confirmed_at"] is None for d in results[0]["defects"]):
        return premise_broken("bench_crop_budget", "the unbounded search confirmed no true defect: nothing to compare")
    strings = strings_per_frame(model, frames)
    targets = judge(results, default_budget, args.max_delay)
    info = finish_machine(info)

    print(machine_line(info))
    counts = ", ".join(f"{n} string(s) {strings.count(n)}" for n in sorted(set(strings)))
    print(f"{len(frames)} demo frames at {fps:g} fps, {model.name}; frames by strings stage one offers: {counts}")
    print(f"{'budget':<14} {'step ms p50/p99/max':>20} {'deferred':>8}  confirmed at (frame; truth's span)  false")
    for budget, r in results.items():
        label = f"{budget}{' (default)' if budget == default_budget else ''}{' (all)' if budget == 0 else ''}"
        spans_text = ", ".join(f"{d['confirmed_at']} ({d['span'][0]}-{d['span'][1]})" for d in r["defects"])
        print(
            f"{label:<14} {r['step_ms_p50']:>6.1f} /{r['step_ms_p99']:>6.1f} /{r['step_ms_max']:>6.1f} "
            f"{r['deferred']:>8}  {spans_text}  {len(r['false_confirmations'])}"
        )
    for t in targets:
        print(f"  {t['what']:<80} {t['measured']!s:>6} {t['limit']:>6}  {'PASS' if t['ok'] else 'FAIL'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "machine": info,
            "frames": len(frames),
            "fps": fps,
            "default_budget": default_budget,
            "strings_per_frame": {str(n): strings.count(n) for n in sorted(set(strings))},
            "budgets": {str(b): r for b, r in results.items()},
            "targets": targets,
        }
        args.json.write_text(json.dumps(record, indent=2))
    return 0 if all(t["ok"] for t in targets) else TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
