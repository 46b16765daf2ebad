"""Pull defect reports from devices into a fleet database, resumably and idempotently."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gridscout.fleet.db import FleetStore, LinkCounts, PulledReport
from gridscout.fleet.http import FleetClient, PullError
from gridscout.fleet.wire import ReportHeader


@dataclass
class DevicePull:
    """What one device's pull did. `error` is set when it stopped early; committed pages stay committed."""

    url: str
    device_id: str | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    evidence_bytes: int = 0
    pages: int = 0
    since: int = 0
    error: str | None = None


@dataclass
class PullSummary:
    devices: list[DevicePull] = field(default_factory=list)
    #: the new reports linked to the asset registry (all zero without one)
    links: LinkCounts = field(default_factory=LinkCounts)

    @property
    def ok(self) -> bool:
        return all(device.error is None for device in self.devices)

    def format(self) -> str:
        lines = []
        for d in self.devices:
            line = (
                f"{d.url}  device {d.device_id or '?'}: {d.new} new, {d.updated} updated, "
                f"{d.evidence_bytes / 1024:.1f} kB evidence, {d.pages} pages, now at seq {d.since}"
            )
            lines.append(line + (f"\n  FAILED: {d.error}" if d.error else ""))
        failed = sum(d.error is not None for d in self.devices)
        lines.append(
            f"{len(self.devices) - failed} of {len(self.devices)} devices pulled" + (" (see errors)" * bool(failed))
        )
        if self.links.linked or self.links.no_position or self.links.out_of_range:
            lines.append(f"new reports: {self.links.linked} linked to an asset, {self.links.out_of_range} with "
                         f"no structure in range, {self.links.no_position} with no position")  # fmt: skip
        return "\n".join(lines)


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _fetch_page(
    client: FleetClient, store: FleetStore, device_id: str, since: int, limit: int
) -> tuple[list[PulledReport], int]:
    page = client.get_json(f"/v1/reports?since={since}&limit={limit}")
    if page.get("device_id") != device_id:
        raise PullError(f"{client.base_url}: device id changed mid-pull ({device_id} -> {page.get('device_id')})")
    pulled = []
    for raw in page["reports"]:
        report = ReportHeader.model_validate(raw)
        evidence = None
        if report.has_evidence and report.evidence_sha256 != store.evidence_sha256(device_id, report.id):
            jpeg = client.get(f"/v1/reports/{report.id}/evidence.jpg", missing_ok=True)
            evidence = (jpeg, hashlib.sha256(jpeg).hexdigest()) if jpeg else None
        pulled.append(PulledReport(report.id, report.seq, json.dumps(raw, separators=(",", ":")), evidence))
    return pulled, int(page["next_since"])


def _pull_device(client: FleetClient, store: FleetStore, result: DevicePull, page_size: int, progress: bool) -> None:
    health = client.get_json("/v1/health")
    device_id = result.device_id = health["device_id"]
    since = result.since = store.checkpoint(device_id)
    if health["latest_seq"] < since:  # the device's store was reset: start over
        _say(progress, f"{client.base_url}: device is at seq {health['latest_seq']} < checkpoint {since}; from 0")
        since = 0
    while True:
        reports, next_since = _fetch_page(client, store, device_id, since, page_size)
        if not reports:
            break
        counts = store.commit_page(device_id, client.base_url, reports, next_since)
        result.pages += 1
        result.new += counts.new
        result.updated += counts.updated
        result.unchanged += counts.unchanged
        result.evidence_bytes += sum(len(r.evidence[0]) for r in reports if r.evidence)
        since = result.since = next_since
        _say(
            progress,
            f"{client.base_url}: page {result.pages} committed: {len(reports)} reports "
            f"({counts.new} new, {counts.updated} updated), now at seq {since}",
        )
        if len(reports) < page_size:
            break


def pull(
    urls: list[str],
    token: str,
    into: Path,
    *,
    page_size: int = 100,
    timeout_s: float = 10,
    retries: int = 5,
    backoff_s: float = 0.5,
    progress: bool = False,
    cafile: str | None = None,
) -> PullSummary:
    """Pull every device in `urls` into the fleet database `into`.

    Each page (reports, their evidence, the new checkpoint) is one transaction, so stopping at any
    point loses nothing and re-running repeats nothing. A device that fails (token rejected, still
    unreachable after `retries`) gets `error` set in the summary; the other devices are still pulled.
    """
    if not 1 <= page_size <= 1000:
        raise ValueError(f"page_size must be in 1..1000, got {page_size}")
    summary = PullSummary()
    with FleetStore(into) as store:
        for url in urls:
            client = FleetClient(url, token, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, cafile=cafile)
            result = DevicePull(url=client.base_url)
            summary.devices.append(result)
            try:
                _pull_device(client, store, result, page_size, progress)
            except (PullError, KeyError, TypeError, ValueError) as exc:
                result.error = str(exc) if isinstance(exc, PullError) else f"{client.base_url}: bad response ({exc!r})"
                _say(progress, f"FAILED: {result.error}")
        summary.links = store.link_new_reports()
    return summary
