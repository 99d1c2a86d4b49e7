"""Request bodies of the REST API: DeepStream's REST server shapes and visionflow's own.

DeepStream's bodies (``nvds_rest_server``) are read as DeepStream reads them: unknown fields
are ignored, ``"event"`` stands for ``"value"``, a sensor ``change`` containing ``add`` or
``streaming`` adds and one containing ``remove`` removes. visionflow's own bodies are strict:
an unknown field is an error naming it. Numbers and flags are strict too (``"3"`` is not 3).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator


class _Own(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _DeepStream(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StreamAdd(_Own):
    """visionflow's ``/api/v1/stream/add`` body."""

    uri: str = Field(min_length=1, description="A file, file:// URI, rtsp://, http(s)://…")
    camera_id: str | None = Field(None, min_length=1, description="Your id for the stream.")
    camera_name: str | None = Field(None, description="A name for the stream.")
    live: StrictBool | None = Field(None, description="Drop frames when behind (default: by URI).")
    loop: StrictBool = Field(False, description="Restart a file at its end.")


class StreamRemove(_Own):
    """visionflow's ``/api/v1/stream/remove`` body: one of ``source_id`` or ``camera_id``."""

    source_id: StrictInt | None = Field(None, ge=0)
    camera_id: str | None = Field(None, min_length=1)
    wait_s: float = Field(
        10.0, ge=0, le=300, description="Seconds to wait for the stream's frames to flush."
    )

    @model_validator(mode="after")
    def _one_key(self) -> StreamRemove:
        if (self.source_id is None) == (self.camera_id is None):
            raise ValueError("give exactly one of source_id or camera_id")
        return self


class Sensor(_DeepStream):
    """DeepStream's sensor description (``value`` / ``event`` of a stream message)."""

    camera_id: str = Field(min_length=1)
    camera_url: str = Field(min_length=1)
    camera_name: str | None = None
    change: str
    metadata: dict[str, Any] | None = None


class SensorMessage(_DeepStream):
    """DeepStream's ``/api/v1/stream/add`` and ``/remove`` body:
    ``{"key": "sensor", "value": {camera_id, camera_name, camera_url, change, metadata},
    "headers": {...}}`` (``"event"`` accepted for ``"value"``)."""

    key: str | None = None
    value: Sensor | None = None
    event: Sensor | None = None
    headers: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _sensor(self) -> SensorMessage:
        if self.value is None and self.event is None:
            raise ValueError("a DeepStream stream message needs a 'value' (or 'event') object")
        return self

    @property
    def sensor(self) -> Sensor:
        sensor = self.value if self.value is not None else self.event
        if sensor is None:  # _sensor refuses such a message
            raise ValueError("a DeepStream stream message needs a 'value' (or 'event') object")
        return sensor


class IntervalStream(_DeepStream):
    stream_id: str | StrictInt | None = None
    interval: StrictInt = Field(ge=0)


class DeepStreamInterval(_DeepStream):
    """DeepStream's ``/api/v1/infer/set-interval`` body: ``{"stream": {"stream_id": "0",
    "interval": 2}}`` (it sets the primary inference element's interval)."""

    stream: IntervalStream


class SetInterval(_Own):
    """visionflow's ``/api/v1/infer/set-interval`` body."""

    element: str | None = Field(None, description="Inference element (default: the first).")
    interval: StrictInt = Field(ge=0, description="Batches skipped between inferences.")


def is_deepstream(data: dict[str, Any], *keys: str) -> bool:
    """Whether a body is in DeepStream's shape (has one of its wrapper keys)."""
    return any(key in data for key in keys)
