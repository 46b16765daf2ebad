"""The run summary `gridscout run` prints, and the verdict: did the run do its job?

A run fails (exit 1) when its vehicle never connected, was lost and did not come back, refused commands
or left them unanswered, or when the safety gate held it for (almost) the whole run: a vehicle that never
moved inspected nothing. The summary's `vehicle` line names the URI and the reason, and each failure
is also one line of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from gridscout.edge.runtime.messages import VehicleStatus

#: refusals that do not fail a run: the crawler at the end of its line declining to go further
HARMLESS_REFUSALS = frozenset({"AT_END_OF_LINE"})
#: the vehicle process's heartbeat stats count refusals by reason under this prefix ("refused:MAV_RESULT_DENIED")
REFUSED_PREFIX = "refused:"
#: counters the vehicle process reports both in its status and in its heartbeat stats
COUNTERS = ("handshakes", "link_drops", "retries", "unanswered", "clamped", "failsafes")
#: the control process's heartbeat stats count the commands the gate turned into stops by fault under this
#: prefix ("held:altitude_high")
HELD_PREFIX = "held:"
#: a run fails when the gate held at least this share of control's commands, over at least HELD_RUN_MIN_COMMANDS
#: of them (10 s of control at 20 Hz: a run stopped by hand within seconds, a camera that stalled at the start
#: and came back, is too short to judge)
HELD_RUN_SHARE = 0.9
HELD_RUN_MIN_COMMANDS = 200


@dataclass
class VehicleReport:
    uri: str
    link: str = "CLOSED"
    detail: str = ""
    connected_once: bool = False
    handshakes: int = 0
    link_drops: int = 0
    retries: int = 0
    unanswered: int = 0
    clamped: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    last_refusal: str = ""
    failsafes: int = 0
    last_failsafe: str = ""
    last_link_drop: str = ""
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_status(cls, status: VehicleStatus) -> VehicleReport:
        return cls(**{f.name: getattr(status, f.name) for f in fields(cls)})

    def with_counts(self, stats: dict[str, float]) -> VehicleReport:
        """This report with the vehicle process's own counters (its heartbeat, sent last as it exits), which
        are never older than its last status message."""
        counts = {name: max(getattr(self, name), int(stats.get(name, 0))) for name in COUNTERS}
        named = {k.removeprefix(REFUSED_PREFIX): int(v) for k, v in stats.items() if k.startswith(REFUSED_PREFIX)}
        refusals = {r: max(self.refusals.get(r, 0), named.get(r, 0)) for r in {*self.refusals, *named}}
        if not refusals and stats.get("refusals"):
            refusals = {"unknown": int(stats["refusals"])}
        connected_once = self.connected_once or bool(stats.get("connected_once"))
        return replace(self, connected_once=connected_once, refusals=refusals, **counts)

    def failures(self) -> list[str]:
        """Why the run failed, what happened first: the link, the vehicle's own failsafes, a link that dropped and
        came back (only beside another failure: alone it fails nothing), then refusals and unanswered commands."""
        out = []
        if not self.connected_once:
            out.append(f"vehicle {self.uri} never connected: {self.detail or 'no answer'}")
        elif self.link != "CONNECTED":
            out.append(f"vehicle {self.uri} was lost and did not come back: {self.detail or self.link}")
        if self.failsafes:
            out.append(
                f"vehicle {self.uri} left GridScout's control {self.failsafes} times, its own failsafe or its crew "
                f"taking over (latest: {self.last_failsafe or 'unknown'})"
            )
        command_failures = []
        refused = {k: v for k, v in self.refusals.items() if k not in HARMLESS_REFUSALS}
        if refused:
            reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(refused.items(), key=lambda kv: -kv[1]))
            command_failures.append(f"vehicle {self.uri} refused {sum(refused.values())} commands ({reasons})")
        if self.unanswered:
            command_failures.append(
                f"vehicle {self.uri} left {self.unanswered} commands unanswered (acknowledges nothing?)"
            )
        if (out or command_failures) and self.link_drops and self.connected_once and self.link == "CONNECTED":
            out.append(
                f"vehicle {self.uri} lost its link {self.link_drops} times and came back (latest: "
                f"{self.last_link_drop or 'unknown'})"
            )
        return out + command_failures

    def _restarted(self, process: str, times: int) -> str:
        outage = self.outages_s.get(process)
        return f"{process} {times}" + (f" (back within {outage:.1f} s)" if outage else "")

    def format(self) -> str:
        state = "connected" if self.link == "CONNECTED" else self.link.lower()
        refusals = sum(self.refusals.values())
        parts = [
            f"{state} ({self.handshakes} handshakes)",
            f"{refusals} refusals" + (f" ({self.last_refusal} last)" if refusals else ""),
            f"{self.retries} retries",
            f"{self.unanswered} unanswered",
            f"{self.link_drops} link drops",
        ]
        if self.clamped:
            parts.append(f"{self.clamped} speeds clamped to its limit")
        if self.failsafes:
            parts.append(f"{self.failsafes} failsafes ({self.last_failsafe} last)")
        return f"{self.uri}: " + ", ".join(parts)


@dataclass
class RecordingReport:
    """What the recorder did: where, how much, and what went wrong (its heartbeat counters)."""

    enabled: bool = True
    directory: str = ""
    segments: int = 0
    messages: int = 0
    images: int = 0
    errors: int = 0
    dropped: int = 0
    frames_missed: int = 0
    retention_errors: int = 0
    #: torn segments of earlier runs (or of this one's recorder before a restart) made whole at its start
    repaired_segments: int = 0
    #: times the data disk fell under recorder.reserve_mb and recording stopped
    disk_full_times: int = 0
    over_budget: bool = False

    @classmethod
    def from_stats(cls, directory: str, stats: dict[str, float]) -> RecordingReport:
        counts = {f.name: int(stats.get(f.name, 0)) for f in fields(cls) if f.type == "int"}
        return cls(directory=directory, over_budget=bool(stats.get("over_budget")), **counts)

    @property
    def failing(self) -> bool:
        return bool(self.errors or self.dropped or self.retention_errors)

    def _restarted(self, process: str, times: int) -> str:
        outage = self.outages_s.get(process)
        return f"{process} {times}" + (f" (back within {outage:.1f} s)" if outage else "")

    def format(self) -> str:
        if not self.enabled:
            return "off (recorder.enabled = false)"
        text = f"{self.directory}: {self.segments} segments, {self.messages} messages ({self.images} images)"
        problems = [
            f"{n} {what}"
            for n, what in (
                (self.errors, "write errors"),
                (self.dropped, "messages dropped"),
                (self.frames_missed, "frames missed"),
                (self.retention_errors, "retention errors"),
            )
            if n
        ]
        if self.over_budget:
            problems.append("over its disk budget (unpulled report evidence is kept)")
        if self.disk_full_times:
            problems.append(f"stopped {self.disk_full_times} times: the data disk was full")
        if self.repaired_segments:
            problems.append(f"{self.repaired_segments} torn segments of a crash repaired")
        if problems:
            text += ("; FAILING: " if self.failing else "; ") + ", ".join(problems) + " (see logs/recorder.log)"
        return text


@dataclass
class RunSummary:
    mode: str
    source: str
    vehicle: VehicleReport
    frames: int = 0
    processed: int = 0
    dropped_camera: int = 0
    dropped_perception: int = 0
    #: frames the source's index lists but it could not give (a damaged recording)
    missing_frames: int = 0
    #: report writes the store refused (a full disk), and of them those never stored by the run's end
    store_errors: int = 0
    store_pending: int = 0
    reports_created: int = 0
    reports_updated: int = 0
    #: of the reports the run wrote, those with no evidence image (their frames never reached the reporter)
    reports_without_evidence: int = 0
    commands: int = 0
    stops: int = 0
    #: commands control published (the vehicle process may write fewer: it does not repeat a STOP), and of
    #: them those the safety gate turned into stops, by the fault it held the vehicle for
    control_commands: int = 0
    held: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    #: per restarted process, its longest time from failing to ready again (s)
    outages_s: dict[str, float] = field(default_factory=dict)
    data_dir: str = ""
    elapsed_s: float = 0.0
    recording: RecordingReport = field(default_factory=RecordingReport)
    #: set when the chain could not run at all (a process that never started)
    error: str = ""
    #: the signal that ended the run (SIGINT: Ctrl-C), when one did
    interrupted_by: int | None = None

    @property
    def failures(self) -> list[str]:
        return (
            ([self.error] if self.error else [])
            + self.disk_failures()
            + self.source_failures()
            + self.vehicle.failures()
            + self.held_failures()
        )

    def disk_failures(self) -> list[str]:
        """A full data disk, named as the cause: once it stopped the recorder and the reporter, and the summary
        blamed the vehicle."""
        out = []
        if self.store_pending:
            out.append(
                f"{self.store_pending} report updates could not be stored in {self.data_dir} (the store refused "
                f"{self.store_errors} writes: is the data disk full? see logs/reporter.log)"
            )
        if self.recording.disk_full_times:
            out.append(
                f"the data disk was full: recording in {self.recording.directory} stopped "
                f"{self.recording.disk_full_times} times to keep recorder.reserve_mb free for the reports"
            )
        return out

    def source_failures(self) -> list[str]:
        if not self.missing_frames:
            return []
        return [
            f"source {self.source} could not give {self.missing_frames} of the frames its index lists "
            "(a damaged recording: see logs/camera.log)"
        ]

    def held_failures(self) -> list[str]:
        """The gate held the vehicle for (almost) every command: the run never did its job."""
        held, of = sum(self.held.values()), self.control_commands
        if of < HELD_RUN_MIN_COMMANDS or held < HELD_RUN_SHARE * of:
            return []
        why = ", ".join(f"{fault} {n}" for fault, n in sorted(self.held.items(), key=lambda kv: -kv[1]))
        return [f"the safety gate held vehicle {self.vehicle.uri} for {held} of control's {of} commands ({why})"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def _restarted(self, process: str, times: int) -> str:
        outage = self.outages_s.get(process)
        return f"{process} {times}" + (f" (back within {outage:.1f} s)" if outage else "")

    def _without_evidence(self) -> str:
        n = self.reports_without_evidence
        if not n:
            return ""
        return f"; {n} without an evidence image (their frames never reached the reporter: see logs/reporter.log)"

    def format(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in self.faults.items() if v) or "none"
        restarts = ", ".join(self._restarted(k, v) for k, v in self.restarts.items() if v) or "none"
        n_held = sum(self.held.values())
        why = ", ".join(f"{fault} {n}" for fault, n in sorted(self.held.items(), key=lambda kv: -kv[1]))
        held = f"; the safety gate held {n_held} of control's {self.control_commands} ({why})" if n_held else ""
        lines = [
            f"run        {self.mode} on {self.source} ({self.elapsed_s:.1f} s)",
            f"frames     {self.frames} published, {self.processed} processed; dropped: "
            f"{self.dropped_camera} by the camera, {self.dropped_perception} by perception",
            f"defects    {self.reports_created} reports ({self.reports_updated} updates){self._without_evidence()}",
            f"vehicle    {self.vehicle.format()}",
            *(f"warning    {warning}" for warning in self.vehicle.warnings),
            f"commands   {self.commands} written to the vehicle, {self.stops} of them stops{held}",
            f"faults     {faults}",
            f"restarts   {restarts}",
            f"recording  {self.recording.format()}",
            f"reports    {self.data_dir} (gridscout reports list --data {self.data_dir})",
        ]
        lines += [f"FAILED     {failure}" for failure in self.failures]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok, "failures": self.failures}
