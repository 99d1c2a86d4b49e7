"""Smart-record settings of one source (deepstream-app's ``smart-rec-*`` keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Analytics events that can start a recording (see :class:`~visionflow.record.SmartRecord`).
TRIGGERS = ("line_crossing", "roi_entry", "overcrowding")
Trigger = Literal["line_crossing", "roi_entry", "overcrowding"]


class SmartRecordConfig(BaseModel):
    """When and how a source's events are recorded.

    A recording covers the stream from ``start_time`` seconds before the event to ``duration``
    seconds after it (DeepStream's ``NvDsSRStart(startTime, duration)``); ``duration: 0`` records
    until stopped, at most ``default_duration`` seconds. Times are the stream's own (its
    timestamps), so a file played faster than real time records the same content.
    """

    model_config = ConfigDict(extra="forbid")

    cache: float = Field(
        20.0, gt=0, description="Seconds of compressed packets kept per source (smart-rec-cache)."
    )
    start_time: float = Field(
        5.0,
        ge=0,
        description="Seconds before the event that a recording starts (smart-rec-start-time).",
    )
    duration: float = Field(
        10.0,
        ge=0,
        description="Seconds recorded after the event; 0: until stopped (smart-rec-duration).",
    )
    default_duration: float = Field(
        20.0,
        gt=0,
        description="Longest recording when no stop comes (smart-rec-default-duration).",
    )
    interval: float = Field(
        0.0,
        ge=0,
        description="Start or stop a recording every N seconds of stream time; 0: off "
        "(smart-record=2, smart-rec-interval).",
    )
    on: list[Trigger] = Field(
        [], description="Analytics events that start a recording: " + ", ".join(TRIGGERS) + "."
    )
    dir: Path = Field(Path("recordings"), description="Folder of the files (smart-rec-dir-path).")
    prefix: str = Field(
        "Smart_Record", min_length=1, description="File name prefix (smart-rec-file-prefix)."
    )
    container: Literal["mp4", "mkv"] = Field(
        "mp4", description="mp4 or mkv (smart-rec-container 0 / 1)."
    )
