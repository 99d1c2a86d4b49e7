"""Synthetic sources: deterministic frames generated in memory, for tests, demos and benchmarks.

Every frame carries a *stamp*: an 8 x 4 grid of black or white cells in its top-left corner encoding
32 bits, the low 24 bits of the frame number and the low 8 bits of the source id (bit ``i`` is
cell ``(row i // 8, column i % 8)``). Cells are 8 px square, smaller on frames under 64 x 32, so
the stamp survives lossy encoding and :func:`decode_stamp` can tell, from the pixels alone, which
frame of which stream one is looking at: tests use it to prove that every frame arrives exactly
once and in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from itertools import count

import numpy as np

from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.source import Source
from visionflow.errors import ConfigError
from visionflow.media.pacing import Pacer

PATTERNS = ("moving-boxes", "noise")
"""``moving-boxes``: a few coloured boxes bouncing over a gradient (:meth:`SyntheticSource.boxes_at`
gives their positions); ``noise``: uniform random pixels, the worst case for an encoder."""

_STAMP_ROWS, _STAMP_COLS = 4, 8
_STAMP_BITS = np.arange(_STAMP_ROWS * _STAMP_COLS, dtype=np.uint64)
_NUM_BOXES = 3


def _cell_size(width: int, height: int) -> int:
    return min(8, width // _STAMP_COLS, height // _STAMP_ROWS)


def stamp(pixels: np.ndarray, source_id: int, frame_num: int) -> None:
    """Draw the stamp of ``(source_id, frame_num)`` into ``pixels``, (H, W, 3) uint8, in place."""
    cell = _cell_size(pixels.shape[1], pixels.shape[0])
    value = np.uint64(((source_id & 0xFF) << 24) | (frame_num & 0xFFFFFF))
    bits = (
        ((value >> _STAMP_BITS) & np.uint64(1)).astype(np.uint8).reshape(_STAMP_ROWS, _STAMP_COLS)
    )
    block = np.repeat(np.repeat(bits * 255, cell, axis=0), cell, axis=1)
    pixels[: block.shape[0], : block.shape[1]] = block[..., None]


def decode_stamp(pixels: np.ndarray) -> tuple[int, int]:
    """Read the stamp of a synthetic frame: ``(source_id, frame_num)``.

    Args:
        pixels: (H, W, 3) uint8 RGB or BGR at the size the frame was generated (the stamp is
            read from the centre of each cell, so it survives lossy encoding, not rescaling).
    """
    cell = _cell_size(pixels.shape[1], pixels.shape[0])
    margin = cell // 4
    block = pixels[: _STAMP_ROWS * cell, : _STAMP_COLS * cell].reshape(
        _STAMP_ROWS, cell, _STAMP_COLS, cell, -1
    )
    inner = block[:, margin : cell - margin, :, margin : cell - margin]
    bits = (inner.mean(axis=(1, 3, 4)) > 127.5).ravel().astype(np.uint64)
    value = int((bits << _STAMP_BITS).sum())
    return value >> 24, value & 0xFFFFFF


def _as_fraction(fps: float | Fraction) -> Fraction:
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ConfigError("must be positive", key="fps", value=str(fps))
    return rate


class SyntheticSource(Source):
    """Frames generated in memory: fast, deterministic and free of files.

    Frame ``n`` is a pure function of ``(pattern, seed, n)`` plus the stamp of
    ``(source_id, n)``; its ``pts`` is ``n`` in a time base of ``1 / fps``.

    Args:
        width, height: frame size in pixels (at least 8 x 4, the smallest stamp).
        num_frames: frames to generate; None for an endless stream.
        fps: the frame rate stated by the timestamps (and kept when ``live``).
        source_id: the stream index (the pipeline reassigns it).
        pattern: one of :data:`PATTERNS`.
        seed: selects the boxes' sizes, colours and paths, or the noise.
        live: behave like a camera: frames come at ``fps`` in real time and the pipeline drops
            the ones it cannot keep up with.
    """

    kind = "synthetic"

    def __init__(
        self,
        width: int,
        height: int,
        num_frames: int | None,
        fps: float | Fraction = 30,
        source_id: int = 0,
        pattern: str = "moving-boxes",
        seed: int = 0,
        *,
        live: bool = False,
    ) -> None:
        if width < _STAMP_COLS or height < _STAMP_ROWS:
            raise ConfigError(
                "frame too small", key="size", value=f"{width}x{height}", allowed="at least 8x4"
            )
        if num_frames is not None and num_frames < 0:
            raise ConfigError("must not be negative", key="frames", value=str(num_frames))
        if pattern not in PATTERNS:
            raise ConfigError(
                "unknown pattern", key="pattern", value=pattern, allowed=", ".join(PATTERNS)
            )
        self.width, self.height = width, height
        self.fps = _as_fraction(fps)
        self.pattern = pattern
        self.seed = seed
        self.live = live
        self._num_frames = num_frames
        frames = "" if num_frames is None else f"frames={num_frames}&"
        super().__init__(f"synthetic://{width}x{height}?{frames}fps={self.fps}", source_id)
        rng = np.random.default_rng(seed)
        side = min(width, height)
        self._box_size = rng.uniform(0.12, 0.3, (_NUM_BOXES, 2)) * side
        self._box_start = rng.uniform(0, 1, (_NUM_BOXES, 2)) * ([width, height] - self._box_size)
        self._box_speed = (
            rng.uniform(0.005, 0.03, (_NUM_BOXES, 2)) * width * rng.choice([-1, 1], (_NUM_BOXES, 2))
        )
        self._box_colour = rng.integers(64, 256, (_NUM_BOXES, 3), dtype=np.uint8)
        ramp = np.linspace(24, 88, height, dtype=np.float32)[:, None]
        self._background = np.broadcast_to(
            np.stack([ramp, ramp * 0.8, ramp * 1.2], axis=-1).astype(np.uint8), (height, width, 3)
        )

    @property
    def num_frames(self) -> int | None:
        return self._num_frames

    def boxes_at(self, frame_num: int) -> np.ndarray:
        """(3, 4) float32 ``xyxy`` boxes of the ``moving-boxes`` pattern in frame ``frame_num``.

        Boxes bounce off the frame edges; they are drawn in order, so a later box hides an earlier
        one where they overlap, and the stamp hides whatever lies under the top-left corner.
        """
        travel = np.array([self.width, self.height]) - self._box_size
        position = self._box_start + self._box_speed * frame_num
        phase = np.mod(position, 2 * travel)
        top_left = np.where(phase <= travel, phase, 2 * travel - phase)
        return np.concatenate([top_left, top_left + self._box_size], axis=1).astype(np.float32)

    def render(self, frame_num: int) -> np.ndarray:
        """The pixels of frame ``frame_num``: (height, width, 3) uint8 RGB, stamped."""
        if self.pattern == "noise":
            rng = np.random.default_rng((self.seed, frame_num))
            pixels = rng.integers(0, 256, (self.height, self.width, 3), dtype=np.uint8)
        else:
            pixels = self._background.copy()
            corners = np.rint(self.boxes_at(frame_num)).astype(np.int64)
            for (x1, y1, x2, y2), colour in zip(corners, self._box_colour, strict=True):
                pixels[y1:y2, x1:x2] = colour
        stamp(pixels, self.source_id, frame_num)
        return pixels

    def frames(self) -> Iterator[Frame]:
        time_base = 1 / self.fps
        numbers = count() if self._num_frames is None else range(self._num_frames)
        pacer = Pacer()
        for n in numbers:
            pixels = self.render(n)
            if self.live:
                pacer.wait(float(n * time_base))
            yield Frame(
                data=pixels,
                format=PixelFormat.RGB24,
                source_id=self.source_id,
                frame_num=n,
                pts=n,
                time_base=time_base,
                uri=self.uri,
            )

    def __repr__(self) -> str:
        length = "endless" if self._num_frames is None else f"{self._num_frames} frames"
        live = " live" if self.live else ""
        size = f"{self.width}x{self.height}"
        return f"<SyntheticSource #{self.source_id} {self.pattern} {size} {length}{live}>"
