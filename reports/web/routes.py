"""The page's routes, mounted on a FastAPI app by `mount_web` (the device's API and the fleet server alike).

- `GET /`: the page, or the login form without a valid session.
- `POST /ui/login` {"token"}: the API token, compared in constant time, buys an HttpOnly, SameSite=Strict
  session cookie (Secure over HTTPS); `POST /ui/logout` ends it.
- `/ui/api/...`: the page's JSON, for a valid session only (401 otherwise, which sends the page back to login);
  every POST also needs the session's CSRF token in the `X-CSRF-Token` header, and a cross-site Origin is refused.
- `/ui/api/live/events` (server-sent events) and `/ui/live.mjpeg`: the running chain, where there is one.
- `/ui/tiles/{z}/{x}/{y}`: the operator's MBTiles base map, where one is given.
- `/ui/static/...`: the page's own scripts and styles, Leaflet's included.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time, and they name
# dependencies local to mount_web.
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from gridscout.reports.review import NOTE_MAX_CHARS, SEVERITIES, Review, ReviewError, Severity, Verdict
from gridscout.reports.web.source import FILTERS, LiveView, Narrow, ReportSource
from gridscout.reports.web.tiles import Tiles

STATIC = Path(__file__).parent / "static"
COOKIE = "gridscout_session"
#: a session lasts a working day; a restarted server forgets every session (the page asks to log in again)
SESSION_S = 12 * 3600
PAGE_MAX = 200
#: a review filter in a query
State = Annotated[str, Query(pattern="^(" + "|".join(FILTERS) + ")$")]
#: how often the live state is sent, and the MJPEG part boundary
LIVE_EVENT_S = 0.5
BOUNDARY = "gridscout-frame"


@dataclass
class _Session:
    csrf: str
    expires: float


@dataclass
class Sessions:
    """Sessions in memory: id -> CSRF token and expiry."""

    _by_id: dict[str, _Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> tuple[str, str]:
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            self._by_id = {k: v for k, v in self._by_id.items() if v.expires > now}
            self._by_id[session_id] = _Session(csrf, now + SESSION_S)
        return session_id, csrf

    def get(self, session_id: str | None) -> _Session | None:
        with self._lock:
            found = self._by_id.get(session_id or "")
        return found if found and found.expires > time.monotonic() else None

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)


class Login(BaseModel):
    token: str = Field(max_length=1000)


class ReviewBody(BaseModel):
    state: Verdict
    severity: Severity | None = None
    class_name: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)


def _same_origin(request: Request) -> None:
    """Refuse a browser's cross-site POST (SameSite=Strict already keeps the cookie off it; this is belt and braces)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, detail=f"cross-site request from {origin} refused")


@dataclass(frozen=True)
class PageExtras:
    """What a server may add to the page: the mission's `route` (GeoJSON) on the map, the running chain's `live`
    view, and a base map (`tiles`; else none)."""

    route: dict | None = None
    live: LiveView | None = None
    tiles: Tiles | None = None


def mount_web(app: FastAPI, source: ReportSource, token: str, extras: PageExtras | None = None) -> None:
    """Serve the page for `source` on `app`, behind `token`, with `extras`."""
    extras = extras or PageExtras()
    live, tiles = extras.live, extras.tiles
    if not token:
        raise ValueError("the page needs a non-empty token")
    expected = token.encode()
    sessions = Sessions()
    router = APIRouter(include_in_schema=False)

    def session(request: Request) -> _Session:
        found = sessions.get(request.cookies.get(COOKIE))
        if found is None:
            raise HTTPException(401, detail="log in first: no session, or it has expired")
        return found

    def posting(request: Request, current: Annotated[_Session, Depends(session)]) -> _Session:
        _same_origin(request)
        given = request.headers.get("x-csrf-token", "").encode()
        if not hmac.compare_digest(given, current.csrf.encode()):
            raise HTTPException(403, detail="missing or wrong X-CSRF-Token: reload the page")
        return current

    @router.get("/")
    def page(request: Request) -> FileResponse:
        known = sessions.get(request.cookies.get(COOKIE)) is not None
        headers = {"Cache-Control": "no-store"}
        return FileResponse(STATIC / ("index.html" if known else "login.html"), headers=headers)

    @router.post("/ui/login", status_code=204)
    def login(body: Login, request: Request, response: Response) -> None:
        _same_origin(request)
        if not hmac.compare_digest(body.token.strip().encode(), expected):
            raise HTTPException(401, detail="wrong token")
        session_id, _ = sessions.start()
        response.set_cookie(
            COOKIE, session_id, max_age=SESSION_S, httponly=True, samesite="strict", path="/",
            secure=request.url.scheme == "https",
        )  # fmt: skip

    @router.post("/ui/logout", status_code=204)
    def logout(request: Request, response: Response, _: Annotated[_Session, Depends(posting)]) -> None:
        sessions.end(request.cookies.get(COOKIE))
        response.delete_cookie(COOKIE, path="/")

    @router.get("/ui/api/session")
    def about(current: Annotated[_Session, Depends(session)]) -> dict[str, Any]:
        return {
            "title": source.title, "csrf": current.csrf, "classes": source.classes(), "severities": SEVERITIES,
            "filters": FILTERS, "counts": source.counts(Narrow()), "live": live is not None,
            "tiles": tiles.for_page() if tiles else None, "facets": source.facets(),
        }  # fmt: skip

    def narrowing(
        device: Annotated[str | None, Query(max_length=200)] = None,
        class_name: Annotated[str | None, Query(max_length=100)] = None,
        severity: Annotated[Severity | None, Query()] = None,
        line: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Narrow:
        return Narrow(device or None, class_name or None, severity, line or None)

    @router.get("/ui/api/reports", dependencies=[Depends(session)])
    def reports(
        narrow: Annotated[Narrow, Depends(narrowing)],
        state: State = "new",
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    ) -> dict[str, Any]:
        counts = source.counts(narrow)
        return {"items": source.page(state, offset, limit, narrow), "total": counts[state], "counts": counts}

    def item_or_404(key: str) -> dict[str, Any]:
        found = source.item(key)
        if found is None:
            raise HTTPException(404, detail=f"no report {key}")
        return found

    @router.get("/ui/api/reports/{key}", dependencies=[Depends(session)])
    def item(key: str) -> dict[str, Any]:
        return item_or_404(key)

    @router.get("/ui/api/reports/{key}/evidence.jpg", dependencies=[Depends(session)])
    def evidence(key: str) -> Response:
        jpeg = source.evidence(key)
        if jpeg is None:
            raise HTTPException(404, detail=f"no evidence for report {key}")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @router.post("/ui/api/reports/{key}/review", dependencies=[Depends(posting)])
    def review(key: str, body: ReviewBody) -> dict[str, Any]:
        try:
            return source.review(key, Review(body.state, body.severity, body.class_name, body.note))
        except KeyError:
            raise HTTPException(404, detail=f"no report {key}") from None
        except ReviewError as exc:
            raise HTTPException(422, detail=str(exc)) from None

    @router.get("/ui/api/map", dependencies=[Depends(session)])
    def map_data(narrow: Annotated[Narrow, Depends(narrowing)], state: State = "all") -> dict[str, Any]:
        return {
            "markers": source.markers(state, narrow),
            "route": source.route(),
            "track": live.track() if live else None,
        }

    @router.get("/ui/tiles/{z}/{x}/{y}", dependencies=[Depends(session)])
    def tile(z: int, x: int, y: int) -> Response:
        found = tiles.tile(z, x, y) if tiles else None
        if found is None:
            raise HTTPException(404, detail=f"no tile {z}/{x}/{y}")
        return Response(found, media_type=tiles.media_type, headers={"Cache-Control": "private, max-age=86400"})

    def live_or_404() -> LiveView:
        if live is None:
            raise HTTPException(404, detail="no live view here: only a device's `gridscout run` has one")
        return live

    @router.get("/ui/api/live/events", dependencies=[Depends(session)])
    def live_events() -> StreamingResponse:
        view = live_or_404()

        def events():
            while not view.closed:
                yield f"data: {json.dumps(view.snapshot())}\n\n"
                time.sleep(LIVE_EVENT_S)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @router.get("/ui/live.mjpeg", dependencies=[Depends(session)])
    def live_pictures() -> StreamingResponse:
        view = live_or_404()

        def parts():
            for jpeg in view.frames():
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n").encode()
                yield jpeg + b"\r\n"

        return StreamingResponse(
            parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}", headers={"Cache-Control": "no-store"}
        )

    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
