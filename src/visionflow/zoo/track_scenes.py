"""Seeded tracking scenes with ground-truth identities: crossing paths, occlusion behind pillars,
objects that leave the picture and come back, stop-and-go, and camera-like noise.

Each object follows a piecewise-linear path of its centre (keyframes ``(t, x, y)``; absent
before its first and after its last keyframe) and is drawn with the shapes of
:mod:`visionflow.zoo.scenes`; later objects are drawn over earlier ones, and static *pillars*
(background-coloured bars) over all of them. Every frame then goes through a camera model:
shake (a whole-picture shift, applied to the truth too), brightness flicker, blur, sensor noise
and JPEG compression.

The truth of a frame lists every object at least partly inside the picture: its box clipped to
the picture, its identity, class and *visible fraction* (pixels not hidden by objects drawn
later, pillars or the picture's border, over the pixels of the whole shape). Evaluations
usually ignore objects that are mostly hidden (see :data:`MIN_VISIBLE`).

Everything is a pure function of the seed: ``track_scene(name, seed)`` gives the same clip
anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from visionflow.errors import ConfigError
from visionflow.zoo.scenes import CLASSES, _background, _boxes, _draw, _Shapes, _vivid_colours

MIN_VISIBLE = 0.25
"""Visible fraction under which an object is usually ignored by an evaluation."""

WIDTH, HEIGHT = 640, 360

Pillar = tuple[int, int, int, int]
"""An occluder drawn over every object: ``x0, y0, x1, y1`` pixels."""


@dataclass(frozen=True)
class Camera:
    """Per-frame camera model: ``shake`` px of whole-picture shift (random walk, clipped),
    ``flicker`` relative brightness change, Gaussian ``blur`` sigma, sensor ``noise`` sigma in
    grey levels and ``jpeg`` quality (0: none)."""

    shake: float = 1.0
    flicker: float = 0.03
    blur: float = 0.6
    noise: float = 3.0
    jpeg: int = 80


@dataclass(frozen=True)
class TrackTruth:
    """Ground truth of one frame.

    Attributes:
        xyxy: ``(N, 4) float32`` boxes clipped to the picture.
        object_id: ``(N,) int64`` identity, the same for one object in every frame.
        class_id: ``(N,) int32`` indices into :data:`~visionflow.zoo.scenes.CLASSES`.
        visible: ``(N,) float32`` visible fraction of the shape, 0–1.
    """

    xyxy: np.ndarray
    object_id: np.ndarray
    class_id: np.ndarray
    visible: np.ndarray

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])


@dataclass(frozen=True)
class Trajectory:
    """One object's path: keyframes ``(K, 3)`` of ``t, x, y`` (centre); size, class, colour,
    rotation and spin."""

    keys: np.ndarray
    size: float
    class_id: int
    colour: np.ndarray
    angle: float
    spin: float

    def at(self, t: int) -> tuple[float, float] | None:
        """The centre at frame ``t``, or None while the object does not exist."""
        times = self.keys[:, 0]
        if t < times[0] or t > times[-1]:
            return None
        return float(np.interp(t, times, self.keys[:, 1])), float(
            np.interp(t, times, self.keys[:, 2])
        )


class TrackScene:
    """A clip of :class:`Trajectory` objects over a fixed background, behind optional pillars.

    Frames are computed from ``t`` alone, so they can be rendered in any order.
    """

    def __init__(
        self,
        name: str,
        seed: int,
        trajectories: list[Trajectory],
        num_frames: int,
        pillars: list[Pillar] | None = None,
        camera: Camera | None = None,
        width: int = WIDTH,
        height: int = HEIGHT,
    ) -> None:
        self.name, self.seed, self.trajectories = name, seed, trajectories
        self.num_frames = num_frames
        self.pillars = pillars or []
        self.camera = camera or Camera()
        self.width, self.height = width, height
        rng = np.random.default_rng([seed, 1])
        self.background = _background(rng, width, height)
        self._pillar_texture = _background(rng, width, height)  # occluders: other clutter
        steps = rng.normal(0.0, 0.5, (num_frames, 2))
        shake = self.camera.shake
        self._shift = np.clip(np.cumsum(steps, axis=0), -shake, shake) if shake else steps * 0
        self._gain = 1.0 + rng.uniform(-1, 1, num_frames) * self.camera.flicker

    def __repr__(self) -> str:
        return f"<TrackScene {self.name} seed={self.seed} objects={len(self.trajectories)}>"

    def frame(self, t: int) -> tuple[np.ndarray, TrackTruth]:
        """Frame ``t`` (0 ≤ t < ``num_frames``): ``(height, width, 3) uint8`` RGB and its truth."""
        if not 0 <= t < self.num_frames:
            raise ConfigError(
                "no such frame", key="t", value=str(t), allowed=f"0 to {self.num_frames - 1}"
            )
        present = [(k, p, c) for k, p in enumerate(self.trajectories) if (c := p.at(t)) is not None]
        dx, dy = (float(v) for v in self._shift[t])
        shapes = _Shapes(
            centre=np.array([(c[0] + dx, c[1] + dy) for _, _, c in present]).reshape(-1, 2),
            size=np.array([p.size for _, p, _ in present]),
            angle=np.array([p.angle + p.spin * t for _, p, _ in present]),
            class_id=np.array([p.class_id for _, p, _ in present], np.int32),
            colour=np.array([p.colour for _, p, _ in present], np.uint8).reshape(-1, 3),
        )
        canvas = self.background.copy()
        _draw(canvas, shapes)
        boxes = _boxes(shapes)
        labels = np.zeros((self.height, self.width), np.int32)
        whole = np.zeros(len(present), np.int64)
        for i, box in enumerate(boxes):  # label image: later objects over earlier ones
            mask, (x0, y0) = _mask(shapes, i, box)
            whole[i] = int(np.count_nonzero(mask))
            ys, xs = np.nonzero(mask)
            ys, xs = ys + y0, xs + x0
            inside = (xs >= 0) & (xs < self.width) & (ys >= 0) & (ys < self.height)
            labels[ys[inside], xs[inside]] = i + 1
        for x0, y0, x1, y1 in self.pillars:
            x0, x1 = max(round(x0 + dx), 0), max(round(x1 + dx), 0)
            y0, y1 = max(round(y0 + dy), 0), max(round(y1 + dy), 0)
            canvas[y0:y1, x0:x1] = self._pillar_texture[y0:y1, x0:x1]
            labels[y0:y1, x0:x1] = 0
        counts = np.bincount(labels.ravel(), minlength=len(present) + 1)[1:]
        visible = counts / np.maximum(whole, 1)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, self.width)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, self.height)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & (whole > 0)
        image = _camera(canvas, self.camera, float(self._gain[t]), seed=(self.seed, t))
        truth = TrackTruth(
            xyxy=boxes[keep].astype(np.float32),
            object_id=np.array([k for k, _, _ in present], np.int64)[keep],
            class_id=shapes.class_id[keep],
            visible=visible[keep].astype(np.float32),
        )
        return image, truth


def _mask(shapes: _Shapes, i: int, box: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The pixels of shape ``i`` alone, in the region of its box (also outside the picture),
    and that region's top-left corner."""
    x0, y0 = int(np.floor(box[0])) - 1, int(np.floor(box[1])) - 1
    width, height = int(np.ceil(box[2])) + 2 - x0, int(np.ceil(box[3])) + 2 - y0
    one = _Shapes(
        shapes.centre[i : i + 1] - (x0, y0),
        shapes.size[i : i + 1],
        shapes.angle[i : i + 1],
        shapes.class_id[i : i + 1],
        np.full((1, 3), 255, np.uint8),
    )
    rgb = np.zeros((height, width, 3), np.uint8)
    _draw(rgb, one)
    return rgb[..., 0] >= 128, (x0, y0)


def _camera(image: np.ndarray, camera: Camera, gain: float, seed: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng([*seed, 2])
    out: np.ndarray = image.astype(np.float32) * np.float32(gain)
    if camera.blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), camera.blur)
    if camera.noise > 0:
        out += np.float32(camera.noise) * rng.standard_normal(out.shape, np.float32)
    picture = np.clip(out, 0, 255).astype(np.uint8)
    if camera.jpeg:
        ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg])
        if ok:
            picture = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return picture


def _path(
    rng: np.random.Generator, keys: list[tuple[float, float, float]], size: float
) -> Trajectory:
    return Trajectory(
        keys=np.array(keys, np.float64),
        size=size,
        class_id=int(rng.integers(len(CLASSES))),
        colour=_vivid_colours(rng, 1)[0],
        angle=float(rng.uniform(0, 2 * np.pi)),
        spin=float(rng.uniform(-0.02, 0.02)),
    )


def _crossing(rng: np.random.Generator, frames: int) -> tuple[list[Trajectory], list[Pillar]]:
    """Objects in opposite directions on lanes that overlap, and diagonals that cut them."""
    paths = []
    for k in range(8):
        size = float(rng.uniform(36, 64))
        y = float(rng.uniform(80, 280))
        speed = float(rng.uniform(2.5, 5.0))
        start = float(rng.uniform(0, 40))
        leftward = k % 2 == 1
        x0, x1 = (-40.0, WIDTH + 40.0) if not leftward else (WIDTH + 40.0, -40.0)
        duration = (WIDTH + 80) / speed
        end_y = y + float(rng.uniform(-60, 60)) if k >= 6 else y
        paths.append(_path(rng, [(start, x0, y), (start + duration, x1, end_y)], size))
    return paths, []


def _occlusion(rng: np.random.Generator, frames: int) -> tuple[list[Trajectory], list[Pillar]]:
    """Objects passing behind two pillars, one of them on the counting line."""
    paths = []
    for k in range(6):
        size = float(rng.uniform(32, 48))
        y = 40 + k * 52 + float(rng.uniform(-8, 8))
        speed = float(rng.uniform(2.0, 4.0))
        start = float(rng.uniform(0, 50))
        leftward = k % 2 == 1
        x0, x1 = (-30.0, WIDTH + 30.0) if not leftward else (WIDTH + 30.0, -30.0)
        paths.append(_path(rng, [(start, x0, y), (start + (WIDTH + 60) / speed, x1, y)], size))
    pillars = [(WIDTH // 2 - 30, 0, WIDTH // 2 + 30, HEIGHT), (120, 0, 170, HEIGHT)]
    return paths, pillars


def _leave_return(rng: np.random.Generator, frames: int) -> tuple[list[Trajectory], list[Pillar]]:
    """Objects that go out of the picture, stay out 10–60 frames and come back in."""
    paths = []
    for _ in range(6):
        size = float(rng.uniform(36, 60))
        y = float(rng.uniform(70, 290))
        speed = float(rng.uniform(3.0, 5.0))
        x_in = float(rng.uniform(200, 440))
        side = -60.0 if rng.random() < 0.5 else WIDTH + 60.0
        t_out = abs(side - x_in) / speed
        away = float(rng.uniform(10, 60))
        y_back = y + float(rng.uniform(-50, 50))
        keys = [
            (0.0, x_in, y),
            (t_out, side, y),
            (t_out + away, side, y_back),
            (2 * t_out + away, x_in, y_back),
            (frames, x_in + float(rng.uniform(-40, 40)), y_back),
        ]
        paths.append(_path(rng, keys, size))
    return paths, []


def _stop_go(rng: np.random.Generator, frames: int) -> tuple[list[Trajectory], list[Pillar]]:
    """Objects that move, stop 10–40 frames, and go on, some turning."""
    paths = []
    for _ in range(7):
        size = float(rng.uniform(36, 64))
        t, x, y = 0.0, float(rng.uniform(60, 580)), float(rng.uniform(60, 300))
        keys = [(t, x, y)]
        while t < frames:
            move = float(rng.uniform(15, 45))
            heading = float(rng.uniform(0, 2 * np.pi))
            speed = float(rng.uniform(2.0, 5.0))
            x = float(np.clip(x + np.cos(heading) * speed * move, 40, WIDTH - 40))
            y = float(np.clip(y + np.sin(heading) * speed * move, 40, HEIGHT - 40))
            t += move
            keys.append((t, x, y))
            t += float(rng.uniform(10, 40))
            keys.append((t, x, y))
        paths.append(_path(rng, keys, size))
    return paths, []


def _bounce(rng: np.random.Generator, frames: int) -> tuple[list[Trajectory], list[Pillar]]:
    """Many objects in straight lines bouncing off the borders (the demo scene's motion)."""
    paths = []
    for _ in range(10):
        size = float(rng.uniform(30, 70))
        pos = rng.uniform([size, size], [WIDTH - size, HEIGHT - size])
        heading = float(rng.uniform(0, 2 * np.pi))
        vel = rng.uniform(2.0, 4.5) * np.array([np.cos(heading), np.sin(heading)])
        keys = [(0.0, *pos)]
        for t in range(1, frames + 1):
            pos = pos + vel
            for axis, limit in ((0, WIDTH), (1, HEIGHT)):
                if not size / 2 <= pos[axis] <= limit - size / 2:
                    vel[axis] = -vel[axis]
                    pos[axis] = np.clip(pos[axis], size / 2, limit - size / 2)
            keys.append((float(t), float(pos[0]), float(pos[1])))
        paths.append(_path(rng, keys, size))
    return paths, []


_BUILDERS: dict[
    str,
    tuple[Callable[[np.random.Generator, int], tuple[list[Trajectory], list[Pillar]]], Camera],
] = {
    "crossing": (_crossing, Camera()),
    "occlusion": (_occlusion, Camera()),
    "leave_return": (_leave_return, Camera()),
    "stop_go": (_stop_go, Camera()),
    "noisy": (_bounce, Camera(shake=4.0, flicker=0.12, blur=1.2, noise=10.0, jpeg=40)),
}
SCENES: tuple[str, ...] = tuple(_BUILDERS)
"""The scene kinds, in the order benchmarks report them."""


def track_scene(name: str, seed: int = 0, num_frames: int = 200) -> TrackScene:
    """A generated tracking scene of kind ``name`` (one of :data:`SCENES`), 640x360."""
    if name not in _BUILDERS:
        raise ConfigError(
            "unknown tracking scene", key="name", value=name, allowed=", ".join(SCENES)
        )
    if num_frames < 1:
        raise ConfigError("a scene needs frames", key="num_frames", value=str(num_frames))
    build, camera = _BUILDERS[name]
    rng = np.random.default_rng([seed, 0])
    paths, pillars = build(rng, num_frames)
    return TrackScene(name, seed, paths, num_frames, pillars, camera)
