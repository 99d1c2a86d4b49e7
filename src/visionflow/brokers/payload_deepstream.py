"""DeepStream's message schemas (nvmsgconv ``payload-type`` 0 full, 1 minimal), as
``libnvds_msgconv``'s ``eventmsg_payload.cpp`` (events) and ``dsmeta_payload.cpp``
(``msg2p-newapi``: frame and object metadata) write them.

What DeepStream builds from an ``NvDsEventMsgMeta`` is built here from a visionflow event
(:mod:`visionflow.brokers.events`): ``sensorId``, ``placeId`` and ``moduleId`` are the event's
``source_id`` (as deepstream-test5 fills them), ``trackingId`` its object's tracking id,
``objType`` its label when the label names a DeepStream object type (``Vehicle``, ``Person``,
``Face``, ``Bag``, ``Bicycle``, ``RoadSign``; any case), else ``UNKNOWN`` with the label as
``objectId``; ``ts`` the event's timestamp. Sensor, place and analytics-module entries come from
the msgconv config (:class:`Schema`); a missing entry gives ``null``, as DeepStream's does.

DeepStream facts kept: boxes as integers (``json_object_set_int_member`` truncates);
``msg2p-newapi`` boxes in pipeline pixels (its source-size scaling evaluates to 1); an untracked
object's id is ``UNTRACKED_OBJECT_ID`` (2^64 − 1); minimal numbers as C++ streams print them
(6 significant digits); the new API's full payload has an event ``type`` of ``""``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from visionflow.brokers.events import timestamp
from visionflow.core.meta import UNTRACKED, FrameMeta

UNTRACKED_OBJECT_ID = 2**64 - 1
"""DeepStream's ``UNTRACKED_OBJECT_ID`` (``G_MAXUINT64``)."""

#: ``object_enum_to_str``: DeepStream object types by lower-case label.
OBJECT_TYPES = {
    "vehicle": "Vehicle",
    "face": "Face",
    "person": "Person",
    "bag": "Bag",
    "bicycle": "Bicycle",
    "roadsign": "RoadSign",
}


@dataclass(frozen=True)
class Schema:
    """The msgconv config's entries: ``{N: {key: value}}`` per group kind."""

    sensors: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    places: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    modules: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    loaded: bool = False

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None) -> Schema:
        """Read an nvmsgconv config (INI or YAML); None gives an empty schema.

        Raises:
            ConfigError: where nvmsgconv would fail to load the file, located in it.
        """
        if path is None:
            return cls()
        from visionflow.compat.deepstream.msgconv import schema_groups

        groups = schema_groups(path)
        return cls(groups["sensor"], groups["place"], groups["analytics"], loaded=True)


def _triple(values: Any, names: tuple[str, str, str]) -> dict[str, float]:
    v = list(values) if values is not None else [0.0, 0.0, 0.0]
    return {name: float(x) for name, x in zip(names, v, strict=True)}


def _text(entry: Mapping[str, Any], key: str) -> str:
    return str(entry.get(key, ""))


def sensor_object(schema: Schema, sensor_id: int) -> dict[str, Any] | None:
    entry = schema.sensors.get(sensor_id)
    if entry is None:
        return None
    return {
        "id": _text(entry, "id"),
        "type": _text(entry, "type"),
        "description": _text(entry, "description"),
        "location": _triple(entry.get("location"), ("lat", "lon", "alt")),
        "coordinate": _triple(entry.get("coordinate"), ("x", "y", "z")),
    }


def analytics_object(schema: Schema, module_id: int) -> dict[str, Any] | None:
    entry = schema.modules.get(module_id)
    if entry is None:
        return None
    return {key: _text(entry, key) for key in ("id", "description", "source", "version")}


def place_object(
    schema: Schema, place_id: int, event_type: str | None, obj_type: str | None
) -> dict[str, Any] | None:
    """``generate_place_object``: the sub-object depends on the event type (old API); with
    ``event_type`` None it is the new API's ``place-sub-field``."""
    entry = schema.places.get(place_id)
    if entry is None:
        return None
    place: dict[str, Any] = {
        "id": _text(entry, "id"),
        "name": _text(entry, "name"),
        "type": _text(entry, "type"),
        "location": _triple(entry.get("location"), ("lat", "lon", "alt")),
    }
    f1, f2, f3 = (_text(entry, f"place-sub-field{i}") for i in (1, 2, 3))
    sub: dict[str, Any] | None
    name: str | None
    if event_type is None:
        name, sub = "place-sub-field", {"id": f1, "name": f2, "level": f3}
    elif event_type in ("moving", "stopped"):
        name, sub = "aisle", {"id": f1, "name": f2, "level": f3}
    elif event_type in ("empty", "parked"):
        name, sub = "parkingSpot", {"id": f1, "type": f2, "level": f3}
    elif event_type in ("entry", "exit"):
        if obj_type == "Vehicle":
            name, sub = "aisle", {"id": f1, "name": f2, "level": f3}
        else:
            name, sub = "entrance", {"name": f1, "lane": f2, "level": f3}
    else:  # DeepStream: "Event type not implemented", no sub-object
        name, sub = None, None
    if name is not None and sub is not None:
        sub["coordinate"] = _triple(entry.get("coordinate"), ("x", "y", "z"))
        place[name] = sub
    return place


def _object_type(label: str) -> tuple[str, str | None]:
    """(DeepStream object type name, objectId) of a label."""
    known = OBJECT_TYPES.get(label.lower())
    return (known, None) if known is not None else ("Unknown", label or None)


def _tracking_id(tracker_id: int | None) -> int:
    return UNTRACKED_OBJECT_ID if tracker_id is None or tracker_id == UNTRACKED else tracker_id


def _box(bbox: Mapping[str, float]) -> tuple[int, int, int, int]:
    left, top = bbox["left"], bbox["top"]
    return (int(left), int(top), int(left + bbox["width"]), int(top + bbox["height"]))


def _typed_sub_object(obj_type: str, object_id: str | None, confidence: float) -> tuple[str, dict]:
    """The empty typed sub-object DeepStream attaches when no ``extMsg`` is given."""
    if obj_type == "Vehicle":
        keys = ("type", "make", "model", "color", "licenseState", "license")
        return "vehicle", {**dict.fromkeys(keys, ""), "confidence": 1.0}
    if obj_type == "Person":
        return "person", {"age": 0, **dict.fromkeys(("gender", "hair", "cap", "apparel"), ""),
                          "confidence": 1.0}  # fmt: skip
    if obj_type == "Face":
        face_keys = ("gender", "hair", "cap", "glasses", "facialhair", "name", "eyecolor")
        return "face", {"age": 0, **dict.fromkeys(face_keys, ""), "confidence": 1.0}
    return (object_id or "", {})


def full_event_message(schema: Schema, event: Mapping[str, Any]) -> dict[str, Any]:
    """``generate_event_message``: one payload per event (payload-type 0, old API)."""
    source = int(event["source_id"])
    ds_type = str(event.get("deepstream_type", "custom"))
    obj = event.get("object")
    label = obj["label"] if obj else ""
    obj_type, object_id = _object_type(label) if obj else ("Unknown", None)
    object_json: dict[str, Any] = {
        "id": str(_tracking_id(obj["tracker_id"] if obj else None)),
        "speed": 0.0,
        "direction": 0.0,
        "orientation": 0.0,
    }
    if obj_type != "Unknown" or object_id:
        name, sub = _typed_sub_object(obj_type, object_id, 1.0)
        object_json[name] = sub
    left, top, right, bottom = _box(obj["bbox"]) if obj else (0, 0, 0, 0)
    object_json["bbox"] = {
        "topleftx": left,
        "toplefty": top,
        "bottomrightx": right,
        "bottomrighty": bottom,
    }
    object_json["location"] = {"lat": 0.0, "lon": 0.0, "alt": 0.0}
    object_json["coordinate"] = {"x": 0.0, "y": 0.0, "z": 0.0}
    event_json: dict[str, Any] = {"id": str(event.get("id") or uuid.uuid4())}
    if ds_type != "custom":  # DeepStream: "Unknown event type", no type member
        event_json["type"] = ds_type
    return {
        "messageid": str(uuid.uuid4()),
        "mdsversion": "1.0",
        "@timestamp": event.get("timestamp") or timestamp(),
        "place": place_object(schema, source, ds_type, obj_type),
        "sensor": sensor_object(schema, source),
        "analyticsModule": analytics_object(schema, source),
        "object": object_json,
        "event": event_json,
        "videoPath": "",
    }


def _num(value: float) -> str:
    """A number as a default C++ ``std::ostream`` prints it (``%g``, 6 significant digits)."""
    text = f"{value:g}"
    return text


def minimal_event_message(
    schema: Schema, events: Sequence[Mapping[str, Any]], meta: FrameMeta
) -> dict[str, Any]:
    """``generate_event_message_minimal``: one payload per frame for all its events
    (payload-type 1, old API). ``events`` may be empty (``dummy-payload``)."""
    objects = []
    for event in events:
        obj = event.get("object")
        if obj:
            left, top, w, h = (obj["bbox"][k] for k in ("left", "top", "width", "height"))
            obj_type, object_id = _object_type(obj["label"])
            tracking = _tracking_id(obj["tracker_id"])
        else:
            left = top = w = h = 0.0
            obj_type, object_id, tracking = "Unknown", None, UNTRACKED_OBJECT_ID
        name = object_id if obj_type == "Unknown" and object_id else obj_type
        objects.append(
            f"{tracking}|{_num(left)}|{_num(top)}|{_num(left + w)}|{_num(top + h)}|{name}"
        )
    first = events[0] if events else None
    sensor = schema.sensors.get(meta.source_id)
    sensor_id = _text(sensor, "id") if sensor is not None else ("" if schema.loaded else "0")
    return {
        "version": "4.0",
        "id": str(meta.frame_num),
        "@timestamp": (first or {}).get("timestamp") or timestamp(),
        "sensorId": sensor_id,
        "objects": objects,
    }


def full_frame_messages(schema: Schema, meta: FrameMeta) -> list[dict[str, Any]]:
    """``generate_dsmeta_message``: one payload per object of the frame (payload-type 0,
    ``msg2p-newapi``)."""
    dets = meta.detections
    messages = []
    now = timestamp()
    for obj in dets.objects():
        left, top, right, bottom = obj.xyxy
        sub: dict[str, Any] = {"confidence": float(obj.confidence)}
        for c in obj.classifications:
            if c.classifier_type:
                sub[c.classifier_type] = c.label
        messages.append(
            {
                "messageid": str(uuid.uuid4()),
                "mdsversion": "1.0",
                "@timestamp": now,
                "place": place_object(schema, meta.source_id, None, None),
                "sensor": sensor_object(schema, meta.source_id),
                "analyticsModule": analytics_object(schema, meta.source_id),
                "object": {
                    "id": str(_tracking_id(obj.tracker_id)),
                    "speed": 0.0,
                    "direction": 0.0,
                    "orientation": 0.0,
                    obj.label: sub,
                    "bbox": {
                        "topleftx": int(left),
                        "toplefty": int(top),
                        "bottomrightx": int(left + (right - left)),
                        "bottomrighty": int(top + (bottom - top)),
                    },
                    "location": {},
                    "coordinate": {},
                },
                "event": {"id": str(uuid.uuid4()), "type": ""},
                "videoPath": "",
            }
        )
    return messages


def minimal_frame_message(schema: Schema, meta: FrameMeta) -> dict[str, Any]:
    """``generate_dsmeta_message_minimal``: one payload per frame (payload-type 1,
    ``msg2p-newapi``)."""
    objects = []
    for obj in meta.detections.objects():
        left, top, right, bottom = (float(v) for v in obj.xyxy)
        text = (
            f"{_tracking_id(obj.tracker_id)}|{_num(left)}|{_num(top)}|"
            f"{_num(left + (right - left))}|{_num(top + (bottom - top))}|{obj.label}"
        )
        if obj.classifications:
            text += "|#" + "".join(f"|{c.label}" for c in obj.classifications)
            text += f"|{_num(obj.confidence)}"
        objects.append(text)
    sensor = schema.sensors.get(meta.source_id)
    return {
        "version": "4.0",
        "id": str(meta.frame_num),
        "@timestamp": timestamp(),
        "sensorId": _text(sensor, "id") if sensor is not None else "0",
        "objects": objects,
    }


def dumps(message: Mapping[str, Any]) -> bytes:
    """JSON text of a payload (UTF-8)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
