from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from visionflow.core.frame import PixelFormat
from visionflow.errors import DecodeError, SourceNotFoundError
from visionflow.media.images import ImageSource


def write_image(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> Path:
    """A flat image of one RGB colour (written as BGR, as OpenCV does)."""
    width, height = size
    cv2.imwrite(str(path), np.full((height, width, 3), rgb[::-1], np.uint8))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """img1, img2 and img10 (natural order) in red, green and blue, plus a text file."""
    for name, colour in [
        ("img10.png", (0, 0, 255)),
        ("img2.png", (0, 255, 0)),
        ("img1.png", (255, 0, 0)),
    ]:
        write_image(tmp_path / name, colour)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_in_natural_order_as_rgb(folder: Path) -> None:
    source = ImageSource(folder, fps=10)
    assert source.num_frames == 3
    frames = list(source.frames())
    assert [Path(f.uri).name for f in frames] == ["img1.png", "img2.png", "img10.png"]
    assert [tuple(f.data[0, 0]) for f in frames] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    assert [f.frame_num for f in frames] == [0, 1, 2]
    assert [f.pts for f in frames] == [0, 1, 2]
    assert frames[2].time_base == Fraction(1, 10)
    assert frames[0].format is PixelFormat.RGB24
    assert frames[0].data.shape == (24, 32, 3)
    assert repr(source) == f"<ImageSource #0 {folder} 3 images>"


def test_glob_selects_matching_images(folder: Path) -> None:
    source = ImageSource(folder / "img1*")
    assert [p.name for p in source.files()] == ["img1.png", "img10.png"]


def test_single_image_and_grey_image(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), np.full((5, 7), 99, np.uint8))
    frames = list(ImageSource(path).frames())
    assert len(frames) == 1
    assert frames[0].data.shape == (5, 7, 3)
    assert (frames[0].data == 99).all()


def test_undecodable_image_is_skipped_and_reported(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (folder / "img2.png").write_bytes(b"\x89PNG broken")
    source = ImageSource(folder)
    with caplog.at_level(logging.WARNING, logger="visionflow.media.images"):
        frames = list(source.frames())
    assert [Path(f.uri).name for f in frames] == ["img1.png", "img10.png"]
    assert [f.frame_num for f in frames] == [0, 1]
    assert [f.pts for f in frames] == [0, 2]  # the gap stays visible in the timestamps
    assert source.skipped == [folder / "img2.png"]
    assert f"cannot decode image {folder / 'img2.png'}; skipped" in caplog.text


def test_nothing_decodable_is_a_decode_error(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(b"JFIF?")
    with pytest.raises(DecodeError) as info:
        list(ImageSource(tmp_path).frames())
    assert str(info.value) == (
        f"cannot decode any of the 2 images of {tmp_path}, the first being '{tmp_path / 'a.jpg'}'"
    )
    with pytest.raises(DecodeError) as info:
        list(ImageSource(tmp_path / "a.jpg").frames())
    assert str(info.value) == f"cannot decode image '{tmp_path / 'a.jpg'}'"


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    missing = ImageSource(tmp_path / "nope")
    assert missing.num_frames is None
    with pytest.raises(SourceNotFoundError) as info:
        next(iter(missing.frames()))
    assert str(info.value) == f"image path not found: {tmp_path / 'nope'}"
    with pytest.raises(SourceNotFoundError) as info:
        next(iter(ImageSource(tmp_path).frames()))
    assert str(info.value) == f"no image files in {tmp_path}"
    with pytest.raises(SourceNotFoundError):
        next(iter(ImageSource(tmp_path / "*.png").frames()))
