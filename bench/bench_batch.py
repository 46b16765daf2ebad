"""Survey photos an hour on this machine, side by side in one run: `gridscout detect` in one process, `gridscout
batch` on the local pool at 1 and 2 workers, and on Ray (started for the batch) at 1 and 2 workers.

    python bench/bench_batch.py                                  # 300 photos of 640x480, 1 round (about 1 min)
    python bench/bench_batch.py --photos 600 --rounds 3          # as python -m bench runs it: steadier (about 6 min)
    python bench/bench_batch.py --size 4000x3000 --photos 40     # 12 MP photos: the capacity model's cost per photo
    python bench/bench_batch.py --rounds 3 --json batch.json     # each configuration 3 times, order flipped, medians
    python bench/bench_batch.py --tiny                           # 8 small photos, 1 round: that it runs (tests)

The photos are geotagged survey JPEGs of a rendered drone flight (`gridscout.hardware.sim.survey_photos`), written
once into a temporary folder; every configuration is the command a user runs, as a subprocess, into its own output
folder. What is timed:
- photos/h, steady: the rate once running, start-up (Python, the model, the pool's or Ray's workers) left out: for
  `batch`, the photos it finished between the 10th and the 90th percentile of its finishes (the done-list's times),
  over that time; for `detect`, its frames over its own loop time (its `--summary-json`);
- wall: the whole command, start-up in, and so what start-up costs against the steady rate;
- cost per photo: core-seconds (the CPU time of the command's whole process tree, Ray's own processes included,
  over its photos; sampled every 0.2 s, so each process's last moments are missed), the largest resident memory of
  one worker process, and the photos' mean size on disk (bytes/s from storage at a rate).
Scaling efficiency is the 2-worker rate over twice the 1-worker rate of the same engine (a 1-worker run gives its
one model all the cores' threads, so this is the gain of a second process, not of a second core).
`detect` also runs at one thread (`detect@1t`, `--threads 1`): two one-thread workers can at best inspect twice its
rate, so 2 x detect@1t / detect is the most the pool at 2 can gain over `detect` here (its ceiling), printed beside
the target with the share of it the pool reached. On 2 cores, where `detect`'s two threads already use both, that
ceiling sits below 1.7x whenever a second thread speeds one model up by more than 2 / 1.7 = 1.18x.

Premise: every configuration stores the same reports (track keys, classes, confidences, positions), else exit 2.
Targets (steady rates): Ray at 2 workers >= 0.9x the local pool at 2; the pool at 2 >= 1.7x `detect` in one
process. Each target's ratio is taken inside each round, between configurations run one right after the other
(`detect`, `pool@2`, `ray@2` run in a row, in either order), and judged on its median over the rounds: in one
run this machine's speed fell by 40% between rounds minutes apart, which a ratio of runs minutes apart would
take for a difference between the engines. Exit codes as bench/common.py says; --tiny judges no target. Timings on a
shared machine are noisy: the load average before and after is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import PremiseError, finish_machine, machine, machine_line, premise_broken  # noqa: E402
from gridscout.edge.batch.ledger import TABLE  # noqa: E402
from gridscout.edge.defaults import DEFAULT_MODEL  # noqa: E402
from gridscout.edge.reports.store import DB_NAME  # noqa: E402
from gridscout.hardware.sim.survey_photos import write_survey_photos  # noqa: E402

NAME = "bench_batch"
#: `gridscout detect` into OUT, its own loop time in OUT/summary.json
DETECT = ["detect", "{photos}", "--data", "{out}", "--no-progress", "--summary-json", "{out}/summary.json"]
#: configuration -> the command's arguments after `gridscout` (PHOTOS and OUT filled in), in the order a round
#: runs them (the next round backwards), so that each target's pair runs one right after the other
CONFIGS: dict[str, list[str]] = {
    "detect@1t": [*DETECT, "--threads", "1"],
    "pool@1": ["batch", "{photos}", "--out", "{out}", "--workers", "1", "--no-progress"],
    "ray@1": ["batch", "{photos}", "--out", "{out}", "--workers", "1", "--ray", "--no-progress"],
    "detect": DETECT,
    "pool@2": ["batch", "{photos}", "--out", "{out}", "--workers", "2", "--no-progress"],
    "ray@2": ["batch", "{photos}", "--out", "{out}", "--workers", "2", "--ray", "--no-progress"],
}
#: the order the table lists them in
SHOWN = ("detect", "detect@1t", "pool@1", "pool@2", "ray@1", "ray@2")
RAY_AGAINST_POOL = 0.9
POOL_AGAINST_ONE_PROCESS = 1.7
#: the targets: (what, configuration, against which, least ratio of their steady rates)
TARGETS = (
    ("Ray at 2 workers against the local pool at 2", "ray@2", "pool@2", RAY_AGAINST_POOL),
    ("local pool at 2 workers against detect, one process", "pool@2", "detect", POOL_AGAINST_ONE_PROCESS),
)
#: the process tree is sampled this often for CPU time and memory
SAMPLE_S = 0.2
#: the share of a batch's finishes between which its steady rate is taken
STEADY_FROM, STEADY_TO = 0.1, 0.9
#: the processes that are workers: the pool's and Ray's actors; the configurations that inspect in their own process
WORKER_MARKS = ("spawn_main", "BatchWorker")
IN_PROCESS = ("detect", "detect@1t", "pool@1")


def flight(photos: int, size: tuple[int, int]) -> str:
    return f"synthetic://drone?seed=7&frames={photos}&width={size[0]}&height={size[1]}&defect_rate=0.6"


def run_config(name: str, photos: Path, out: Path) -> dict:
    """One configuration's command to its end, its process tree watched; its figures."""
    args = [a.format(photos=photos, out=out) for a in CONFIGS[name]]
    command = [sys.executable, "-m", "gridscout.edge.cli", *args]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(process.pid)
    cpu: dict[int, float] = {}
    worker_rss = 0
    in_process = name in IN_PROCESS
    while process.poll() is None:
        for p in [watched, *_children(watched)]:
            try:
                with p.oneshot():
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
                    if in_process or any(mark in f"{p.name()} {' '.join(p.cmdline())}" for mark in WORKER_MARKS):
                        worker_rss = max(worker_rss, p.memory_info().rss)
            except psutil.Error:
                pass
        time.sleep(SAMPLE_S)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise PremiseError(f"{name}: exit {process.returncode}: {stderr.strip().splitlines()[-1:] or stdout[-200:]}")
    count = sum(1 for p in photos.iterdir())
    finished, steady_s = _steady(name, out)
    return {
        "config": name, "photos": count, "wall_s": round(wall, 2), "steady_s": round(steady_s, 3),
        "photos_per_h": round(3600 * finished / steady_s, 1) if steady_s > 0 else None,
        "wall_photos_per_h": round(3600 * count / wall, 1),
        "core_s_per_photo": round(sum(cpu.values()) / count, 4),
        "worker_rss_mb": round(worker_rss / 2**20, 1), "reports": reports_of(out),
    }  # fmt: skip


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def _steady(name: str, out: Path) -> tuple[int, float]:
    """(photos, seconds) once running: detect's frames over its own loop time; a batch's photos finished between the
    10th and the 90th percentile of its finishes, over that time (Ray hands its outcomes back in calls of several)."""
    if name.startswith("detect"):
        summary = json.loads((out / "summary.json").read_text())
        return summary["frames"], summary["seconds"]
    with sqlite3.connect(out / DB_NAME) as db:
        times = [
            r[0] for r in db.execute(f"SELECT finished_ns FROM {TABLE} WHERE status = 'done' ORDER BY finished_ns")
        ]
    first, last = round(STEADY_FROM * (len(times) - 1)), round(STEADY_TO * (len(times) - 1))
    if last <= first:
        return 0, 0.0
    return last - first, (times[last] - times[first]) / 1e9


def reports_of(out: Path) -> list[tuple]:
    """The stored reports as the premise compares them: track key, class, confidence, position."""
    with sqlite3.connect(out / DB_NAME) as db:
        rows = db.execute("SELECT track_key, class_name, confidence, lat, lon, error_m FROM reports ORDER BY track_key")
        return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


def check_same_reports(runs: list[dict]) -> None:
    first = runs[0]
    for run in runs[1:]:
        if run["reports"] != first["reports"]:
            raise PremiseError(
                f"{run['config']} stored other reports than {first['config']} ({len(run['reports'])} against "
                f"{len(first['reports'])}): the modes must give the same reports"
            )


def figures(runs: list[dict]) -> dict[str, dict]:
    """Per configuration, the median over its rounds of each figure."""
    out = {}
    for name in SHOWN:
        mine = [r for r in runs if r["config"] == name]
        keys = ("photos_per_h", "wall_photos_per_h", "wall_s", "core_s_per_photo", "worker_rss_mb")
        out[name] = {k: statistics.median(r[k] for r in mine) for k in keys if all(r[k] is not None for r in mine)}
    return out


def round_ratios(runs: list[dict], config: str, against: str) -> list[float]:
    """Per round, `config`'s steady rate over `against`'s in the same round (runs in the order they ran)."""
    rounds = max((r["round"] for r in runs), default=-1) + 1
    ratios = []
    for round_ in range(rounds):
        rate = {r["config"]: r["photos_per_h"] for r in runs if r["round"] == round_}
        if rate.get(config) and rate.get(against):
            ratios.append(rate[config] / rate[against])
    return ratios


def build_targets(runs: list[dict], judge: bool) -> list[dict]:
    """Each target's median over the rounds of its ratio inside one round."""
    out = []
    for what, config, against, limit in TARGETS:
        ratios = round_ratios(runs, config, against)
        value = statistics.median(ratios) if ratios else float("nan")
        ok = None if not judge or value != value else value >= limit
        out.append({"what": what, "measured": f"{value:.2f}x", "limit": f">= {limit:g}x", "ok": ok,
                    "value": value if ratios else None, "rounds": [round(r, 3) for r in ratios]})  # fmt: skip
    return out


def print_report(header: str, fig: dict[str, dict], targets: list[dict], photo_mb: float) -> None:
    print(header)
    columns = ("photos/h", 10), ("wall photos/h", 14), ("wall s", 8), ("core-s/photo", 13), ("worker MB", 10)
    print(f"{'configuration':<14} " + " ".join(f"{title:>{width}}" for title, width in columns))
    for name, f in fig.items():
        print(
            f"{name:<14} {f.get('photos_per_h', float('nan')):>10,.0f} {f['wall_photos_per_h']:>14,.0f} "
            f"{f['wall_s']:>8.1f} {f.get('core_s_per_photo', float('nan')):>13.3f} {f['worker_rss_mb']:>10.0f}"
        )
    for engine in ("pool", "ray"):
        one, two = fig[f"{engine}@1"].get("photos_per_h"), fig[f"{engine}@2"].get("photos_per_h")
        if one and two:
            print(f"scaling efficiency, {engine}: {two / (2 * one):.2f} (2 workers against twice 1)")
    pool, ray = fig["pool@2"], fig["ray@2"]
    if targets[0]["value"] is not None:  # the ratio inside rounds, not one of the medians above
        overhead = 1 - targets[0]["value"]
        startup = ray["wall_s"] - pool["wall_s"]
        print(f"Ray's overhead at 2 workers: {overhead:+.1%} of the pool's steady rate, {startup:+.1f} s of start-up")
    one_thread, detect = fig["detect@1t"].get("photos_per_h"), fig["detect"].get("photos_per_h")
    if one_thread and detect and pool.get("photos_per_h"):
        ceiling = 2 * one_thread / detect
        print(
            f"the pool at 2 against detect can reach at most {ceiling:.2f}x here (2 x detect at 1 thread / detect, "
            f"detect's second thread giving {detect / one_thread:.2f}x); it reached "
            f"{pool['photos_per_h'] / detect / ceiling:.0%} of that"
        )
    print(f"photos: {photo_mb:.3f} MB each on disk (at the pool's 2-worker rate: "
          f"{photo_mb * pool.get('photos_per_h', 0) / 3600:.2f} MB/s from storage)")  # fmt: skip
    print(f"{'target':<52} {'measured':>10} {'limit':>10}  result")
    for t in targets:
        verdict = "n/a" if t["ok"] is None else ("PASS" if t["ok"] else "FAIL")
        each = ", ".join(f"{r:.2f}" for r in t["rounds"])
        print(f"{t['what']:<52} {t['measured']:>10} {t['limit']:>10}  {verdict}  (median of rounds: {each})")


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 4000x3000, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=300, help="survey photos to inspect (default 300)")
    parser.add_argument("--size", type=_size, default=(640, 480), help="their size, WIDTHxHEIGHT (default 640x480)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each configuration, order flipped (median)")
    parser.add_argument("--tiny", action="store_true", help="8 photos, 1 round, no target judged: that it runs")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.photos, args.rounds = 8, 1
    if args.photos < 2 or args.rounds < 1:
        parser.error("--photos must be at least 2 and --rounds at least 1")
    info = machine()
    try:
        import ray  # noqa: F401
    except ImportError:
        return premise_broken(NAME, "Ray is not installed (pip install -e '.[ray]')")
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-batch-"))
    try:
        photos = tmp / "photos"
        write_survey_photos(photos, source=flight(args.photos, args.size), photos=args.photos)
        photo_mb = statistics.mean(p.stat().st_size for p in photos.iterdir()) / 1e6
        runs = []
        for round_ in range(args.rounds):
            order = list(CONFIGS) if round_ % 2 == 0 else list(reversed(CONFIGS))
            for name in order:
                print(f"round {round_ + 1}/{args.rounds}: {name} ...", file=sys.stderr, flush=True)
                out = tmp / f"{name.replace('@', '-')}-{round_}"
                runs.append({"round": round_, **run_config(name, photos, out)})
                shutil.rmtree(out, ignore_errors=True)
        check_same_reports(runs)
    except PremiseError as exc:
        return premise_broken(NAME, str(exc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fig = figures(runs)
    targets = build_targets(runs, judge=not args.tiny)
    header = (
        f"GridScout batch bench: {args.photos} survey photos of {args.size[0]}x{args.size[1]}, "
        f"model {DEFAULT_MODEL.name}, {os.cpu_count()} CPU(s), {args.rounds} round(s)"
    )
    print(machine_line(finish_machine(info)))
    print_report(header, fig, targets, photo_mb)
    if args.json:
        for run in runs:
            run["reports"] = len(run["reports"])
        record = {"machine": info, "photos": args.photos, "size": list(args.size), "photo_mb": round(photo_mb, 4),
                  "runs": runs, "figures": fig, "targets": targets}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0 if all(t["ok"] is not False for t in targets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
