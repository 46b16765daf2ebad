"""What the puller reads of a device's API: the few fields of each report it acts on.

The device's `/v1/reports` schema is owned by the device (its OpenAPI at `/openapi.json`); the fleet
side stores each report as the JSON it was sent and needs only these fields to page, dedupe and
fetch evidence. tests/test_fleet_wire.py holds them to the device's schema, so the two cannot drift.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReportHeader(BaseModel):
    """One report of a `/v1/reports` page, as far as the puller is concerned."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    seq: int
    has_evidence: bool
    evidence_sha256: str | None
