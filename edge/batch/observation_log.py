"""Where a batch worker's reports go: a log of their observations, in order, that the parent (the report store's one
writer) applies in one transaction per item. The worker may run on another machine than the store."""

from __future__ import annotations

from gridscout.edge.reports.store import ReportObservation, Written, improves, report_id_for


class ObservationLog:
    """Stands where the report store stands for `DetectReports`, answering each write as the store would (its id,
    whether it is new, its best class and confidence so far); `seq` is the observation's place in the log."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.observations: list[ReportObservation] = []
        self._best: dict[str, tuple[str, float]] = {}

    def write(self, obs: ReportObservation) -> Written:
        report_id = report_id_for(self.device_id, obs.track_key)
        best = self._best.get(report_id)
        if improves(obs.confidence, None if best is None else best[1]):
            self._best[report_id] = (obs.class_name, obs.confidence)
        self.observations.append(obs)
        return Written(report_id, len(self.observations), best is None, *self._best[report_id])

    def close(self) -> None:
        pass
