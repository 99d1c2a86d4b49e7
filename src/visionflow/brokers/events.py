"""Events: things that happened on a frame, schema ``visionflow.event/1`` (``docs/events.md``).

An event is a JSON-ready dict kept in the frame's metadata under ``FrameMeta.user["events"]``
(:data:`EVENTS`), so the JSON Lines sink writes it and the message converter sends it. The
analytics element's results become events through :class:`~visionflow.brokers.analytics.
AnalyticsEvents`; a probe emits its own with :func:`emit_event`::

    from visionflow.brokers import emit_event

    def loitering(batch):
        for meta in batch.meta.frames:
            if len(meta.detections) > 10:
                emit_event(meta, "crowd", data={"count": len(meta.detections)})
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from visionflow.core.meta import UNTRACKED, FrameMeta

SCHEMA = "visionflow.event/1"
"""The ``schema`` field of every event; the number changes only when a field changes meaning or
disappears (new fields and new event types may appear within a version)."""

EVENTS = "events"
"""``FrameMeta.user`` key of the frame's events (a list of dicts)."""

#: DeepStream's ``NvDsEventType`` names (``type`` of ``NvDsEventMsgMeta``).
DEEPSTREAM_TYPES = ("entry", "exit", "moving", "stopped", "empty", "parked", "reset", "custom")

#: visionflow's own event types and the DeepStream event type each maps to by default.
BUILTIN_TYPES = {
    "roi_entry": "entry",
    "roi_exit": "exit",
    "line_crossing": "entry",
    "overcrowding_start": "custom",
    "overcrowding_end": "custom",
}

_TYPE_NAME = re.compile(r"[a-z][a-z0-9_.\-]{0,63}")


def timestamp(now: datetime | None = None) -> str:
    """UTC time as DeepStream writes ``@timestamp``: ``2026-12-07T17:20:32.593Z`` (RFC 3339,
    milliseconds)."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def object_record(meta: FrameMeta, index: int) -> dict[str, Any]:
    """The ``object`` of an event: object ``index`` of the frame's detections (pixels of the
    frame as it is in the pipeline)."""
    dets = meta.detections
    if not 0 <= index < len(dets):
        raise IndexError(f"object_index {index} out of range: the frame has {len(dets)} objects")
    left, top, right, bottom = (float(v) for v in dets.xyxy[index])
    tracker = int(dets.tracker_id[index])
    return {
        "index": index,
        "tracker_id": None if tracker == UNTRACKED else tracker,
        "class_id": int(dets.class_id[index]),
        "label": dets.labels[index],
        "confidence": round(float(dets.confidence[index]), 4),
        "bbox": {
            "left": round(left, 2),
            "top": round(top, 2),
            "width": round(right - left, 2),
            "height": round(bottom - top, 2),
        },
        "classifications": {
            c.classifier_type or c.attribute or str(c.component_id): c.label
            for c in dets.classifications[index]
        },
    }


def emit_event(
    meta: FrameMeta,
    type: str,
    *,
    object_index: int | None = None,
    data: Mapping[str, Any] | None = None,
    component_id: int = 0,
    deepstream_type: str | None = None,
) -> dict[str, Any]:
    """Add an event to a frame's metadata and return it.

    Args:
        meta: the frame the event belongs to.
        type: the event type, lower case: ``[a-z][a-z0-9_.-]*``, up to 64 characters.
        object_index: the object of ``meta.detections`` the event is about, or None.
        data: JSON-serialisable details (NumPy scalars and arrays are converted).
        component_id: who raised it (the ``comp-id`` converters filter on; 0: anyone).
        deepstream_type: how DeepStream's schemas name it (``entry``, ``exit``, ``moving``,
            ``stopped``, ``empty``, ``parked``, ``reset`` or ``custom``); default: the built-in
            mapping of :data:`BUILTIN_TYPES`, ``custom`` for other types.

    Raises:
        ValueError: a bad type name, DeepStream type or data that JSON cannot hold.
        IndexError: ``object_index`` is not an object of the frame.
    """
    if not isinstance(type, str) or not _TYPE_NAME.fullmatch(type):
        raise ValueError(
            f"event type {type!r} is invalid; expected lower-case letters, digits, '_', '.' "
            "or '-', starting with a letter, at most 64 characters"
        )
    ds_type = deepstream_type or BUILTIN_TYPES.get(type, "custom")
    if ds_type not in DEEPSTREAM_TYPES:
        raise ValueError(
            f"deepstream_type {ds_type!r} is invalid; expected one of {', '.join(DEEPSTREAM_TYPES)}"
        )
    details = _json_ready(dict(data or {}), "data")
    time = meta.time
    event: dict[str, Any] = {
        "schema": SCHEMA,
        "id": str(uuid.uuid4()),
        "type": type,
        "deepstream_type": ds_type,
        "timestamp": timestamp(),
        "source_id": meta.source_id,
        "uri": meta.uri,
        "frame_num": meta.frame_num,
        "pts_time": None if time is None else round(time, 6),
        "component_id": int(component_id),
        "object": None if object_index is None else object_record(meta, object_index),
        "data": details,
    }
    meta.user.setdefault(EVENTS, []).append(event)
    return event


def frame_events(meta: FrameMeta) -> list[dict[str, Any]]:
    """The events of a frame, in the order they were emitted."""
    events = meta.user.get(EVENTS, [])
    return [e for e in events if isinstance(e, dict) and e.get("schema") == SCHEMA]


def _json_ready(value: Any, where: str) -> Any:
    converted = _convert(value)
    try:
        json.dumps(converted, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"event {where} is not JSON-serialisable: {exc}") from None
    return converted


def _convert(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _convert(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_convert(v) for v in value]
    return value
