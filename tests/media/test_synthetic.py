from __future__ import annotations

import time
from fractions import Fraction
from itertools import islice

import numpy as np
import pytest

from visionflow.core.frame import PixelFormat
from visionflow.errors import ConfigError
from visionflow.media.synthetic import SyntheticSource, decode_stamp


def test_frames_count_size_and_timestamps() -> None:
    source = SyntheticSource(64, 48, 10, fps=Fraction(30000, 1001), source_id=2)
    frames = list(source.frames())
    assert source.num_frames == 10
    assert [f.frame_num for f in frames] == list(range(10))
    assert [f.pts for f in frames] == list(range(10))
    assert frames[0].time_base == Fraction(1001, 30000)
    assert frames[3].time == pytest.approx(3 * 1001 / 30000)
    first = frames[0]
    assert first.format is PixelFormat.RGB24
    assert first.data.shape == (48, 64, 3)
    assert first.data.dtype == np.uint8
    assert (first.source_id, first.uri) == (2, "synthetic://64x48?frames=10&fps=30000/1001")


def test_stamp_cells_hold_the_bits_of_frame_and_source() -> None:
    pixels = SyntheticSource(128, 96, 6, source_id=2).render(5)
    # value = 2 << 24 | 5: bits 0 and 2 (row 0, columns 0 and 2) and bit 25 (row 3, column 1)
    cells = pixels[:32:8, :64:8, 0] // 255  # the top-left pixel of each 8x8 cell
    expected = np.zeros((4, 8), np.uint8)
    expected[0, 0] = expected[0, 2] = expected[3, 1] = 1
    np.testing.assert_array_equal(cells, expected)
    assert (pixels[:32, :64] == np.repeat(np.repeat(expected * 255, 8, 0), 8, 1)[..., None]).all()


@pytest.mark.parametrize(
    ("size", "source_id", "frame_num"),
    [((8, 4), 0, 0), ((64, 32), 1, 77), ((640, 360), 255, 2**24 - 1), ((33, 17), 3, 12345)],
)
def test_decode_stamp_reads_back_what_was_drawn(
    size: tuple[int, int], source_id: int, frame_num: int
) -> None:
    source = SyntheticSource(*size, None, source_id=source_id)
    assert decode_stamp(source.render(frame_num)) == (source_id, frame_num)


def test_stamp_survives_moderate_noise() -> None:
    pixels = SyntheticSource(128, 96, None, source_id=7).render(1000).astype(np.int16)
    noise = np.random.default_rng(0).integers(-60, 61, pixels.shape)
    assert decode_stamp(np.clip(pixels + noise, 0, 255).astype(np.uint8)) == (7, 1000)


def test_frames_are_deterministic_and_seeded() -> None:
    a = [f.data for f in SyntheticSource(96, 64, 5, seed=1).frames()]
    b = [f.data for f in SyntheticSource(96, 64, 5, seed=1).frames()]
    c = [f.data for f in SyntheticSource(96, 64, 5, seed=2).frames()]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_boxes_move_inside_the_frame_and_are_drawn() -> None:
    source = SyntheticSource(320, 240, None, seed=3)
    boxes = np.stack([source.boxes_at(n) for n in range(500)])
    assert boxes.shape == (500, 3, 4)
    assert boxes.dtype == np.float32
    assert (boxes[..., :2] >= 0).all()
    assert (boxes[..., 2] <= 320).all()
    assert (boxes[..., 3] <= 240).all()
    assert (np.abs(np.diff(boxes, axis=0)).sum(axis=(1, 2)) > 0).all()
    sizes = boxes[..., 2:] - boxes[..., :2]
    assert np.allclose(sizes, sizes[0])  # boxes move, they do not change size
    # the last box is drawn on top, in one colour (the ramp behind it changes from row to row)
    n = next(n for n in range(500) if boxes[n, -1, 0] > 64 or boxes[n, -1, 1] > 32)  # off the stamp
    x1, y1, x2, y2 = np.rint(boxes[n, -1]).astype(int)
    inside = source.render(n)[y1:y2, x1:x2].reshape(-1, 3)
    assert (inside == inside[0]).all()


def test_noise_pattern_is_a_function_of_the_frame_number() -> None:
    source = SyntheticSource(64, 48, 3, pattern="noise", seed=5)
    frames = [f.data for f in source.frames()]
    assert np.array_equal(frames[1], source.render(1))
    assert not np.array_equal(frames[1][32:], frames[2][32:])
    assert frames[0][32:].std() > 60  # uniform noise: std 73.9


def test_endless_source() -> None:
    source = SyntheticSource(16, 8, None)
    assert source.num_frames is None
    assert [f.frame_num for f in islice(source.frames(), 50)][-1] == 49
    assert repr(source) == "<SyntheticSource #0 moving-boxes 16x8 endless>"


def test_live_source_keeps_the_frame_rate() -> None:
    source = SyntheticSource(16, 8, 10, fps=100, live=True)
    started = time.monotonic()
    assert len(list(source.frames())) == 10
    assert time.monotonic() - started >= 0.09 - 0.005
    assert repr(source) == "<SyntheticSource #0 moving-boxes 16x8 10 frames live>"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 7, "height": 4}, "size = 7x4: frame too small; expected at least 8x4"),
        ({"num_frames": -1}, "frames = -1: must not be negative"),
        ({"fps": 0}, "fps = 0: must be positive"),
        (
            {"pattern": "plasma"},
            "pattern = plasma: unknown pattern; expected moving-boxes, noise",
        ),
    ],
)
def test_invalid_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"width": 16, "height": 8, "num_frames": 1} | kwargs
    with pytest.raises(ConfigError) as info:
        SyntheticSource(**args)  # type: ignore[arg-type]
    assert str(info.value) == message
