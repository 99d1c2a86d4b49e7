"""The message converter (DeepStream nvmsgconv): a frame's metadata and events → payloads.

=====================  ==================================================================
payload                what is sent
=====================  ==================================================================
``visionflow``         one ``visionflow.event/1`` JSON per event (``docs/events.md``)
``visionflow-frame``   one ``visionflow.frame/1`` JSON per frame, every ``frame_interval``
``deepstream-full``    payload-type 0: one JSON per event; with ``msg2p_newapi``, one per
                       object of every ``frame_interval``-th frame
``deepstream-minimal`` payload-type 1: one JSON per frame with events (all of its events);
                       with ``msg2p_newapi``, one per ``frame_interval``-th frame
``custom``             ``function(meta, events)`` returns the payloads
=====================  ==================================================================
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any

from visionflow.brokers import payload_deepstream as ds
from visionflow.brokers.config import MessagesConfig
from visionflow.brokers.events import frame_events
from visionflow.core.meta import FrameMeta
from visionflow.errors import ConfigError

CustomPayload = Callable[[FrameMeta, list[dict[str, Any]]], Any]


@dataclass(frozen=True)
class Message:
    """One payload to send: its bytes and the stream it came from."""

    payload: bytes
    source_id: int


class MessageConverter:
    """Turns frames into messages as one ``MessagesConfig`` says.

    Raises:
        ConfigError: the msgconv file is invalid, or a custom function cannot be loaded.
    """

    def __init__(self, config: MessagesConfig) -> None:
        self.config = config
        self.schema = ds.Schema.from_file(config.config)
        self._function: CustomPayload | None = (
            _load(config.function) if config.function is not None else None
        )

    def _due(self, meta: FrameMeta) -> bool:
        interval = self.config.frame_interval
        return not interval or meta.frame_num % interval == 0

    def convert(self, meta: FrameMeta) -> list[Message]:
        """The messages of one frame, in order."""
        cfg = self.config
        events = frame_events(meta)
        if cfg.component_id:
            events = [e for e in events if e.get("component_id") == cfg.component_id]
        payloads: list[Any]
        if cfg.payload == "visionflow":
            payloads = list(events)
        elif cfg.payload == "visionflow-frame":
            from visionflow.sinks.metadata import frame_record

            payloads = [{**frame_record(meta), "events": events}] if self._due(meta) else []
        elif cfg.payload == "custom":
            produced = self._function(meta, events) if self._function is not None else None
            payloads = [] if produced is None else list(produced)
        elif cfg.msg2p_newapi:
            if not self._due(meta):
                payloads = []
            elif cfg.payload == "deepstream-full":
                payloads = ds.full_frame_messages(self.schema, meta)
            else:
                payloads = [ds.minimal_frame_message(self.schema, meta)]
        elif cfg.payload == "deepstream-full":
            payloads = [ds.full_event_message(self.schema, e) for e in events]
        elif events or cfg.dummy_payload:
            payloads = [ds.minimal_event_message(self.schema, events, meta)]
        else:
            payloads = []
        return [Message(_encode(p), meta.source_id) for p in payloads]


def _encode(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _load(ref: str) -> CustomPayload:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"'{ref}' must look like 'package.module:function'", key="function")
    try:
        obj: Any = reduce(getattr, attr.split("."), importlib.import_module(module_name))
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load '{ref}': {exc}", key="function") from None
    if not callable(obj):
        raise ConfigError(f"'{ref}' is not callable", key="function")
    return obj
