"""Tracking at speed: one physical defect, one track, one report? The drone chain flies the demo line on footage
rendered from where it is (`synthetic://demo?follow=vehicle`), at several cruise speeds, idle and under a CPU
hog, and each flight is judged against the scene's truth (`sim_tests/follow_flight.py`).

    python bench/bench_follow_tracking.py                    # 3, 8.3 and 10 m/s, idle and hogged (~6 min)
    python bench/bench_follow_tracking.py --speeds 8.3 --no-hog --json follow.json
    python bench/bench_follow_tracking.py --model candidate.toml   # another model on the same flights

Per flight, over the defects in view for at least --seen-frames 10 Hz samples:
- tracks per defect (ideal 1.0; ID switches are tracks - 1) and defects with no track at all, for the
  shipped tracker (the run's own tracks) and for the baseline measured on the same flight: the same
  detections re-tracked with plain IoU (`Tracker(part_buffer=0)`, the tracker before buffered boxes);
- reports per defect (the run's reports, each owned by the defect its track overlaps) and false reports
  (a track that overlaps no defect: the model's false detections, not the tracker's).

The hog is one busy-looping process per core for the whole flight: perception then skips frames (live mode
takes the newest), so boxes jump further between the frames it sees. 10 m/s is the gate's highest
`control.safety.max_speed_mps`. Exits 0; numbers on a shared machine are noisy, compare within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # sim_tests, from the checkout

from bench.common import finish_machine, machine, machine_line
from gridscout.perception.tracker import Tracker
from sim_tests.follow_flight import Judge, fly


def burn() -> None:
    """A busy loop (run in a child process)."""
    x = 0
    while True:
        x = (x + 1) & 0xFFFF


def per_defect(owners: dict, seen: set[str]) -> dict[str, int]:
    """Tracks (or reports) per seen defect, from each one's owner (0: none)."""
    counts = dict.fromkeys(seen, 0)
    for oid in owners.values():
        if oid in counts:
            counts[oid] += 1
    return counts


def summarize(counts: dict[str, int]) -> dict:
    tracked = [n for n in counts.values() if n]
    return {
        "defects": len(counts),
        "untracked": sum(1 for n in counts.values() if not n),
        "tracks_per_defect": round(statistics.mean(tracked), 2) if tracked else None,
        "id_switches": sum(n - 1 for n in tracked),
    }


def flight_row(speed: float, hog: bool, seen_frames: int, model: Path | None = None) -> dict:
    burners: list[multiprocessing.Process] = []
    if hog:
        burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(os.cpu_count() or 1)]
        for b in burners:
            b.start()
    try:
        with tempfile.TemporaryDirectory(prefix="gridscout-follow-") as tmp:
            flight = fly(Path(tmp), speed, {"perception": {"model": str(model.resolve())}} if model else None)
    finally:
        for b in burners:
            b.kill()
    judge = Judge(flight)
    seen = {oid for oid, n in judge.sightings().items() if n >= seen_frames}
    reports = judge.report_owners()
    report_counts = per_defect(reports, seen)
    return {
        "speed_mps": speed,
        "hog": hog,
        "frames": flight.summary.get("frames"),
        "held": flight.modes.count("HOLD"),
        "shipped": summarize(per_defect(judge.live_owners(), seen)),
        "plain_iou": summarize(per_defect(judge.retracked_owners(Tracker(part_buffer=0)), seen)),
        "reports_per_defect": round(statistics.mean(report_counts.values()), 2) if report_counts else None,
        "unreported": sum(1 for n in report_counts.values() if not n),
        "false_reports": sum(1 for oid in reports.values() if oid is None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speeds", type=float, nargs="+", default=[3.0, 8.3, 10.0], help="cruise speeds, m/s")
    parser.add_argument("--no-hog", action="store_true", help="idle flights only")
    parser.add_argument("--seen-frames", type=int, default=5, help="10 Hz samples in view for a defect to count")
    parser.add_argument("--model", type=Path, help="a cascade manifest or .onnx to fly with (default: the shipped one)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    info = machine()
    rows = []
    header = (
        f"{'m/s':>5} {'hog':>4} {'frames':>6} {'holds':>5} {'defects':>7} | {'tracks/defect':>13} {'untracked':>9} "
        f"{'switches':>8} | {'plain IoU':>9} {'untracked':>9} {'switches':>8} | {'reports/defect':>14} "
        f"{'unreported':>10} {'false':>5}"
    )
    print(header, flush=True)
    for hog in (False,) if args.no_hog else (False, True):
        for speed in args.speeds:
            r = flight_row(speed, hog, args.seen_frames, args.model)
            rows.append(r)
            s, b = r["shipped"], r["plain_iou"]
            print(
                f"{speed:5.1f} {'yes' if hog else 'no':>4} {r['frames']!s:>6} {r['held']:5d} {s['defects']:7d} | "
                f"{s['tracks_per_defect']!s:>13} {s['untracked']:9d} {s['id_switches']:8d} | "
                f"{b['tracks_per_defect']!s:>9} {b['untracked']:9d} {b['id_switches']:8d} | "
                f"{r['reports_per_defect']!s:>14} {r['unreported']:10d} {r['false_reports']:5d}",
                flush=True,
            )
    print(machine_line(finish_machine(info)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
