"""The recorder process: every topic of the topic table it can hear, into MCAP segments under the data dir.

It subscribes to `RECORDED_TOPICS` (derived from the topic table, so a new topic is recorded
without a change here), frames on a socket of their own with a short queue (a slow disk drops
frames, counted as `frames_missed`, rather than holding hundreds of megabytes of pixels). Each
batch is recorded in the order the messages were made (their `t_mono_ns`), so a frame comes before
the detections on it. After each segment it applies the retention budget, sparing the evidence of
reports the fleet has not pulled. A failure to record is counted, logged and sent in the
heartbeat (the run summary shows it); it never stops the process, let alone the chain.
"""

from __future__ import annotations

import json
import time

from gridscout.edge.recording.policy import recordings_dir
from gridscout.edge.recording.recorder import CONFIG_KEY, Recorder
from gridscout.edge.recording.repair import repair_torn
from gridscout.edge.recording.retention import enforce_retention
from gridscout.edge.recording.topics import RECORDED_TOPICS
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.bus import Received
from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.settings import recorder_settings
from gridscout.hardware.secrets import redact_config, redact_uri

#: frames queued for the recorder at most (a 640x480 frame is 0.9 MB); the rest of the bus gets `BUS_HWM`
FRAMES_HWM = 20
BUS_HWM = 2000


def recorded_config(config: dict) -> str:
    """The run's config as the recording keeps it: JSON, without the API token or a camera's credentials
    (recordings get shared)."""
    return json.dumps(redact_config(config), sort_keys=True, separators=(",", ":"))


class RecorderProcess:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        cfg = rt.config.recorder
        self.settings = recorder_settings(cfg)
        self.directory = recordings_dir(cfg.dir, rt.spec.data_dir)
        repaired = repair_torn(self.directory)  # an earlier run's (or this one's, before a restart) crash
        self.frames = rt.subscriber(["frames"], hwm=FRAMES_HWM)
        self.bus = rt.subscriber([t for t in RECORDED_TOPICS if t != "frames"], hwm=BUS_HWM)
        self.recorder = Recorder(
            self.directory,
            self.settings,
            run_id=rt.spec.run_id,
            metadata={
                "device_id": rt.spec.device_id,
                "source": redact_uri(rt.spec.source),
                "model": rt.spec.model,
                "mode": rt.mode,
                "restarts": str(rt.restarts),
                # the resolved config, so `gridscout replay` re-runs the stages with the settings the run had
                CONFIG_KEY: recorded_config(rt.spec.config),
            },
            on_rotate=lambda _closed: self.apply_retention(),
            on_disk_low=self.apply_retention,
        )
        self.stats = self.recorder.stats
        self.stats["retention_deleted"] = 0.0
        self.stats["over_budget"] = 0.0
        self.stats["repaired_segments"] = float(len(repaired))

    def apply_retention(self) -> None:
        with ReportStore(self.rt.spec.data_dir, device_id=self.rt.spec.device_id) as store:
            protected = [(first, last) for _, first, last in store.unpulled_spans()]
        keep = [p for p in (self.recorder.current_path,) if p is not None]
        shortfall = max(0, self.settings.reserve_bytes - self.recorder.free_bytes())  # room the reports need
        result = enforce_retention(
            self.directory, self.settings.max_total_bytes, protected, keep=keep, free_up_bytes=shortfall
        )
        self.stats["retention_deleted"] += len(result.deleted)
        self.stats["over_budget"] = float(result.over_budget)
        for path in result.deleted:
            self.rt.log.info("retention: deleted %s", path.name)

    def take(self, timeout_s: float) -> int:
        batch: list[Received] = []
        first = self.frames.recv(timeout_s)
        if first is not None:
            batch.append(first)
        batch += self.frames.drain() + self.bus.drain()
        batch.sort(key=lambda r: getattr(r.msg, "t_mono_ns", 0))
        for received in batch:
            self.recorder.record(received.topic, received.msg, received.image)
        return len(batch)

    def run(self) -> int:
        try:
            self.apply_retention()
        except Exception as exc:  # retention failing must not stop the recording
            self.stats["retention_errors"] += 1
            self.rt.log.error("retention at start-up: %s: %s", type(exc).__name__, exc)
        if not self.rt.wait_until_running(self.stats, idle=lambda: self.take(0.02)) and self.rt.stop_requested:
            self.recorder.close()
            return 0
        try:
            # Not on `stopping`: the shutdown is recorded too (the reporter's final writes, the vehicle's STOP
            # and its acknowledgement). The supervisor SIGTERMs the rest of the chain once the vehicle has stopped.
            while not self.rt.stop_requested:
                self.take(0.05)
                self.recorder.tick()
                self.rt.heartbeat.beat(stats=self.stats)
                self.rt.poll()
            deadline = time.monotonic() + 0.5
            while self.take(0.05) and time.monotonic() < deadline:  # what was in flight when told to stop
                pass
        finally:
            self.recorder.close()
            self.rt.heartbeat.beat(stats=self.stats, force=True)
            if self.stats["errors"]:
                self.rt.log.error(
                    "recording had %d errors and dropped %d messages; last: %s",
                    self.stats["errors"], self.stats["dropped"], self.recorder.last_error,
                )  # fmt: skip
            self.frames.close()
            self.bus.close()
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_daemon("recorder", lambda rt: RecorderProcess(rt).run(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
