"""Image sources: one picture, a folder of pictures or a glob, played as a stream.

Files are listed in natural order (``img2.png`` before ``img10.png``). An image that cannot be
decoded is skipped with a warning and recorded in :attr:`ImageSource.skipped`, so one bad file
does not end a long sequence; ``frame_num`` keeps counting the frames actually delivered, while
``pts`` stays the file's position in the listing, so gaps remain visible in the timestamps. If no
image at all can be decoded the stream fails with :class:`~visionflow.errors.DecodeError` naming
the first file.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.source import Source
from visionflow.errors import ConfigError, DecodeError, SourceNotFoundError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".jp2"}
)
"""Suffixes (lower case) listed from folders and globs."""
_GLOB_CHARS = re.compile(r"[*?\[]")


def has_glob(pattern: str) -> bool:
    """Whether ``pattern`` contains glob wildcards (``*``, ``?``, ``[``)."""
    return _GLOB_CHARS.search(pattern) is not None


def _natural_key(path: Path) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file to (H, W, 3) uint8 RGB; None if it cannot be decoded.

    Grey and 16-bit images are converted to 8-bit RGB; EXIF orientation is applied.
    """
    if hasattr(cv2, "IMREAD_COLOR_RGB"):
        return cv2.imread(str(path), cv2.IMREAD_COLOR_RGB)
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if pixels is None else cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


class ImageSource(Source):
    """Still images played as a stream at ``fps``.

    Args:
        path: an image file, a folder (its files with an :data:`IMAGE_SUFFIXES` suffix, not
            recursive) or a glob (``frames/*.png``; ``**`` recurses).
        source_id: the stream index (the pipeline reassigns it).
        fps: the rate stated by the timestamps: frame ``i`` of the listing has ``pts = i`` in a
            time base of ``1 / fps``. Images are read as fast as the pipeline takes them.

    Each frame's ``uri`` is its image file. The listing is made when the stream starts (or when
    :attr:`num_frames` is first asked), so a missing path is reported by the pipeline as a
    failure of this source only.

    Attributes:
        skipped: the files that could not be decoded in the last pass.
    """

    kind = "images"

    def __init__(
        self, path: str | os.PathLike[str], source_id: int = 0, *, fps: float | Fraction = 30
    ) -> None:
        super().__init__(os.fspath(path), source_id)
        self.fps = Fraction(fps).limit_denominator(1001)
        if self.fps <= 0:
            raise ConfigError("must be positive", key="fps", value=str(fps))
        self.skipped: list[Path] = []
        self._files: list[Path] | None = None

    def files(self) -> list[Path]:
        """The image files of the stream, in order.

        Raises:
            SourceNotFoundError: the path does not exist, or the folder or glob holds no image.
        """
        if self._files is None:
            self._files = self._list()
        return self._files

    @property
    def num_frames(self) -> int | None:
        """The number of files listed (frames, unless some cannot be decoded); None if the path
        cannot be listed."""
        try:
            return len(self.files())
        except SourceNotFoundError:
            return None

    def frames(self) -> Iterator[Frame]:
        files = self.files()
        self.skipped = []
        time_base = 1 / self.fps
        delivered = 0
        for position, file in enumerate(files):
            pixels = read_image(file)
            if pixels is None:
                log.warning("%s: cannot decode image %s; skipped", self.uri, file)
                self.skipped.append(file)
                continue
            yield Frame(
                data=pixels,
                format=PixelFormat.RGB24,
                source_id=self.source_id,
                frame_num=delivered,
                pts=position,
                time_base=time_base,
                uri=str(file),
            )
            delivered += 1
        if len(files) == 1 and not delivered:
            raise DecodeError(f"cannot decode image '{files[0]}'")
        if not delivered:
            raise DecodeError(
                f"cannot decode any of the {len(files)} images of {self.uri}, "
                f"the first being '{files[0]}'"
            )

    def _list(self) -> list[Path]:
        path = Path(self.uri)
        if has_glob(self.uri):
            found = [Path(p) for p in glob.glob(self.uri, recursive=True)]
            files = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        elif path.is_dir():
            files = [
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            ]
        elif path.is_file():
            return [path]
        else:
            raise SourceNotFoundError(f"image path not found: {path}")
        if not files:
            raise SourceNotFoundError(f"no image files in {self.uri}")
        return sorted(files, key=_natural_key)

    def __repr__(self) -> str:
        count = f" {len(self._files)} images" if self._files is not None else ""
        return f"<ImageSource #{self.source_id} {self.uri}{count}>"
