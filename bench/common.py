"""What every bench shares: the machine line printed beside its figures, and how it fails when its premise breaks.

A figure means little without the machine it came from: each bench prints the CPU, its cores, the load
average before and after, the thread settings and onnxruntime's version, and writes them into its JSON.

Exit codes, the same for every bench (`python -m bench` reads them):
- 0: every figure measured and every target met;
- 1: measured, and a target missed (the figures are still printed and written);
- 2: the bench's own premise broke (it would not measure what it names) or it could not run: one line says why.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

TARGET_MISSED, PREMISE_BROKEN = 1, 2


class PremiseError(RuntimeError):
    """A bench that would not measure what it names: its figures must not be printed as if it did."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int | None = None) -> dict:
    """The machine a figure was measured on, and how loaded it was when the bench began."""
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "cpu_ticks_start": cpu_ticks(),
        "threads": threads,
        "onnxruntime": ort_version,
        "python": platform.python_version(),
    }


def finish_machine(info: dict) -> dict:
    """The same record with the load average at the end (a busy neighbour shows as a rise)."""
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    info["steal_pct"] = steal_pct(info.pop("cpu_ticks_start", None), cpu_ticks())
    return info


def steal_pct(start: list[int] | None, end: list[int] | None) -> float | None:
    """The share of CPU time between two `cpu_ticks()` readings that the host stole (None where unknown)."""
    if start and end and sum(end) > sum(start):
        return round(100 * (end[7] - start[7]) / (sum(end) - sum(start)), 1)
    return None


def cpu_ticks() -> list[int] | None:
    """The machine's CPU time counters since boot (Linux /proc/stat: user nice system idle iowait irq softirq steal
    ...), or None elsewhere. Steal is time a virtual machine's CPUs were ready to run and the host ran something
    else: a bench on a shared host that shows it was interrupted from outside."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    return [int(v) for v in fields[1:]] if fields[:1] == ["cpu"] and len(fields) > 8 else None


def machine_line(info: dict) -> str:
    load = "/".join(f"{v:g}" for v in info["load_average_start"])
    end = info.get("load_average_end")
    if end:
        load += " -> " + "/".join(f"{v:g}" for v in end)
    threads = "default" if info.get("threads") is None else info["threads"]
    load += " (1/5/15 min)"
    if info.get("steal_pct") is not None:
        load += f", {info['steal_pct']:g}% of CPU time stolen by the host"
    return (
        f"machine: {info['cpu']}, {info['cores']} cores, load average {load}, "
        f"{threads} thread(s), onnxruntime {info['onnxruntime']}, Python {info['python']}"
    )


def premise_broken(bench: str, why: str) -> int:
    """Print the one line naming why, and return the exit code for it."""
    print(f"{bench}: premise broken: {why}", file=sys.stderr)
    return PREMISE_BROKEN
