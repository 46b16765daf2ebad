"""The fleet's view of a report is a true subset of the device's schema (one owner: the device's API)."""

from gridscout.edge.reports.report import Report
from gridscout.fleet.wire import ReportHeader


def test_every_field_the_puller_reads_is_in_the_device_schema_with_the_same_type():
    """Scenario: the device renames or retypes a field the puller pages by; this fails before a pull does."""
    device = Report.model_fields
    for name, field in ReportHeader.model_fields.items():
        assert name in device, f"the device's Report has no field {name!r}"
        assert field.annotation == device[name].annotation, name


def test_a_device_report_parses_as_the_fleet_header():
    """A report as the API serialises it reads as a header with the same id, seq and evidence hash."""
    report = Report(
        id="r1", device_id="d", seq=7, track_key="k", class_name="missing_cap", confidence=0.9,
        first_seen="2026-01-01T00:00:00.000Z", last_seen="2026-01-01T00:00:01.000Z", position_m=None,
        lat=None, lon=None, alt=None, error_m=None, box_xyxy=None, frame_id=3, model_name="m", model_sha256="0" * 64,
        review_state="new", review_note=None, reviewed_at=None, has_evidence=True, evidence_sha256="ab",
        observations=1,
    )  # fmt: skip
    header = ReportHeader.model_validate(report.model_dump(mode="json"))
    assert (header.id, header.seq, header.has_evidence, header.evidence_sha256) == ("r1", 7, True, "ab")


def test_the_fleet_command_reads_the_devices_token_variable():
    """The fleet side keeps its own copy of the variable's name (it cannot import the device's API)."""
    from gridscout.edge.api.token import TOKEN_ENV as DEVICE_TOKEN_ENV
    from gridscout.fleet.cli import TOKEN_ENV

    assert TOKEN_ENV == DEVICE_TOKEN_ENV
