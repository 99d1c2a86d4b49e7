from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from visionflow.errors import ConfigError
from visionflow.zoo.scenes import CLASSES, Annotations, MovingScene, render_scene, write_clip


def changed_mask(scene: MovingScene, t: int) -> np.ndarray:
    """Pixels where frame ``t`` differs from the bare background, (H, W) bool."""
    image, _ = scene.frame(t)
    return np.any(image != scene.background, axis=2)


def polygon_class(mask: np.ndarray) -> str:
    """Name a filled shape by the vertex count of its simplified outline."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    corners = cv2.approxPolyDP(outline, 0.04 * cv2.arcLength(outline, True), True)
    return {3: "triangle", 4: "square"}.get(len(corners), "circle")


def test_classes_are_fixed() -> None:
    assert CLASSES == ("circle", "square", "triangle")


def test_render_scene_is_deterministic() -> None:
    first = render_scene(np.random.default_rng(7), 640, 360)
    second = render_scene(np.random.default_rng(7), 640, 360)
    other = render_scene(np.random.default_rng(8), 640, 360)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1].xyxy, second[1].xyxy)
    np.testing.assert_array_equal(first[1].class_id, second[1].class_id)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize(("width", "height"), [(640, 360), (360, 640), (1280, 720), (96, 96)])
def test_render_scene_shapes_and_boxes(width: int, height: int) -> None:
    rng = np.random.default_rng(0)
    short = min(width, height)
    for _ in range(10):
        image, truth = render_scene(rng, width, height)
        assert image.shape == (height, width, 3)
        assert image.dtype == np.uint8
        assert truth.xyxy.dtype == np.float32
        assert truth.class_id.dtype == np.int32
        assert 1 <= len(truth) <= 8
        assert set(truth.class_id.tolist()) <= {0, 1, 2}
        assert np.all(truth.xyxy[:, :2] >= 0)
        assert np.all(truth.xyxy[:, 2] <= width)
        assert np.all(truth.xyxy[:, 3] <= height)
        sides = (truth.xyxy[:, 2:] - truth.xyxy[:, :2]).max(axis=1)
        # stated range: 16-160 px across at a 360 px short side (boxes of rotated polygons
        # are a little smaller than the circumscribed circle the size refers to)
        assert np.all(sides >= 0.5 * 16 * short / 360)
        assert np.all(sides <= 160 * short / 360 + 1)


def test_render_scene_uses_every_class_and_count() -> None:
    rng = np.random.default_rng(3)
    truths = [render_scene(rng, 320, 180)[1] for _ in range(60)]
    counts = {len(t) for t in truths}
    assert min(counts) <= 2
    assert max(counts) >= 7
    assert set(np.concatenate([t.class_id for t in truths]).tolist()) == {0, 1, 2}


@pytest.mark.parametrize("seed", range(12))
def test_single_object_box_is_tight_and_class_matches_drawing(seed: int) -> None:
    scene = MovingScene(seed, 640, 360, num_objects=1)
    for t in (0, 37, 90):
        mask = changed_mask(scene, t)
        _, truth = scene.frame(t)
        ys, xs = np.nonzero(mask)
        drawn = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)
        # pixel-centre convention: a shape reaching x covers pixel round(x); OpenCV's
        # anti-aliasing tints up to 1.5 px more
        np.testing.assert_allclose(drawn, truth.xyxy[0], atol=2.0)
        if (truth.xyxy[0, 2:] - truth.xyxy[0, :2]).min() >= 40:
            assert polygon_class(mask) == CLASSES[truth.class_id[0]]


def test_moving_scene_objects_stay_inside_and_move() -> None:
    scene = MovingScene(5, 320, 240, num_objects=8)
    boxes = np.stack([scene.frame(t)[1].xyxy for t in range(0, 600, 3)])
    assert np.all(boxes[..., :2] >= 0)
    assert np.all(boxes[..., 2] <= 320)
    assert np.all(boxes[..., 3] <= 240)
    centres = (boxes[..., :2] + boxes[..., 2:]) / 2
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=-1)
    assert np.all(steps.max(axis=0) > 0)  # every object moves
    assert steps.max() < 0.05 * 240 * 3  # and moves smoothly
    # every changed pixel belongs to some object box
    mask = changed_mask(scene, 123)
    _, truth = scene.frame(123)
    ys, xs = np.nonzero(mask)
    inside = (
        (xs[:, None] >= truth.xyxy[:, 0] - 2)
        & (xs[:, None] <= truth.xyxy[:, 2] + 2)
        & (ys[:, None] >= truth.xyxy[:, 1] - 2)
        & (ys[:, None] <= truth.xyxy[:, 3] + 2)
    )
    assert inside.any(axis=1).all()


def test_moving_scene_frames_are_reproducible_in_any_order() -> None:
    a, b = MovingScene(11, 200, 100), MovingScene(11, 200, 100)
    later = a.frame(50)[0]
    a.frame(3)
    np.testing.assert_array_equal(b.frame(50)[0], later)
    assert repr(a) == "<MovingScene 200x100 objects=6>"


def test_annotations_validate_shapes() -> None:
    with pytest.raises(ConfigError, match=r"xyxy must have shape \(N, 4\), got \(3, 5\)"):
        Annotations(np.zeros((3, 5), np.float32), np.zeros(3, np.int32))
    with pytest.raises(ConfigError, match=r"class_id must have shape \(3,\), got \(2,\)"):
        Annotations(np.zeros((3, 4), np.float32), np.zeros(2, np.int32))


@pytest.mark.parametrize(
    ("suffix", "format_name"), [(".mp4", "mov,mp4"), (".mkv", "matroska"), (".h264", "h264")]
)
def test_write_clip_decodes_to_the_scene(tmp_path: Path, suffix: str, format_name: str) -> None:
    path = write_clip(tmp_path / f"clip{suffix}", 320, 192, 24, fps=25, seed=4)
    scene = MovingScene(4, 320, 192)
    with av.open(str(path)) as container:
        assert container.format.name.startswith(format_name)
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        rate = stream.average_rate  # read while open: PyAV >= 18.1.1 refuses a closed stream
        frames = list(container.decode(stream))
    assert len(frames) == 24
    assert {(f.width, f.height, f.format.name) for f in frames} == {(320, 192, "yuv420p")}
    if suffix != ".h264":  # a raw elementary stream carries no timestamps
        assert rate == Fraction(25)
        assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(24)])
    for t in (0, 23):
        decoded = frames[t].to_ndarray(format="rgb24").astype(np.float32)
        assert np.abs(decoded - scene.frame(t)[0]).mean() < 4.0


def test_write_clip_rejects_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    with pytest.raises(ConfigError) as err:
        write_clip(path, 64, 64, 1)
    assert str(err.value) == f"path = {path}: unsupported clip suffix; expected .mp4, .mkv, .h264"
    assert not path.exists()


def test_write_clip_rejects_odd_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        write_clip(tmp_path / "clip.mp4", 65, 64, 1)
    assert str(err.value) == "size = 65x64: yuv420p needs an even width and height"


@pytest.mark.parametrize(
    ("codec", "message"),
    [("nope", "codec = nope: unknown encoder"), ("aac", "codec = aac: not a video encoder")],
)
def test_write_clip_rejects_non_video_encoders(tmp_path: Path, codec: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        write_clip(tmp_path / "clip.mp4", 64, 64, 1, codec=codec)
    assert str(err.value) == message


def test_scenes_need_32_pixels() -> None:
    with pytest.raises(ConfigError) as err:
        render_scene(np.random.default_rng(0), 31, 64)
    assert str(err.value) == "size = 31x64: a scene needs at least 32x32 pixels"
    with pytest.raises(ConfigError, match="size = 64x16: a scene needs at least 32x32 pixels"):
        MovingScene(0, 64, 16)


def test_render_scene_keywords_crowd_small_shapes_and_keep_the_default_scene() -> None:
    default = render_scene(np.random.default_rng(9), 640, 360)
    same = render_scene(np.random.default_rng(9), 640, 360, max_objects=8, sizes=(16.0, 160.0))
    np.testing.assert_array_equal(default[0], same[0])
    np.testing.assert_array_equal(default[1].xyxy, same[1].xyxy)
    rng = np.random.default_rng(4)
    truths = [render_scene(rng, 640, 360, max_objects=12, sizes=(14.0, 64.0))[1] for _ in range(40)]
    assert max(len(t) for t in truths) > 8
    sides = np.concatenate([t.xyxy[:, 2:] - t.xyxy[:, :2] for t in truths])
    assert sides.max() <= 64 + 1
    assert sides.max(axis=1).min() >= 0.5 * 14


@pytest.mark.parametrize(("keyword", "value"), [("max_objects", 0), ("sizes", (20.0, 10.0))])
def test_render_scene_rejects_bad_keywords(keyword: str, value: object) -> None:
    with pytest.raises(ConfigError, match=keyword):
        render_scene(np.random.default_rng(0), 64, 64, **{keyword: value})  # type: ignore[arg-type]


def test_moving_scene_visibility_counts_pixels_hidden_by_later_objects() -> None:
    scene = MovingScene(7, 960, 540)
    hidden_seen = False
    for t in range(0, 240, 5):
        visible = scene.visibility(t)
        xyxy = scene.frame(t)[1].xyxy
        assert visible.shape == (6,)
        assert visible[-1] == 1.0  # drawn last, covered by nothing
        for i in range(len(visible)):
            later = xyxy[i + 1 :]
            overlaps = (
                (later[:, 0] < xyxy[i, 2])
                & (later[:, 2] > xyxy[i, 0])
                & (later[:, 1] < xyxy[i, 3])
                & (later[:, 3] > xyxy[i, 1])
            )
            if not overlaps.any():
                assert visible[i] == 1.0
            hidden_seen |= bool(visible[i] < 0.05)
    assert hidden_seen  # the demo's big square passes over a small triangle
    # a lone object is fully visible
    assert MovingScene(3, 320, 240, num_objects=1).visibility(10).tolist() == [1.0]
