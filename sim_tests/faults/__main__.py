"""Run the fault-injection suite and print each fault's figure (see `sim_tests.faults`).

python -m sim_tests.faults            # every fault (about 4 minutes on two cores)
python -m sim_tests.faults --quick    # those the default test run has
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: the fault tests, by pytest node id (file, or file::test)
FAULT_TESTS = (
    "sim_tests/faults/test_disk_full.py",
    "sim_tests/faults/test_secrets.py",
    "sim_tests/faults/test_torn_recordings.py",
    "tests/test_fleet_api.py::test_a_cursor_past_the_latest_seq_cannot_strip_the_protection_of_unpulled_evidence",
    "tests/test_image_size.py::test_a_folder_skips_a_30000_px_png_without_decoding_it_and_goes_on",
    "sim_tests/test_chain.py::test_a_process_killed_mid_replay_leaves_the_reports_unchanged",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the faults of the default test run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gs-faults-") as tmp:
        report = Path(tmp) / "faults.xml"
        marks = "not slow" if args.quick else "slow or not slow"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-m", marks,
             f"--junitxml={report}", *FAULT_TESTS],
            cwd=REPO, capture_output=True, text=True,
        )  # fmt: skip
        if not report.is_file():
            print(done.stdout[-3000:] + done.stderr[-3000:], file=sys.stderr)
            return 2
        rows = _rows(ET.parse(report).getroot())
    width = max(len(name) for name, _, _ in rows)
    print(f"{'fault':<{width}}  outcome  figure")
    for name, outcome, figure in rows:
        print(f"{name:<{width}}  {outcome:<7}  {figure}")
    failed = sum(outcome == "FAILED" for _, outcome, _ in rows)
    print(f"\n{len(rows)} faults, {failed} failed")
    return 1 if failed or done.returncode not in (0, 5) else 0


def _rows(root: ET.Element) -> list[tuple[str, str, str]]:
    rows = []
    for case in root.iter("testcase"):
        name = case.get("name", "").removeprefix("test_")
        outcome = "FAILED" if case.find("failure") is not None or case.find("error") is not None else "ok"
        if case.find("skipped") is not None:
            outcome = "skipped"
        figure = next((p.get("value", "") for p in case.iter("property") if p.get("name") == "figure"), "")
        if outcome == "skipped":
            figure = (case.find("skipped").get("message") or "")[:100]
        rows.append((name[:70], outcome, figure))
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
