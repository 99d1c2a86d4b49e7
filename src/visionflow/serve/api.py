"""The REST API (FastAPI): streams joining and leaving, inference interval, health, stats,
Prometheus metrics — on DeepStream's REST server paths where they exist.

Every answer is JSON in DeepStream's envelope, ``{"status": "HTTP/1.1 200 OK", "reason":
"STREAM_ADD_SUCCESS", …}``, with visionflow's fields beside it. Errors keep the envelope and a
reason that says what was wrong: 400 for a body that is not JSON (or not a JSON object), 422 for
a body or parameter of the wrong shape or type (naming the field), 404 for an unknown stream or
element, 409 for a conflict (a camera id in use, no room for a stream, a pipeline that has
ended), 401 without the token. The API stays up whatever a request holds.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from visionflow.errors import ConfigError, SourceNotFoundError, VisionflowError
from visionflow.serve import metrics
from visionflow.serve.control import StreamConflictError, UnknownStreamError
from visionflow.serve.http import (
    API,
    RequestRefusedError,
    describe,
    parse,
    read_json,
    reply,
)
from visionflow.serve.protocol import RuntimeControl
from visionflow.serve.record import add_record_routes
from visionflow.serve.schemas import (
    DeepStreamInterval,
    SensorMessage,
    SetInterval,
    StreamAdd,
    StreamRemove,
    is_deepstream,
)

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenAuth:
    """Refuses (401) every request without the token: ``Authorization: Bearer <token>``, an
    ``X-API-Token`` header, or a ``token`` query parameter (for a browser's ``<img>``)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = reply(401, "a valid API token is required (Authorization: Bearer <token>)")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        given: list[bytes] = []
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given.append(value[7:].strip())
            elif name == b"x-api-token":
                given.append(value.strip())
        from urllib.parse import parse_qs

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given += [t.encode() for t in query.get("token", ())]
        return any(hmac.compare_digest(t, self.token) for t in given)


def create_app(controller: RuntimeControl, *, token: str | None = None) -> FastAPI:
    """The API of one pipeline (a :class:`~visionflow.serve.control.Controller`) or of a Ray
    cluster run (a ``ClusterController``). With ``token`` every request must carry it."""
    app = FastAPI(
        title="visionflow",
        description="Runtime control, stats and metrics of a visionflow pipeline.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.controller = controller
    registry = metrics.registry_for(controller)

    @app.exception_handler(RequestRefusedError)
    async def _bad(_: Request, exc: RequestRefusedError) -> JSONResponse:
        return reply(exc.code, exc.reason)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return reply(422, describe(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return reply(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("API request failed")
        return reply(500, f"{type(exc).__name__}: {exc}")

    # -- streams -----------------------------------------------------------------------------
    @app.post(f"{API}/stream/add")
    async def stream_add(request: Request) -> JSONResponse:
        """Add a stream: DeepStream's sensor message or ``{"uri": …}``."""
        data = await read_json(request)
        if is_deepstream(data, "value", "event", "key", "headers"):
            sensor = parse(SensorMessage, data).sensor
            if "add" not in sensor.change and "streaming" not in sensor.change:
                raise RequestRefusedError(
                    422,
                    f"value.change: '{sensor.change}' does not add a stream (a change "
                    "containing 'add' or 'streaming' does, as in DeepStream)",
                )
            add = StreamAdd(
                uri=sensor.camera_url, camera_id=sensor.camera_id, camera_name=sensor.camera_name
            )
        else:
            add = parse(StreamAdd, data)
        try:
            entry = controller.add_stream(
                add.uri,
                camera_id=add.camera_id,
                camera_name=add.camera_name,
                live=add.live,
                loop=add.loop,
            )
        except StreamConflictError as exc:
            raise RequestRefusedError(409, str(exc)) from None
        except (ConfigError, SourceNotFoundError) as exc:
            raise RequestRefusedError(422, f"camera_url: {exc}") from None
        except VisionflowError as exc:
            raise RequestRefusedError(409, str(exc)) from None
        return reply(
            200,
            "STREAM_ADD_SUCCESS",
            source_id=entry.source_id,
            camera_id=entry.camera_id,
            camera_name=entry.camera_name,
            camera_url=entry.uri,
        )

    @app.post(f"{API}/stream/remove")
    async def stream_remove(request: Request) -> JSONResponse:
        """Remove a stream: DeepStream's sensor message (found by camera_url and camera_id) or
        ``{"source_id": N}`` / ``{"camera_id": …}``; answers once its frames have flushed (or
        after ``wait_s``)."""
        data = await read_json(request)
        wait_s = 10.0
        try:
            if is_deepstream(data, "value", "event", "key", "headers"):
                sensor = parse(SensorMessage, data).sensor
                if "remove" not in sensor.change:
                    raise RequestRefusedError(
                        422,
                        f"value.change: '{sensor.change}' does not remove a stream (a change "
                        "containing 'remove' does, as in DeepStream)",
                    )
                entry = controller.find(camera_id=sensor.camera_id, uri=sensor.camera_url)
            else:
                body = parse(StreamRemove, data)
                wait_s = body.wait_s
                if body.source_id is not None:
                    entry = controller.find(source_id=body.source_id)
                else:
                    entry = controller.find(camera_id=body.camera_id)
            controller.remove_stream(entry.source_id)
        except UnknownStreamError as exc:
            raise RequestRefusedError(404, str(exc)) from None
        flushed = await _wait_flushed(controller, entry.source_id, wait_s)
        return reply(
            200,
            "STREAM_REMOVE_SUCCESS",
            source_id=entry.source_id,
            camera_id=entry.camera_id,
            flushed=flushed,
            state=controller.state(entry.source_id),
        )

    @app.get(f"{API}/stream/get-stream-info")
    async def stream_info() -> JSONResponse:
        """The streams running, as DeepStream's ``stream-info``."""
        entries = controller.streams()
        info = [
            {
                "source_id": e.source_id,
                "camera_id": e.camera_id,
                "camera_name": e.camera_name,
                "camera_url": e.uri,
                "state": controller.state(e.source_id),
            }
            for e in entries
        ]
        return reply(
            200,
            "GET_LIVE_STREAM_INFO_SUCCESS",
            **{"stream-info": {"stream-count": len(info), "stream-info": info}},
        )

    @app.get(f"{API}/stats")
    async def stats() -> JSONResponse:
        """Figures of every stream the pipeline has had, and the totals."""
        return reply(200, "STATS_SUCCESS", streams=controller.stream_stats(), **controller.health())

    @app.get(API + "/stream/{source_id}/stats")
    async def stream_stats(source_id: int) -> JSONResponse:
        """Figures of one stream."""
        try:
            (figures,) = controller.stream_stats(source_id)
        except UnknownStreamError as exc:
            raise RequestRefusedError(404, str(exc)) from None
        return reply(200, "STATS_SUCCESS", **figures)

    # -- inference ---------------------------------------------------------------------------
    async def set_interval(request: Request) -> JSONResponse:
        data = await read_json(request)
        if is_deepstream(data, "stream"):
            element, interval = None, parse(DeepStreamInterval, data).stream.interval
        else:
            body = parse(SetInterval, data)
            element, interval = body.element, body.interval
        try:
            name = controller.set_interval(element, interval)
        except VisionflowError as exc:
            raise RequestRefusedError(404, str(exc)) from None
        return reply(200, "INFER_INTERVAL_UPDATE_SUCCESS", element=name, interval=interval)

    for path in (f"{API}/infer/set-interval", f"{API}/inferserver/set-interval"):
        app.post(path, summary="Set an inference element's interval")(set_interval)

    # -- health and life cycle ---------------------------------------------------------------
    @app.get(f"{API}/health")
    async def health() -> JSONResponse:
        return reply(200, "HEALTH_SUCCESS", **controller.health())

    @app.get(f"{API}/health/get-dsready-state")
    async def ready() -> JSONResponse:
        p = controller.pipeline
        ready = p.running and not p.draining
        return reply(200, "DS_READY_STATE_SUCCESS", **{"ds-ready-state": ready})

    @app.post(f"{API}/app/quit")
    async def quit_app() -> JSONResponse:
        """Drain the pipeline and end the run (as Ctrl-C does)."""
        controller.pipeline.stop()
        return reply(200, "QUIT_SUCCESS")

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(registry), media_type=metrics.CONTENT_TYPE)

    add_record_routes(app, controller)  # smart record: /api/v1/record…
    if token:
        app.add_middleware(TokenAuth, token=token)
    return app


async def _wait_flushed(controller: RuntimeControl, source_id: int, wait_s: float) -> bool:
    """Wait (without blocking the server) until the stream's last frame left the pipeline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        if controller.pipeline.wait_flushed(source_id, 0):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
