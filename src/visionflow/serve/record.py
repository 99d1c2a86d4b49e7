"""REST routes of smart record: start and stop a source's recording, list the recordings.

``POST /api/v1/record/start`` ``{"source_id": 0, "start_time": 5, "duration": 10}`` records the
source from ``start_time`` seconds before the newest packet its cache holds to ``duration``
seconds after (the source's ``smart_record`` settings where left out); ``POST
/api/v1/record/stop`` ``{"source_id": 0}`` ends its recording; ``GET /api/v1/record`` lists every
recording. A source without ``smart_record`` is a 404; a pipeline without any, a 409.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from visionflow.errors import VisionflowError
from visionflow.serve.http import API, RequestRefusedError, parse, read_json, reply


class RecordStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: int = Field(ge=0)
    start_time: float | None = Field(None, ge=0)
    duration: float | None = Field(None, ge=0)


class RecordStop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: int = Field(ge=0)


def add_record_routes(app: FastAPI, controller: Any) -> None:
    """Mount the smart-record routes on ``app`` (called by ``create_app``)."""
    from visionflow.record import SmartRecord, SmartRecorder

    def element() -> SmartRecord:
        try:
            found = controller.pipeline.element("smart_record")
        except (VisionflowError, AttributeError):
            raise RequestRefusedError(
                409, "no source of this pipeline has smart_record (docs/recording.md)"
            ) from None
        assert isinstance(found, SmartRecord)
        return found

    def recorder(source_id: int) -> SmartRecorder:
        found = element().recorders.get(source_id)
        if found is None:
            raise RequestRefusedError(404, f"source {source_id} has no smart_record")
        return found

    @app.post(f"{API}/record/start")
    async def record_start(request: Request) -> JSONResponse:
        body = parse(RecordStart, await read_json(request))
        recording = recorder(body.source_id).start(
            start_time=body.start_time, duration=body.duration, reason="api"
        )
        return reply(200, "RECORD_START_SUCCESS", recording=recording.to_json())

    @app.post(f"{API}/record/stop")
    async def record_stop(request: Request) -> JSONResponse:
        body = parse(RecordStop, await read_json(request))
        target = recorder(body.source_id)
        if not target.recording:
            raise RequestRefusedError(409, f"source {body.source_id} is not recording")
        target.stop()
        return reply(200, "RECORD_STOP_SUCCESS")

    @app.get(f"{API}/record")
    async def record_list() -> JSONResponse:
        return reply(
            200, "RECORD_LIST_SUCCESS", recordings=[r.to_json() for r in element().recordings]
        )
