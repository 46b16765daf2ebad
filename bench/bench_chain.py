"""The whole `gridscout run` chain against the raw detector, in one run: latency, throughput, jitter, memory.

    python bench/bench_chain.py                      # bundled footage, all of it (26 s at 10 fps per live run)
    python bench/bench_chain.py --frames 100 --json chain.json
    python bench/bench_chain.py --no-burn            # skip the live run with the CPU burners

What it does, in order:
1. raw detector: loads the shipped model with the thread count the perception process would use
   (`perception.threads = 0`: cpu_count - 1) and times `detect()` on the decoded demo frames
   (decoding outside the timing, after a warm-up): median ms/frame and frames/s.
2. chain runs, each a `python -m gridscout.edge.cli run --config <tmp>.toml` subprocess on the same footage with
   `bus.transport = "tcp"` on free ports, a temporary data dir and no API. The bench subscribes to
   `detections`, `control_state`, `vehicle_command` and `command_written` over tcp and samples the memory
   of the chain's process tree (the supervisor, its daemons and the crawler simulator) every 0.5 s:
   - live          : footage paced at its own rate (newest frame wins), the machine otherwise idle;
   - live+busy1    : the same, with one core busy (one busy-looping process pinned to it);
   - live+burn     : the same, plus one busy-looping process pinned to each core (a saturated CPU);
   - replay        : every frame, as fast as the chain goes (the throughput run), `--replay-rounds` times (3),
                     each between two passes of the raw detector (one just before, one just after).

Measured per run:
- capture -> detections published, capture -> command bytes written to the serial link (p50/p99 ms,
  over commands derived from a frame: `t_capture_mono_ns > 0`; timer keep-alives are left out), and what
  the chain adds to inference by hop: capture -> perception's message less inference, detections -> command
  (control), command -> bytes on the link (the vehicle process);
- chain frames/s: live, processed frames per second of footage time; replay, processed frames per
  second of wall time (first capture to last detections);
- control period jitter: p99 of |period - 50 ms| between consecutive control ticks, from the
  `control_state` timestamps (live mode also publishes control_state on the extra step each new
  detections triggers; those carry `triggered` and are left out);
- whole-chain memory: peak over the run of the summed RSS and the summed PSS of the process tree.

Targets (issue 20): capture->command p99 <= raw detector median + 15 ms (live, idle and with one core busy;
the saturated run's is printed, not judged); jitter p99 <= 5 ms (every live run, the saturated one too);
whole-chain memory <= 450 MB with the recorder on (every run), as the summed PSS: each page shared between
processes (the Python runtime, numpy, onnxruntime's libraries) is split between them, so the sum counts it
once, where summed RSS counts it once per process; live fps >= 0.95 x
min(footage fps, raw fps) (keeps up with the camera); replay fps >= --min-replay-ratio x raw fps, the median
over the rounds of each replay's fps against the mean of the raw passes around it (this machine's speed drifts
10-20% over minutes, so a raw figure timed minutes before a replay judged the drift, not the chain).
Timings on a shared machine are noisy: the machine line says how loaded it was.

Premise: every chain run must exit 0 with detections and with commands tied to a frame, the recorder on;
else the bench exits 2 with one line naming the run (bench/common.py), rather than print figures of a
chain that did not run.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
import zmq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from bench.common import cpu_ticks, finish_machine, machine, machine_line, premise_broken, steal_pct  # noqa: E402
from gridscout.edge.config import load_config  # noqa: E402
from gridscout.edge.daemons.perceptiond import _threads  # noqa: E402
from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE  # noqa: E402
from gridscout.edge.runtime.bus import Endpoints, Subscriber  # noqa: E402
from gridscout.edge.runtime.messages import (  # noqa: E402
    TOPICS,
    CommandWritten,
    ControlState,
    FrameDetections,
    VehicleCommand,
)
from gridscout.edge.runtime.ports import free_port_block  # noqa: E402
from gridscout.hardware.camera import open_source  # noqa: E402
from gridscout.perception.model_loader import load_model  # noqa: E402
from sim_tests.chain import write_config  # noqa: E402

TAPPED = ("detections", "control_state", "vehicle_command", "command_written")
MEMORY_PERIOD_S = 0.5
LATENCY_MARGIN_MS = 15.0
JITTER_TARGET_MS = 5.0
MEMORY_TARGET_MB = 450.0
LIVE_KEEPUP_RATIO = 0.95
#: the runs each target judges (issue 20): latency idle and with one core busy, jitter with the CPU saturated too
LATENCY_RUNS = ("live", "live+busy1")
JITTER_RUNS = ("live", "live+busy1", "live+burn")


# -- helpers ----------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; nan for no values."""
    return float(np.percentile(values, q)) if values else float("nan")


def load_frames(limit: int | None) -> tuple[list[np.ndarray], float, bool]:
    """The demo frames (the first `limit`), their rate, and whether the footage has more."""
    with open_source(str(DEMO_FOOTAGE)) as source:
        fps = source.fps or 10.0
        frames = []
        for frame in source:
            if limit and len(frames) >= limit:
                return frames, fps, True
            frames.append(frame.image)
    return frames, fps, False


class RawDetector:
    """The shipped model in this process, at the perception process's thread count, timed on decoded frames."""

    def __init__(self, threads: int) -> None:
        self.model = load_model(DEFAULT_MODEL, threads=threads)
        self.threads = threads

    def pass_times(self, frames: list[np.ndarray]) -> list[float]:
        """detect() on each frame once, after a warm-up of ten: the seconds each took."""
        for frame in frames[:10]:
            self.model.detect(frame)
        times = []
        for frame in frames:
            t0 = time.perf_counter()
            self.model.detect(frame)
            times.append(time.perf_counter() - t0)
        return times

    def pass_fps(self, frames: list[np.ndarray]) -> float:
        return len(frames) / sum(self.pass_times(frames))

    def measure(self, frames: list[np.ndarray], repeats: int) -> dict:
        """`repeats` passes over the frames; the median pass by frames/s is reported."""
        passes = sorted((self.pass_times(frames) for _ in range(repeats)), key=sum)
        times = passes[len(passes) // 2]
        return {
            "model": self.model.name,
            "threads": self.threads,
            "frames": len(frames),
            "repeats": repeats,
            "median_ms": statistics.median(times) * 1e3,
            "p99_ms": pct(times, 99) * 1e3,
            "fps": len(frames) / sum(times),
            "fps_passes": [len(frames) / sum(t) for t in passes],
        }


def burn(core: int) -> None:
    """A busy loop pinned to one core (run in a child process)."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {core})
    x = 0
    while True:
        x = (x + 1) & 0xFFFF


# -- watching a running chain ---------------------------------------------------------------------------


class Tap(threading.Thread):
    """Subscribes to the chain's tcp topics from this process and keeps every message."""

    def __init__(self, endpoints: Endpoints) -> None:
        super().__init__(daemon=True)
        self.endpoints = endpoints
        self.messages: dict[str, list] = {t: [] for t in TAPPED}
        self.stop = threading.Event()
        self.bad = 0

    def run(self) -> None:
        ctx = zmq.Context()
        sub = Subscriber(ctx, self.endpoints, list(TAPPED), hwm=100_000)
        try:
            while not self.stop.is_set():
                first = sub.recv(0.05)
                for r in ([first] if first else []) + sub.drain():
                    self.messages[r.topic].append(r.msg)
            self.bad = sub.bad_messages
        finally:
            sub.close()
            ctx.destroy(linger=0)


def _role(proc: psutil.Process, root_pid: int) -> str:
    if proc.pid == root_pid:
        return "supervisor"
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return "?"
    for arg in cmd:
        if arg.startswith("gridscout.edge.daemons."):
            return arg.removeprefix("gridscout.edge.daemons.").removesuffix("d")
    return Path(cmd[0]).name if cmd else "?"


class MemorySampler(threading.Thread):
    """Every 0.5 s: RSS and PSS summed over the process tree under `root_pid`; keeps the peaks. Also each
    process's CPU time (user + system) at its last sample (what it did in its last 0.5 s is missed), and at
    `mark()`, once the chain runs, so that start-up can be left out. `pss=False`: RSS only, which is far
    cheaper to read than PSS (no walk of /proc/PID/smaps), for benches that must disturb the chain least."""

    def __init__(self, root_pid: int, *, pss: bool = True) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.pss = pss
        self.stop = threading.Event()
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_procs = 0
        self.at_peak: dict[str, tuple[int, int]] = {}  # role -> (rss, pss) in the peak-RSS sample
        self.samples = 0
        self.pss_available = True
        self.cpu_s: dict[int, tuple[str, float]] = {}  # pid -> (role, CPU seconds at its last sample)
        self.roles: dict[int, str] = {}  # pid -> its role while it ran (an exiting process's cmdline is empty)
        self.cpu_at_mark: dict[int, float] = {}

    def mark(self) -> None:
        """Note each process's CPU time now (the chain has started)."""
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.root_pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    cpu = proc.cpu_times()
                    self.cpu_at_mark[proc.pid] = cpu.user + cpu.system

    def cpu_by_role(self, *, since_mark: bool = False) -> dict[str, float]:
        """CPU seconds per role, summed over its processes (a restarted daemon counts every instance);
        `since_mark`: less what each had used by `mark()`."""
        out: dict[str, float] = {}
        for pid, (role, cpu) in self.cpu_s.items():
            out[role] = out.get(role, 0.0) + cpu - (self.cpu_at_mark.get(pid, 0.0) if since_mark else 0.0)
        return dict(sorted(out.items()))

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total_rss = total_pss = 0
        per: dict[str, tuple[int, int]] = {}
        for proc in procs:
            try:
                info = proc.memory_full_info() if self.pss else proc.memory_info()
                cpu = proc.cpu_times()
            except psutil.Error:
                continue
            pss = getattr(info, "pss", None)
            if pss is None:
                self.pss_available = False
                pss = 0
            role = self.roles.get(proc.pid) or _role(proc, self.root_pid)
            if role != "?":
                self.roles[proc.pid] = role
            self.cpu_s[proc.pid] = (role, cpu.user + cpu.system)
            rss0, pss0 = per.get(role, (0, 0))
            per[role] = (rss0 + info.rss, pss0 + pss)
            total_rss += info.rss
            total_pss += pss
        self.samples += 1
        self.peak_pss = max(self.peak_pss, total_pss)
        if total_rss > self.peak_rss:
            self.peak_rss, self.at_peak, self.peak_procs = total_rss, per, len(procs)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(MEMORY_PERIOD_S)


# -- one chain run --------------------------------------------------------------------------------------


@dataclass
class ChainRun:
    name: str
    mode: str
    burn: bool
    summary: dict = field(default_factory=dict)
    detections: list[FrameDetections] = field(default_factory=list)
    states: list[ControlState] = field(default_factory=list)
    commands: list[VehicleCommand] = field(default_factory=list)
    written: list[CommandWritten] = field(default_factory=list)
    memory: MemorySampler | None = None
    wall_s: float = 0.0
    ready_s: float = float("nan")
    returncode: int = 0
    #: share of the CPU time the host stole while the chain ran (a virtual machine's CPUs taken away)
    steal_pct: float | None = None
    log_tail: str = ""
    #: what `inspect` returned on the run's data dir
    inspected: Any = None


def run_chain_once(
    name: str,
    mode: str,
    source: str,
    *,
    burn_cores: int,
    timeout_s: float,
    keep: bool,
    extra: dict[str, dict[str, object]] | None = None,
    inspect: Callable[[Path], Any] | None = None,
    pss: bool = True,
) -> ChainRun:
    """One `gridscout run` subprocess, watched from outside. `extra`: config sections merged over the bench's;
    `inspect` is called on the run's data dir once the chain has exited (before the temp dir goes); `pss`:
    sample PSS too (see `MemorySampler`)."""
    work = Path(tempfile.mkdtemp(prefix="gs-bench-"))
    base = free_port_block(len(TOPICS) + 1)
    cfg: dict[str, dict[str, object]] = {
        "run": {"source": source, "mode": mode, "data_dir": str(work / "data")},
        "bus": {"transport": "tcp", "tcp_host": "127.0.0.1", "tcp_base_port": base},
        # the whole chain, as `gridscout run` starts it: the fleet API too
        "api": {"enabled": True, "port": base + len(TOPICS), "token": "bench"},
    }
    for section, keys in (extra or {}).items():
        cfg.setdefault(section, {}).update(keys)
    cfg_path = write_config(work / "bench.toml", cfg)
    load_config(cfg_path)  # fail here, with the config's own message, rather than in the subprocess
    endpoints = Endpoints("tcp", tcp_host="127.0.0.1", tcp_base_port=base)
    tap = Tap(endpoints)
    tap.start()
    result = ChainRun(name, mode, burn_cores > 0)
    summary_path = work / "summary.json"
    log_path = work / "run.log"
    burners: list[multiprocessing.Process] = []
    t0 = time.monotonic()
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gridscout.edge.cli",
                "run",
                "--config",
                str(cfg_path),
                "--summary-json",
                str(summary_path),
            ],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    memory = MemorySampler(proc.pid, pss=pss)
    memory.start()
    ticks_ready: list[int] | None = None
    try:
        # The chain is running once control ticks: start the burners then, so startup is not slowed.
        while proc.poll() is None and not tap.messages["control_state"] and time.monotonic() - t0 < timeout_s:
            time.sleep(0.05)
        result.ready_s = time.monotonic() - t0
        memory.mark()
        if burn_cores and proc.poll() is None:
            ctx = multiprocessing.get_context("fork")  # starts at once (spawn re-imports this module)
            burners = [
                ctx.Process(target=burn, args=(i % (os.cpu_count() or 1),), daemon=True) for i in range(burn_cores)
            ]
            for b in burners:
                b.start()
        ticks_ready = cpu_ticks()
        try:
            result.returncode = proc.wait(max(1.0, timeout_s - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            proc.terminate()  # the chain stops the vehicle first, then exits
            result.returncode = proc.wait(30)
    finally:
        result.steal_pct = steal_pct(ticks_ready, cpu_ticks())
        for b in burners:
            b.terminate()
            b.join(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        result.wall_s = time.monotonic() - t0
        time.sleep(0.3)  # let the last messages arrive
        tap.stop.set()
        memory.stop.set()
        tap.join(5)
        memory.join(5)
    result.memory = memory
    result.detections = tap.messages["detections"]
    result.states = tap.messages["control_state"]
    result.commands = tap.messages["vehicle_command"]
    result.written = tap.messages["command_written"]
    if summary_path.exists():
        result.summary = json.loads(summary_path.read_text())
    result.log_tail = log_path.read_text(errors="replace")[-3000:]
    if inspect is not None:
        result.inspected = inspect(work / "data")
    if keep:
        print(f"  [{name}] kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return result


# -- analysis ---------------------------------------------------------------------------------------------


def control_ticks(states: list[ControlState]) -> list[int]:
    """Timestamps of the fixed-rate ticks among control_state messages (not the detection-triggered steps)."""
    return [s.t_mono_ns for s in states if not s.triggered]


def hops(run: ChainRun, tied: list[CommandWritten]) -> dict[str, list[float]]:
    """Where a frame-tied command's time outside inference goes, per hop (ms): the frame's way to perception and
    the message after inference (capture -> detections made, less inference), control (detections made ->
    command made), and the vehicle process (command made -> its bytes written to the link)."""
    det_of = {d.frame_id: d for d in run.detections}
    made_of = {(c.frame_id, c.t_capture_mono_ns): c for c in run.commands}
    out: dict[str, list[float]] = {"perception": [], "control": [], "vehicle": []}
    for w in tied:
        d, c = det_of.get(w.frame_id), made_of.get((w.frame_id, w.t_capture_mono_ns))
        if d is None or c is None:
            continue
        out["perception"].append((d.t_mono_ns - d.t_capture_mono_ns) / 1e6 - d.infer_ms)
        out["control"].append((c.t_mono_ns - d.t_mono_ns) / 1e6)
        out["vehicle"].append((w.t_write_mono_ns - c.t_mono_ns) / 1e6)
    return out


def analyse(run: ChainRun, source_fps: float, period_ms: float) -> dict:
    dets = sorted(run.detections, key=lambda d: d.frame_id)
    det_lat = [(d.t_mono_ns - d.t_capture_mono_ns) / 1e6 for d in dets]
    tied = [w for w in run.written if w.t_capture_mono_ns > 0]
    cmd_lat = [(w.t_write_mono_ns - w.t_capture_mono_ns) / 1e6 for w in tied]
    infer_of = {d.frame_id: d.infer_ms for d in dets}
    # what the chain adds on top of the detector: capture->command minus that frame's inference time
    overhead = [lat - infer_of[w.frame_id] for w, lat in zip(tied, cmd_lat, strict=True) if w.frame_id in infer_of]
    ticks = control_ticks(run.states)
    periods = [(b - a) / 1e6 for a, b in itertools.pairwise(ticks)]
    jitter = [abs(p - period_ms) for p in periods]
    fps = float("nan")
    if len(dets) >= 2:
        if run.mode == "live":  # per second of footage time
            footage_s = dets[-1].t_source_s - dets[0].t_source_s + 1.0 / source_fps
            fps = len(dets) / footage_s
        else:  # per second of wall time
            wall_s = (max(d.t_mono_ns for d in dets) - min(d.t_capture_mono_ns for d in dets)) / 1e9
            fps = len(dets) / wall_s
    by_frame = {d.frame_id: d for d in dets}
    slowest = sorted(tied, key=lambda w: w.t_write_mono_ns - w.t_capture_mono_ns, reverse=True)[:3]
    outliers = []
    for w in slowest:
        d = by_frame.get(w.frame_id)
        outliers.append(
            {
                "frame_id": w.frame_id,
                "cap_to_cmd_ms": (w.t_write_mono_ns - w.t_capture_mono_ns) / 1e6,
                "cap_to_det_ms": (d.t_mono_ns - d.t_capture_mono_ns) / 1e6 if d else float("nan"),
                "infer_ms": d.infer_ms if d else float("nan"),
                "boxes": len(d.boxes) if d else -1,
            }
        )
    slow_dets = sorted(dets, key=lambda d: d.t_mono_ns - d.t_capture_mono_ns, reverse=True)[:3]
    mem = run.memory
    return {
        "name": run.name,
        "mode": run.mode,
        "burn": run.burn,
        "returncode": run.returncode,
        "steal_pct": run.steal_pct,
        "wall_s": run.wall_s,
        "ready_s": run.ready_s,
        "summary": run.summary,
        "frames_published": (max(d.frame_id for d in dets) + 1) if dets else 0,
        "detections": len(dets),
        "fps": fps,
        "infer_ms_p50": pct([d.infer_ms for d in dets], 50),
        "infer_ms_p99": pct([d.infer_ms for d in dets], 99),
        "det_latency_ms_p50": pct(det_lat, 50),
        "det_latency_ms_p99": pct(det_lat, 99),
        "det_latency_ms_max": max(det_lat, default=float("nan")),
        "commands_written": len(run.written),
        "commands_from_frames": len(tied),
        "cmd_latency_ms_p50": pct(cmd_lat, 50),
        "cmd_latency_ms_p99": pct(cmd_lat, 99),
        "cmd_latency_ms_max": max(cmd_lat, default=float("nan")),
        "overhead_ms_p50": pct(overhead, 50),
        "overhead_ms_p99": pct(overhead, 99),
        "hops_ms": {k: {"p50": pct(v, 50), "p99": pct(v, 99), "n": len(v)} for k, v in hops(run, tied).items()},
        "cmd_latency_outliers": outliers,
        "det_latency_outliers": [
            {
                "frame_id": d.frame_id,
                "cap_to_det_ms": (d.t_mono_ns - d.t_capture_mono_ns) / 1e6,
                "infer_ms": d.infer_ms,
                "boxes": len(d.boxes),
            }
            for d in slow_dets
        ],
        "control_states": len(run.states),
        "control_ticks": len(ticks),
        "jitter_ms_p50": pct(jitter, 50),
        "jitter_ms_p99": pct(jitter, 99),
        "jitter_ms_max": max(jitter, default=float("nan")),
        "missed_ticks": sum(1 for p in periods if p > 1.5 * period_ms),
        "rss_mb_peak": mem.peak_rss / 2**20 if mem else float("nan"),
        "pss_mb_peak": mem.peak_pss / 2**20 if mem and mem.pss_available else float("nan"),
        "processes": mem.peak_procs if mem else 0,
        "memory_samples": mem.samples if mem else 0,
        "rss_mb_by_process": {k: v[0] / 2**20 for k, v in sorted(mem.at_peak.items())} if mem else {},
        "pss_mb_by_process": {k: v[1] / 2**20 for k, v in sorted(mem.at_peak.items())} if mem else {},
        "cpu_s_by_process": mem.cpu_by_role() if mem else {},
        # from the first control tick on: the processes' start-up left out
        "cpu_s_running_by_process": mem.cpu_by_role(since_mark=True) if mem else {},
    }


# -- output -----------------------------------------------------------------------------------------------


def dropped(summary: dict) -> str:
    """Dropped frames from a run summary (older summaries have one `dropped`, newer split it by process)."""
    if "dropped" in summary:
        return str(summary["dropped"])
    if "dropped_camera" in summary or "dropped_perception" in summary:
        cam, per = summary.get("dropped_camera", 0), summary.get("dropped_perception", 0)
        return f"{cam + per} (camera {cam}, perception {per})"
    return "?"


def print_report(raw: dict, runs: list[dict], targets: list[dict], header: str) -> None:
    print(header)
    print(
        f"raw detector   {raw['model']}, {raw['threads']} thread(s), {raw['frames']} frames: "
        f"median {raw['median_ms']:.2f} ms (p99 {raw['p99_ms']:.2f}), {raw['fps']:.1f} frames/s "
        f"(median of {raw['repeats']} passes: {', '.join(f'{v:.1f}' for v in raw['fps_passes'])})"
    )
    print()
    cols = (
        f"{'run':<10} {'frames':>6} {'proc':>5} {'fps':>6} {'infer p50/p99':>14} "
        f"{'cap→det p50/p99':>16} {'cap→cmd p50/p99/max':>20} {'ticks':>5} {'jitter p99/max':>14} "
        f"{'RSS MB':>7} {'PSS MB':>7}"
    )
    print(cols)
    print("-" * len(cols))
    for r in runs:
        print(
            f"{r['name']:<10} {r['frames_published']:>6} {r['detections']:>5} {r['fps']:>6.1f} "
            f"{r['infer_ms_p50']:>5.1f} /{r['infer_ms_p99']:>6.1f} "
            f"{r['det_latency_ms_p50']:>7.1f} /{r['det_latency_ms_p99']:>7.1f} "
            f"{r['cmd_latency_ms_p50']:>6.1f} /{r['cmd_latency_ms_p99']:>6.1f} /{r['cmd_latency_ms_max']:>6.1f} "
            f"{r['control_ticks']:>5} {r['jitter_ms_p99']:>6.2f} /{r['jitter_ms_max']:>6.1f} "
            f"{r['rss_mb_peak']:>7.0f} {r['pss_mb_peak']:>7.0f}"
        )
    print("  (latencies and jitter in ms; fps: live per second of footage, replay per second of wall time)")
    for r in runs:
        s = r["summary"]
        faults = ", ".join(f"{k} {v}" for k, v in s.get("faults", {}).items() if v) or "none"
        restarts = ", ".join(f"{k} {v}" for k, v in s.get("restarts", {}).items() if v) or "none"
        print(
            f"  {r['name']:<10} summary: {s.get('frames', '?')} read, {s.get('processed', '?')} processed, "
            f"{dropped(s)} dropped; {s.get('commands', '?')} commands "
            f"({r['commands_from_frames']} tied to a frame; cap→cmd minus infer p50/p99 "
            f"{r['overhead_ms_p50']:.1f}/{r['overhead_ms_p99']:.1f} ms); missed ticks {r['missed_ticks']}; "
            f"faults: {faults}; restarts: {restarts}; exit {r['returncode']}"
            + ("" if r.get("steal_pct") is None else f"; {r['steal_pct']:g}% of CPU time stolen by the host")
        )
    for r in runs:
        if any(h["n"] for h in r["hops_ms"].values()):
            parts = ", ".join(f"{k} {h['p50']:.1f}/{h['p99']:.1f}" for k, h in r["hops_ms"].items())
            print(f"  {r['name']:<10} cap→cmd minus infer, by hop, p50/p99 ms: {parts}")
    for r in runs:
        worst = "; ".join(
            f"frame {o['frame_id']}: cap→cmd {o['cap_to_cmd_ms']:.1f}, cap→det {o['cap_to_det_ms']:.1f}, "
            f"infer {o['infer_ms']:.1f}, {o['boxes']} boxes"
            for o in r["cmd_latency_outliers"]
        )
        if worst:
            print(f"  {r['name']:<10} slowest commands: {worst}")
    for r in runs:
        for k, one in enumerate(r.get("rounds", []), 1):
            around = f"{one['raw_fps_before']:.1f} before and {one['raw_fps_after']:.1f} after"
            print(f"  {r['name']:<10} round {k}: {one['fps']:.1f} frames/s against the raw detector's {around}: "
                  f"{one['ratio']:.3f}")  # fmt: skip
    peak = max(runs, key=lambda r: r["rss_mb_peak"])
    parts = ", ".join(
        f"{k} {v:.0f}/{peak['pss_mb_by_process'].get(k, float('nan')):.0f}"
        for k, v in peak["rss_mb_by_process"].items()
    )
    print(f"  memory at the RSS peak ({peak['name']}, {peak['processes']} processes), RSS/PSS MB: {parts}")
    print()
    print_targets(targets)


def print_targets(targets: list[dict]) -> None:
    """The targets table: what, measured, limit, PASS/FAIL (n/a: not measured)."""
    print(f"{'target':<52} {'measured':>10} {'limit':>12}  result")
    for t in targets:
        verdict = "n/a" if t["ok"] is None else ("PASS" if t["ok"] else "FAIL")
        print(f"{t['what']:<52} {t['measured']:>10} {t['limit']:>12}  {verdict}")


def build_targets(raw: dict, runs: dict[str, dict], source_fps: float, min_replay_ratio: float) -> list[dict]:
    targets = []

    def add(what: str, value: float, op: str, limit: float, fmt: str = "{:.2f}") -> None:
        ok = None if np.isnan(value) else (value <= limit if op == "<=" else value >= limit)
        targets.append({"what": what, "measured": fmt.format(value), "limit": f"{op} {fmt.format(limit)}", "ok": ok})

    lat_limit = raw["median_ms"] + LATENCY_MARGIN_MS
    for name in LATENCY_RUNS:
        if name in runs:
            add(f"capture→command p99 ms ({name})", runs[name]["cmd_latency_ms_p99"], "<=", lat_limit, "{:.1f}")
    for name in JITTER_RUNS:
        if name in runs:
            add(f"control jitter p99 ms ({name})", runs[name]["jitter_ms_p99"], "<=", JITTER_TARGET_MS)
    for name, r in runs.items():
        memory = r["pss_mb_peak"] if not np.isnan(r["pss_mb_peak"]) else r["rss_mb_peak"]
        what = "PSS" if not np.isnan(r["pss_mb_peak"]) else "RSS (no PSS here)"
        add(f"whole-chain {what} peak MB ({name})", memory, "<=", MEMORY_TARGET_MB, "{:.0f}")
    if "live" in runs:
        ceiling = min(source_fps, raw["fps"]) / raw["fps"]
        add(
            f"live fps / raw fps (ceiling {ceiling:.3f}: {source_fps:g} fps paced)",
            runs["live"]["fps"] / raw["fps"],
            ">=",
            LIVE_KEEPUP_RATIO * ceiling,
            "{:.3f}",
        )
    if "replay" in runs:
        rounds = runs["replay"].get("rounds")
        ratio = statistics.median(r["ratio"] for r in rounds) if rounds else runs["replay"]["fps"] / raw["fps"]
        add("replay fps / raw fps (throughput)", ratio, ">=", min_replay_ratio, "{:.3f}")
    return targets


def broken_run(run: ChainRun, figures: dict) -> str | None:
    """Why a chain run measured nothing worth printing, or None."""
    if run.returncode != 0:
        return f"exited {run.returncode}"
    if not run.detections:
        return "published no detections"
    if run.mode == "live" and not figures["commands_from_frames"]:
        return "wrote no command tied to a frame: capture→command latency would measure nothing"
    return None


def write_frames(frames: list[np.ndarray], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:06d}.png"), image)


def chain_source(frames: list[np.ndarray], truncated: bool, tmp: Path) -> str:
    """The source the chain runs on: the demo footage, or (cut to `--frames`) exactly these frames as a PNG folder."""
    if not truncated:
        return str(DEMO_FOOTAGE)
    write_frames(frames, tmp / "frames")
    return str(tmp / "frames")


def chain_timeout(mode: str, frames: int, source_fps: float) -> float:
    """How long one chain run may take: the footage's length (live) or 0.5 s a frame (replay), plus start-up."""
    return frames / source_fps + 90 if mode == "live" else frames * 0.5 + 90


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--frames", type=int, default=0, help="use only the first N demo frames (written as a PNG folder); 0: all"
    )
    parser.add_argument("--json", type=Path, help="also write every number measured as JSON here")
    parser.add_argument("--no-busy", action="store_true", help="skip the live run with one core busy")
    parser.add_argument("--no-burn", action="store_true", help="skip the live run with a burner on every core")
    parser.add_argument("--no-replay", action="store_true", help="skip the replay (throughput) run")
    parser.add_argument(
        "--burners",
        type=int,
        default=os.cpu_count() or 1,
        help="busy-loop processes in live+burn (default: one per core)",
    )
    parser.add_argument(
        "--min-replay-ratio", type=float, default=0.95, help="target for replay fps / raw detector fps (default 0.95)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="raw detector passes over the frames (median)")
    parser.add_argument(
        "--replay-rounds", type=int, default=3,
        help="replay runs, each between two raw detector passes; the median ratio is judged (default 3)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep each run's temp dir (config, logs, reports)")
    args = parser.parse_args(argv)
    if args.replay_rounds < 1 or args.repeats < 1:
        parser.error("--replay-rounds and --repeats: expected at least 1")

    frames, source_fps, truncated = load_frames(args.frames or None)
    info = machine(_threads(0))
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-src-"))
    try:
        source = chain_source(frames, truncated, tmp)
        threads = _threads(0)
        print(f"raw detector: timing {len(frames)} frames ...", file=sys.stderr)
        detector = RawDetector(threads)
        raw = detector.measure(frames, args.repeats)
        plan = [("live", "live", 0)]
        if not args.no_busy:
            plan.append(("live+busy1", "live", 1))
        if not args.no_burn:
            plan.append(("live+burn", "live", args.burners))
        results: dict[str, dict] = {}
        period_ms = 1e3 / load_config(None).control.rate_hz

        def chain_run(name: str, mode: str, burners: int) -> dict | str:
            """One chain run's figures, or why it measured nothing."""
            print(f"chain run {name}: ...", file=sys.stderr)
            timeout = chain_timeout(mode, raw["frames"], source_fps)
            run = run_chain_once(name, mode, source, burn_cores=burners, timeout_s=timeout, keep=args.keep)
            figures = analyse(run, source_fps, period_ms)
            why = broken_run(run, figures)
            if why:
                print(f"chain run {name}: log tail:\n{run.log_tail}", file=sys.stderr)
                return f"chain run {name}: {why}"
            return figures

        for name, mode, burners in plan:
            figures = chain_run(name, mode, burners)
            if isinstance(figures, str):
                return premise_broken(Path(__file__).stem, figures)
            results[name] = figures
        if not args.no_replay:
            # The throughput ratio against the raw detector timed just before and just after each replay (one
            # pass each), not minutes earlier: this machine's speed drifts by 10-20% over minutes.
            rounds, before = [], detector.pass_fps(frames)
            for _ in range(args.replay_rounds):
                figures = chain_run("replay", "replay", 0)
                if isinstance(figures, str):
                    return premise_broken(Path(__file__).stem, figures)
                after = detector.pass_fps(frames)
                ratio = figures["fps"] / ((before + after) / 2)
                rounds.append({"fps": figures["fps"], "raw_fps_before": before, "raw_fps_after": after,
                               "ratio": ratio, "figures": figures})  # fmt: skip
                before = after
            middle = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
            replay = results["replay"] = {**middle["figures"]}  # the median round's figures; memory: every round's
            for key in ("rss_mb_peak", "pss_mb_peak"):
                replay[key] = max(r["figures"][key] for r in rounds)
            replay["rounds"] = [{k: v for k, v in r.items() if k != "figures"} for r in rounds]
        del frames
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish_machine(info)

    targets = build_targets(raw, results, source_fps, args.min_replay_ratio)
    header = (
        f"GridScout chain bench: {raw['frames']} frames of {DEMO_FOOTAGE.name} at {source_fps:g} fps "
        f"({'as a PNG folder' if truncated else 'mp4'}), {os.cpu_count()} CPU(s), control at {1e3 / period_ms:g} Hz"
    )
    print(machine_line(info))
    print_report(raw, list(results.values()), targets, header)
    if args.json:
        record = {"machine": info, "raw_detector": raw, "runs": results, "targets": targets}
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return 0 if all(t["ok"] is not False for t in targets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
