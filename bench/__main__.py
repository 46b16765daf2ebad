"""Every bench in one go: each figure against its target, in one JSON and one Markdown table.

    python -m bench                          # detect, chain, crop_budget, recorder, footprint, batch: ~15 min
    python -m bench --only detect chain      # some of them
    python -m bench --all                    # also the benches that report figures without targets
    python -m bench --readme                 # and put the table into bench/README.md

Each bench runs as its own command (its command line and summary lines are unchanged: scripts read them),
one after another so that none loads the machine under another, with `--json` into --out. Ratios are
taken inside each bench's own run, never across runs. Writes --out/latest.json and --out/latest.md.
Exit status: 2 if a bench's premise broke or it could not run, else 1 if a target was missed, else 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import PREMISE_BROKEN, TARGET_MISSED, finish_machine, machine, machine_line  # noqa: E402

#: name -> (script, its arguments, whether its figures have targets)
BENCHES: dict[str, tuple[str, list[str], bool]] = {
    "detect": ("bench_detect.py", [], True),
    "chain": ("bench_chain.py", [], True),
    "crop_budget": ("bench_crop_budget.py", [], True),
    "recorder": ("bench_recorder.py", ["--rounds", "3"], True),
    "footprint": ("bench_footprint.py", ["--closure"], True),
    "batch": ("bench_batch.py", ["--photos", "600", "--rounds", "3"], True),
    "bus": ("bench_bus.py", [], False),
    "tracker": ("bench_tracker.py", ["--offline"], False),
    "follow": ("bench_follow_tracking.py", [], False),
}
README_START, README_END = "<!-- bench table: python -m bench --readme -->", "<!-- end of bench table -->"


def run_bench(name: str, out: Path) -> dict:
    """Run one bench to the end, its output passed through; its targets as it wrote them."""
    script, extra, _ = BENCHES[name]
    record = out / f"{name}.json"
    record.unlink(missing_ok=True)
    command = [sys.executable, str(REPO / "bench" / script), *extra, "--json", str(record)]
    shown = ["python", f"bench/{script}", *extra, "--json", _relative(record)]
    print(f"== {name}: {' '.join(shown)}", flush=True)
    t0 = time.monotonic()
    code = subprocess.run(command, cwd=REPO).returncode
    result = {"bench": name, "command": " ".join(shown), "exit": code,
              "seconds": round(time.monotonic() - t0, 1), "targets": []}  # fmt: skip
    if record.is_file():
        written = json.loads(record.read_text())
        result["targets"] = written.get("targets", []) if isinstance(written, dict) else []
    else:  # a crash exits 1 too: without its record it measured nothing
        result["exit"] = PREMISE_BROKEN if code in (0, TARGET_MISSED) else code
        result["why"] = f"exit {code} without writing {record.name}"
    return result


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def table(results: list[dict], info: dict) -> str:
    """The Markdown table: each figure, its target, pass/fail; a bench that broke is a row saying so."""
    head = "the run as a whole, " + machine_line(info)
    lines = [head, "", "| bench | figure | measured | target | result |", "|---|---|---|---|---|"]
    for r in results:
        if r["exit"] not in (0, TARGET_MISSED):
            why = r.get("why", f"exit {r['exit']}")
            lines.append(f"| {r['bench']} | (did not measure: {why}) | - | - | **BROKEN** |")
        for t in r["targets"]:
            verdict = "n/a" if t["ok"] is None else ("PASS" if t["ok"] else "**FAIL**")
            cells = " | ".join(_cell(t[k]) for k in ("what", "measured", "limit"))
            lines.append(f"| {r['bench']} | {cells} | {verdict} |")
        if not r["targets"] and r["exit"] == 0:
            lines.append(f"| {r['bench']} | (figures without targets: {r['bench']}.json) | - | - | ran |")
    return "\n".join(lines) + "\n"


def update_readme(markdown: str, commands: list[str]) -> None:
    readme = REPO / "bench" / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{readme}: no {README_START} ... {README_END} block to replace")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    made = "Made by `python -m bench --readme`, which ran:\n\n" + "\n".join(f"    {c}" for c in commands)
    readme.write_text(f"{head}{README_START}\n{markdown}\n{made}\n{README_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=BENCHES, help="run these benches only")
    parser.add_argument("--all", action="store_true", help="also the benches without targets (bus, tracker, follow)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench", help="where the JSON and table go")
    parser.add_argument("--readme", action="store_true", help="also write the table into bench/README.md")
    args = parser.parse_args(argv)
    names = args.only or [n for n, (_, _, targeted) in BENCHES.items() if targeted or args.all]
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    results = [run_bench(name, args.out) for name in names]
    finish_machine(info)
    markdown = table(results, info)
    (args.out / "latest.json").write_text(json.dumps({"machine": info, "benches": results}, indent=2) + "\n")
    (args.out / "latest.md").write_text(markdown)
    print("\n" + markdown)
    print(f"written: {args.out / 'latest.json'}, {args.out / 'latest.md'}")
    if args.readme:
        update_readme(markdown, [r["command"] for r in results])
    if any(r["exit"] not in (0, TARGET_MISSED) for r in results):
        return PREMISE_BROKEN
    return TARGET_MISSED if any(r["exit"] == TARGET_MISSED for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
