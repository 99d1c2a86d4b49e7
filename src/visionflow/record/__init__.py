"""Event-triggered recording (DeepStream's smart record): per source, a ring of the compressed
packets, written out without re-encoding from N seconds before an event to M seconds after it.

The names load on first use, so reading a config (``visionflow.record.config``) does not import
PyAV's muxing side.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from visionflow.record.config import SmartRecordConfig
    from visionflow.record.element import SmartRecord, request_recording
    from visionflow.record.recorder import Recording, SmartRecorder

_WHERE = {
    "SmartRecordConfig": "visionflow.record.config",
    "SmartRecord": "visionflow.record.element",
    "request_recording": "visionflow.record.element",
    "Recording": "visionflow.record.recorder",
    "SmartRecorder": "visionflow.record.recorder",
}

__all__ = ["Recording", "SmartRecord", "SmartRecordConfig", "SmartRecorder", "request_recording"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'visionflow.record' has no attribute '{name}'")
    return getattr(import_module(_WHERE[name]), name)
