"""Seeded synthetic scenes of coloured shapes: training data, test media and benchmark clips.

A scene is a textured background (colour gradient, low-frequency texture, pixel noise) with
distractor clutter (thin lines, small blobs) and 1–8 filled shapes of the classes in
:data:`CLASSES`. Shapes are 16–160 px across at 640x360 and scale with the shorter image side;
they may overlap partially, never so much that one hides most of another.

Boxes are ``xyxy`` in absolute pixels of the rendered image, in OpenCV's pixel-centre
convention (pixel ``(x, y)`` covers ``[x - 0.5, x + 0.5]``), tight around the full (amodal)
shape.

Everything is a pure function of the ``numpy.random.Generator`` or the seed it is given, so a
scene, a clip frame or a whole clip can be reproduced anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from visionflow.errors import ConfigError, SinkError

CLASSES: tuple[str, ...] = ("circle", "square", "triangle")
"""Class names; a class id indexes this tuple."""

_REFERENCE_SIDE = 360.0
"""Shorter image side at which shape sizes are stated (16–160 px)."""
_MIN_SIZE, _MAX_SIZE = 16.0, 160.0
_MAX_COVERED = 0.35
"""Largest fraction of one shape's box another shape's box may cover."""
_SUBPIXEL_BITS = 4
_SUBPIXEL = float(1 << _SUBPIXEL_BITS)
_CONTAINERS = {".mp4": "mp4", ".mkv": "matroska", ".h264": "h264"}


@dataclass(frozen=True)
class Annotations:
    """Ground truth of one image.

    Attributes:
        xyxy: ``(N, 4) float32`` boxes, absolute pixels of the rendered image.
        class_id: ``(N,) int32`` indices into :data:`CLASSES`.
    """

    xyxy: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ConfigError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        if self.class_id.shape != (self.xyxy.shape[0],):
            raise ConfigError(
                f"class_id must have shape ({self.xyxy.shape[0]},), got {self.class_id.shape}"
            )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])


@dataclass(frozen=True)
class _Shapes:
    """Geometry of N shapes: centre ``(N, 2)``, size (circumscribed-circle diameter) ``(N,)``,
    rotation in radians ``(N,)``, class ``(N,)`` and RGB colour ``(N, 3)``."""

    centre: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    class_id: np.ndarray
    colour: np.ndarray


def _outlines(shapes: _Shapes) -> np.ndarray:
    """Vertices ``(N, 4, 2) float64`` of every polygon; a triangle repeats its first vertex.

    Rows of circles are unused by drawing; :func:`_boxes` overrides their extent.
    """
    corners = np.where(shapes.class_id == CLASSES.index("square"), 4, 3)
    theta = shapes.angle[:, None] + np.arange(4) * (2.0 * np.pi / corners[:, None])
    unit = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    return shapes.centre[:, None] + 0.5 * shapes.size[:, None, None] * unit


def _boxes(shapes: _Shapes) -> np.ndarray:
    """Tight ``(N, 4) float32`` xyxy boxes of ``shapes``."""
    outlines = _outlines(shapes)
    low, high = outlines.min(axis=1), outlines.max(axis=1)
    circle = shapes.class_id == CLASSES.index("circle")
    radius = 0.5 * shapes.size[circle, None]
    low[circle] = shapes.centre[circle] - radius
    high[circle] = shapes.centre[circle] + radius
    return np.concatenate([low, high], axis=1).astype(np.float32)


def _draw(canvas: np.ndarray, shapes: _Shapes) -> None:
    """Fill ``shapes`` into ``canvas`` (HxWx3 uint8, modified in place), anti-aliased, with
    sub-pixel precision."""
    fixed_outlines = np.round(_outlines(shapes) * _SUBPIXEL).astype(np.int32)
    fixed_centres = np.round(shapes.centre * _SUBPIXEL).astype(np.int64)
    fixed_radii = np.round(0.5 * shapes.size * _SUBPIXEL).astype(np.int64)
    for kind, outline, centre, radius, colour in zip(
        shapes.class_id, fixed_outlines, fixed_centres, fixed_radii, shapes.colour, strict=True
    ):
        rgb = tuple(int(c) for c in colour)
        name = CLASSES[kind]
        if name == "circle":
            centre_xy = (int(centre[0]), int(centre[1]))
            cv2.circle(canvas, centre_xy, int(radius), rgb, -1, cv2.LINE_AA, _SUBPIXEL_BITS)
        else:
            corners = outline[: 4 if name == "square" else 3]
            cv2.fillPoly(canvas, [corners], rgb, cv2.LINE_AA, _SUBPIXEL_BITS)


def _check_size(width: int, height: int) -> None:
    if width < 32 or height < 32:
        raise ConfigError(
            "a scene needs at least 32x32 pixels", key="size", value=f"{width}x{height}"
        )


def _size_range(
    width: int, height: int, low: float = _MIN_SIZE, high: float = _MAX_SIZE
) -> tuple[float, float]:
    scale = min(width, height) / _REFERENCE_SIDE
    return low * scale, high * scale


def _vivid_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """``(count, 3) uint8`` RGB colours of high saturation or extreme brightness."""
    hsv = np.stack(
        [
            rng.integers(0, 180, count),
            rng.integers(120, 256, count),
            rng.integers(110, 256, count),
        ],
        axis=1,
    ).astype(np.uint8)
    rgb = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]
    grey = rng.random(count) < 0.15
    rgb[grey] = rng.choice(np.array([15, 240], dtype=np.uint8), size=(int(grey.sum()), 1))
    return rgb


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Muted gradient + low-frequency texture + pixel noise + clutter, ``(H, W, 3) uint8``."""
    ends = rng.uniform(40.0, 200.0, size=(2, 3))
    ends = ends.mean(axis=1, keepdims=True) + 0.5 * (ends - ends.mean(axis=1, keepdims=True))
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction)
    xs = np.arange(width, dtype=np.float32) * np.float32(direction[0] / width)
    ys = np.arange(height, dtype=np.float32) * np.float32(direction[1] / height)
    ramp = xs[None, :] + ys[:, None]
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    image = ends[0].astype(np.float32) + ramp[..., None] * (ends[1] - ends[0]).astype(np.float32)

    cells = int(rng.integers(3, 12))
    texture = rng.normal(0.0, rng.uniform(5.0, 30.0), size=(cells, cells, 3)).astype(np.float32)
    image += cv2.resize(texture, (width, height), interpolation=cv2.INTER_CUBIC)
    image += np.float32(rng.uniform(1.0, 8.0)) * rng.standard_normal(image.shape, np.float32)
    canvas = np.clip(image, 0, 255).astype(np.uint8)

    scale = min(width, height) / _REFERENCE_SIDE
    line_count = int(rng.integers(0, 7))
    ends_px = rng.uniform(0, 1, size=(line_count, 4)) * [width, height, width, height]
    for (x0, y0, x1, y1), colour, thickness in zip(
        ends_px.astype(np.int64),
        rng.integers(0, 256, size=(line_count, 3)),
        rng.integers(1, 4, size=line_count),
        strict=True,
    ):
        cv2.line(
            canvas,
            (int(x0), int(y0)),
            (int(x1), int(y1)),
            tuple(int(c) for c in colour),
            int(thickness),
            cv2.LINE_AA,
        )
    blob_count = int(rng.integers(0, 15))
    centres = rng.uniform(0, 1, size=(blob_count, 2)) * [width, height]
    axes = rng.uniform(1.5, 5.0, size=(blob_count, 2)) * scale
    for centre, axis, angle, colour in zip(
        centres.astype(np.int64),
        np.maximum(axes, 1.0).astype(np.int64),
        rng.uniform(0, 180, size=blob_count),
        rng.integers(0, 256, size=(blob_count, 3)),
        strict=True,
    ):
        cv2.ellipse(
            canvas,
            (int(centre[0]), int(centre[1])),
            (int(axis[0]), int(axis[1])),
            float(angle),
            0.0,
            360.0,
            tuple(int(c) for c in colour),
            -1,
            cv2.LINE_AA,
        )
    return canvas


def _place_shapes(
    rng: np.random.Generator,
    width: int,
    height: int,
    count: int,
    tries: int = 30,
    sizes: tuple[float, float] | None = None,
) -> _Shapes:
    """Draw up to ``count`` shapes fully inside the image, each box covered by at most
    :data:`_MAX_COVERED` of its area by any other box. Sizes are log-uniform in ``sizes``
    (stated at a 360-px shorter side), 16–160 px by default."""
    low, high = _size_range(width, height, *(sizes or (_MIN_SIZE, _MAX_SIZE)))
    high = min(high, 0.95 * min(width, height))
    shapes: list[tuple[float, float, float, float, int]] = []
    boxes = np.zeros((0, 4))
    for _ in range(count):
        for _ in range(tries):
            size = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            kind = int(rng.integers(len(CLASSES)))
            half = 0.5 * size
            cx = float(rng.uniform(half + 1, width - half - 1))
            cy = float(rng.uniform(half + 1, height - half - 1))
            box = np.array([cx - half, cy - half, cx + half, cy + half])
            inter_wh = np.clip(
                np.minimum(boxes[:, 2:], box[2:]) - np.maximum(boxes[:, :2], box[:2]), 0, None
            )
            inter = inter_wh.prod(axis=1)
            areas = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
            if np.all(inter <= _MAX_COVERED * np.minimum(areas, size * size)):
                shapes.append((cx, cy, size, float(rng.uniform(0, 2 * np.pi)), kind))
                boxes = np.vstack([boxes, box])
                break
    table = np.array(shapes, dtype=np.float64).reshape(-1, 5)
    return _Shapes(
        centre=table[:, :2],
        size=table[:, 2],
        angle=table[:, 3],
        class_id=table[:, 4].astype(np.int32),
        colour=_vivid_colours(rng, len(table)),
    )


def render_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    max_objects: int = 8,
    sizes: tuple[float, float] = (_MIN_SIZE, _MAX_SIZE),
) -> tuple[np.ndarray, Annotations]:
    """Render one still scene.

    Args:
        rng: Source of all randomness; the same generator state gives the same scene.
        width, height: Image size in pixels.
        max_objects: Most shapes in the scene (1 to ``max_objects``, uniformly).
        sizes: Smallest and largest shape (circumscribed-circle diameter) in pixels at a
            360-px shorter side, log-uniform; scaled with the shorter side.

    With the defaults the scene is the same, for the same generator state, as before these
    keywords existed.

    Returns:
        ``(image, annotations)``: ``(height, width, 3) uint8`` RGB and its ground-truth boxes.
    """
    _check_size(width, height)
    if max_objects < 1:
        raise ConfigError(
            "max_objects must be at least 1", key="max_objects", value=str(max_objects)
        )
    if not 0 < sizes[0] <= sizes[1]:
        raise ConfigError(
            "sizes must be (smallest, largest) with 0 < smallest <= largest",
            key="sizes",
            value=str(sizes),
        )
    canvas = _background(rng, width, height)
    shapes = _place_shapes(rng, width, height, int(rng.integers(1, max_objects + 1)), sizes=sizes)
    _draw(canvas, shapes)
    sigma = float(rng.uniform(0.0, 1.2))
    image = cv2.GaussianBlur(canvas, (0, 0), sigma) if sigma > 0.3 else canvas
    noise = np.float32(rng.uniform(0.0, 6.0)) * rng.standard_normal(image.shape, np.float32)
    noisy = image + noise
    annotations = Annotations(xyxy=_boxes(shapes), class_id=shapes.class_id)
    return np.clip(noisy, 0, 255).astype(np.uint8), annotations


class MovingScene:
    """Shapes bouncing off the borders of a fixed background, for demo and benchmark clips.

    Each object moves in a straight line at constant speed, reflects at the image border and
    spins slowly; frame ``t`` is computed directly from ``t``, so frames can be rendered in any
    order. Objects may pass over each other.

    Attributes:
        background: ``(height, width, 3) uint8`` RGB image behind the objects.
    """

    def __init__(self, seed: int, width: int, height: int, num_objects: int = 6) -> None:
        _check_size(width, height)
        if num_objects < 0:
            raise ConfigError(
                "num_objects must not be negative", key="num_objects", value=str(num_objects)
            )
        rng = np.random.default_rng(seed)
        self.width, self.height = width, height
        self.background = _background(rng, width, height)
        low, high = _size_range(width, height)
        high = min(high, 0.6 * min(width, height))
        size = np.exp(rng.uniform(np.log(low), np.log(high), num_objects))
        self._size = size
        self._lower = np.stack([0.5 * size + 1, 0.5 * size + 1], axis=1)
        self._span = np.stack([width - size - 2, height - size - 2], axis=1)
        self._start = rng.uniform(0, 1, size=(num_objects, 2)) * self._span
        speed = rng.uniform(0.002, 0.012, num_objects) * min(width, height)
        heading = rng.uniform(0, 2 * np.pi, num_objects)
        self._velocity = speed[:, None] * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        self._angle = rng.uniform(0, 2 * np.pi, num_objects)
        self._spin = rng.uniform(-0.03, 0.03, num_objects)
        self._class_id = rng.integers(0, len(CLASSES), num_objects).astype(np.int32)
        self._colour = _vivid_colours(rng, num_objects)

    def __repr__(self) -> str:
        return f"<MovingScene {self.width}x{self.height} objects={len(self._size)}>"

    def _shapes(self, t: int) -> _Shapes:
        travelled = self._start + self._velocity * t
        period = 2.0 * self._span
        folded = np.mod(travelled, period)
        offset = self._span - np.abs(folded - self._span)
        return _Shapes(
            centre=self._lower + offset,
            size=self._size,
            angle=self._angle + self._spin * t,
            class_id=self._class_id,
            colour=self._colour,
        )

    def frame(self, t: int) -> tuple[np.ndarray, Annotations]:
        """Frame number ``t``: ``(height, width, 3) uint8`` RGB image and its ground truth."""
        shapes = self._shapes(t)
        canvas = self.background.copy()
        _draw(canvas, shapes)
        return canvas, Annotations(xyxy=_boxes(shapes), class_id=shapes.class_id)

    def visibility(self, t: int) -> np.ndarray:
        """Fraction ``(N,) float64`` of each object's pixels not hidden by objects drawn over
        it in frame ``t`` (objects are drawn in index order: a later one covers an earlier)."""
        return _visible_fraction(self._shapes(t), self.width, self.height)


def _visible_fraction(shapes: _Shapes, width: int, height: int) -> np.ndarray:
    """Per shape, its visible pixels over its own pixels when drawn in order (later on top)."""
    count = len(shapes.size)
    owner = np.zeros((height, width), np.int32)  # 0: background, i + 1: shape i
    own = np.zeros(count)
    for i in range(count):
        single = _Shapes(
            centre=shapes.centre[i : i + 1],
            size=shapes.size[i : i + 1],
            angle=shapes.angle[i : i + 1],
            class_id=shapes.class_id[i : i + 1],
            colour=np.full((1, 3), 255, np.uint8),
        )
        mask = np.zeros((height, width, 3), np.uint8)
        _draw(mask, single)
        inside = mask[..., 0] >= 128
        own[i] = inside.sum()
        owner[inside] = i + 1
    visible = np.bincount(owner.ravel(), minlength=count + 1)[1:]
    return np.divide(visible, own, out=np.zeros(count), where=own > 0)


def write_clip(
    path: str | Path,
    width: int,
    height: int,
    num_frames: int,
    fps: int = 30,
    seed: int = 0,
    codec: str = "libx264",
) -> Path:
    """Encode ``num_frames`` frames of a :class:`MovingScene` to a video file, yuv420p.

    The container follows the suffix: ``.mp4`` (MP4), ``.mkv`` (Matroska) or ``.h264`` (raw
    Annex-B elementary stream). ``width`` and ``height`` must be even (4:2:0 chroma).

    Returns:
        The path written.
    """
    path = Path(path)
    container_format = _CONTAINERS.get(path.suffix.lower())
    if container_format is None:
        raise ConfigError(
            "unsupported clip suffix", key="path", value=str(path), allowed=", ".join(_CONTAINERS)
        )
    if width % 2 or height % 2:
        raise ConfigError(
            "yuv420p needs an even width and height",
            key="size",
            value=f"{width}x{height}",
        )
    import av

    try:
        encoder = av.Codec(codec, "w")
    except ValueError as err:
        raise ConfigError("unknown encoder", key="codec", value=codec) from err
    if encoder.type != "video":
        raise ConfigError("not a video encoder", key="codec", value=codec)
    scene = MovingScene(seed, width, height)
    options = {"preset": "veryfast"} if codec == "libx264" else {}
    try:
        with av.open(str(path), mode="w", format=container_format) as container:
            stream = cast(
                "av.VideoStream", container.add_stream(codec, rate=Fraction(fps), options=options)
            )
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = Fraction(1, fps)
            for t in range(num_frames):
                frame = av.VideoFrame.from_ndarray(scene.frame(t)[0], format="rgb24")
                frame = frame.reformat(format="yuv420p")
                frame.pts = t
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    except av.FFmpegError as err:
        raise SinkError(f"cannot write clip {path}: {err}") from err
    return path
