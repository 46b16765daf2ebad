"""The drone chain on footage rendered from where the drone is: `gridscout run --vehicle sim-drone --source
'synthetic://demo?follow=vehicle'` (`sim_tests/follow_flight.py` flies it and judges it against the scene).

The camera renders each frame from the drone's telemetry with the footage's gimbal (the mission's `camera`
property), so a hold at a defect keeps the defect in view and the reports, geotagged from the same telemetry,
land on the defects.

Two flights of the demo line: at INSPECTION_SPEED_MPS, where the drone can stop with a defect still in view
and holds at each; and at the mission's own cruise speed (8.3 m/s), where a missing cap crosses the view in
under a second (about 8 frames, 70 px a frame, further than its own size each frame): the tracker must still
hold each defect as one track, so each gives one report.

Each defect seen must have a report on it (a report is the defect's its track's boxes overlap), within
FOLLOW_BOUND_M of it. A report whose track overlaps no defect is a false report: the model's, not the
tracker's or the geotag's, measured with the model (MODEL_CARD.md); here it is counted and printed.
"""

from __future__ import annotations

import pytest

from gridscout.control.geodesy import distance_m
from sim_tests.follow_flight import SOURCE, Flight, Judge, fly

#: a missing-cap report lies this close to its defect: measured 0.22-1.66 m over four runs with the v3 model, and
#: 0.22-3.02 m over three with v4, whose lower thresholds keep sightings near the view's edge (each report's own
#: error_m is 9-12 m). The geometry, the line-height plane and the frame's lag behind the telemetry the reporter
#: places it with; the footage-paced chain needs 20 m
FOLLOW_BOUND_M = 4.0
#: the speed the demo line is flown at to hold at each defect (its mission's cruise_speed_mps)
INSPECTION_SPEED_MPS = 3.0
#: a defect counts as seen when it is in view in this many 10 Hz samples: 1 s at the inspection speed; at cruise
#: speed a cap is in view for 5-10 frames
SEEN_SAMPLES = {INSPECTION_SPEED_MPS: 10, None: 5}


def check_reports(flight: Flight, seen_samples: int) -> tuple[dict[str, list], list]:
    """Every seen defect reported, each of its reports within FOLLOW_BOUND_M of it; returns each defect's
    reports and the false ones."""
    assert flight.summary["ok"] and flight.summary["source"] == SOURCE and flight.summary["frames"] > 100
    judge = Judge(flight)
    sightings = judge.sightings()
    seen = {oid for oid, n in sightings.items() if n >= seen_samples}
    assert seen, sightings
    assert flight.reports and all(r.lat is not None and r.lon is not None for r in flight.reports), flight.reports
    owners = judge.report_owners()
    own: dict[str, list] = {}
    for report in flight.reports:
        own.setdefault(owners[report.id], []).append(report)
    false = own.pop(None, [])
    off = {
        oid: sorted(round(distance_m(*judge.source.scene.object_geo(oid)[:2], r.lat, r.lon), 2) for r in reports)
        for oid, reports in own.items()
    }
    print(f"seen {sightings}; {len(flight.reports)} reports: per defect, metres off it {off}; {len(false)} false; "
          f"modes {flight.modes}")  # fmt: skip
    assert seen <= set(own), f"defects seen but never reported: {sorted(seen - set(own))}"
    assert max(m for ms in off.values() for m in ms) < FOLLOW_BOUND_M
    return own, false


@pytest.mark.slow  # 75 s on two cores; the cruise-speed flight below runs by default
def test_footage_rendered_from_the_drone_puts_its_reports_on_the_defects(tmp_path):
    flight = fly(tmp_path, INSPECTION_SPEED_MPS)
    modes = flight.modes
    assert "HOLD" in modes and modes.index("HOLD") < len(modes) - 1  # held at a defect, then went on
    assert modes.index("HOLD") < modes.index("RESUME") < modes.index("END_OF_LINE"), modes
    check_reports(flight, SEEN_SAMPLES[INSPECTION_SPEED_MPS])


@pytest.mark.slow
def test_at_cruise_speed_each_defect_gives_one_report(tmp_path):
    """At the mission's 8.3 m/s a cap moves 70 px a frame: plain IoU association never started a track (no
    report at all); on buffered boxes each seen defect is one track and one report."""
    flight = fly(tmp_path, None)
    own, _ = check_reports(flight, SEEN_SAMPLES[None])
    assert own and all(len(reports) == 1 for reports in own.values()), {k: len(v) for k, v in own.items()}
