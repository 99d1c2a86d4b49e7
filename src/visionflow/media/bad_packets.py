"""What a source does with packets its decoder rejects, the same for every decoder (FFmpeg,
NVDEC): skip each one (a warning for the first of a run), and give the stream up as corrupt after
:data:`MAX_BAD_PACKETS_IN_A_ROW` in a row."""

from __future__ import annotations

import logging

from visionflow.errors import DecodeError

log = logging.getLogger(__name__)

MAX_BAD_PACKETS_IN_A_ROW = 32
"""Consecutive undecodable packets after which a stream is given up as corrupt."""


def rejected_packet(uri: str, in_a_row: int, next_frame: int, reason: str) -> None:
    """The ``in_a_row``-th packet in a row the decoder rejected, before frame ``next_frame``:
    warn at the first of a run; raise :class:`DecodeError` at :data:`MAX_BAD_PACKETS_IN_A_ROW`."""
    if in_a_row >= MAX_BAD_PACKETS_IN_A_ROW:
        raise DecodeError(
            f"{uri}: {in_a_row} packets in a row could not be decoded "
            f"before frame {next_frame} ({reason}); giving up"
        )
    if in_a_row == 1:
        log.warning("%s: skipping undecodable data before frame %d (%s)", uri, next_frame, reason)
