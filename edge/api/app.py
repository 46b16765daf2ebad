"""The fleet API app: health, paged reports by seq, evidence JPEGs and reviews.

Every route but `/v1/health` needs `Authorization: Bearer <token>`. Endpoints are sync, so uvicorn
runs them in a thread pool; they share one `ReportStore`, which serialises access with a lock.
"""

from __future__ import annotations

import hmac
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gridscout.edge.api.web_source import DeviceSource
from gridscout.edge.reports.report import Report
from gridscout.edge.reports.store import MAX_SEQ, ReportStore
from gridscout.reports.review import NOTE_MAX_CHARS, Review, ReviewError, Severity, Verdict
from gridscout.reports.web.routes import PageExtras, mount_web

log = logging.getLogger(__name__)

API_VERSION = "1.0"
NOT_FOUND = {404: {"description": "no report with this id"}}
# Module level, not inside create_app: FastAPI resolves these string annotations from module globals.
BEARER = HTTPBearer(auto_error=False, description="the device's API token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def _package_version() -> str:
    try:
        return metadata.version("gridscout")
    except metadata.PackageNotFoundError:
        return "0+source"


class Health(BaseModel):
    status: str = Field(description="'ok' when the store answers")
    device_id: str
    reports: int = Field(description="number of reports on this device")
    latest_seq: int = Field(description="highest seq; a puller that has it is up to date")
    version: str = Field(description="GridScout software version")
    api_version: str


class ReportPage(BaseModel):
    device_id: str
    reports: list[Report] = Field(description="reports with seq > since, in seq order")
    next_since: int = Field(description="pass as `since` for the next page: last seq returned, or `since` if none")


class ReviewRequest(BaseModel):
    state: Verdict
    severity: Severity | None = None
    class_name: str | None = Field(default=None, description="the class the finding really is, if not the detector's")
    note: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)


def create_app(data_dir: Path, token: str, page: PageExtras | None = None) -> FastAPI:
    """The fleet API over the report store in `data_dir`, guarded by `token`, and the review page at `/` (with
    the mission's route on its map, the running chain's live view inside `gridscout run`, a base map: `page`)."""
    page = page or PageExtras()
    if not token:
        raise ValueError("the fleet API needs a non-empty token")
    store = ReportStore(data_dir)
    expected = token.encode()

    def require_token(credentials: Credentials) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def report_or_404(report_id: str) -> Report:
        report = store.get(report_id)
        if report is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no report {report_id}")
        return report

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="GridScout fleet API",
        version=API_VERSION,
        description=(
            "Defect reports from one GridScout device. Page with `GET /v1/reports?since=<seq>`: every insert "
            "and update takes a new seq, so a puller that keeps `next_since` never misses a change."
        ),
        lifespan=lifespan,
    )
    authed = [Depends(require_token)]
    unauthorized = {401: {"description": "missing or invalid bearer token"}}

    @app.get("/v1/health", response_model=Health, summary="Liveness and store summary (no token needed)")
    def health() -> Health:
        return Health(
            status="ok",
            device_id=store.device_id,
            reports=store.count(),
            latest_seq=store.latest_seq(),
            version=_package_version(),
            api_version=API_VERSION,
        )

    @app.get(
        "/v1/reports", response_model=ReportPage, dependencies=authed, responses=unauthorized, summary="Page reports"
    )
    def list_reports(
        since: Annotated[
            int, Query(ge=0, le=MAX_SEQ, description="return reports with seq greater than this (at most the latest)")
        ] = 0,
        limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    ) -> ReportPage:
        latest = store.latest_seq()
        if since > latest:  # never taken as a pull: it would unprotect evidence nobody has
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"since={since} is beyond this device's latest seq {latest}: a cursor from another device "
                "or from before its store was reset; pull from since=0",
            )
        if since:  # the puller holds everything up to `since`: recordings of those reports may go
            try:
                store.mark_pulled(since)
            except sqlite3.OperationalError as exc:  # a full disk: the page is still served, the mark waits
                log.warning("could not mark seq %d pulled: %s", since, exc)
        reports = store.list(since=since, limit=limit)
        return ReportPage(device_id=store.device_id, reports=reports, next_since=reports[-1].seq if reports else since)

    @app.get(
        "/v1/reports/{report_id}",
        response_model=Report,
        dependencies=authed,
        responses={**unauthorized, **NOT_FOUND},
        summary="One report",
    )
    def get_report(report_id: str) -> Report:
        return report_or_404(report_id)

    @app.get(
        "/v1/reports/{report_id}/evidence.jpg",
        dependencies=authed,
        response_class=Response,
        responses={
            200: {"content": {"image/jpeg": {}}, "description": "the best frame"},
            **unauthorized,
            404: {"description": "no such report, or it has no evidence"},
        },
        summary="The report's evidence JPEG, as the camera saw it or with the finding drawn on it",
    )
    def get_evidence(
        report_id: str,
        drawn: Annotated[bool, Query(description="draw the box, class, confidence and model on a copy")] = False,
    ) -> Response:
        jpeg = store.evidence(report_id)
        if jpeg is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no evidence for report {report_id}")
        if drawn:
            from gridscout.edge.reports.evidence import annotated_evidence  # OpenCV, only when asked for

            try:
                jpeg = annotated_evidence(report_or_404(report_id), jpeg)
            except ValueError as exc:
                raise HTTPException(422, detail=str(exc)) from None
        return Response(content=jpeg, media_type="image/jpeg")

    @app.post(
        "/v1/reports/{report_id}/review",
        response_model=Report,
        dependencies=authed,
        responses={**unauthorized, **NOT_FOUND},
        summary="Confirm or reject a report, with severity, class and note (bumps its seq)",
    )
    def review_report(report_id: str, review: ReviewRequest) -> Report:
        try:
            return store.set_review(report_id, Review(review.state, review.severity, review.class_name, review.note))
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no report {report_id}") from None
        except ReviewError as exc:
            raise HTTPException(422, detail=str(exc)) from None

    mount_web(app, DeviceSource(store, page.route), token, page)
    return app
