"""The verdict on a run: when it failed, and the one line that says why."""

import pytest

from gridscout.edge.runtime.messages import VehicleStatus
from gridscout.edge.runtime.summary import RunSummary, VehicleReport

URI = "crawler:/dev/ttyUSB0"


def report(**fields) -> VehicleReport:
    return VehicleReport(**{"uri": URI, "link": "CONNECTED", "connected_once": True, "handshakes": 1, **fields})


def summary(vehicle: VehicleReport, **fields) -> RunSummary:
    return RunSummary(mode="live", source="demo.mp4", vehicle=vehicle, **fields)


def test_a_clean_run_passes_and_still_shows_its_vehicle_line():
    s = summary(report())
    assert s.ok and s.failures == []
    assert (
        f"vehicle    {URI}: connected (1 handshakes), 0 refusals, 0 retries, 0 unanswered, 0 link drops" in s.format()
    )
    assert "FAILED" not in s.format()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"connected_once": False, "link": "CONNECTING", "detail": "no HELLO_ACK from a crawler on /dev/ttyUSB0 yet"},
         f"vehicle {URI} never connected: no HELLO_ACK"),
        ({"link": "CONNECTING", "detail": "crawler silent for 2.1 s"},
         f"vehicle {URI} was lost and did not come back: crawler silent"),
        ({"refusals": {"NO_SESSION": 30, "FAULT": 2}}, f"vehicle {URI} refused 32 commands (NO_SESSION 30, FAULT 2)"),
        ({"unanswered": 4}, f"vehicle {URI} left 4 commands unanswered"),
        ({"refusals": {"MAV_RESULT_DENIED": 1}}, f"vehicle {URI} refused 1 commands (MAV_RESULT_DENIED 1)"),
        ({"failsafes": 1, "last_failsafe": "GUIDED -> RTL (GCS Failsafe: RTL)"},
         f"vehicle {URI} left GridScout's control 1 times, its own failsafe or its crew taking over (latest: "
         "GUIDED -> RTL (GCS Failsafe: RTL))"),
        # a crawler in FAULT whose commands then went unanswered: the first line says what the crawler did
        ({"failsafes": 1, "last_failsafe": "crawler in FAULT at 0.00 m (its fault flag: only STOP is accepted)",
          "unanswered": 1, "refusals": {"FAULT": 3}},
         f"vehicle {URI} left GridScout's control 1 times, its own failsafe or its crew taking over (latest: "
         "crawler in FAULT"),
    ],
)  # fmt: skip
def test_each_vehicle_failure_fails_the_run_with_a_line_naming_the_uri(fields, expected):
    s = summary(report(**fields))
    assert not s.ok
    assert s.failures[0].startswith(expected)
    assert f"FAILED     {s.failures[0]}" in s.format().splitlines()


def test_declining_to_drive_past_the_end_of_the_line_is_no_failure():
    s = summary(report(refusals={"AT_END_OF_LINE": 1}))
    assert s.ok and "1 refusals" in s.format()


def test_a_chain_that_did_not_start_is_a_failure_before_the_vehicles():
    s = summary(report(connected_once=False, link="CLOSED"), error="the chain did not start: perception not ready")
    assert s.failures[0] == "the chain did not start: perception not ready" and len(s.failures) == 2


def test_the_vehicle_processs_last_counters_complete_its_last_status():
    """The last status may be up to a second old; the process's final heartbeat counts are never older."""
    status = VehicleStatus(
        t_mono_ns=1, uri=URI, link="CONNECTED", detail="", connected_once=True, handshakes=1, link_drops=0,
        retries=1, unanswered=0, clamped=0, refusals={},
    )  # fmt: skip
    merged = VehicleReport.from_status(status).with_counts({"handshakes": 3, "retries": 5, "unanswered": 2})
    assert (merged.handshakes, merged.retries, merged.unanswered) == (3, 5, 2)
    assert not summary(merged).ok


def test_the_json_summary_carries_the_verdict():
    d = summary(report(unanswered=1)).as_dict()
    assert d["ok"] is False and d["failures"] and d["vehicle"]["uri"] == URI


def test_a_vehicle_set_up_badly_passes_with_a_warning_line_each():
    """An autopilot failsafe parameter that is off is no failure of the run, but the summary says so."""
    s = summary(report(warnings=["vehicle parameter FS_GCS_ENABLE = 0: should be not 0 (1: RTL, ...)"]))
    assert s.ok
    assert "warning    vehicle parameter FS_GCS_ENABLE = 0: should be not 0 (1: RTL, ...)" in s.format().splitlines()


def test_a_failsafe_shows_on_the_vehicle_line_and_its_counters_survive_the_last_heartbeat():
    status = VehicleStatus(
        t_mono_ns=1, uri=URI, link="CONNECTED", detail="", connected_once=True, handshakes=1, link_drops=0,
        retries=0, unanswered=0, clamped=0, refusals={}, failsafes=1, last_failsafe="GUIDED -> RTL",
    )  # fmt: skip
    merged = VehicleReport.from_status(status).with_counts({"failsafes": 2})
    assert merged.failsafes == 2 and "2 failsafes (GUIDED -> RTL last)" in summary(merged).format()


def test_refusals_at_shutdown_keep_their_names_from_the_last_heartbeat():
    """The shutdown STOP's refusal comes after the last status the supervisor read: the heartbeat names it."""
    merged = report(refusals={"MAV_RESULT_FAILED": 1}).with_counts(
        {"refusals": 3.0, "refused:MAV_RESULT_DENIED": 2.0, "refused:MAV_RESULT_FAILED": 1.0}
    )
    assert merged.refusals == {"MAV_RESULT_DENIED": 2, "MAV_RESULT_FAILED": 1}
    assert report().with_counts({"refusals": 2.0}).refusals == {"unknown": 2}


def test_a_link_that_dropped_and_came_back_is_named_first_when_the_run_failed():
    """Issue 16: a crawler silent for 2.5 s, then a good reconnect, failed as "left 1 commands unanswered", which
    is not what happened. A drop alone fails nothing; with another failure, the drop comes first."""
    drop = "crawler on /dev/ttyUSB0 silent for 2.1 s; shaking hands again"
    s = summary(report(link_drops=1, last_link_drop=drop, unanswered=1))
    assert s.failures[0] == f"vehicle {URI} lost its link 1 times and came back (latest: {drop})"
    assert "unanswered" in s.failures[1]
    assert summary(report(link_drops=1, last_link_drop=drop)).ok


def test_a_vehicle_the_gate_held_for_the_whole_run_fails_it_naming_the_fault():
    """ArduRover at 300 m above sea level reported relative_alt 299.6 m; the drones' ceiling held it for 351 of
    352 commands and the run passed. A run the gate held throughout inspected nothing: it fails, naming why."""
    s = summary(report(), control_commands=352, held={"altitude_high": 340, "recovering": 11}, commands=40, stops=40)
    assert not s.ok
    assert s.failures == [f"the safety gate held vehicle {URI} for 351 of control's 352 commands (altitude_high 340, "
                          "recovering 11)"]  # fmt: skip
    assert "40 of them stops; the safety gate held 351 of control's 352" in s.format()


@pytest.mark.parametrize(
    ("control_commands", "held"),
    [(352, {"geofence_outside": 300}), (150, {"altitude_high": 150}), (352, {})],
)
def test_a_gate_that_held_less_than_the_whole_run_or_a_short_run_fails_nothing(control_commands, held):
    """Held 85% of 352 (a vehicle that did move), or all of a 150-command run (too short to judge): no failure."""
    assert summary(report(), control_commands=control_commands, held=held).ok


def test_reports_without_an_evidence_image_are_named_on_the_defects_line_and_fail_nothing():
    """A defect seen only while the reporter restarted is reported, but its frames went with the process: the crew
    reads how many reports lack an image, and where to look. None lacking: the line is as before."""
    s = summary(report(), reports_created=4, reports_updated=9, reports_without_evidence=1)
    assert s.ok
    assert ("defects    4 reports (9 updates); 1 without an evidence image (their frames never reached the reporter: "
            "see logs/reporter.log)") in s.format().splitlines()  # fmt: skip
    assert "defects    4 reports (9 updates)" in summary(report(), reports_created=4, reports_updated=9).format()
